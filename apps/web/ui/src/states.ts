// The experiment states as the UI lists them (in filters). Kept here, type-checked against the contract, so the
// bundle does not pull in the contract's schemas (and their schema library) for a list of words.
import type { ExperimentState, RunState } from '@bioreactor/api';

export const STATES = [
  'queued',
  'running',
  'paused',
  'completed',
  'failed',
  'cancelled',
  'interrupted',
] as const satisfies readonly ExperimentState[];

// Fails to compile when the contract gains a state this list lacks.
type Missing = Exclude<ExperimentState, (typeof STATES)[number]>;
export const ALL_STATES_LISTED: Missing extends never ? true : never = true;

/** A node's run states after which its log stream ends. */
export const RUN_ENDS = [
  'completed',
  'failed',
  'stopped',
  'timed_out',
  'interrupted',
] as const satisfies readonly RunState[];
