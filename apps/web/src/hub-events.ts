// One connection to the hub's event stream, shared by every browser on /api/events; reconnects with backoff.
import { readEventStream } from '@bioreactor/service-kit';
import type { HubClient } from './hub-client.js';

export interface HubEvent {
  event: string;
  data: unknown;
}

const MAX_BACKOFF_MS = 15_000;

export class HubEventRelay {
  private readonly subscribers = new Set<(event: HubEvent) => void>();
  private abort: AbortController | undefined;
  private retry: NodeJS.Timeout | undefined;
  private backoffMs = 500;
  connected = false;

  constructor(
    private readonly hub: Pick<HubClient, 'events'>,
    private readonly onProblem: (message: string) => void = () => undefined,
  ) {}

  subscribe(fn: (event: HubEvent) => void): () => void {
    this.subscribers.add(fn);
    if (!this.abort) this.connect();
    return () => {
      this.subscribers.delete(fn);
      // Nobody is watching: let the hub connection go.
      if (this.subscribers.size === 0) this.stop();
    };
  }

  stop(): void {
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    this.abort?.abort();
    this.abort = undefined;
    this.setConnected(false);
  }

  private emit(event: HubEvent): void {
    for (const fn of this.subscribers) fn(event);
  }

  private setConnected(connected: boolean): void {
    if (this.connected === connected) return;
    this.connected = connected;
    this.emit({ event: 'hub.status', data: { connected } });
  }

  private connect(): void {
    const abort = new AbortController();
    this.abort = abort;
    void (async () => {
      try {
        const body = await this.hub.events(abort.signal);
        this.setConnected(true);
        this.backoffMs = 500;
        for await (const message of readEventStream(body)) {
          let data: unknown;
          try {
            data = JSON.parse(message.data);
          } catch {
            continue;
          }
          this.emit({ event: message.event, data });
        }
      } catch (err) {
        if (!abort.signal.aborted) this.onProblem(`hub event stream: ${(err as Error).message}`);
      }
      if (abort.signal.aborted || this.abort !== abort) return;
      this.setConnected(false);
      this.abort = undefined;
      this.retry = setTimeout(() => {
        this.retry = undefined;
        if (this.subscribers.size > 0 && !this.abort) this.connect();
      }, this.backoffMs);
      this.retry.unref();
      this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2);
    })();
  }
}
