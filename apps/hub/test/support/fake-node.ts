// A small node speaking the node's experiment contract, whose runs end when a test says so.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { RunRecord, RunState } from '@bioreactor/api';
import { type EventStream, openEventStream } from '@bioreactor/service-kit';
import Fastify, { type FastifyInstance } from 'fastify';

export interface FakeNodeOptions {
  /** Serve GET /api/experiments/events (default true); false makes the hub poll. */
  events?: boolean;
  port?: number;
  /** Advertised in /api/status as experiment_limits.max_duration_s, and enforced at start; unset: not advertised. */
  maxDurationS?: number;
  /** A simulation twin (experiment_limits.twin in /api/status) that takes time_scale up to maxTimeScale. */
  twin?: { timeScale: number; maxTimeScale: number };
}

/** One event of the fake node's live stream, with the node's own id. */
export interface FakeStreamEvent {
  id: string;
  event: string;
  data: string;
}

export class FakeNode extends EventEmitter<{
  stop: [id: string];
  start: [id: string];
  streamOpened: [lastEventId: string | undefined];
  streamClosed: [];
  preflight: [id: string];
}> {
  readonly runs = new Map<string, RunRecord & { script: string; csv: string }>();
  readonly stops: string[] = [];
  readonly starts: string[] = [];
  private app: FastifyInstance | undefined;
  private readonly runListeners = new Set<(run: RunRecord) => void>();
  port = 0;
  /** Runs stopped through the API end as `stopped` at once unless this is false. */
  stopEndsRun = true;
  /** What /health says is wrong with the node's disk (null: nothing). */
  storageProblem: string | null = null;
  /** The runner /api/status reports (unset: not reported, as an older node). */
  runner: { kind: 'docker' | 'local' | 'none'; available: boolean; detail: string } | undefined;
  /** Sensors /health says it still waits for (non-empty: `starting`). */
  waitingFor: string[] = [];
  /** Every event of GET /api/v3/stream so far (the node's replay ring, never trimmed here). */
  readonly streamEvents: FakeStreamEvent[] = [];
  /** The Last-Event-ID of each connection to GET /api/v3/stream, in order (undefined: none sent). */
  readonly streamConnections: (string | undefined)[] = [];
  /** What a new follower of the stream gets first when it does not resume (the node's current states). */
  streamState: { event: string; data: string }[] = [{ event: 'safety', data: '{"interlocks":[]}' }];
  /** GET /api/experiments/:id/series answers, by experiment id (absent: 404 EXPERIMENT_NOT_FOUND). */
  readonly series = new Map<string, unknown>();
  /** The query strings the series route was asked with. */
  readonly seriesQueries: Record<string, unknown>[] = [];
  /** Whether /api/status says it is a twin (time_scale allowed up to maxTimeScale); tests may change it. */
  twin: { timeScale: number; maxTimeScale: number } | undefined;
  /** Each start's body as the hub sent it, by experiment id. */
  readonly startBodies = new Map<string, Record<string, unknown>>();
  /** GET /api/experiments/:id/preflight answers (the report), by experiment id (absent: 404 FILE_NOT_FOUND). */
  readonly preflights = new Map<string, Record<string, unknown>>();
  /** The experiment ids the pre-flight route was asked for, in order. */
  readonly preflightRequests: string[] = [];
  private readonly streams = new Set<EventStream>();
  private readonly epoch = `fake${Math.random().toString(36).slice(2, 8)}`;

  constructor(private readonly opts: FakeNodeOptions = {}) {
    super();
    this.port = opts.port ?? 0;
    this.twin = opts.twin;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  active(): RunRecord | undefined {
    return [...this.runs.values()].find((r) => r.status === 'starting' || r.status === 'running');
  }

  private publish(run: RunRecord): void {
    for (const l of this.runListeners) l(run);
  }

  /** Sends an event on the live stream to every connection (and keeps it for those that resume); its node id. */
  pushStream(event: string, data: unknown): string {
    const e = {
      id: `${this.epoch}-${this.streamEvents.length + 1}`,
      event,
      data: typeof data === 'string' ? data : JSON.stringify(data),
    };
    this.streamEvents.push(e);
    for (const s of this.streams) s.send(e.event, e.data, e.id);
    return e.id;
  }

  /** Connections to the live stream open now. */
  get openStreams(): number {
    return this.streams.size;
  }

  /** Resolves with the Last-Event-ID of the `n`th connection (1-based) to the live stream, once it is made. */
  streamConnection(n: number): Promise<string | undefined> {
    if (this.streamConnections.length >= n) return Promise.resolve(this.streamConnections[n - 1]);
    return new Promise((resolve) => {
      const on = () => {
        if (this.streamConnections.length < n) return;
        this.off('streamOpened', on);
        resolve(this.streamConnections[n - 1]);
      };
      this.on('streamOpened', on);
    });
  }

  /** Resolves once exactly `n` connections to the live stream are open. */
  streamsOpen(n: number): Promise<void> {
    if (this.streams.size === n) return Promise.resolve();
    return new Promise((resolve) => {
      const on = () => {
        if (this.streams.size !== n) return;
        this.off('streamOpened', on);
        this.off('streamClosed', on);
        resolve();
      };
      this.on('streamOpened', on);
      this.on('streamClosed', on);
    });
  }

  /** Resolves once the hub has asked this node to stop `id`. */
  stopRequested(id: string): Promise<void> {
    if (this.stops.includes(id)) return Promise.resolve();
    return new Promise((resolve) => {
      const on = (stopped: string) => {
        if (stopped !== id) return;
        this.off('stop', on);
        resolve();
      };
      this.on('stop', on);
    });
  }

  /** Resolves once the hub has started `id` here. */
  started(id: string): Promise<void> {
    if (this.starts.includes(id)) return Promise.resolve();
    return new Promise((resolve) => {
      const on = (started: string) => {
        if (started !== id) return;
        this.off('start', on);
        resolve();
      };
      this.on('start', on);
    });
  }

  /** Resolves once the hub has asked for `id`'s pre-flight report (again, after `seen` earlier asks). */
  preflightAsked(id: string, seen = 0): Promise<void> {
    const asked = () => this.preflightRequests.filter((r) => r === id).length > seen;
    if (asked()) return Promise.resolve();
    return new Promise((resolve) => {
      const on = () => {
        if (!asked()) return;
        this.off('preflight', on);
        resolve();
      };
      this.on('preflight', on);
    });
  }

  /** Ends a run as the node would report it. */
  finish(
    id: string,
    status: RunState,
    exitCode: number | null = status === 'completed' ? 0 : 1,
    extra: Partial<RunRecord> = {},
  ): void {
    const run = this.runs.get(id);
    if (!run) throw new Error(`fake node has no run ${id}`);
    Object.assign(run, { status, exit_code: exitCode, end_time: new Date().toISOString() }, extra);
    this.publish(run);
  }

  async start(): Promise<void> {
    const app = Fastify({ logger: false, forceCloseConnections: true });
    app.get('/health', async () => ({
      status: this.waitingFor.length > 0 ? 'starting' : 'healthy',
      waiting_for: this.waitingFor,
      storage: { free_bytes: 1, min_free_bytes: 0, problem: this.storageProblem },
    }));
    app.get('/api/status', async () => ({
      status: 'operational',
      active_experiment: this.active()?.experiment_id ?? null,
      ...(this.runner ? { runner: this.runner } : {}),
      ...(this.opts.maxDurationS || this.twin
        ? {
            experiment_limits: {
              max_duration_s: this.opts.maxDurationS ?? 86_400,
              ...(this.twin
                ? { twin: { time_scale: this.twin.timeScale, max_time_scale: this.twin.maxTimeScale } }
                : {}),
            },
          }
        : {}),
    }));
    app.delete('/api/experiments/:id', async (request, reply) => {
      const { id } = request.params as { id: string };
      if (!this.runs.has(id)) return reply.status(404).send(notFound(id));
      this.runs.delete(id);
      return { status: 'success', message: 'Experiment deleted' };
    });
    app.post('/api/experiments/start', async (request, reply) => {
      const body = request.body as {
        script_content?: string;
        program?: unknown;
        experiment_id: string;
        max_duration_s?: number;
        time_scale?: number;
      };
      if (body.time_scale !== undefined && body.time_scale !== 1 && !this.twin) {
        return reply.status(409).send({
          statusCode: 409,
          code: 'INVALID_STATE',
          error: 'Conflict',
          message: 'time_scale is for a simulation node (a twin); this node drives real hardware',
        });
      }
      const limit = this.opts.maxDurationS;
      if (limit && (body.max_duration_s ?? limit) > limit) {
        return reply.status(400).send({
          statusCode: 400,
          code: 'VALIDATION_FAILED',
          error: 'Bad Request',
          message: `max_duration_s ${body.max_duration_s} is above this node's limit of ${limit} s`,
        });
      }
      const busy = this.active();
      if (busy) {
        return reply.status(409).send({
          statusCode: 409,
          code: 'NODE_BUSY',
          error: 'Conflict',
          message: `Experiment ${busy.experiment_id} is running`,
        });
      }
      const run = {
        experiment_id: body.experiment_id,
        status: 'running' as RunState,
        start_time: new Date().toISOString(),
        end_time: null,
        exit_code: null,
        error_message: null,
        oom_killed: false,
        max_duration_s: body.max_duration_s ?? 3600,
        runner: 'local',
        image: null,
        image_digest: null,
        script_sha256: createHash('sha256')
          .update(body.script_content ?? JSON.stringify(body.program))
          .digest('hex'),
        script: body.script_content ?? '',
        csv: 'timestamp,co2_ppm\n2026-01-01T00:00:00Z,400\n',
      };
      this.runs.set(body.experiment_id, run);
      this.startBodies.set(body.experiment_id, body as Record<string, unknown>);
      this.starts.push(body.experiment_id);
      this.emit('start', body.experiment_id);
      this.publish(run);
      return { status: 'success', experiment_id: body.experiment_id, message: 'Experiment started' };
    });
    app.get('/api/experiments', async () => ({
      status: 'success',
      experiments: [...this.runs.values()].map((r) => ({
        experiment_id: r.experiment_id,
        status: r.status,
        start_time: r.start_time,
        end_time: r.end_time,
      })),
    }));
    if (this.opts.events !== false) {
      app.get('/api/experiments/events', async (request, reply) => {
        const stream = openEventStream(request, reply);
        const listener = (run: RunRecord) => stream.send('run.updated', { experiment: run });
        this.runListeners.add(listener);
        stream.onClose(() => this.runListeners.delete(listener));
      });
    }
    app.get('/api/v3/stream', async (request, reply) => {
      const stream = openEventStream(request, reply);
      const lastEventId = stream.lastEventId;
      const from = lastEventId === undefined ? -1 : this.streamEvents.findIndex((e) => e.id === lastEventId);
      if (from >= 0) {
        for (const e of this.streamEvents.slice(from + 1)) stream.send(e.event, e.data, e.id);
      } else {
        for (const e of this.streamState) stream.send(e.event, e.data);
      }
      this.streams.add(stream);
      stream.onClose(() => {
        this.streams.delete(stream);
        this.emit('streamClosed');
      });
      this.streamConnections.push(lastEventId);
      this.emit('streamOpened', lastEventId);
    });
    app.get('/api/experiments/:id/series', async (request, reply) => {
      const { id } = request.params as { id: string };
      this.seriesQueries.push({ ...(request.query as Record<string, unknown>) });
      const answer = this.series.get(id) as { file?: string } | undefined;
      if (answer === undefined) return reply.status(404).send(notFound(id));
      const { file = 'experiment_data.csv' } = request.query as { file?: string };
      if (file !== answer.file) {
        return reply.status(404).send({
          statusCode: 404,
          code: 'FILE_NOT_FOUND',
          error: 'Not Found',
          message: `Experiment ${id} has no output file ${file}`,
        });
      }
      return answer;
    });
    const notFound = (id: string) => ({
      statusCode: 404,
      code: 'EXPERIMENT_NOT_FOUND',
      error: 'Not Found',
      message: `No experiment ${id}`,
    });
    app.get('/api/experiments/:id/preflight', async (request, reply) => {
      const { id } = request.params as { id: string };
      this.preflightRequests.push(id);
      this.emit('preflight', id);
      if (!this.runs.has(id)) return reply.status(404).send(notFound(id));
      const report = this.preflights.get(id);
      if (!report)
        return reply.status(404).send({
          statusCode: 404,
          code: 'FILE_NOT_FOUND',
          error: 'Not Found',
          message: `Experiment ${id} has no pre-flight report`,
        });
      return { status: 'success', preflight: report };
    });
    app.get('/api/experiments/:id/status', async (request, reply) => {
      const { id } = request.params as { id: string };
      const run = this.runs.get(id);
      if (!run) return reply.status(404).send(notFound(id));
      const { script: _s, csv: _c, ...record } = run;
      return { status: 'success', experiment: record };
    });
    app.post('/api/experiments/:id/stop', async (request, reply) => {
      const { id } = request.params as { id: string };
      const run = this.runs.get(id);
      if (!run) return reply.status(404).send(notFound(id));
      this.stops.push(id);
      this.emit('stop', id);
      if (this.stopEndsRun && (run.status === 'running' || run.status === 'starting')) this.finish(id, 'stopped', 143);
      return { status: 'success', message: 'Experiment stopped' };
    });
    app.get('/api/experiments/:id/logs', async (request, reply) => {
      const { id } = request.params as { id: string };
      if (!this.runs.has(id)) return reply.status(404).send(notFound(id));
      return { status: 'success', logs: `log of ${id}\n` };
    });
    app.get('/api/experiments/:id/data', async (request, reply) => {
      const { id } = request.params as { id: string };
      const run = this.runs.get(id);
      if (!run) return reply.status(404).send(notFound(id));
      const offset = Number((request.query as { offset?: string }).offset ?? 0);
      const bytes = Buffer.from(run.csv).subarray(offset);
      reply.header('x-next-offset', String(offset + bytes.length));
      return reply.type('text/csv').send(bytes);
    });
    app.get('/api/experiments/:id/download', async (request, reply) => {
      const { id } = request.params as { id: string };
      const run = this.runs.get(id);
      if (!run) return reply.status(404).send(notFound(id));
      reply.header('content-disposition', `attachment; filename="experiment_${id}_results.zip"`);
      // Not a real zip: the hub passes bytes through without looking at them.
      return reply.type('application/zip').send(Buffer.from(`PK-fake-zip:${id}:${run.script}`));
    });
    await app.listen({ port: this.port, host: '127.0.0.1' });
    this.port = (app.server.address() as AddressInfo).port;
    this.app = app;
  }

  /** Stops answering (the process went away); runs keep their state, as a node's disk would. */
  async stop(): Promise<void> {
    this.runListeners.clear();
    for (const s of [...this.streams]) s.close();
    await this.app?.close();
    this.app = undefined;
  }
}
