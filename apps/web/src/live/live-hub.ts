// Every reactor's live data, pushed: one stream per node from the hub's relay (GET /api/nodes/:name/stream, as the
// web server itself), the hub's own events through the shared HubEventRelay, and one bus every browser stream reads.
// Each event is serialised once for everyone; only what differs per viewer (the masked queue, who may see a run's
// rows) is decided per viewer, and a viewer's rendering is kept for the next viewer of the same kind.
import {
  type DashboardSettings,
  EVENT_TYPES,
  type HubExperiment,
  type LabSettings,
  type LiveSample,
  type NodeInfo,
  type QueueStatus,
} from '@bioreactor/api';
import { type ReplayEntry, ReplayLog, readEventStream } from '@bioreactor/service-kit';
import { isOwner, viewExperiment, viewQueue } from '../experiment-view.js';
import type { HubCaller, HubClient } from '../hub-client.js';
import type { HubEvent, HubEventRelay } from '../hub-events.js';
import { CsvFollower, downsample } from './csv.js';
import { type HardwareState, hardwareSample, interlocksOf } from './live-data.js';

/** Points of history a snapshot carries; the rings behind it are longer. */
export const BACKFILL_POINTS = 600;
/** Newest hardware samples (one per update_interval) and CSV rows kept per reactor. */
export const RING_ROWS = 2000;
/** Events kept for Last-Event-ID resumes: minutes of every reactor's samples, changes and rows. */
export const REPLAY_EVENTS = 4096;
const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 15_000;

export type Viewer = HubCaller;

/**
 * One event on the bus, as published. `data` is the JSON every viewer gets; `render` is for events that differ per
 * viewer (the masked queue, a reactor list cut by `?nodes=`). `rowsOf` limits it to viewers who may see that
 * experiment's data.
 */
export interface BusMessage {
  event: string;
  /** The reactor it is about, for `?nodes=`. */
  node?: string;
  data?: string;
  render?: (viewer: Viewer, nodes: ReadonlySet<string> | undefined) => string | undefined;
  rowsOf?: string;
  /** The payload as an object, for the older /api/live-data stream. */
  payload?: unknown;
}

/** A bus event with its place in the stream (`id` is `<epoch>-<seq>`). */
export type BusEvent = ReplayEntry<BusMessage>;

export interface LiveSubscriber {
  viewer: Viewer;
  nodes: ReadonlySet<string> | undefined;
  send(event: string, data: string, id: string): void;
  /** Instead of `send`: the event itself, for a stream of another shape (the older /api/live-data). */
  raw?: (event: BusEvent) => void;
}

export interface LiveHubDeps {
  hub: Pick<HubClient, 'nodes' | 'nodeStream' | 'data'>;
  hubEvents: Pick<HubEventRelay, 'subscribe' | 'connected'>;
  settings(): DashboardSettings;
  lab(): LabSettings;
  now?: () => number;
  onProblem?: (message: string) => void;
}

export interface NodeStatus {
  node: string;
  connected: boolean;
  /** Why not, in words for the page; null while connected. */
  reason: string | null;
  /** When the web server last heard from it (ms since the epoch, the web server's clock); null: never. */
  last_event_ms: number | null;
}

interface CsvState {
  experimentId: string;
  file: string;
  follower: CsvFollower;
  rows: LiveSample[];
  /** Where the next chunk should start; a chunk elsewhere means rows were missed (they stay in the series). */
  nextOffset: number;
}

interface NodeLive {
  name: string;
  /** The web server's stream from the hub for this node is open. */
  upstream: boolean;
  upstreamReason: string | null;
  /** What the hub says of its own stream from the node (node.stream). */
  nodeSide: { connected: boolean; reason: string | null };
  lastEventMs: number | null;
  lastEventId: string | undefined;
  components: Record<string, Record<string, unknown>>;
  atMs: number | null;
  interlocks: string[] | undefined;
  /** The experiment the node says it runs. */
  run: string | null;
  latest: LiveSample | undefined;
  hardware: LiveSample[];
  /** A component changed since the last live.samples. */
  dirty: boolean;
  csv: CsvState | undefined;
  /** CSV chunks are handled in order, one at a time (a header may have to be fetched first). */
  csvChain: Promise<void>;
  abort: AbortController | undefined;
  retry: NodeJS.Timeout | undefined;
  backoffMs: number;
  /** Snapshots already rendered, by kind of viewer; any change of the node clears it. */
  snapshots: Map<string, string>;
  /** Resolved at the node's next event (a JSON reader waiting for the first sample). */
  waiters: (() => void)[];
}

interface ComponentEvent {
  component?: unknown;
  state?: unknown;
  source?: unknown;
  at_ms?: unknown;
}

interface RowsEvent {
  experiment_id?: unknown;
  file?: unknown;
  offset?: unknown;
  next_offset?: unknown;
  text?: unknown;
  at_ms?: unknown;
}

export class LiveHub {
  /** Every event published, for Last-Event-ID resumes; its epoch is this server run's start. */
  private readonly log: ReplayLog<BusMessage>;
  private readonly nodes = new Map<string, NodeLive>();
  private readonly nodeInfo = new Map<string, NodeInfo>();
  private readonly subscribers = new Set<LiveSubscriber>();
  /** The hub's running experiment of each node, and the owner of every experiment seen running. */
  private readonly running = new Map<string, HubExperiment>();
  private readonly owners = new Map<string, string>();
  private queue: QueueStatus | undefined;
  private unsubscribeHub: (() => void) | undefined;
  private batchTimer: NodeJS.Timeout | undefined;
  private started = false;
  private readonly now: () => number;
  private lastProblem: string | undefined;

  constructor(private readonly deps: LiveHubDeps) {
    this.now = deps.now ?? Date.now;
    this.log = new ReplayLog({ maxEvents: REPLAY_EVENTS, epoch: this.now().toString(36) });
  }

  get clientCount(): number {
    return this.subscribers.size;
  }

  get nodeNames(): string[] {
    return [...this.nodes.keys()];
  }

  /** Follows the hub's events and every node it names until stop(); calling it again does nothing. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.unsubscribeHub = this.deps.hubEvents.subscribe((e) => this.onHubEvent(e));
    void this.refreshNodes();
    this.scheduleBatch();
  }

  stop(): void {
    this.started = false;
    this.unsubscribeHub?.();
    this.unsubscribeHub = undefined;
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    for (const n of this.nodes.values()) {
      if (n.retry) clearTimeout(n.retry);
      n.retry = undefined;
      n.abort?.abort();
      n.abort = undefined;
    }
  }

  /** Asks the hub for its nodes (at start; the relay's node.updated keeps the list after). */
  async refreshNodes(): Promise<void> {
    try {
      for (const info of await this.deps.hub.nodes()) this.addNode(info);
    } catch (err) {
      this.problem(`live data: cannot list the hub's nodes: ${(err as Error).message}`);
    }
  }

  /** A changed csv_file_path follows the new file; a changed update_interval paces live.samples from now on. */
  settingsChanged(): void {
    for (const n of this.nodes.values()) {
      if (n.csv && n.csv.file !== this.deps.settings().csv_file_path) n.csv = undefined;
      this.broadcastSnapshot(n);
    }
    this.scheduleBatch();
  }

  /** Who sees which rows may have changed (share_live_data): every reactor's panel is sent again. */
  labChanged(): void {
    for (const n of this.nodes.values()) this.broadcastSnapshot(n);
  }

  // ---- viewers ----

  /** Whether this viewer may see the rows of an experiment: its owner, an admin, or anyone when the lab shares. */
  mayReadRows(viewer: Viewer, experimentId: string): boolean {
    if (viewer.role === 'admin' || this.deps.lab().share_live_data === true) return true;
    return this.owners.get(experimentId) === viewer.hubUser;
  }

  subscribe(sub: LiveSubscriber): () => void {
    this.subscribers.add(sub);
    return () => this.subscribers.delete(sub);
  }

  /**
   * What a connecting browser gets first: the events it missed after `lastEventId` when they are all still kept,
   * else the whole state (hub status, queue, nodes, live.status and a live.snapshot per reactor).
   */
  greet(sub: LiveSubscriber, lastEventId: string | undefined): 'resumed' | 'fresh' {
    const missed = this.missedSince(lastEventId);
    if (missed) {
      for (const e of missed) this.deliver(sub, e);
      return 'resumed';
    }
    const id = this.currentId();
    sub.send('hub.status', JSON.stringify({ connected: this.deps.hubEvents.connected }), id);
    if (this.queue) sub.send(EVENT_TYPES.queueUpdated, JSON.stringify(viewQueue(this.queue, sub.viewer)), id);
    for (const info of this.nodeInfo.values()) sub.send(EVENT_TYPES.nodeUpdated, JSON.stringify(info), id);
    sub.send(EVENT_TYPES.liveStatus, this.statusText(), id);
    for (const n of this.nodes.values()) {
      if (sub.nodes && !sub.nodes.has(n.name)) continue;
      sub.send(EVENT_TYPES.liveSnapshot, this.snapshotText(n, sub.viewer), id);
    }
    return 'fresh';
  }

  private currentId(): string {
    return this.log.lastId;
  }

  /**
   * Events after `lastEventId` before filtering per viewer, or undefined when they cannot all be replayed (another
   * server run, too old).
   */
  missedSince(lastEventId: string | undefined): BusEvent[] | undefined {
    return this.log.since(lastEventId);
  }

  private deliver(sub: LiveSubscriber, e: BusEvent): void {
    if (e.node && sub.nodes && !sub.nodes.has(e.node)) return;
    if (e.rowsOf && !this.mayReadRows(sub.viewer, e.rowsOf)) return;
    if (sub.raw) {
      sub.raw(e);
      return;
    }
    const text = e.data ?? e.render?.(sub.viewer, sub.nodes);
    if (text !== undefined) sub.send(e.event, text, e.id);
  }

  private publish(e: BusMessage): void {
    const event = this.log.append(e);
    for (const sub of this.subscribers) this.deliver(sub, event);
  }

  // ---- the hub's events ----

  private onHubEvent({ event, data }: HubEvent): void {
    if (event === 'hub.status') {
      this.publish({ event, data: JSON.stringify(data) });
      this.publishStatus();
    } else if (event === EVENT_TYPES.queueUpdated) {
      const queue = data as QueueStatus;
      this.queue = queue;
      this.runningFrom(queue.queue ?? [], true);
      const rendered = new Map<string, string>();
      this.publish({
        event,
        render: (viewer) => {
          const key = queue.queue.some((e) => isOwner(e, viewer)) ? `${viewer.role}:${viewer.hubUser}` : viewer.role;
          return memo(rendered, key, () => JSON.stringify(viewQueue(queue, viewer)));
        },
      });
    } else if (event === EVENT_TYPES.experimentUpdated) {
      const experiment = (data as { experiment?: HubExperiment }).experiment;
      if (!experiment) return;
      this.runningFrom([experiment], false);
      const rendered = new Map<string, string>();
      this.publish({
        event,
        render: (viewer) => {
          const key = isOwner(experiment, viewer) ? `owner:${viewer.hubUser}` : viewer.role;
          return memo(rendered, key, () => JSON.stringify({ experiment: viewExperiment(experiment, viewer) }));
        },
      });
    } else if (event === EVENT_TYPES.nodeUpdated) {
      this.addNode(data as NodeInfo);
      this.publish({ event, data: JSON.stringify(data) });
    }
  }

  /** The hub's view of which experiment runs where; `whole` when the list is every active experiment. */
  private runningFrom(experiments: HubExperiment[], whole: boolean): void {
    const changed = new Set<string>();
    const seen = new Set<string>();
    for (const e of experiments) {
      this.owners.set(e.experiment_id, e.user_session_id);
      if (e.status === 'running' && e.node) {
        seen.add(e.node);
        if (this.running.get(e.node)?.experiment_id !== e.experiment_id) changed.add(e.node);
        this.running.set(e.node, e);
      } else {
        for (const [node, r] of this.running)
          if (r.experiment_id === e.experiment_id) {
            this.running.delete(node);
            changed.add(node);
          }
      }
    }
    if (whole)
      for (const node of [...this.running.keys()])
        if (!seen.has(node)) {
          this.running.delete(node);
          changed.add(node);
        }
    // Owners of runs long gone are forgotten; those of running ones are kept.
    if (this.owners.size > 10_000) {
      const keep = new Set([...this.running.values()].map((e) => e.experiment_id));
      for (const id of this.owners.keys()) {
        if (this.owners.size <= 5_000) break;
        if (!keep.has(id)) this.owners.delete(id);
      }
    }
    for (const name of changed) {
      const n = this.nodes.get(name);
      if (n) this.broadcastSnapshot(n);
    }
  }

  private addNode(info: NodeInfo): void {
    if (!info || typeof info.name !== 'string') return;
    this.nodeInfo.set(info.name, info);
    if (this.nodes.has(info.name)) return;
    const n: NodeLive = {
      name: info.name,
      upstream: false,
      upstreamReason: 'Connecting to the hub for this reactor’s live data',
      nodeSide: { connected: true, reason: null },
      lastEventMs: null,
      lastEventId: undefined,
      components: {},
      atMs: null,
      interlocks: undefined,
      run: null,
      latest: undefined,
      hardware: [],
      dirty: false,
      csv: undefined,
      csvChain: Promise.resolve(),
      abort: undefined,
      retry: undefined,
      backoffMs: MIN_BACKOFF_MS,
      snapshots: new Map(),
      waiters: [],
    };
    this.nodes.set(n.name, n);
    this.publishStatus();
    this.broadcastSnapshot(n);
    if (this.started) this.connectNode(n);
  }

  // ---- each node's stream ----

  private connectNode(n: NodeLive): void {
    const abort = new AbortController();
    n.abort = abort;
    void (async () => {
      let reason = 'The hub ended this reactor’s live stream; reconnecting';
      try {
        const body = await this.deps.hub.nodeStream(n.name, n.lastEventId, abort.signal);
        n.backoffMs = MIN_BACKOFF_MS;
        this.setUpstream(n, true, null);
        for await (const message of readEventStream(body)) {
          if (message.id) n.lastEventId = message.id;
          let data: unknown;
          try {
            data = JSON.parse(message.data);
          } catch {
            continue;
          }
          this.onNodeEvent(n, message.event, data);
        }
      } catch (err) {
        if (!abort.signal.aborted) {
          this.problem(`live data of node ${n.name}: ${(err as Error).message}`);
          reason = 'The web server cannot reach the hub for this reactor’s live data; it retries by itself';
        }
      }
      if (abort.signal.aborted || n.abort !== abort) return;
      n.abort = undefined;
      this.setUpstream(n, false, reason);
      n.retry = setTimeout(() => {
        n.retry = undefined;
        if (this.started && !n.abort) this.connectNode(n);
      }, n.backoffMs);
      n.retry.unref();
      n.backoffMs = Math.min(MAX_BACKOFF_MS, n.backoffMs * 2);
    })();
  }

  private setUpstream(n: NodeLive, up: boolean, reason: string | null): void {
    if (n.upstream === up && n.upstreamReason === reason) return;
    n.upstream = up;
    n.upstreamReason = reason;
    n.snapshots.clear();
    this.publishStatus();
  }

  private onNodeEvent(n: NodeLive, event: string, data: unknown): void {
    n.lastEventMs = this.now();
    n.snapshots.clear();
    if (event === EVENT_TYPES.componentSample || event === EVENT_TYPES.componentChanged) {
      const { component, state, at_ms } = data as ComponentEvent;
      if (typeof component !== 'string' || !state || typeof state !== 'object') return;
      n.components[component] = state as Record<string, unknown>;
      const at = typeof at_ms === 'number' ? at_ms : this.now();
      n.atMs = Math.max(n.atMs ?? 0, at);
      n.dirty = true;
      if (event === EVENT_TYPES.componentChanged) {
        const payload = { node: n.name, component, state, at_ms: at };
        this.publish({ event: EVENT_TYPES.liveChanged, node: n.name, data: JSON.stringify(payload), payload });
      }
    } else if (event === EVENT_TYPES.safety) {
      const interlocks = (data as { interlocks?: unknown }).interlocks;
      if (!Array.isArray(interlocks)) return;
      const now = interlocks.filter((t): t is string => typeof t === 'string');
      const before = n.interlocks;
      n.interlocks = now;
      if (before && before.length === now.length && before.every((t, i) => t === now[i])) return;
      const payload = { node: n.name, interlocks: now };
      this.publish({ event: EVENT_TYPES.liveSafety, node: n.name, data: JSON.stringify(payload), payload });
    } else if (event === EVENT_TYPES.runUpdated) {
      const run = (data as { experiment?: { experiment_id?: unknown; status?: unknown } }).experiment;
      if (typeof run?.experiment_id !== 'string') return;
      const before = n.run;
      if (run.status === 'running') n.run = run.experiment_id;
      else if (n.run === run.experiment_id || n.run === null) n.run = null;
      if (n.run !== before) {
        if (n.csv && n.csv.experimentId !== n.run) n.csv = undefined;
        this.broadcastSnapshot(n);
      }
    } else if (event === EVENT_TYPES.runRows) {
      const rows = data as RowsEvent;
      n.csvChain = n.csvChain.then(() => this.onRows(n, rows)).catch(() => undefined);
    } else if (event === EVENT_TYPES.nodeStream) {
      const { connected, reason } = data as { connected?: unknown; reason?: unknown };
      n.nodeSide = {
        connected: connected === true,
        reason: connected === true ? null : typeof reason === 'string' ? reason : 'The hub lost this reactor',
      };
      this.publishStatus();
    }
    for (const wake of n.waiters.splice(0)) wake();
  }

  private async onRows(n: NodeLive, e: RowsEvent): Promise<void> {
    const { experiment_id: id, file, text } = e;
    if (typeof id !== 'string' || typeof file !== 'string' || typeof text !== 'string') return;
    if (file !== this.deps.settings().csv_file_path) return;
    const offset = typeof e.offset === 'number' ? e.offset : 0;
    let csv = n.csv;
    if (!csv || csv.experimentId !== id || csv.file !== file) {
      const follower = new CsvFollower(id);
      // A stream that joins a run mid-file starts at its end, without the header: it is read once from the start.
      if (offset > 0) {
        try {
          const head = await this.deps.hub.data(undefined, id, file, 0);
          const end = head.bytes.indexOf(0x0a);
          if (end < 0) return;
          follower.push(head.bytes.subarray(0, end + 1));
        } catch (err) {
          this.problem(`live data of node ${n.name}: cannot read the header of ${file}: ${(err as Error).message}`);
          return;
        }
      }
      csv = { experimentId: id, file, follower, rows: [], nextOffset: offset };
      n.csv = csv;
      n.run ??= id;
    }
    csv.nextOffset = typeof e.next_offset === 'number' ? e.next_offset : offset + Buffer.byteLength(text);
    const fresh = csv.follower.push(Buffer.from(text));
    if (fresh.length === 0) return;
    const first = csv.rows.length === 0;
    for (const row of fresh) push(csv.rows, row);
    n.snapshots.clear();
    const payload = {
      node: n.name,
      experiment_id: id,
      file,
      rows: fresh,
      at_ms: typeof e.at_ms === 'number' ? e.at_ms : null,
    };
    this.publish({ event: EVENT_TYPES.liveRows, node: n.name, rowsOf: id, data: JSON.stringify(payload), payload });
    // The panel's source turns to the experiment's CSV for those who may see it.
    if (first) this.broadcastSnapshot(n);
  }

  // ---- samples, status, snapshots ----

  private scheduleBatch(): void {
    if (this.batchTimer) clearTimeout(this.batchTimer);
    if (!this.started) return;
    this.batchTimer = setTimeout(() => {
      this.batchTimer = undefined;
      this.flushSamples();
      this.scheduleBatch();
    }, this.deps.settings().update_interval * 1000);
    this.batchTimer.unref();
  }

  /** One live.samples with the newest sample of every reactor that changed since the last one. */
  flushSamples(): void {
    const samples: Record<string, LiveSample> = {};
    for (const n of this.nodes.values()) {
      if (!n.dirty) continue;
      n.dirty = false;
      const sample = hardwareSample(this.hardwareState(n));
      n.latest = sample;
      push(n.hardware, sample);
      n.snapshots.clear();
      samples[n.name] = sample;
    }
    const names = Object.keys(samples);
    if (names.length === 0) return;
    const payload = { samples };
    const text = JSON.stringify(payload);
    const cut = new Map<string, string | undefined>();
    this.publish({
      event: EVENT_TYPES.liveSamples,
      payload,
      render: (_viewer, nodes) => {
        if (!nodes) return text;
        const key = [...nodes].sort().join(',');
        if (!cut.has(key)) {
          const mine = names.filter((name) => nodes.has(name));
          cut.set(
            key,
            mine.length === 0
              ? undefined
              : JSON.stringify({ samples: Object.fromEntries(mine.map((k) => [k, samples[k]])) }),
          );
        }
        return cut.get(key);
      },
    });
  }

  private hardwareState(n: NodeLive): HardwareState {
    return {
      timestamp: new Date(n.atMs ?? this.now()).toISOString(),
      components: n.components as HardwareState['components'],
    };
  }

  status(): { hub: { connected: boolean }; nodes: NodeStatus[] } {
    return {
      hub: { connected: this.deps.hubEvents.connected },
      nodes: [...this.nodes.values()].map((n) => ({
        node: n.name,
        connected: n.upstream && n.nodeSide.connected,
        reason: !n.upstream ? n.upstreamReason : n.nodeSide.reason,
        last_event_ms: n.lastEventMs,
      })),
    };
  }

  private statusText(): string {
    return JSON.stringify(this.status());
  }

  private publishStatus(): void {
    const payload = this.status();
    this.publish({ event: EVENT_TYPES.liveStatus, data: JSON.stringify(payload), payload });
  }

  private broadcastSnapshot(n: NodeLive): void {
    n.snapshots.clear();
    this.publish({
      event: EVENT_TYPES.liveSnapshot,
      node: n.name,
      render: (viewer) => this.snapshotText(n, viewer),
    });
  }

  /** The latest sample of a reactor as this viewer may see it: a CSV row of the run, or the sensors'. */
  latestSample(viewer: Viewer, node?: string): LiveSample {
    const n = node ? this.nodes.get(node) : this.nodes.values().next().value;
    if (!n) return this.unknown('No bioreactor yet: the hub names no node, or has not answered');
    return this.view(n, viewer).sample;
  }

  /** Whether this viewer's panel of a reactor shows the running experiment's CSV rows (else its sensors). */
  showsRows(viewer: Viewer, node: string): boolean {
    const csv = this.nodes.get(node)?.csv;
    return csv !== undefined && csv.rows.length > 0 && this.mayReadRows(viewer, csv.experimentId);
  }

  /** Waits up to `ms` for a reactor's first reading (a JSON reader right after the web server started). */
  async firstEvent(node: string | undefined, ms: number): Promise<void> {
    const deadline = performance.now() + ms;
    if (this.nodes.size === 0) await this.refreshNodes();
    const n = node ? this.nodes.get(node) : this.nodes.values().next().value;
    while (n && n.atMs === null && performance.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - performance.now()));
        timer.unref();
        n.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    // The states a stream starts with come in one burst: the rest of it is read before answering.
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** A reactor's panel as this viewer sees it. */
  private view(n: NodeLive, viewer: Viewer) {
    const running = this.running.get(n.name) ?? null;
    const runId = n.csv?.experimentId ?? running?.experiment_id ?? n.run;
    const rowsVisible = runId !== null && runId !== undefined && this.mayReadRows(viewer, runId);
    const csv = rowsVisible && n.csv && n.csv.rows.length > 0 ? n.csv : undefined;
    const connected = n.upstream && n.nodeSide.connected;
    let sample: LiveSample;
    if (csv) sample = csv.rows.at(-1) as LiveSample;
    else if (n.dirty || (!n.latest && n.atMs !== null)) sample = hardwareSample(this.hardwareState(n));
    else sample = n.latest ?? this.unknown('No data yet: the first sample is on its way');
    const source: 'csv' | 'hardware' | 'unknown' = csv ? 'csv' : sample.source === 'hardware' ? 'hardware' : 'unknown';
    return {
      node: n.name,
      sample,
      history: downsample(csv ? csv.rows : n.hardware, BACKFILL_POINTS),
      safety: n.interlocks ?? interlocksOf(this.hardwareState(n)),
      experiment: running ? viewExperiment(running, viewer) : null,
      source,
      connected,
      rows_visible: rowsVisible,
    };
  }

  private snapshotText(n: NodeLive, viewer: Viewer): string {
    const running = this.running.get(n.name);
    const runId = n.csv?.experimentId ?? running?.experiment_id ?? n.run;
    const rows = runId ? this.mayReadRows(viewer, runId) : false;
    const who = running ? (isOwner(running, viewer) ? `owner:${viewer.hubUser}` : viewer.role) : 'none';
    const key = `${rows ? 'rows' : '-'}:${who}`;
    return memo(n.snapshots, key, () => JSON.stringify(this.view(n, viewer)));
  }

  /** The older /api/live-data snapshot of a reactor: `{sample, history, settings, connected_clients, safety}`. */
  legacySnapshot(viewer: Viewer, node?: string) {
    const n = node ? this.nodes.get(node) : this.nodes.values().next().value;
    const view = n ? this.view(n, viewer) : undefined;
    return {
      sample: view?.sample ?? this.unknown('No bioreactor yet: the hub names no node, or has not answered'),
      history: view?.history ?? [],
      settings: this.deps.settings(),
      connected_clients: this.subscribers.size,
      safety: view?.safety ?? [],
    };
  }

  private unknown(message: string): LiveSample {
    return {
      timestamp: new Date(this.now()).toISOString(),
      epoch_ms: this.now(),
      status: 'error',
      source: 'unknown',
      message,
    };
  }

  private problem(message: string): void {
    // Logged once when it starts, not at every retry while it lasts.
    if (message !== this.lastProblem) this.deps.onProblem?.(message);
    this.lastProblem = message;
  }
}

function push(list: LiveSample[], sample: LiveSample): void {
  list.push(sample);
  // Trimmed in batches: dropping one point per push would cost O(n) each time.
  if (list.length > RING_ROWS * 1.25) list.splice(0, list.length - RING_ROWS);
}

/** The rendering kept for `key`, made once. */
function memo(cache: Map<string, string>, key: string, make: () => string): string {
  let text = cache.get(key);
  if (text === undefined) {
    text = make();
    cache.set(key, text);
  }
  return text;
}
