// The web server's calls to the hub: the service token, the user in X-Session-ID / X-User-Role, explicit timeouts.
import {
  type Annotations,
  ApiError,
  type HubExperiment,
  NEXT_OFFSET_HEADER,
  type NodeInfo,
  type PreflightReport,
  type ProgramPreview,
  type ProgramPreviewRequest,
  type QueueStatus,
  ROLE_HEADER,
  type ScriptCheck,
  SESSION_HEADER,
  type SubmitExperiment,
  type SubmitRequest,
  type SubmittedScript,
} from '@bioreactor/api';
import { peerError, ServiceClient } from '@bioreactor/service-kit';

/** The user a call is made for; undefined for the web server's own calls (live data, the event relay). */
export interface HubCaller {
  hubUser: string;
  role: 'user' | 'admin';
}

export interface SubmitResult {
  experiment_id: string;
  status: 'queued';
  queue_position: number;
  estimated_start: string | null;
  message: string;
}

export type ExperimentAction = 'cancel' | 'pause' | 'resume' | 'run-now';

// Cancelling a running experiment waits for its container to stop (up to 30 s on the node), so the web server
// waits longer than that instead of reporting a failure for a cancel that goes ahead (original-system.md §4.3).
const ACTION_TIMEOUT_MS = 45_000;
const READ_TIMEOUT_MS = 10_000;
/** A finished run's first series is one pass over its whole CSV on the node (millions of rows: seconds). */
const SERIES_TIMEOUT_MS = 60_000;

/**
 * The node's min/max summary of a CSV, as the hub relays it: `points` are `[t_ms, ...one value per column]`, two per
 * bucket of `bucket_rows` rows (its first time with the minima, its last time with the maxima).
 */
export interface HubSeries {
  experiment_id: string;
  file: string;
  total_rows: number;
  bucket_rows: number;
  columns: string[];
  points: (number | null)[][];
}

export class HubClient {
  readonly http: ServiceClient;

  constructor(baseUrl: string, token: string | undefined) {
    this.http = new ServiceClient({ baseUrl, token, unreachable: 'HUB_UNREACHABLE', peerName: 'the hub' });
  }

  private who(caller: HubCaller | undefined): Record<string, string> {
    // No user named: the hub treats the web server's own reads (live data, the event relay) as an operator's.
    if (!caller) return {};
    return { [SESSION_HEADER]: caller.hubUser, [ROLE_HEADER]: caller.role };
  }

  /**
   * Queues a script or a program, as a run or a pre-flight; `idempotencyKey` (the browser's or API client's
   * Idempotency-Key) makes a retry safe.
   */
  submit(caller: HubCaller, body: SubmitExperiment, idempotencyKey?: string): Promise<SubmitResult> {
    const headers = { ...this.who(caller), ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) };
    return this.http.json('POST', '/api/experiments/start', { body, headers, timeoutMs: 30_000 });
  }

  /** Runs the hub's checks on a script without queueing it. */
  check(caller: HubCaller, body: Omit<SubmitRequest, 'node'>): Promise<ScriptCheck> {
    return this.http.json('POST', '/api/experiments/validate', {
      body,
      headers: this.who(caller),
      timeoutMs: READ_TIMEOUT_MS,
    });
  }

  /** A program checked by the hub and a node without queueing it, with its timeline of the first `hours`. */
  programPreview(caller: HubCaller, body: ProgramPreviewRequest, hours: number | undefined): Promise<ProgramPreview> {
    const query = hours === undefined ? '' : `?hours=${hours}`;
    return this.http.json('POST', `/api/programs/preview${query}`, {
      body,
      headers: this.who(caller),
      timeoutMs: READ_TIMEOUT_MS,
    });
  }

  /** A pre-flight's report, as the hub relays it from its node (the hub checks that the caller owns it). */
  preflight(caller: HubCaller, id: string): Promise<{ status: 'success'; preflight: PreflightReport }> {
    return this.http.json('GET', `/api/experiments/${encodeURIComponent(id)}/preflight`, {
      headers: this.who(caller),
      timeoutMs: READ_TIMEOUT_MS,
    });
  }

  /** The script an experiment was submitted with (the hub checks that the caller owns it or is an admin). */
  script(caller: HubCaller, id: string): Promise<SubmittedScript> {
    return this.http.json('GET', `/api/experiments/${encodeURIComponent(id)}/script`, {
      headers: this.who(caller),
      timeoutMs: READ_TIMEOUT_MS,
    });
  }

  /** Sets an experiment's notes and labels (the hub checks ownership). */
  async annotate(caller: HubCaller, id: string, body: Annotations): Promise<HubExperiment> {
    const res = await this.http.json<{ experiment: HubExperiment }>(
      'POST',
      `/api/experiments/${encodeURIComponent(id)}/annotations`,
      { body, headers: this.who(caller), timeoutMs: READ_TIMEOUT_MS },
    );
    return res.experiment;
  }

  /** A page of every experiment (the caller must be an admin). */
  allExperiments(
    caller: HubCaller,
    query: Record<string, string | number | boolean | undefined>,
  ): Promise<{ experiments: HubExperiment[]; total: number }> {
    const search = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') search.set(k, String(v));
    return this.http.json('GET', `/api/experiments?${search}`, {
      headers: this.who(caller),
      timeoutMs: READ_TIMEOUT_MS,
    });
  }

  /** Drains a node or enables it again (the caller must be an admin). */
  drainNode(caller: HubCaller, name: string, drained: boolean): Promise<NodeInfo> {
    return this.http.json('POST', `/api/nodes/${encodeURIComponent(name)}/drain`, {
      body: { drained },
      headers: this.who(caller),
      timeoutMs: READ_TIMEOUT_MS,
    });
  }

  async status(caller: HubCaller | undefined, id: string): Promise<HubExperiment> {
    const res = await this.http.json<{ experiment: HubExperiment }>(
      'GET',
      `/api/experiments/${encodeURIComponent(id)}/status`,
      { headers: this.who(caller), timeoutMs: READ_TIMEOUT_MS },
    );
    return res.experiment;
  }

  async userExperiments(caller: HubCaller, includeArchived = false): Promise<HubExperiment[]> {
    const path = `/api/experiments/user${includeArchived ? '?include_archived=true' : ''}`;
    const res = await this.http.json<{ experiments: HubExperiment[] }>('GET', path, {
      headers: this.who(caller),
      timeoutMs: READ_TIMEOUT_MS,
    });
    return res.experiments;
  }

  queueStatus(caller?: HubCaller, timeoutMs = READ_TIMEOUT_MS): Promise<QueueStatus> {
    return this.http.json('GET', '/api/queue/status', { headers: this.who(caller), timeoutMs });
  }

  async action(
    caller: HubCaller,
    id: string,
    action: ExperimentAction,
  ): Promise<{ message: string; experiment: HubExperiment }> {
    return this.http.json('POST', `/api/experiments/${encodeURIComponent(id)}/${action}`, {
      headers: this.who(caller),
      timeoutMs: ACTION_TIMEOUT_MS,
    });
  }

  async reorder(
    caller: HubCaller,
    id: string,
    newPosition: number,
  ): Promise<{ message: string; experiment: HubExperiment }> {
    return this.http.json('POST', `/api/experiments/${encodeURIComponent(id)}/reorder?new_position=${newPosition}`, {
      headers: this.who(caller),
      timeoutMs: ACTION_TIMEOUT_MS,
    });
  }

  /** Files every experiment of one hub user under another (the web server's own call, as an operator). */
  async transferUser(fromUser: string, toUser: string): Promise<number> {
    const res = await this.http.json<{ moved: number }>('POST', '/api/users/transfer', {
      body: { from_user: fromUser, to_user: toUser },
      timeoutMs: READ_TIMEOUT_MS,
    });
    return res.moved;
  }

  async logs(caller: HubCaller, id: string, tail: number): Promise<string> {
    const res = await this.http.json<{ logs?: unknown }>(
      'GET',
      `/api/experiments/${encodeURIComponent(id)}/logs?tail=${tail}`,
      {
        headers: this.who(caller),
        timeoutMs: READ_TIMEOUT_MS,
      },
    );
    return typeof res?.logs === 'string' ? res.logs : '';
  }

  /** CSV bytes of an experiment's file from a byte offset, and where the next read starts. */
  async data(
    caller: HubCaller | undefined,
    id: string,
    file: string,
    offset: number,
    timeoutMs = READ_TIMEOUT_MS,
  ): Promise<{ bytes: Buffer; nextOffset: number }> {
    const path = `/api/experiments/${encodeURIComponent(id)}/data?offset=${offset}&file=${encodeURIComponent(file)}`;
    const res = await this.http.fetch('GET', path, { headers: this.who(caller), timeoutMs });
    if (!res.ok) throw await errorOf(res, `the hub answered ${res.status} to GET ${path}`);
    const bytes = Buffer.from(await res.arrayBuffer());
    const header = Number(res.headers.get(NEXT_OFFSET_HEADER));
    return { bytes, nextOffset: Number.isFinite(header) && header >= offset ? header : offset + bytes.length };
  }

  /** The results zip as a stream; errors come back as ApiErrors with the hub's code (404, 503 …). */
  async download(caller: HubCaller, id: string): Promise<Response> {
    const path = `/api/experiments/${encodeURIComponent(id)}/download`;
    const res = await this.http.fetch('GET', path, { headers: this.who(caller), timeoutMs: 60_000 });
    if (!res.ok) throw await errorOf(res, `the hub answered ${res.status} to GET ${path}`);
    return res;
  }

  async nodes(): Promise<NodeInfo[]> {
    const res = await this.http.json<{ nodes: NodeInfo[] }>('GET', '/api/nodes', {
      headers: this.who(undefined),
      timeoutMs: READ_TIMEOUT_MS,
    });
    return res.nodes;
  }

  /** The log's last `tail` lines, then every new chunk, as the node's Server-Sent Events; ends with the run. */
  followLogs(caller: HubCaller, id: string, tail: number, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    return this.eventStream(`/api/experiments/${encodeURIComponent(id)}/logs?follow=true&tail=${tail}`, caller, signal);
  }

  /** The hub's event stream (one long-lived request); aborting the signal ends it. */
  events(signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    return this.eventStream('/api/events', undefined, signal);
  }

  /**
   * The hub's relay of one node's live events (component.sample, component.changed, safety, run.updated, run.rows,
   * node.stream), as the web server itself: it carries every user's rows. `lastEventId` resumes after that event.
   */
  nodeStream(name: string, lastEventId: string | undefined, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const resume = lastEventId ? { 'last-event-id': lastEventId } : undefined;
    return this.eventStream(`/api/nodes/${encodeURIComponent(name)}/stream`, undefined, signal, resume);
  }

  /** An experiment's CSV downsampled min/max per bucket by its node (the hub checks the caller may see it). */
  series(caller: HubCaller, id: string, file: string, points: number): Promise<HubSeries> {
    const path = `/api/experiments/${encodeURIComponent(id)}/series?file=${encodeURIComponent(file)}&points=${points}`;
    return this.http.json('GET', path, { headers: this.who(caller), timeoutMs: SERIES_TIMEOUT_MS });
  }

  private async eventStream(
    path: string,
    caller: HubCaller | undefined,
    signal: AbortSignal,
    extraHeaders: Record<string, string> = {},
  ): Promise<ReadableStream<Uint8Array>> {
    const res = await this.http.fetch('GET', path, {
      headers: { ...this.who(caller), ...extraHeaders, accept: 'text/event-stream' },
      signal,
      // A stream lasts as long as what it follows (a run, the web server); aborting the signal ends it.
      timeoutMs: 2 ** 31 - 1,
    });
    if (!res.ok || !res.body) throw await errorOf(res, `the hub answered ${res.status} to GET ${path}`);
    return res.body;
  }
}

async function errorOf(res: Response, fallback: string): Promise<ApiError> {
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  const err = peerError(res.status, body, fallback);
  if (err.code === 'INTERNAL' && res.status === 503) return new ApiError('NODE_UNREACHABLE', fallback);
  return err;
}
