// The hub's events for the whole UI, from the browser's one stream (live-stream.ts): pages re-fetch what they show
// when the hub says it changed, and again when the stream comes back after a gap (events may have been missed).
import { createContext, useCallback, useContext, useEffect, useRef, useState } from 'react';
import { subscribeStream, useStreamState } from './live-stream.js';

type Listener = (event: string, data: unknown) => void;

interface HubEventsValue {
  subscribe: (fn: Listener) => () => void;
  connected: boolean;
}

const HubEventsContext = createContext<HubEventsValue>({ subscribe: () => () => undefined, connected: false });

/** The hub's own events; the live data on the same stream is for the pages that chart it. */
const HUB_EVENTS = new Set(['experiment.updated', 'queue.updated', 'node.updated', 'hub.status']);

export function HubEventsProvider({ children }: { children: React.ReactNode }) {
  const listeners = useRef(new Set<Listener>());
  const [hubUp, setHubUp] = useState(false);
  const state = useStreamState();
  useEffect(
    () =>
      subscribeStream((event, data, replay) => {
        if (!HUB_EVENTS.has(event)) return;
        if (event === 'hub.status') setHubUp(Boolean((data as { connected?: boolean }).connected));
        // A newly connected tab is handed the last state; its pages load their own data anyway.
        if (replay) return;
        for (const fn of listeners.current) fn(event, data);
      }),
    [],
  );
  // Back after a gap: what changed meanwhile may not all be replayed, so every page reloads once.
  const wasOpen = useRef<boolean | null>(null);
  useEffect(() => {
    const open = state.kind === 'open';
    if (open && wasOpen.current === false) for (const fn of listeners.current) fn('stream.reopened', null);
    if (state.kind !== 'connecting') wasOpen.current = open;
  }, [state]);
  const subscribe = useCallback((fn: Listener) => {
    listeners.current.add(fn);
    return () => {
      listeners.current.delete(fn);
    };
  }, []);
  return (
    <HubEventsContext.Provider value={{ subscribe, connected: hubUp && state.kind === 'open' }}>
      {children}
    </HubEventsContext.Provider>
  );
}

/** Runs `refresh` now, whenever the hub reports a change, and (as a safety net) every `fallbackMs`. */
export function useLiveResource<T>(load: () => Promise<T>, key: string, fallbackMs = 15_000) {
  const { subscribe, connected } = useContext(HubEventsContext);
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const loadRef = useRef(load);
  loadRef.current = load;
  // biome-ignore lint/correctness/useExhaustiveDependencies: key names what the loader reads; a new key reloads
  useEffect(() => {
    let alive = true;
    let pending: ReturnType<typeof setTimeout> | undefined;
    const refresh = () => {
      loadRef.current().then(
        (value) => {
          if (!alive) return;
          setData(value);
          setError(undefined);
        },
        (err: unknown) => {
          if (alive) setError(err instanceof Error ? err.message : String(err));
        },
      );
    };
    refresh();
    // Bursts of events (a queue reshuffle) cost one fetch, not one per event.
    const unsubscribe = subscribe(() => {
      if (pending) return;
      pending = setTimeout(() => {
        pending = undefined;
        refresh();
      }, 150);
    });
    const timer = setInterval(refresh, fallbackMs);
    return () => {
      alive = false;
      unsubscribe();
      clearInterval(timer);
      if (pending) clearTimeout(pending);
    };
  }, [key, subscribe, fallbackMs]);
  return { data, error, connected, reload: () => loadRef.current().then(setData) };
}

/** Listens to every hub event (the notification watcher uses it). */
export function useHubSubscribe(): (fn: Listener) => () => void {
  return useContext(HubEventsContext).subscribe;
}

export function useHubConnected(): boolean {
  return useContext(HubEventsContext).connected;
}
