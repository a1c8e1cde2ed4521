// Expected run lengths and start times from what is known, each with its spread: a typical figure (p50) and a late
// one (p90). A run's length comes, best first, from the same script's past runs, the duration its owner declared,
// the owner's other runs, the lab's runs; never longer than its max_duration_s. The line is then replayed over the
// nodes twice, once with every typical figure and once with every late one.
import type { EstimateBasis } from '@bioreactor/api';
import type { ExperimentSummary } from './queue.js';

/** Expected length of one run, in seconds; p50 null when nothing at all is known (it may end at once). */
export interface DurationEstimate {
  p50S: number | null;
  p90S: number;
  basis: EstimateBasis;
}

export interface RunHistory {
  /** Durations in seconds of past runs, newest first: of one script (sha), one owner, or all (null). */
  history(kind: 'script' | 'owner' | null, key?: string | null): number[];
}

/** Past runs of one owner, or of the lab, needed before they count as evidence. */
const MIN_OWNER_RUNS = 3;
const MIN_LAB_RUNS = 3;

/** Nearest-rank percentile of a sorted list (p in 0–100). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] as number;
}

type EstimatedRow = Pick<ExperimentSummary, 'max_duration_s' | 'max_duration_source' | 'script_sha256' | 'user_id'>;

export function expectedDuration(row: EstimatedRow, history: RunHistory): DurationEstimate {
  const cap = row.max_duration_s;
  const from = (runs: number[], basis: EstimateBasis): DurationEstimate => {
    const sorted = [...runs].sort((a, b) => a - b);
    const p50 = Math.min(cap, percentile(sorted, 50));
    return { p50S: p50, p90S: Math.min(cap, Math.max(p50, percentile(sorted, 90))), basis };
  };
  if (row.script_sha256) {
    const same = history.history('script', row.script_sha256);
    if (same.length > 0) return from(same, 'same_script');
  }
  // A duration the owner declared is what they expect the run to take.
  if (row.max_duration_source === 'declared') return { p50S: cap, p90S: cap, basis: 'declared' };
  const owner = history.history('owner', row.user_id);
  if (owner.length >= MIN_OWNER_RUNS) return from(owner, 'same_owner');
  const lab = history.history(null);
  if (lab.length >= MIN_LAB_RUNS) return from(lab, 'all_runs');
  return { p50S: null, p90S: cap, basis: 'none' };
}

/** Seconds a run that has lasted `elapsedS` still has, typically and at the late end. */
export function remaining(d: DurationEstimate, elapsedS: number, maxDurationS: number): { p50S: number; p90S: number } {
  const late = elapsedS < d.p90S ? d.p90S : Math.max(elapsedS, maxDurationS);
  let typical: number;
  if (d.p50S === null) typical = elapsedS;
  else if (elapsedS < d.p50S) typical = d.p50S;
  // Past its typical length: expected between now and its late end.
  else typical = elapsedS < d.p90S ? (elapsedS + d.p90S) / 2 : elapsedS;
  return { p50S: Math.max(0, typical - elapsedS), p90S: Math.max(0, late - elapsedS) };
}

/** A moment on the timeline (ms), typical and late. */
export interface Span {
  p50: number;
  p90: number;
}

export interface EstimateInput {
  /** Timeline ms now. */
  now: number;
  /** Running experiments with how long each has run (ms); they hold their node until their expected end. */
  running: { row: ExperimentSummary; elapsedMs: number }[];
  /** Queued and paused experiments in queue order. */
  waiting: ExperimentSummary[];
  /** Nodes that can take work, with the longest run each takes (null: not advertised). */
  nodes: { name: string; maxDurationS: number | null }[];
  history: RunHistory;
}

export interface Estimates {
  durations: Map<string, DurationEstimate>;
  /** Experiment id → expected start; absent when unknown (paused, or no node can take it). */
  startAt: Map<string, Span>;
  /** Experiment id → expected end, for running and queued experiments. */
  endAt: Map<string, Span>;
  /** When an experiment submitted now (unpinned) would start, or null when there is no node. */
  nextSlotAt: Span | null;
}

export function estimate(input: EstimateInput): Estimates {
  const durations = new Map<string, DurationEstimate>();
  const startAt = new Map<string, Span>();
  const endAt = new Map<string, Span>();
  const duration = (r: ExperimentSummary) => {
    let d = durations.get(r.id);
    if (!d) {
      d = expectedDuration(r, input.history);
      durations.set(r.id, d);
    }
    return d;
  };
  const freeAt = new Map<string, Span>();
  const limits = new Map<string, number | null>();
  for (const n of input.nodes) {
    freeAt.set(n.name, { p50: input.now, p90: input.now });
    limits.set(n.name, n.maxDurationS);
  }
  for (const { row, elapsedMs } of input.running) {
    const left = remaining(duration(row), elapsedMs / 1000, row.max_duration_s);
    const end = { p50: input.now + left.p50S * 1000, p90: input.now + left.p90S * 1000 };
    endAt.set(row.id, end);
    if (row.node && freeAt.has(row.node)) freeAt.set(row.node, end);
  }
  const earliest = (r: ExperimentSummary | null): [string, Span] | undefined => {
    let best: [string, Span] | undefined;
    for (const [name, at] of freeAt) {
      if (r) {
        if (r.node_pin !== null && name !== r.node_pin) continue;
        const limit = limits.get(name);
        if (limit !== null && limit !== undefined && r.max_duration_s > limit) continue;
      }
      if (!best || at.p50 < best[1].p50 || (at.p50 === best[1].p50 && at.p90 < best[1].p90)) best = [name, at];
    }
    return best;
  };
  for (const r of input.waiting) {
    if (r.status !== 'queued') continue;
    const slot = earliest(r);
    if (!slot) continue;
    const d = duration(r);
    const start = slot[1];
    const end = { p50: start.p50 + (d.p50S ?? 0) * 1000, p90: start.p90 + d.p90S * 1000 };
    startAt.set(r.id, start);
    endAt.set(r.id, end);
    freeAt.set(slot[0], end);
  }
  const next = earliest(null);
  return { durations, startAt, endAt, nextSlotAt: next ? next[1] : null };
}
