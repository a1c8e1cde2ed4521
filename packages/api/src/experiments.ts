// Experiment states on the hub (the queue) and on the node (one run), with their named sets.
import { type Static, Type } from 'typebox';

/** States of an experiment in the hub's queue (the guide's model plus `interrupted`). */
export const EXPERIMENT_STATES = Object.freeze({
  queued: 'queued',
  running: 'running',
  paused: 'paused',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
  /** The node died or restarted under a running experiment and its end could not be recovered. */
  interrupted: 'interrupted',
} as const);
export type ExperimentState = (typeof EXPERIMENT_STATES)[keyof typeof EXPERIMENT_STATES];
export const EXPERIMENT_STATE_LIST = Object.values(EXPERIMENT_STATES) as ExperimentState[];

/** Counted against the per-user limit and shown in the queue. */
export const ACTIVE_STATES: readonly ExperimentState[] = Object.freeze(['queued', 'running', 'paused']);
/** Waiting for a node. */
export const WAITING_STATES: readonly ExperimentState[] = Object.freeze(['queued', 'paused']);
/** Never change again; swept after the retention period. */
export const FINAL_STATES: readonly ExperimentState[] = Object.freeze([
  'completed',
  'failed',
  'cancelled',
  'interrupted',
]);

export const isActive = (s: ExperimentState): boolean => ACTIVE_STATES.includes(s);
export const isFinal = (s: ExperimentState): boolean => FINAL_STATES.includes(s);

// Type.Enum keeps the literal union in Static<> (a Union built by map() collapses to never).
export const ExperimentStateSchema = Type.Enum(EXPERIMENT_STATE_LIST, {
  description: 'queued | running | paused | completed | failed | cancelled | interrupted',
});

/** States of one run on a node (original-system.md §2.7, plus the ends the original lost). */
export const RUN_STATES = Object.freeze({
  starting: 'starting',
  running: 'running',
  completed: 'completed',
  failed: 'failed',
  stopped: 'stopped',
  timed_out: 'timed_out',
  interrupted: 'interrupted',
} as const);
export type RunState = (typeof RUN_STATES)[keyof typeof RUN_STATES];
export const RUN_STATE_LIST = Object.values(RUN_STATES) as RunState[];
export const RUN_LIVE_STATES: readonly RunState[] = Object.freeze(['starting', 'running']);
export const RUN_FINAL_STATES: readonly RunState[] = Object.freeze([
  'completed',
  'failed',
  'stopped',
  'timed_out',
  'interrupted',
]);
export const isRunFinal = (s: RunState): boolean => RUN_FINAL_STATES.includes(s);

export const RunStateSchema = Type.Enum(RUN_STATE_LIST, {
  description: 'starting | running | completed | failed | stopped | timed_out | interrupted',
});

/** Experiment ids: letters, digits, `-` and `_`, so an id is always a safe directory name. */
export const EXPERIMENT_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$';
export const ExperimentId = Type.String({
  pattern: EXPERIMENT_ID_PATTERN,
  description: 'Letters, digits, - and _ (1-64 characters); a UUID by default',
});
export type ExperimentId = Static<typeof ExperimentId>;

/** Largest accepted script, in bytes (the hub's default; the node accepts the same). */
export const MAX_SCRIPT_BYTES = 1024 * 1024;

/** ISO-8601 timestamp with a UTC offset, or null when the moment has not come yet. */
export const Timestamp = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);
