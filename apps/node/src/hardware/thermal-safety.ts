// What the node believes about the vessel's temperature, and what it lets the peltier do about it: each thermometer's
// last read (valid, failing, stale or stuck), the staged over-temperature response, and the reason heating is refused.
// Pure bookkeeping on the injected clock's times; hardware.ts acts on its verdicts.
import type { ThermometerRead } from './drivers/ds18b20.js';

/** The bounds of the node's thermal safety (docs/hardware.md, "Failures and what the node does"). */
export const THERMAL = {
  /** At over_temperature_c minus this, heating runs at half the commanded duty. */
  limitBelowC: 3,
  /** At over_temperature_c plus this, everything that heats is switched off (critical). */
  criticalAboveC: 5,
  /** A stage releases this far below where it engaged, so it does not chatter. */
  hysteresisC: 2,
  /** A thermometer without a valid reading for this many sample periods is stale. */
  stalePeriods: 3,
  /** A reading unchanged this long while the peltier heats hard means the thermometer is stuck. */
  stuckAfterMs: 60_000,
  /** "Heats hard": at least this heating duty, percent (a vessel heated so must warm by 1/16 °C within a minute). */
  stuckMinHeatDuty: 80,
  /** One DS18B20 conversion at 12 bits (datasheet Table 2). */
  conversionMs: 750,
} as const;

/** 0 normal, 1 limited (heating halved), 2 cutoff (heating off), 3 critical (everything that heats off). */
export type OverStage = 0 | 1 | 2 | 3;

/** The stage for the hottest valid reading `t`, keeping a higher one until `t` is `hysteresisC` below its start. */
export function nextOverStage(current: OverStage, t: number, limitC: number): OverStage {
  const enter = [Number.NEGATIVE_INFINITY, limitC - THERMAL.limitBelowC, limitC, limitC + THERMAL.criticalAboveC];
  let up: OverStage = 0;
  for (const k of [1, 2, 3] as const) if (t >= (enter[k] as number)) up = k;
  for (let k = current; k > up; k--) if (t >= (enter[k] as number) - THERMAL.hysteresisC) return k as OverStage;
  return up;
}

/** Why heating is refused: the kinds, most severe first. */
export type CutoffKind = 'critical' | 'over-temperature' | 'no-thermometer' | 'no-temperature' | 'stale' | 'stuck';

export interface Thermometer {
  id: string;
  /** The last read's temperature; null when it failed. */
  value: number | null;
  /** Why the last read failed. */
  error: string | null;
  /** When the last valid reading was taken. */
  validAt: number | null;
  /** When the valid reading last changed. */
  changedAt: number;
  /** When the last read ended, valid or not. */
  readAt: number | null;
  /** Latched: the reading did not move while the peltier heated hard; cleared when it moves. */
  stuck: boolean;
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

/** The thermometers of temp_sensor as the safety sees them. */
export class Thermometry {
  readonly list: Thermometer[];
  /** How often each thermometer is read: the sample interval, or longer when the conversions take longer. */
  readonly periodMs: number;
  readonly staleMs: number;

  constructor(
    ids: string[],
    intervalMs: number,
    private readonly startedAt: number,
  ) {
    this.list = ids.map((id) => ({
      id,
      value: null,
      error: null,
      validAt: null,
      changedAt: startedAt,
      readAt: null,
      stuck: false,
    }));
    this.periodMs = Math.max(intervalMs, ids.length * THERMAL.conversionMs);
    this.staleMs = THERMAL.stalePeriods * this.periodMs;
  }

  /** Takes one thermometer's read; `heatingHardSince` is when the peltier started heating at ≥ stuckMinHeatDuty. */
  note(index: number, read: ThermometerRead, now: number, heatingHardSince: number | null): void {
    const t = this.list[index];
    if (!t) return;
    t.readAt = now;
    if (read.error !== null) {
      t.error = read.error;
      t.value = null;
      return;
    }
    if (t.value !== read.celsius) {
      t.changedAt = now;
      t.stuck = false;
    }
    t.value = read.celsius;
    t.error = null;
    t.validAt = now;
    if (!t.stuck && heatingHardSince !== null && now - Math.max(t.changedAt, heatingHardSince) >= THERMAL.stuckAfterMs)
      t.stuck = true;
  }

  /** The value to report for thermometer `index`: null unless its last read is valid and not stuck. */
  reported(index: number): number | null {
    const t = this.list[index];
    return t && t.error === null && !t.stuck ? t.value : null;
  }

  /** Every thermometer's failing or stuck read, as one message; null when all read well. */
  problem(): string | null {
    const problems = this.list.flatMap((t) => {
      if (t.error !== null) return [t.error];
      if (t.stuck) return [`${t.id}: ${this.stuckText(t)}`];
      return [];
    });
    return problems.length > 0 ? problems.join('; ') : null;
  }

  private stuckText(t: Thermometer): string {
    return `stuck: read ${t.value} °C unchanged for over ${seconds(THERMAL.stuckAfterMs)} while the peltier heated at ≥ ${THERMAL.stuckMinHeatDuty} %`;
  }

  /** Whether any thermometer has been read (or failed) yet. */
  get anyRead(): boolean {
    return this.list.some((t) => t.readAt !== null);
  }

  /** When the last read ended, null before the first. */
  get lastReadAt(): number | null {
    const times = this.list.flatMap((t) => (t.readAt === null ? [] : [t.readAt]));
    return times.length > 0 ? Math.max(...times) : null;
  }

  /** What is wrong with temp_sensor now, for its state: failing, stuck or stale thermometers; null when nothing. */
  stateProblem(now: number): string | null {
    return this.problem() ?? this.staleness(now);
  }

  private staleness(now: number): string | null {
    const stale = this.list.filter((t) => !this.fresh(t, now));
    if (stale.length === 0) return null;
    const what = stale.map((t) =>
      t.validAt === null
        ? `${t.id} has given no reading since the start`
        : `${t.id} has given no reading for ${seconds(now - t.validAt)}`,
    );
    return `${what.join('; ')} (the bound is ${seconds(this.staleMs)}, ${THERMAL.stalePeriods} sample periods): its reads are not completing`;
  }

  private fresh(t: Thermometer, now: number): boolean {
    return now - (t.validAt ?? this.startedAt) < this.staleMs;
  }

  /** The hottest valid, fresh, unstuck reading, or null when there is none. */
  hottest(now: number): number | null {
    let hottest: number | null = null;
    for (const t of this.list) {
      if (t.error !== null || t.stuck || t.value === null || !this.fresh(t, now)) continue;
      if (hottest === null || t.value > hottest) hottest = t.value;
    }
    return hottest;
  }

  /** When the next thermometer goes stale if no valid reading comes. */
  nextStaleAt(): number {
    return Math.min(...this.list.map((t) => (t.validAt ?? this.startedAt) + this.staleMs));
  }

  /** Why the readings cannot be trusted for heating now, or null when every thermometer reads well. */
  distrust(now: number): { kind: CutoffKind; reason: string } | null {
    const failing = this.list.filter((t) => t.error !== null);
    if (failing.length > 0)
      return { kind: 'no-temperature', reason: `no valid temperature: ${failing.map((t) => t.error).join('; ')}` };
    const stale = this.staleness(now);
    if (stale !== null) return { kind: 'stale', reason: `no valid temperature: ${stale}` };
    const stuck = this.list.filter((t) => t.stuck);
    if (stuck.length > 0)
      return {
        kind: 'stuck',
        reason: `no valid temperature: ${stuck.map((t) => `${t.id} is ${this.stuckText(t)}`).join('; ')}`,
      };
    return null;
  }
}
