// Estimated start times: replay the line over the nodes, each experiment lasting what history says it will.
import type { ExperimentSummary } from './queue.js';

export interface EstimateInput {
  now: number;
  /** Running experiments (they occupy their node until their expected end). */
  running: ExperimentSummary[];
  /** Queued and paused experiments in queue order. */
  waiting: ExperimentSummary[];
  /** Names of nodes that can take work now. */
  onlineNodes: string[];
  /** Median of past run durations in seconds, null without history. */
  medianS: number | null;
}

export interface Estimates {
  /** Experiment id → expected start (ms since epoch); absent when unknown (paused, or no node can take it). */
  startAt: Map<string, number>;
  /** When an experiment submitted now (unpinned) would start, or null when no node is online. */
  nextSlotAt: number | null;
}

/**
 * An experiment is expected to last the median of past runs, but never longer than it may run. Without history the
 * declared maximum is the only honest figure.
 */
export function expectedSeconds(maxDurationS: number, medianS: number | null): number {
  return medianS === null ? maxDurationS : Math.min(maxDurationS, medianS);
}

export function estimate(input: EstimateInput): Estimates {
  const startAt = new Map<string, number>();
  const freeAt = new Map<string, number>();
  for (const name of input.onlineNodes) freeAt.set(name, input.now);
  for (const r of input.running) {
    if (!r.node || !freeAt.has(r.node)) continue;
    const started = r.started_at ? Date.parse(r.started_at) : input.now;
    const end = started + expectedSeconds(r.max_duration_s, input.medianS) * 1000;
    // A run past its expected end is expected to end any moment now.
    freeAt.set(r.node, Math.max(input.now, end));
  }
  const earliest = (pin: string | null): [string, number] | undefined => {
    let best: [string, number] | undefined;
    for (const [name, at] of freeAt) {
      if (pin !== null && name !== pin) continue;
      if (!best || at < best[1]) best = [name, at];
    }
    return best;
  };
  for (const r of input.waiting) {
    if (r.status !== 'queued') continue;
    const slot = earliest(r.node_pin);
    if (!slot) continue;
    startAt.set(r.id, slot[1]);
    freeAt.set(slot[0], slot[1] + expectedSeconds(r.max_duration_s, input.medianS) * 1000);
  }
  const next = earliest(null);
  return { startAt, nextSlotAt: next ? next[1] : null };
}
