// A node's component states as the dashboard reads them: the readings of a live sample, and the interlocks in force.
import { type LiveSample, READING_KEYS, readingSpec, readingValue } from '@bioreactor/api';

/** Each component's latest state (as `GET {node}/api/v3/state` or the node's stream gives it), and when. */
export interface HardwareState {
  timestamp: string;
  components: Partial<
    Record<string, Record<string, unknown>> & {
      peltier_driver: { cutoff?: string | null } & Record<string, unknown>;
      pumps: { overflow_guard?: { tripped: string | null } } & Record<string, unknown>;
    }
  >;
}

/** The readings a live sample carries (readings.ts): the guide's columns and every reading the dashboard shows. */
export const LIVE_READINGS = READING_KEYS.filter((k) => readingSpec(k).guide || readingSpec(k).display);

/** The node's safety interlocks in force (over-temperature cutoff, overflow guard), as the dashboard shows them. */
export function interlocksOf(state: HardwareState): string[] {
  const out: string[] = [];
  const cutoff = state.components.peltier_driver?.cutoff;
  if (cutoff) out.push(`Heating refused: ${cutoff}`);
  const overflow = state.components.pumps?.overflow_guard?.tripped;
  if (overflow) out.push(`Adding liquid refused: ${overflow}`);
  return out;
}

export function hardwareSample(state: HardwareState): LiveSample {
  const sample: LiveSample = {
    timestamp: state.timestamp,
    epoch_ms: Date.parse(state.timestamp),
    status: 'success',
    source: 'hardware',
    experiment_id: null,
  };
  // Each reading of a component the node reports, in the table's order (the guide's first).
  for (const key of LIVE_READINGS) {
    const component = state.components[readingSpec(key).component];
    if (component) (sample as Record<string, unknown>)[key] = readingValue(key, component);
  }
  return sample;
}
