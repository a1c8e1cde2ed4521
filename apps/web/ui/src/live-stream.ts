// The page's side of the browser's one stream (`GET /api/stream`): a port to the shared worker that holds it
// (stream-worker.ts), or, where SharedWorker is missing or fails, the same connection in this tab. Pages read it
// through hooks: useStreamState (connecting / open / retrying in N s), useLive (every reactor's live state),
// useStreamEvents (each event as it comes, e.g. live.rows for an experiment's chart).
import { useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { applyEvent, emptyModel, type LiveModel } from './live-model.js';
import { StreamConnection, type StreamMessage, type StreamState } from './stream-connection.js';
import type { TabMessage } from './stream-worker.js';

export type { StreamState } from './stream-connection.js';

type EventListener = (event: string, data: unknown, replay: boolean) => void;

class TabStream {
  private started = false;
  private state: StreamState = { kind: 'connecting' };
  private model: LiveModel = emptyModel();
  private readonly eventListeners = new Set<EventListener>();
  private readonly changeListeners = new Set<() => void>();
  /** The in-tab connection, when this tab holds its own. */
  private local: StreamConnection | null = null;
  /** The port to the shared worker, when the worker holds the connection. */
  private port: MessagePort | null = null;
  /** How this tab gets the stream: the shared worker, or its own EventSource. */
  mode: 'shared' | 'tab' | 'none' = 'none';

  start(): void {
    if (this.started || typeof window === 'undefined') return;
    this.started = true;
    if (typeof SharedWorker !== 'function' || !this.connectShared()) this.connectLocal();
  }

  /** The browser signed in or out: the stream is opened again as the new viewer (for every tab it serves). */
  reconnect(): void {
    if (!this.started) return;
    this.model = emptyModel();
    if (this.mode === 'shared') this.port?.postMessage({ type: 'reconnect' } satisfies TabMessage);
    else this.local?.reconnect();
  }

  private connectShared(): boolean {
    try {
      const worker = new SharedWorker(new URL('./stream-worker.ts', import.meta.url), {
        type: 'module',
        name: 'bioreactor-stream',
      });
      const port = worker.port;
      this.port = port;
      port.onmessage = (e: MessageEvent<StreamMessage>) => this.receive(e.data);
      // A worker that cannot start (blocked, a script error) leaves this tab with its own connection.
      worker.onerror = () => {
        if (this.mode !== 'shared') return;
        port.close();
        this.connectLocal();
      };
      window.addEventListener('pagehide', () => port.postMessage({ type: 'bye' } satisfies TabMessage));
      port.start();
      this.mode = 'shared';
      return true;
    } catch {
      return false;
    }
  }

  private connectLocal(): void {
    this.mode = 'tab';
    this.model = emptyModel();
    this.local = new StreamConnection();
    this.local.subscribe((m) => this.receive(m));
    this.local.start();
  }

  private receive(m: StreamMessage): void {
    if (!m || typeof m !== 'object') return;
    if (m.type === 'state') {
      this.state = m.state;
    } else if (m.type === 'event') {
      this.model = applyEvent(this.model, m.event, m.data, m.at);
      for (const fn of this.eventListeners) fn(m.event, m.data, Boolean(m.replay));
    }
    for (const fn of this.changeListeners) fn();
  }

  onEvent(fn: EventListener): () => void {
    this.start();
    this.eventListeners.add(fn);
    return () => {
      this.eventListeners.delete(fn);
    };
  }

  onChange = (fn: () => void): (() => void) => {
    this.start();
    this.changeListeners.add(fn);
    return () => {
      this.changeListeners.delete(fn);
    };
  };

  getState = (): StreamState => this.state;
  getModel = (): LiveModel => this.model;
}

const stream = new TabStream();

/** Starts the browser's stream for this tab (the app does at startup; every hook also does). */
export function startStream(): void {
  stream.start();
}

/** Opens the browser's stream again as the viewer the browser is now (after a sign-in, sign-out or new session). */
export function reconnectStream(): void {
  stream.reconnect();
}

/** Every event of the stream, as it comes; `replay` marks the state a newly connected tab is handed at once. */
export function subscribeStream(fn: EventListener): () => void {
  return stream.onEvent(fn);
}

/** The stream's connection: connecting, open, or retrying at a set time. */
export function useStreamState(): StreamState {
  return useSyncExternalStore(stream.onChange, stream.getState);
}

/** Every reactor's live state, and whether the web server reaches the hub. */
export function useLive(): LiveModel {
  return useSyncExternalStore(stream.onChange, stream.getModel);
}

/** Calls `fn` for each event of the stream while the component is mounted (the latest `fn`, without resubscribing). */
export function useStreamEvents(fn: EventListener): void {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => stream.onEvent((event, data, replay) => ref.current(event, data, replay)), []);
}

/** The browser clock, re-read every `everyMs`: ages ("updated 3 s ago") and countdowns move on their own. */
export function useNow(everyMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}

/** The connection in words: "Live", "Connecting…", "Reconnecting in 4 s…". */
export function streamStateText(state: StreamState, now: number): string {
  if (state.kind === 'open') return 'Live';
  if (state.kind === 'connecting') return 'Connecting…';
  const seconds = Math.max(0, Math.ceil((state.at - now) / 1000));
  return seconds > 0 ? `Connection lost: retrying in ${seconds} s` : 'Connection lost: retrying now…';
}
