// GET /api/nodes/:name/stream behind the route: one connection per node to its live stream (GET /api/v3/stream),
// shared by every follower and relayed as received, under the hub's own resumable ids.
import { EVENT_TYPES, type NodeStreamStatus, SSE_HEARTBEAT_MS } from '@bioreactor/api';
import { EventStreamParser, type ParsedEvent, type ReplayEntry, ReplayLog } from '@bioreactor/service-kit';
import type { NodeEntry, NodeRegistry } from './registry.js';

export interface NodeStreamOptions {
  /** Events kept per node for followers that resume (Last-Event-ID)... */
  ringSize: number;
  /** ...and at most this many characters of their data (a burst of large run.rows must not fill the memory). */
  ringChars: number;
  /** How long a node's connection stays open after its last follower left (one who comes back resumes). */
  idleCloseMs: number;
  /** First wait before connecting again after the connection to a node broke; doubled each time, up to the max. */
  backoffMinMs: number;
  backoffMaxMs: number;
  /** How long the node may take to answer the request for its stream. */
  connectTimeoutMs: number;
  /** No byte from the node this long (its heartbeats included): the connection is taken as dead. */
  silenceMs: number;
  log: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

export const NODE_STREAM_DEFAULTS: Omit<NodeStreamOptions, 'log' | 'connectTimeoutMs'> = {
  ringSize: 2000,
  ringChars: 16_000_000,
  idleCloseMs: 15_000,
  backoffMinMs: 500,
  backoffMaxMs: 10_000,
  silenceMs: 3 * SSE_HEARTBEAT_MS,
};

/** One follower of a node's stream: the route's SSE writer. */
export interface NodeStreamFollower {
  /** `data` is the text to send as it is; `id` the hub's `<epoch>-<seq>`, absent for the states sent on joining. */
  send(event: string, data: string, id?: string): void;
  /** The stream ends for good (the node was removed, or the hub stops). */
  end(reason: string): void;
}

type Relayed = ReplayEntry<{ event: string; data: string }>;

/** The latest of these per key is what a follower joining afresh needs to know the node's state. */
function stateKey(event: string, data: string): string | undefined {
  if (event === EVENT_TYPES.safety || event === EVENT_TYPES.runUpdated) return event;
  if (event !== EVENT_TYPES.componentSample && event !== EVENT_TYPES.componentChanged) return undefined;
  try {
    const component = (JSON.parse(data) as { component?: unknown }).component;
    return typeof component === 'string' ? `${event}\n${component}` : undefined;
  } catch {
    return undefined;
  }
}

/** The hub's connection to one node's stream and what it relayed lately. */
class Upstream {
  readonly followers = new Set<NodeStreamFollower>();
  /**
   * The last events relayed, under an epoch new for every upstream's lifetime: ids of an earlier one (or another hub
   * process) never resume here.
   */
  private readonly log: ReplayLog<{ event: string; data: string }>;
  private readonly latest = new Map<string, Relayed>();
  private connected = false;
  private reason = 'connecting to the node';
  private announced = '';
  /** The node's id of the last event it sent, sent back when connecting again so that it replays what was missed. */
  private nodeLastId: string | undefined;
  private readonly abort = new AbortController();
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly entry: NodeEntry,
    private readonly opts: NodeStreamOptions,
    private readonly onIdle: () => void,
  ) {
    this.log = new ReplayLog({ maxEvents: opts.ringSize, maxChars: opts.ringChars });
    void this.run();
  }

  join(follower: NodeStreamFollower, lastEventId: string | undefined): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const missed = this.log.since(lastEventId);
    if (missed) {
      for (const e of missed) follower.send(e.event, e.data, e.id);
    } else {
      const status: NodeStreamStatus = { ...this.status(), fresh: true };
      follower.send(EVENT_TYPES.nodeStream, JSON.stringify(status), this.log.lastId);
      const states = [...this.latest.values()].sort((a, b) => a.seq - b.seq);
      for (const e of states) follower.send(e.event, e.data);
    }
    this.followers.add(follower);
  }

  leave(follower: NodeStreamFollower): void {
    if (!this.followers.delete(follower) || this.followers.size > 0 || this.abort.signal.aborted) return;
    this.idleTimer = setTimeout(() => {
      if (this.followers.size === 0) this.onIdle();
    }, this.opts.idleCloseMs);
    this.idleTimer.unref();
  }

  private status(): NodeStreamStatus {
    return { node: this.entry.name, connected: this.connected, reason: this.reason };
  }

  private relay(event: string, data: string): void {
    const e = this.log.append({ event, data });
    const key = stateKey(event, data);
    if (key !== undefined) this.latest.set(key, e);
    for (const f of [...this.followers]) f.send(event, data, e.id);
  }

  /** node.stream whenever the connection opens or breaks (and when why it is down changes). */
  private setConnected(connected: boolean, reason: string): void {
    this.connected = connected;
    this.reason = reason;
    const key = `${connected}\n${reason}`;
    if (key === this.announced) return;
    this.announced = key;
    this.relay(EVENT_TYPES.nodeStream, JSON.stringify(this.status()));
  }

  private async run(): Promise<void> {
    const { signal } = this.abort;
    let backoff = this.opts.backoffMinMs;
    while (!signal.aborted) {
      const opened = performance.now();
      let why: string;
      try {
        const body = await this.entry.client.openStream(this.nodeLastId, signal, this.opts.connectTimeoutMs);
        if (signal.aborted) {
          await body.cancel().catch(() => undefined);
          return;
        }
        this.setConnected(true, 'connected');
        this.opts.log.info({ node: this.entry.name, resumed_after: this.nodeLastId ?? null }, 'node stream open');
        why = await this.read(body);
      } catch (err) {
        why = (err as Error).message;
      }
      if (signal.aborted) return;
      if (this.connected) this.opts.log.warn({ node: this.entry.name, why }, 'node stream broke');
      this.setConnected(false, why);
      // A connection that lasted is a fresh outage: start again from the shortest wait.
      if (performance.now() - opened >= this.opts.backoffMaxMs) backoff = this.opts.backoffMinMs;
      await wait(backoff, signal);
      backoff = Math.min(backoff * 2, this.opts.backoffMaxMs);
    }
  }

  /** Relays the node's events until its stream ends; resolves with why it ended. */
  private async read(body: ReadableStream<Uint8Array>): Promise<string> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    const parser = new EventStreamParser();
    let silent = false;
    let watchdog: NodeJS.Timeout | undefined;
    const watch = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        silent = true;
        void reader.cancel().catch(() => undefined);
      }, this.opts.silenceMs);
    };
    const stop = () => void reader.cancel().catch(() => undefined);
    this.abort.signal.addEventListener('abort', stop, { once: true });
    try {
      watch();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        watch();
        for (const ev of parser.push(decoder.decode(value, { stream: true }))) this.fromNode(ev);
      }
      return silent
        ? `the node sent nothing for ${Math.round(this.opts.silenceMs / 1000)} s (not even a heartbeat)`
        : 'the node closed its stream';
    } catch (err) {
      return `the connection to the node broke: ${(err as Error).message}`;
    } finally {
      clearTimeout(watchdog);
      this.abort.signal.removeEventListener('abort', stop);
    }
  }

  private fromNode(ev: ParsedEvent): void {
    if (ev.id !== undefined) this.nodeLastId = ev.id;
    this.relay(ev.event, ev.data);
  }

  /** Closes the node's connection; followers, if any, get a last node.stream saying why and their streams end. */
  close(reason: string | undefined): void {
    clearTimeout(this.idleTimer);
    this.abort.abort();
    if (reason !== undefined && this.followers.size > 0) this.setConnected(false, reason);
    for (const f of [...this.followers]) f.end(reason ?? 'closed');
    this.followers.clear();
  }
}

function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Every node's shared stream, opened when its first follower arrives and closed a while after the last leaves. */
export class NodeStreams {
  private readonly upstreams = new Map<string, Upstream>();
  private readonly onRemoved = (name: string) => {
    const upstream = this.upstreams.get(name);
    this.upstreams.delete(name);
    upstream?.close(`node ${name} was removed from the hub`);
  };

  constructor(
    private readonly registry: NodeRegistry,
    private readonly opts: NodeStreamOptions,
  ) {
    registry.on('removed', this.onRemoved);
  }

  /**
   * Adds a follower of node `name` (NODE_NOT_FOUND when there is none). With a `lastEventId` this relay gave out
   * and still holds, it first gets exactly the events that followed; otherwise it starts afresh: node.stream with
   * `fresh: true`, then the node's latest states (component.sample and component.changed per component, safety,
   * run.updated). Returns what to call when the follower goes away.
   */
  follow(name: string, lastEventId: string | undefined, follower: NodeStreamFollower): () => void {
    const entry = this.registry.mustGet(name);
    let upstream = this.upstreams.get(name);
    if (upstream && upstream.entry !== entry) {
      // Removed and added again under the same name: the old connection was to another node.
      upstream.close(undefined);
      upstream = undefined;
    }
    if (!upstream) {
      const created: Upstream = new Upstream(entry, this.opts, () => {
        if (this.upstreams.get(name) === created) this.upstreams.delete(name);
        created.close(undefined);
      });
      upstream = created;
      this.upstreams.set(name, created);
    }
    upstream.join(follower, lastEventId);
    const joined = upstream;
    return () => joined.leave(follower);
  }

  /** Nodes whose stream the hub holds open now (for tests and logs). */
  open(): string[] {
    return [...this.upstreams.keys()];
  }

  close(): void {
    this.registry.off('removed', this.onRemoved);
    for (const u of this.upstreams.values()) u.close('the hub is stopping');
    this.upstreams.clear();
  }
}
