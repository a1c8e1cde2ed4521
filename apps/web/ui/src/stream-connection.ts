// The one EventSource on the web server's `GET /api/stream`, with the state every page needs. It runs in the shared
// worker (one per browser) or, where SharedWorker is missing, in the tab itself. A browser gives an EventSource up
// for good once a proxy answers 502/503 (readyState CLOSED), and retries a broken network on its own terms; so after
// any error this closes it and opens a new one after an exponential backoff with jitter, resuming with
// `?last_event_id=` from the last event it had.
import { EVENT_TYPES } from '@bioreactor/api';
import { applyEvent, emptyModel, type LiveModel, modelEvents } from './live-model.js';

export const STREAM_URL = '/api/stream';

/** The events of `/api/stream` the pages use (EventSource needs each name listened to). */
export const STREAM_EVENTS = [
  'hub.status',
  EVENT_TYPES.queueUpdated,
  EVENT_TYPES.experimentUpdated,
  EVENT_TYPES.nodeUpdated,
  EVENT_TYPES.liveStatus,
  EVENT_TYPES.liveSnapshot,
  EVENT_TYPES.liveSamples,
  EVENT_TYPES.liveChanged,
  EVENT_TYPES.liveRows,
  EVENT_TYPES.liveSafety,
] as const;

/** Hub events whose last value a tab that connects later gets at once. */
const KEPT = new Set<string>(['hub.status', EVENT_TYPES.queueUpdated]);

/** First retry after this long; each failure doubles it, up to the cap. */
export const RETRY_MIN_MS = 1000;
export const RETRY_MAX_MS = 30_000;

export type StreamState =
  | { kind: 'connecting' }
  | { kind: 'open'; since: number }
  /** `at`: browser ms of the next attempt; `attempt`: failures in a row. */
  | { kind: 'retrying'; at: number; attempt: number };

/** What a connection tells the pages: its state, or one event with the browser time it arrived. */
export type StreamMessage =
  | { type: 'state'; state: StreamState }
  | { type: 'event'; event: string; data: unknown; at: number; replay?: boolean };

/** The wait before retry number `attempt` (1, 2, …): doubling from 1 s to 30 s, each drawn from its upper half. */
export function backoffMs(attempt: number, random = Math.random): number {
  const ceiling = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export class StreamConnection {
  private source: EventSource | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastId = '';
  private failures = 0;
  private state: StreamState = { kind: 'connecting' };
  private model: LiveModel = emptyModel();
  private readonly kept = new Map<string, { data: unknown; at: number }>();
  private readonly listeners = new Set<(m: StreamMessage) => void>();

  constructor(private readonly url = STREAM_URL) {}

  /** Opens the stream if it is not already; idempotent. */
  start(): void {
    if (this.source || this.timer) return;
    this.open();
  }

  /**
   * Follows the connection: `fn` first gets the state, the last hub status and queue, and one `live.snapshot` per
   * reactor as the connection knows it now (marked `replay`), then every message as it comes.
   */
  subscribe(fn: (m: StreamMessage) => void): () => void {
    fn({ type: 'state', state: this.state });
    for (const [event, { data, at }] of this.kept) fn({ type: 'event', event, data, at, replay: true });
    for (const e of modelEvents(this.model)) fn({ type: 'event', ...e, replay: true });
    this.listeners.add(fn);
    return () => {
      this.listeners.delete(fn);
    };
  }

  /**
   * Opens the stream afresh as whoever the browser is now (after a sign-in or sign-out: the server chose what this
   * connection may see when it opened), dropping what the old one was sent.
   */
  reconnect(): void {
    this.close();
    this.lastId = '';
    this.failures = 0;
    this.kept.clear();
    this.model = emptyModel();
    this.open();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.source?.close();
    this.source = null;
  }

  private emit(m: StreamMessage): void {
    for (const fn of this.listeners) fn(m);
  }

  private setState(state: StreamState): void {
    this.state = state;
    this.emit({ type: 'state', state });
  }

  private open(): void {
    this.timer = undefined;
    const url = this.lastId ? `${this.url}?last_event_id=${encodeURIComponent(this.lastId)}` : this.url;
    const source = new EventSource(url);
    this.source = source;
    if (this.state.kind !== 'connecting') this.setState({ kind: 'connecting' });
    source.onopen = () => this.setState({ kind: 'open', since: Date.now() });
    source.onerror = () => {
      if (this.source !== source) return;
      // Whatever the browser would do next (give up, or retry at its own pace), this connection decides.
      source.close();
      this.source = null;
      this.failures += 1;
      const wait = backoffMs(this.failures);
      this.setState({ kind: 'retrying', at: Date.now() + wait, attempt: this.failures });
      this.timer = setTimeout(() => this.open(), wait);
    };
    for (const name of STREAM_EVENTS) {
      source.addEventListener(name, (e) => {
        if (this.source !== source) return;
        const message = e as MessageEvent<string>;
        if (message.lastEventId) this.lastId = message.lastEventId;
        // An event means the server answers: the next failure starts the backoff from the bottom again.
        this.failures = 0;
        let data: unknown;
        try {
          data = JSON.parse(message.data);
        } catch {
          return;
        }
        const at = Date.now();
        if (KEPT.has(name)) this.kept.set(name, { data, at });
        this.model = applyEvent(this.model, name, data, at);
        this.emit({ type: 'event', event: name, data, at });
      });
    }
  }
}
