// What the browser knows of every reactor, built from the events of the web server's `GET /api/stream`. The same
// reducer runs in the shared worker (so a tab that connects later is handed the current state at once) and in each
// tab. Pure: no React, no DOM beyond what a worker has.
import type { DataSource, LiveSample, WebExperiment } from '@bioreactor/api';

/** Points of history kept per reactor; older ones scroll off the charts. */
export const HISTORY_WINDOW = 900;

/** `live.snapshot`: a reactor's whole state, sent first and after any gap. */
export interface LiveSnapshotEvent {
  node: string;
  sample: LiveSample | null;
  history: LiveSample[];
  safety: string[];
  experiment: WebExperiment | null;
  source: DataSource;
  connected: boolean;
  rows_visible: boolean;
}

/** `live.status`: whether the hub, and each node behind it, is reachable. */
export interface LiveStatusEvent {
  hub: { connected: boolean };
  nodes: { node: string; connected: boolean; reason: string | null; last_event_ms: number | null }[];
}

/** `live.rows`: new CSV rows of a reactor's running experiment, as samples. */
export interface LiveRowsEvent {
  node: string;
  experiment_id: string;
  file: string;
  rows: LiveSample[];
}

/** One reactor, as a dashboard panel shows it. */
export interface ReactorLive {
  node: string;
  sample: LiveSample | null;
  history: LiveSample[];
  safety: string[];
  experiment: WebExperiment | null;
  source: DataSource;
  /** The hub follows this node's stream (false: the node is away or its stream broke). */
  connected: boolean;
  /** Why it is not connected, in the hub's words. */
  reason: string | null;
  rows_visible: boolean;
  /** Browser clock (ms) when something new last came from this reactor: a new sample, a change, rows, a snapshot. */
  heard_ms: number;
  /** The last actuator change: `{component, at_ms}`. */
  last_change: { component: string; at_ms: number } | null;
}

export interface LiveModel {
  reactors: Record<string, ReactorLive>;
  /** The web server reaches the hub (null: not said yet). */
  hub_connected: boolean | null;
}

export const emptyModel = (): LiveModel => ({ reactors: {}, hub_connected: null });

/** Two samples are the same point when they carry the same time: the server may repeat a reactor's newest one. */
const samePoint = (a: LiveSample | null, b: LiveSample) =>
  a !== null && a.timestamp === b.timestamp && a.epoch_ms === b.epoch_ms && a.source === b.source;

function blank(node: string, at: number): ReactorLive {
  return {
    node,
    sample: null,
    history: [],
    safety: [],
    experiment: null,
    source: 'unknown',
    connected: true,
    reason: null,
    rows_visible: false,
    heard_ms: at,
    last_change: null,
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/**
 * The model after one event received at `at` (browser ms). Returns the same object when the event changes nothing
 * this model keeps, so a React store can skip a render.
 */
export function applyEvent(model: LiveModel, event: string, data: unknown, at: number): LiveModel {
  if (!isObject(data)) return model;
  const put = (r: ReactorLive): LiveModel => ({ ...model, reactors: { ...model.reactors, [r.node]: r } });
  const current = (node: string) => model.reactors[node] ?? blank(node, at);
  switch (event) {
    case 'live.snapshot': {
      const s = data as unknown as LiveSnapshotEvent;
      if (typeof s.node !== 'string') return model;
      return put({
        ...current(s.node),
        sample: s.sample ?? null,
        history: (s.history ?? []).slice(-HISTORY_WINDOW),
        safety: s.safety ?? [],
        experiment: s.experiment ?? null,
        source: s.source ?? s.sample?.source ?? 'unknown',
        connected: s.connected !== false,
        rows_visible: Boolean(s.rows_visible),
        heard_ms: at,
      });
    }
    case 'live.samples': {
      const samples = (data as { samples?: Record<string, LiveSample> }).samples;
      if (!isObject(samples)) return model;
      let next = model;
      for (const [node, sample] of Object.entries(samples)) {
        const r = next.reactors[node] ?? blank(node, at);
        if (!isObject(sample) || samePoint(r.sample, sample)) continue;
        if (r.rows_visible && r.source === 'csv') {
          // The panel follows the run's CSV (live.rows); the sensors' sample only says the reactor is there.
          next = { ...next, reactors: { ...next.reactors, [node]: { ...r, heard_ms: at } } };
          continue;
        }
        let history = r.history;
        if (sample.status === 'success') {
          // A change of source (an experiment started or ended) starts the charts afresh.
          const last = history.at(-1);
          history = [...(last && last.source !== sample.source ? [] : history), sample].slice(-HISTORY_WINDOW);
        }
        next = {
          ...next,
          reactors: { ...next.reactors, [node]: { ...r, sample, history, source: sample.source, heard_ms: at } },
        };
      }
      return next;
    }
    case 'live.changed': {
      const c = data as { node?: string; component?: string; at_ms?: number };
      if (typeof c.node !== 'string') return model;
      return put({
        ...current(c.node),
        heard_ms: at,
        last_change: { component: String(c.component ?? ''), at_ms: c.at_ms ?? at },
      });
    }
    case 'live.rows': {
      const rows = data as unknown as LiveRowsEvent;
      if (typeof rows.node !== 'string') return model;
      const r = current(rows.node);
      const fresh = (rows.rows ?? []).filter((x) => isObject(x));
      // Rows the viewer may see become the panel's data: the run's own CSV, as it is written.
      if (!r.rows_visible || fresh.length === 0) return put({ ...r, heard_ms: at });
      const kept = r.source === 'csv' ? r.history : [];
      return put({
        ...r,
        sample: fresh.at(-1) ?? r.sample,
        history: [...kept, ...fresh.filter((x) => x.status !== 'error')].slice(-HISTORY_WINDOW),
        source: 'csv',
        heard_ms: at,
      });
    }
    case 'live.safety': {
      const s = data as { node?: string; interlocks?: string[] };
      if (typeof s.node !== 'string') return model;
      return put({ ...current(s.node), safety: s.interlocks ?? [], heard_ms: at });
    }
    case 'live.status': {
      const s = data as unknown as LiveStatusEvent;
      let next: LiveModel = { ...model, hub_connected: s.hub?.connected ?? model.hub_connected };
      for (const n of s.nodes ?? []) {
        const r = next.reactors[n.node] ?? blank(n.node, at);
        next = {
          ...next,
          reactors: { ...next.reactors, [n.node]: { ...r, connected: n.connected, reason: n.reason ?? null } },
        };
      }
      return next;
    }
    case 'hub.status': {
      const connected = (data as { connected?: unknown }).connected;
      return typeof connected === 'boolean' && connected !== model.hub_connected
        ? { ...model, hub_connected: connected }
        : model;
    }
    case 'experiment.updated': {
      // The experiment a reactor runs, as this viewer may see it: it starts, ends, or changes its name.
      const e = (data as { experiment?: WebExperiment }).experiment;
      if (!e?.node) return model;
      const r = model.reactors[e.node];
      if (!r) return model;
      if (e.status === 'running') return put({ ...r, experiment: e });
      return r.experiment?.experiment_id === e.experiment_id ? put({ ...r, experiment: null }) : model;
    }
    default:
      return model;
  }
}

/** The events that rebuild a model from nothing: one `live.snapshot` per reactor and the last status. */
export function modelEvents(model: LiveModel): { event: string; data: unknown; at: number }[] {
  const out: { event: string; data: unknown; at: number }[] = [];
  for (const r of Object.values(model.reactors)) {
    const snapshot: LiveSnapshotEvent = {
      node: r.node,
      sample: r.sample,
      history: r.history,
      safety: r.safety,
      experiment: r.experiment,
      source: r.source,
      connected: r.connected,
      rows_visible: r.rows_visible,
    };
    out.push({ event: 'live.snapshot', data: snapshot, at: r.heard_ms });
  }
  if (model.hub_connected !== null) {
    const status: LiveStatusEvent = {
      hub: { connected: model.hub_connected },
      nodes: Object.values(model.reactors).map((r) => ({
        node: r.node,
        connected: r.connected,
        reason: r.reason,
        last_event_ms: null,
      })),
    };
    out.push({ event: 'live.status', data: status, at: Date.now() });
  }
  return out;
}

/** Why a reactor's panel is not live, or null when it is. */
export function staleReason(
  r: ReactorLive | undefined,
  opts: {
    now: number;
    updateIntervalS: number;
    stream: 'connecting' | 'open' | 'retrying';
    hubConnected: boolean | null;
  },
): string | null {
  if (opts.stream === 'connecting') return 'connecting to the web server…';
  if (opts.stream === 'retrying') return 'this page has lost its connection to the web server';
  if (opts.hubConnected === false) return 'the web server cannot reach the hub';
  if (!r) return 'nothing heard from this reactor yet';
  if (!r.connected)
    return r.reason ? `the hub cannot reach this reactor: ${r.reason}` : 'the hub cannot reach this reactor';
  const bound = staleAfterMs(opts.updateIntervalS);
  if (opts.now - r.heard_ms > bound) return `nothing new from this reactor for over ${Math.round(bound / 1000)} s`;
  return null;
}

/** A reactor silent longer than this is stale: three updates missed, and never less than 10 s. */
export function staleAfterMs(updateIntervalS: number): number {
  return Math.max(3 * updateIntervalS * 1000, 10_000);
}
