// One EventSource on /api/events for the whole UI; pages re-fetch what they show when the hub says it changed.
import { createContext, useCallback, useContext, useEffect, useRef, useState } from 'react';

type Listener = (event: string, data: unknown) => void;

interface HubEventsValue {
  subscribe: (fn: Listener) => () => void;
  connected: boolean;
}

const HubEventsContext = createContext<HubEventsValue>({ subscribe: () => () => undefined, connected: false });

const EVENTS = ['experiment.updated', 'queue.updated', 'node.updated', 'hub.status'] as const;

export function HubEventsProvider({ children }: { children: React.ReactNode }) {
  const listeners = useRef(new Set<Listener>());
  const [connected, setConnected] = useState(false);
  useEffect(() => {
    const source = new EventSource('/api/events');
    const handlers = EVENTS.map((name) => {
      const handler = (e: MessageEvent<string>) => {
        let data: unknown;
        try {
          data = JSON.parse(e.data);
        } catch {
          return;
        }
        if (name === 'hub.status') setConnected(Boolean((data as { connected?: boolean }).connected));
        for (const fn of listeners.current) fn(name, data);
      };
      source.addEventListener(name, handler);
      return [name, handler] as const;
    });
    source.onerror = () => setConnected(false);
    return () => {
      for (const [name, handler] of handlers) source.removeEventListener(name, handler);
      source.close();
    };
  }, []);
  const subscribe = useCallback((fn: Listener) => {
    listeners.current.add(fn);
    return () => {
      listeners.current.delete(fn);
    };
  }, []);
  return <HubEventsContext.Provider value={{ subscribe, connected }}>{children}</HubEventsContext.Provider>;
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
