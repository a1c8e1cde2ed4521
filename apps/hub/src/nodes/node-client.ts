// Talks to one node's experiment API (the contract in @bioreactor/api node-routes) over ServiceClient.
import { ApiError, type NodeStartRequest, type RunRecord } from '@bioreactor/api';
import { readEventStream, ServiceClient } from '@bioreactor/service-kit';

/** The node's stream of run changes (`run.updated`); a node without it is followed by polling. */
export const NODE_RUN_EVENTS_PATH = '/api/experiments/events';

/** The node's live stream: samples, actuator changes, safety, runs and the running experiment's new rows. */
export const NODE_STREAM_PATH = '/api/v3/stream';

/** Streams through the hub live as long as the caller keeps them open. */
const STREAM_TIMEOUT_MS = 7 * 24 * 3600 * 1000;

/**
 * What the hub sends to start a run: a script, or a program the node runs with no container (its `program` field, the
 * document as JSON); `time_scale` makes it a pre-flight on a twin.
 */
export type NodeRunStart = Omit<NodeStartRequest, 'script_content'> &
  ({ script_content: string } | { program: Record<string, unknown> });

/** The node answered that it has no such run. */
function isMissing(err: unknown): boolean {
  return err instanceof ApiError && (err.code === 'EXPERIMENT_NOT_FOUND' || err.code === 'NOT_FOUND');
}

export interface NodeClientOptions {
  name: string;
  url: string;
  token?: string | undefined;
  timeoutMs: number;
}

export class NodeClient {
  readonly http: ServiceClient;
  readonly name: string;
  readonly url: string;

  constructor(opts: NodeClientOptions) {
    this.name = opts.name;
    this.url = opts.url.replace(/\/+$/, '');
    this.http = new ServiceClient({
      baseUrl: this.url,
      token: opts.token,
      unreachable: 'NODE_UNREACHABLE',
      peerName: `node ${opts.name}`,
      timeoutMs: opts.timeoutMs,
    });
  }

  /**
   * Answers when the node does; what it says of its disk (`storage.problem`, e.g. "disk full: …"), if anything, and
   * the sensors it still waits for while it is `starting` (empty once ready).
   */
  async health(signal?: AbortSignal): Promise<{ storageProblem: string | null; waitingFor: string[] }> {
    const body = await this.http.json<{ status?: unknown; storage?: { problem?: unknown }; waiting_for?: unknown }>(
      'GET',
      '/health',
      signal ? { signal } : {},
    );
    const problem = body?.storage?.problem;
    const waiting = Array.isArray(body?.waiting_for) ? body.waiting_for.filter((w) => typeof w === 'string') : [];
    return {
      storageProblem: typeof problem === 'string' ? problem : null,
      waitingFor: body?.status === 'starting' ? (waiting.length > 0 ? waiting : ['its sensors']) : [],
    };
  }

  /**
   * From its /api/status: the longest run the node takes (null when it does not say: an older node), whether its
   * experiment runner can run scripts (null when it does not say), and whether it is a twin that runs pre-flights
   * (null: real hardware, or an older node).
   */
  async limits(signal?: AbortSignal): Promise<{
    maxDurationS: number | null;
    runner: { available: boolean; detail: string } | null;
    twin: { timeScale: number; maxTimeScale: number } | null;
  }> {
    const status = await this.http.json<{
      experiment_limits?: { max_duration_s?: unknown; twin?: { time_scale?: unknown; max_time_scale?: unknown } };
      runner?: { available?: unknown; detail?: unknown };
    }>('GET', '/api/status', signal ? { signal } : {});
    const v = status.experiment_limits?.max_duration_s;
    const r = status.runner;
    const twin = status.experiment_limits?.twin;
    const whole = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1;
    return {
      twin:
        twin && whole(twin.max_time_scale)
          ? { timeScale: whole(twin.time_scale) ? twin.time_scale : 1, maxTimeScale: twin.max_time_scale }
          : null,
      maxDurationS: typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : null,
      runner:
        r && typeof r.available === 'boolean'
          ? { available: r.available, detail: typeof r.detail === 'string' ? r.detail : '' }
          : null,
    };
  }

  async start(body: NodeRunStart): Promise<void> {
    // Creating a container can take a while on a Pi; a start is never retried blindly, so allow it time.
    await this.http.json('POST', '/api/experiments/start', { body, timeoutMs: 60_000 });
  }

  /** Whether a pre-flight's report passed, or undefined when the node has no report of it (yet). */
  async preflightPassed(id: string): Promise<boolean | undefined> {
    try {
      const reply = await this.http.json<{ preflight?: { passed?: unknown } }>(
        'GET',
        `/api/experiments/${encodeURIComponent(id)}/preflight`,
      );
      const passed = reply.preflight?.passed;
      return typeof passed === 'boolean' ? passed : undefined;
    } catch (err) {
      if (
        isMissing(err) ||
        (err instanceof ApiError && (err.code === 'FILE_NOT_FOUND' || err.code === 'INVALID_STATE'))
      )
        return undefined;
      throw err;
    }
  }

  /** The node's record of a run, or undefined when the node has none. */
  async run(id: string): Promise<RunRecord | undefined> {
    try {
      const reply = await this.http.json<{ experiment: RunRecord }>(
        'GET',
        `/api/experiments/${encodeURIComponent(id)}/status`,
      );
      return reply.experiment;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async list(): Promise<{ experiment_id: string; status: string }[]> {
    const reply = await this.http.json<{ experiments: { experiment_id: string; status: string }[] }>(
      'GET',
      '/api/experiments',
    );
    return reply.experiments ?? [];
  }

  async stop(id: string): Promise<void> {
    try {
      await this.http.json('POST', `/api/experiments/${encodeURIComponent(id)}/stop`, { timeoutMs: 60_000 });
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
  }

  /** Deletes the node's record and files of a run (a no-op when it has none). */
  async remove(id: string): Promise<void> {
    try {
      await this.http.json('DELETE', `/api/experiments/${encodeURIComponent(id)}`);
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
  }

  /**
   * Opens the node's run events. Undefined when the node has no event stream (the caller polls); otherwise the
   * RunRecords of `run.updated` events until the stream ends or `signal` aborts.
   */
  async openRunEvents(signal: AbortSignal): Promise<AsyncGenerator<RunRecord> | undefined> {
    const res = await this.http.fetch('GET', NODE_RUN_EVENTS_PATH, {
      headers: { accept: 'text/event-stream' },
      signal,
      timeoutMs: STREAM_TIMEOUT_MS,
    });
    if (!res.ok || !res.body || !(res.headers.get('content-type') ?? '').includes('text/event-stream')) {
      await res.body?.cancel();
      return undefined;
    }
    return runRecords(res.body, signal);
  }

  /**
   * Opens the node's live stream, resuming after `lastEventId` (the node's own id) when given: the node replays
   * what it still holds after it, else starts afresh with its current states. The body is the raw event stream.
   */
  async openStream(
    lastEventId: string | undefined,
    signal: AbortSignal,
    connectTimeoutMs: number,
  ): Promise<ReadableStream<Uint8Array>> {
    const res = await this.passThrough(NODE_STREAM_PATH, 'text/event-stream', signal, connectTimeoutMs, {
      ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }),
    });
    const type = res.headers.get('content-type') ?? '';
    if (!res.ok || !res.body || !type.includes('text/event-stream')) {
      await res.body?.cancel();
      throw new ApiError(
        'NODE_UNREACHABLE',
        `node ${this.name} answered ${res.status} (${type || 'no content type'}) to GET ${NODE_STREAM_PATH} instead of an event stream${res.status === 404 ? ': it is older than the live stream' : ''}`,
      );
    }
    return res.body;
  }

  /** A raw request whose body the hub streams through to its own caller. */
  async passThrough(
    path: string,
    accept: string,
    signal: AbortSignal,
    connectTimeoutMs: number,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    // The whole stream may last hours, but the node must start answering promptly.
    const connect = new AbortController();
    const timer = setTimeout(() => connect.abort(new Error('timed out')), connectTimeoutMs);
    try {
      return await this.http.fetch('GET', path, {
        headers: { ...headers, accept },
        signal: AbortSignal.any([signal, connect.signal]),
        timeoutMs: STREAM_TIMEOUT_MS,
      });
    } finally {
      clearTimeout(timer);
    }
  }
}

async function* runRecords(body: ReadableStream<Uint8Array>, signal: AbortSignal): AsyncGenerator<RunRecord> {
  try {
    for await (const ev of readEventStream(body)) {
      if (ev.event !== 'run.updated') continue;
      let parsed: { experiment?: RunRecord } | undefined;
      try {
        parsed = JSON.parse(ev.data) as { experiment?: RunRecord };
      } catch {
        // A malformed event is skipped; the poll behind the stream catches up.
      }
      if (parsed?.experiment) yield parsed.experiment;
    }
  } catch (err) {
    if (!signal.aborted) throw err;
  }
}
