// A hub and a node that answer like the real ones (per the contract), on loopback ports, recording what they get.
import type { HubExperiment, QueueStatus } from '@bioreactor/api';
import { createService, errorBody, openEventStream, type Service } from '@bioreactor/service-kit';

export interface Recorded {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

export interface FakeHub {
  app: Service;
  url: string;
  requests: Recorded[];
  experiments: Map<string, HubExperiment & { script: string }>;
  csv: Map<string, string>;
  /** Pushes an event to every connected /api/events client. */
  emit(event: string, data: unknown): void;
  add(owner: string, status: HubExperiment['status'], id?: string): HubExperiment;
  /** The nodes it drives (GET /api/nodes); a name added later reaches the web server as node.updated. */
  nodeNames: string[];
  /** Relays an event of a node to every follower of GET /api/nodes/:name/stream, under a resumable id. */
  nodeEmit(node: string, event: string, data: unknown): void;
  /** Followers of each node's stream now. */
  nodeFollowers(node: string): number;
  /** Breaks every event stream; while `down` is true, new ones are refused with 503. */
  breakStreams(down: boolean): void;
  /** The node's min/max summaries, by `${id}/${file}`. */
  series: Map<string, { total_rows: number; bucket_rows: number; columns: string[]; points: (number | null)[][] }>;
}

let counter = 0;

export function experimentFor(owner: string, status: HubExperiment['status'], id?: string): HubExperiment {
  counter++;
  return {
    experiment_id: id ?? `${counter.toString(16).padStart(8, '0')}-aaaa-4bbb-8ccc-${String(counter).padStart(12, '0')}`,
    name: `run ${counter}`,
    user_session_id: owner,
    status,
    queue_position: status === 'queued' || status === 'paused' ? 1 : null,
    node: status === 'queued' ? null : 'pi-1',
    created_at: new Date().toISOString(),
    started_at: status === 'queued' ? null : new Date().toISOString(),
    completed_at: null,
    exit_code: null,
    error_message: null,
    max_duration_s: 3600,
    estimated_start: null,
  };
}

export async function startFakeHub(): Promise<FakeHub> {
  const app = await createService({
    name: 'fake-hub',
    version: '0',
    description: 'fake',
    logLevel: 'silent',
    logger: false,
  });
  const requests: Recorded[] = [];
  const experiments = new Map<string, HubExperiment & { script: string }>();
  const csv = new Map<string, string>();
  const streams = new Set<ReturnType<typeof openEventStream>>();
  const nodeNames = ['pi-1'];
  const nodeStreams = new Map<string, Set<ReturnType<typeof openEventStream>>>();
  const nodeRing: { seq: number; node: string; event: string; data: string }[] = [];
  const epoch = `fakehub${Date.now().toString(36)}`;
  let nodeSeq = 0;
  let down = false;
  const series = new Map<
    string,
    { total_rows: number; bucket_rows: number; columns: string[]; points: (number | null)[][] }
  >();
  app.addHook('preHandler', async (request) => {
    requests.push({ method: request.method, url: request.url, headers: request.headers, body: request.body });
  });
  const user = (h: Record<string, unknown>) => String(h['x-session-id'] ?? '');
  const find = (id: string) => {
    const e = experiments.get(id);
    if (!e) throw Object.assign(new Error('x'), { statusCode: 404 });
    return e;
  };
  const strip = ({ script: _s, ...e }: HubExperiment & { script: string }): HubExperiment => e;
  let drained = false;
  const nodeInfo = (name = 'pi-1') => ({
    name,
    url: 'http://127.0.0.1:9',
    online: true,
    last_seen: null,
    running_experiment: null,
    detail: null,
    ready: !drained,
    readiness: drained ? 'drained' : 'ready',
    readiness_detail: drained ? 'drained by an admin: it finishes its run and takes no new ones' : null,
    drained,
  });
  const queue = (): QueueStatus => {
    const active = [...experiments.values()].filter((e) => ['queued', 'running', 'paused'].includes(e.status));
    return {
      total_queued: active.filter((e) => e.status === 'queued').length,
      total_running: active.filter((e) => e.status === 'running').length,
      total_paused: active.filter((e) => e.status === 'paused').length,
      estimated_wait_minutes: 0,
      queue: active.map(strip),
    };
  };

  app.post('/api/experiments/start', async (request, reply) => {
    const body = request.body as { script_content?: string; name?: string; max_duration_s?: number };
    if (body.script_content?.includes('import os.system_bad'))
      return reply
        .status(422)
        .send(
          errorBody('SCRIPT_REJECTED', 'The script has 1 problem', [
            { line: 2, column: 1, message: "import 'os.system_bad' is not allowed" },
          ]),
        );
    const e = experimentFor(user(request.headers), 'queued');
    e.name = body.name ?? null;
    if (body.max_duration_s) e.max_duration_s = body.max_duration_s;
    experiments.set(e.experiment_id, { ...e, script: body.script_content ?? '' });
    return {
      experiment_id: e.experiment_id,
      status: 'queued',
      queue_position: 1,
      estimated_start: new Date().toISOString(),
      message: 'Experiment added to queue',
    };
  });
  app.post('/api/experiments/validate', async (request) => {
    const body = request.body as { script_content: string; max_duration_s?: number };
    const problems = body.script_content.includes('import os.system_bad')
      ? [{ line: 2, column: 1, message: "import 'os.system_bad' is not allowed" }]
      : [];
    return {
      valid: problems.length === 0,
      problems,
      message: problems.length === 0 ? 'The script passes every check a submission gets' : 'The script has 1 problem',
      max_duration_s: body.max_duration_s ?? 3600,
      max_duration_source: body.max_duration_s ? 'declared' : 'limit',
    };
  });
  app.get('/api/experiments/:id/script', async (request, reply) => {
    const e = find((request.params as { id: string }).id);
    if (e.user_session_id !== user(request.headers) && request.headers['x-user-role'] !== 'admin')
      return reply.status(403).send(errorBody('FORBIDDEN', 'not yours'));
    return {
      experiment_id: e.experiment_id,
      name: e.name,
      script_content: e.script,
      max_duration_s: e.max_duration_s,
      max_duration_source: 'declared',
    };
  });
  app.post('/api/experiments/:id/annotations', async (request) => {
    const e = find((request.params as { id: string }).id);
    const body = request.body as { notes?: string | null; labels?: string[] };
    if (body.notes !== undefined) e.notes = body.notes;
    if (body.labels !== undefined) e.labels = body.labels;
    return { success: true, experiment: strip(e) };
  });
  app.get('/api/experiments', async (request) => {
    const q = request.query as { limit?: string; offset?: string; user?: string };
    const all = [...experiments.values()].filter((e) => !q.user || e.user_session_id === q.user).reverse();
    const offset = Number(q.offset ?? 0);
    return { experiments: all.slice(offset, offset + Number(q.limit ?? 50)).map(strip), total: all.length };
  });
  app.post('/api/nodes/:name/drain', async (request) => {
    drained = (request.body as { drained: boolean }).drained;
    return nodeInfo();
  });
  app.get('/api/experiments/:id/status', async (request) => ({
    experiment: strip(find((request.params as { id: string }).id)),
  }));
  app.get('/api/experiments/user', async (request) => ({
    experiments: [...experiments.values()].filter((e) => e.user_session_id === user(request.headers)).map(strip),
  }));
  app.get('/api/queue/status', async () => queue());
  app.post('/api/users/transfer', async (request) => {
    const { from_user, to_user } = request.body as { from_user: string; to_user: string };
    let moved = 0;
    for (const e of experiments.values()) {
      if (e.user_session_id !== from_user) continue;
      e.user_session_id = to_user;
      moved++;
    }
    return { success: true, moved, message: `Moved ${moved} experiments` };
  });
  for (const verb of ['cancel', 'pause', 'resume', 'run-now', 'reorder']) {
    app.post(`/api/experiments/:id/${verb}`, async (request) => {
      const e = find((request.params as { id: string }).id);
      if (verb === 'cancel') e.status = 'cancelled';
      return { success: true, message: `${verb} done`, experiment: strip(e) };
    });
  }
  app.get('/api/experiments/:id/logs', async (request, reply) => {
    const { id } = request.params as { id: string };
    if ((request.query as { follow?: string }).follow !== 'true') return { status: 'success', logs: 'CO2: 400 ppm\n' };
    // As the node does: the tail, then new text, then the run's end, and the stream closes.
    reply.header('content-type', 'text/event-stream');
    return [
      `event: run.log\ndata: ${JSON.stringify({ experiment_id: id, text: 'CO2: 400 ppm\n' })}\n\n`,
      `event: run.updated\ndata: ${JSON.stringify({ experiment: { experiment_id: id, status: 'completed' } })}\n\n`,
    ].join('');
  });
  app.get('/api/experiments/:id/data', async (request, reply) => {
    const { id } = request.params as { id: string };
    const q = request.query as { offset?: string; file?: string };
    const text = csv.get(`${id}/${q.file}`);
    if (text === undefined) return reply.status(404).send(errorBody('FILE_NOT_FOUND', `no ${q.file} yet`));
    const bytes = Buffer.from(text);
    const offset = Number(q.offset ?? 0);
    // Serve at most 64 bytes per request so followers must continue from X-Next-Offset.
    const chunk = bytes.subarray(offset, offset + 64);
    return reply
      .header('content-type', 'text/csv')
      .header('x-next-offset', String(offset + chunk.length))
      .send(chunk);
  });
  app.get('/api/experiments/:id/download', async (request, reply) => {
    const e = find((request.params as { id: string }).id);
    if (e.status === 'queued') return reply.status(503).send(errorBody('NODE_UNREACHABLE', 'node pi-1 is away'));
    return reply
      .header('content-type', 'application/zip')
      .header('content-disposition', `attachment; filename=experiment_${e.experiment_id}_results.zip`)
      .send(Buffer.from(`PK-zip-of-${e.experiment_id}`));
  });
  app.get('/api/nodes', async () => ({ nodes: nodeNames.map((name) => nodeInfo(name)) }));
  app.get('/api/experiments/:id/series', async (request, reply) => {
    const { id } = request.params as { id: string };
    const q = request.query as { file?: string; points?: string };
    const e = find(id);
    if (e.user_session_id !== user(request.headers) && request.headers['x-user-role'] !== 'admin')
      return reply.status(404).send(errorBody('EXPERIMENT_NOT_FOUND', 'not yours'));
    const s = series.get(`${id}/${q.file}`);
    if (!s) return reply.status(404).send(errorBody('FILE_NOT_FOUND', `no ${q.file} yet`));
    return { experiment_id: id, file: q.file, ...s };
  });
  app.get('/api/nodes/:name/stream', async (request, reply) => {
    const { name } = request.params as { name: string };
    // As the hub: only the web server itself (no user header) or an admin follows a node's stream.
    if (request.headers['x-session-id'] && request.headers['x-user-role'] !== 'admin')
      return reply.status(403).send(errorBody('FORBIDDEN', 'admins only'));
    if (down) return reply.status(503).send(errorBody('NODE_UNREACHABLE', 'down'));
    const query = request.query as { last_event_id?: string };
    const stream = openEventStream(request, reply);
    const last = stream.lastEventId ?? query.last_event_id;
    const [lastEpoch, lastSeq] = (last ?? '').split('-');
    const mine = nodeRing.filter((e) => e.node === name);
    if (lastEpoch === epoch && Number(lastSeq) >= (mine[0]?.seq ?? 1) - 1) {
      for (const e of mine) if (e.seq > Number(lastSeq)) stream.send(e.event, e.data, `${epoch}-${e.seq}`);
    } else {
      // Afresh: the hub's word on its node connection, then the node's states (without ids).
      stream.send('node.stream', { node: name, connected: true, reason: 'connected', fresh: true });
      stream.send('component.sample', {
        component: 'co2_sensor',
        state: { status: 'success', co2_ppm: 412, unit: 'ppm' },
        at_ms: Date.now(),
      });
      stream.send('component.sample', {
        component: 'temp_sensor',
        state: { status: 'success', temperature: 36.6, temperatures: [36.6] },
        at_ms: Date.now(),
      });
      stream.send('safety', { interlocks: [] });
    }
    const set = nodeStreams.get(name) ?? new Set();
    nodeStreams.set(name, set);
    set.add(stream);
    stream.onClose(() => set?.delete(stream));
  });
  app.get('/api/events', async (request, reply) => {
    if (down) return reply.status(503).send(errorBody('HUB_UNREACHABLE', 'down'));
    const stream = openEventStream(request, reply);
    streams.add(stream);
    stream.onClose(() => streams.delete(stream));
    stream.send('queue.updated', queue());
    // As the hub: every node it drives, at once.
    for (const name of nodeNames) stream.send('node.updated', nodeInfo(name));
  });

  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    app,
    url: `http://127.0.0.1:${port}`,
    requests,
    experiments,
    csv,
    series,
    nodeNames,
    emit: (event, data) => {
      for (const s of streams) s.send(event, data);
    },
    nodeEmit(node, event, data) {
      const text = JSON.stringify(data);
      nodeSeq++;
      nodeRing.push({ seq: nodeSeq, node, event, data: text });
      if (nodeRing.length > 500) nodeRing.shift();
      for (const s of nodeStreams.get(node) ?? []) s.send(event, text, `${epoch}-${nodeSeq}`);
    },
    nodeFollowers: (node) => nodeStreams.get(node)?.size ?? 0,
    breakStreams(isDown) {
      down = isDown;
      for (const s of [...streams, ...[...nodeStreams.values()].flatMap((set) => [...set])]) s.close();
    },
    add(owner, status, id) {
      const e = experimentFor(owner, status, id);
      experiments.set(e.experiment_id, { ...e, script: 'print(1)' });
      return e;
    },
  };
}

export interface FakeNode {
  app: Service;
  url: string;
  co2: number;
  reads: number;
}

export async function startFakeNode(): Promise<FakeNode> {
  const app = await createService({
    name: 'fake-node',
    version: '0',
    description: 'fake',
    logLevel: 'silent',
    logger: false,
  });
  const node: FakeNode = { app, url: '', co2: 412, reads: 0 };
  app.get('/api/v3/state', async () => {
    node.reads++;
    return {
      timestamp: new Date().toISOString(),
      hardware_mode: 'simulation',
      components: {
        co2_sensor: { status: 'success', message: null, timestamp: null, co2_ppm: node.co2, unit: 'ppm' },
        temp_sensor: {
          status: 'success',
          message: null,
          timestamp: null,
          temperature: 36.6,
          temperatures: [36.6],
          unit: 'celsius',
        },
        optical_density: {
          status: 'success',
          message: null,
          timestamp: null,
          voltages: [1.1, 1.2, 0.9],
          channels: ['135', 'Ref', '90'],
          unit: 'volts',
        },
        stirrer: { status: 'success', message: null, timestamp: null, duty_cycle: 30, active: true },
      },
      unavailable: {},
    };
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  node.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return node;
}
