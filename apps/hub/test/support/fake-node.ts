// A small node speaking the node's experiment contract, whose runs end when a test says so.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { RunRecord, RunState } from '@bioreactor/api';
import { openEventStream } from '@bioreactor/service-kit';
import Fastify, { type FastifyInstance } from 'fastify';

export interface FakeNodeOptions {
  /** Serve GET /api/experiments/events (default true); false makes the hub poll. */
  events?: boolean;
  port?: number;
  /** Advertised in /api/status as experiment_limits.max_duration_s, and enforced at start; unset: not advertised. */
  maxDurationS?: number;
}

export class FakeNode extends EventEmitter<{ stop: [id: string]; start: [id: string] }> {
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

  constructor(private readonly opts: FakeNodeOptions = {}) {
    super();
    this.port = opts.port ?? 0;
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
      ...(this.opts.maxDurationS ? { experiment_limits: { max_duration_s: this.opts.maxDurationS } } : {}),
    }));
    app.delete('/api/experiments/:id', async (request, reply) => {
      const { id } = request.params as { id: string };
      if (!this.runs.has(id)) return reply.status(404).send(notFound(id));
      this.runs.delete(id);
      return { status: 'success', message: 'Experiment deleted' };
    });
    app.post('/api/experiments/start', async (request, reply) => {
      const body = request.body as { script_content: string; experiment_id: string; max_duration_s?: number };
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
        script_sha256: createHash('sha256').update(body.script_content).digest('hex'),
        script: body.script_content,
        csv: 'timestamp,co2_ppm\n2026-01-01T00:00:00Z,400\n',
      };
      this.runs.set(body.experiment_id, run);
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
    const notFound = (id: string) => ({
      statusCode: 404,
      code: 'EXPERIMENT_NOT_FOUND',
      error: 'Not Found',
      message: `No experiment ${id}`,
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
    await this.app?.close();
    this.app = undefined;
  }
}
