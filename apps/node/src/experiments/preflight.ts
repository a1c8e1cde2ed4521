// Pre-flight: a run on the twin (the node's simulated hardware) with its time sped up, and the report of what the
// culture would have seen. The twin's clock (hardware/clock.ts, paced) runs `time_scale` times faster for the run;
// the script follows the same clock (bioreactor_client.accelerated, started by the runner); when the run ends the
// clock goes back to the node's own rate and preflight.json is written next to the run's other node-owned files.
import { closeSync, constants as fs, openSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { ApiError, MAX_TIME_SCALE, type PreflightReport } from '@bioreactor/api';
import { type Clock, isScalableClock, type ScalableClock } from '../hardware/clock.js';
import { findTraceback } from './failure-summary.js';
import type { ActuatorCommand } from './hardware-gateway.js';
import type { RunTime, StoredRun } from './store.js';

/**
 * The rate of a run asking for `requested` (see Preflight.scaleFor); on a node without a twin, any time_scale is
 * refused.
 */
export function requestedScale(preflight: Preflight | undefined, requested: number | undefined): number | null {
  if (preflight) return preflight.scaleFor(requested);
  if (requested === undefined) return null;
  throw new ApiError(
    'INVALID_STATE',
    'This node has no simulation twin: a run with time_scale (a pre-flight) runs only on a node with HARDWARE_MODE=simulation',
  );
}

/** Refused hardware requests kept per run in the report (the count goes on). */
const MAX_REFUSED_KEPT = 100;

/** What the pre-flight needs of the node's hardware (a HardwareController fits). */
export interface TwinHardware {
  readonly mode: string;
  readonly clock: Clock;
  readonly events: {
    on(event: 'sample', listener: (e: { component: string; state: unknown }) => void): unknown;
    on(event: 'safety', listener: (e: { interlocks: string[] }) => void): unknown;
    off(event: 'sample', listener: (e: { component: string; state: unknown }) => void): unknown;
    off(event: 'safety', listener: (e: { interlocks: string[] }) => void): unknown;
  };
  interlocks(): string[];
}

/** A run's time on the twin, kept in its status.json: the script maps its clock with the same three numbers. */
/** One hardware request of a run's script that the node refused. */
export interface Refusal {
  method: string;
  path: string;
  code: string;
  message: string;
}

interface Collecting {
  id: string;
  time: RunTime;
  wallStart: number;
  temps: { min: number; max: number; weighted: number; weightMs: number; samples: number; invalid: number };
  lastTemp: { value: number; at: number } | null;
  interlocks: Set<string>;
  refused: (Refusal & { time: string })[];
  refusedCount: number;
  unsubscribe: () => void;
}

export interface PreflightOptions {
  /** The node's hardware; a run may be accelerated only when it is a simulation on a scalable clock. */
  twin?: TwinHardware | undefined;
  /** BIOREACTOR_TIME_SCALE: the twin's own rate, and every run's when it asks for none. */
  baseScale?: number | undefined;
}

/** The pre-flight side of the node's runs: the twin's rate per run, and each accelerated run's report. */
export class Preflight {
  private current: Collecting | null = null;

  constructor(private readonly opts: PreflightOptions) {}

  private clock(): ScalableClock | null {
    const twin = this.opts.twin;
    return twin && twin.mode === 'simulation' && isScalableClock(twin.clock) ? twin.clock : null;
  }

  /** What /api/status advertises: present when this node is a twin that can run pre-flights. */
  advertised(): { time_scale: number; max_time_scale: number } | undefined {
    return this.clock() ? { time_scale: this.opts.baseScale ?? 1, max_time_scale: MAX_TIME_SCALE } : undefined;
  }

  /**
   * The rate a run asks for (`time_scale`), checked against this node; the twin's own rate when it asks for none.
   * Null: the run is not accelerated.
   */
  scaleFor(requested: number | undefined): number | null {
    const base = this.opts.baseScale ?? 1;
    if (requested === undefined) return base > 1 && this.clock() ? base : null;
    if (!Number.isInteger(requested) || requested < 1 || requested > MAX_TIME_SCALE)
      throw new ApiError('VALIDATION_FAILED', `time_scale must be an integer from 1 to ${MAX_TIME_SCALE}`);
    const twin = this.opts.twin;
    if (twin?.mode !== 'simulation')
      throw new ApiError(
        'INVALID_STATE',
        'This node drives real hardware: a run with time_scale (a pre-flight) runs only on a simulation twin; submit it to a node with HARDWARE_MODE=simulation, or leave out time_scale',
      );
    if (!this.clock())
      throw new ApiError(
        'INVALID_STATE',
        "This node's simulated clock cannot be sped up (a test clock): start the node without an injected clock to run pre-flights",
      );
    return requested;
  }

  /** Speeds the twin up for run `id` and starts collecting what it sees; answers the run's time. */
  begin(id: string, scale: number): RunTime {
    const clock = this.clock();
    const twin = this.opts.twin;
    if (!clock || !twin) throw new ApiError('INVALID_STATE', 'This node is not a simulation twin');
    this.current?.unsubscribe();
    const anchor = clock.setScale(scale);
    clock.takeMaxLagMs();
    const time: RunTime = { time_scale: scale, origin_wall_ms: anchor.wallMs, origin_clock_ms: anchor.clockMs };
    const collecting: Collecting = {
      id,
      time,
      wallStart: performance.now(),
      temps: {
        min: Number.POSITIVE_INFINITY,
        max: Number.NEGATIVE_INFINITY,
        weighted: 0,
        weightMs: 0,
        samples: 0,
        invalid: 0,
      },
      lastTemp: null,
      interlocks: new Set(twin.interlocks()),
      refused: [],
      refusedCount: 0,
      unsubscribe: () => {},
    };
    const onSample = (e: { component: string; state: unknown }) => {
      if (e.component !== 'temp_sensor') return;
      const value = (e.state as { temperature?: number | null }).temperature;
      const t = collecting.temps;
      const at = clock.now();
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        t.invalid++;
        return;
      }
      // Each reading holds until the next one: the mean is over time, not over samples.
      if (collecting.lastTemp) {
        const dt = Math.max(0, at - collecting.lastTemp.at);
        t.weighted += collecting.lastTemp.value * dt;
        t.weightMs += dt;
      }
      collecting.lastTemp = { value, at };
      t.samples++;
      t.min = Math.min(t.min, value);
      t.max = Math.max(t.max, value);
    };
    const onSafety = (e: { interlocks: string[] }) => {
      for (const interlock of e.interlocks) collecting.interlocks.add(interlock);
    };
    twin.events.on('sample', onSample);
    twin.events.on('safety', onSafety);
    collecting.unsubscribe = () => {
      twin.events.off('sample', onSample);
      twin.events.off('safety', onSafety);
    };
    this.current = collecting;
    return time;
  }

  /** A run that never started: the twin back to its own rate, nothing reported. */
  cancel(id: string): void {
    if (this.current?.id !== id) return;
    this.current.unsubscribe();
    this.current = null;
    this.clock()?.setScale(this.opts.baseScale ?? 1);
  }

  /** A hardware request of run `id`'s script that the node refused (a safety interlock, an invalid command). */
  refused(id: string, refusal: Refusal): void {
    const run = this.current;
    if (!run || run.id !== id) return;
    run.refusedCount++;
    if (run.refused.length < MAX_REFUSED_KEPT)
      run.refused.push({ time: new Date(this.opts.twin?.clock.now() ?? Date.now()).toISOString(), ...refusal });
  }

  /** The run's end: the twin back to its own rate, and the report. Null when `run` was not the accelerated one. */
  end(run: StoredRun, actuatorLog: readonly ActuatorCommand[]): PreflightReport | null {
    const collecting = this.current;
    if (!collecting || collecting.id !== run.experiment_id) return null;
    this.current = null;
    collecting.unsubscribe();
    const clock = this.clock();
    const clockEnd = clock?.now() ?? Date.now();
    clock?.setScale(this.opts.baseScale ?? 1);
    const wallS = (performance.now() - collecting.wallStart) / 1000;
    const simulatedS = (clockEnd - collecting.time.origin_clock_ms) / 1000;
    const t = collecting.temps;
    if (collecting.lastTemp) {
      const dt = Math.max(0, clockEnd - collecting.lastTemp.at);
      t.weighted += collecting.lastTemp.value * dt;
      t.weightMs += dt;
    }
    const temperature =
      t.samples > 0
        ? {
            min_c: t.min,
            max_c: t.max,
            mean_c: round(t.weightMs > 0 ? t.weighted / t.weightMs : (collecting.lastTemp?.value ?? t.min), 3),
            samples: t.samples,
            invalid_samples: t.invalid,
          }
        : null;
    const pumped = pumpedVolumes(run, actuatorLog);
    const endSafeState = `safety:experiment ${run.experiment_id} `;
    const cutOffs = actuatorLog
      .filter((e) => e.source.startsWith('safety') && !e.source.startsWith(endSafeState))
      .map((e) => ({ time: e.time, component: e.component, values: e.values }));
    const failure = failureOf(run.error_message);
    const reasons: string[] = [];
    if (run.status !== 'completed')
      reasons.push(
        `the run ended ${run.status}${run.exit_code !== null ? ` (exit code ${run.exit_code})` : ''}${failure ? `: ${failure.exception}` : run.error_message ? `: ${firstLine(run.error_message)}` : ''}`,
      );
    const interlocks = [...collecting.interlocks];
    if (interlocks.length > 0) reasons.push(`safety interlocks were in force: ${interlocks.join('; ')}`);
    if (cutOffs.length > 0)
      reasons.push(
        `the node's safety acted ${cutOffs.length} time(s) (${[...new Set(cutOffs.map((c) => c.component))].join(', ')})`,
      );
    if (collecting.refusedCount > 0)
      reasons.push(
        `${collecting.refusedCount} hardware request(s) were refused, first: ${collecting.refused[0]?.code}: ${collecting.refused[0]?.message}`,
      );
    if (t.invalid > 0) reasons.push(`${t.invalid} temperature sample(s) had no valid reading`);
    return {
      experiment_id: run.experiment_id,
      passed: reasons.length === 0,
      reasons,
      time_scale: collecting.time.time_scale,
      achieved_time_scale: round(wallS > 0 ? simulatedS / wallS : collecting.time.time_scale, 1),
      simulated_start: new Date(collecting.time.origin_clock_ms).toISOString(),
      simulated_end: new Date(clockEnd).toISOString(),
      simulated_duration_s: round(simulatedS, 3),
      wall_duration_s: round(wallS, 3),
      temperature,
      pumped_ml: pumped,
      safety: { interlocks, cut_offs: cutOffs, refused: collecting.refused, refused_count: collecting.refusedCount },
      exit: {
        status: run.status,
        exit_code: run.exit_code,
        error_message: run.error_message,
        exception: failure?.exception ?? null,
        frame: failure?.frame ?? null,
      },
      generated_time: new Date().toISOString(),
    };
  }
}

/** The exception and its frame from a failed run's error_message (`Exit code 1: ValueError: … (File "…", line 6, …)`). */
function failureOf(message: string | null): { exception: string; frame: string | null } | null {
  if (!message) return null;
  const head = /^Exit code -?\d+: (.+?)(?: \((File "[^"]*", line \d+.*)\))?$/.exec(firstLine(message));
  const found = findTraceback(message);
  if (head?.[1] && (found || head[2])) return { exception: head[1], frame: head[2] ?? found?.frame ?? null };
  return found;
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? '';
}

type PumpCounters = Record<string, { total_volume_ml?: number }>;

/**
 * Volume per pump during the run: the node's own accounting (counters at the start and the end, exact even when a
 * pump stalled), else the pump velocities of the actuator log integrated over the twin's time.
 */
export function pumpedVolumes(
  run: Pick<StoredRun, 'context'>,
  actuatorLog: readonly ActuatorCommand[],
): PreflightReport['pumped_ml'] {
  const start = (run.context.counters_at_start as { pumps?: PumpCounters } | undefined)?.pumps;
  const end = (run.context.counters_at_end as { pumps?: PumpCounters } | undefined)?.pumps;
  const perPump: Record<string, number> = {};
  if (start && end) {
    for (const [name, counters] of Object.entries(end)) {
      perPump[name] = round((counters.total_volume_ml ?? 0) - (start[name]?.total_volume_ml ?? 0), 3);
    }
    return { per_pump: perPump, total: round(sum(Object.values(perPump)), 3), source: 'counters' };
  }
  const running = new Map<string, { velocity: number; since: number }>();
  for (const entry of actuatorLog) {
    if (entry.component !== 'pumps') continue;
    const name = String(entry.values.pump_name);
    const at = Date.parse(entry.time);
    const was = running.get(name);
    if (was) perPump[name] = (perPump[name] ?? 0) + (Math.abs(was.velocity) * Math.max(0, at - was.since)) / 1000;
    const velocity = Number(entry.values.velocity ?? 0);
    running.set(name, { velocity: Number.isFinite(velocity) ? velocity : 0, since: at });
    perPump[name] ??= 0;
  }
  for (const name of Object.keys(perPump)) perPump[name] = round(perPump[name] ?? 0, 3);
  return { per_pump: perPump, total: round(sum(Object.values(perPump)), 3), source: 'actuator_log' };
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** Writes the report into the run's node-owned part of its folder (never followed through a link). */
export function writePreflight(path: string, report: PreflightReport): void {
  const fd = openSync(path, fs.O_WRONLY | fs.O_CREAT | fs.O_TRUNC | fs.O_NOFOLLOW, 0o644);
  try {
    writeSync(fd, `${JSON.stringify(report, null, 2)}\n`);
  } finally {
    closeSync(fd);
  }
}

/** The run's report, or null when it has none. */
export async function readPreflight(path: string): Promise<PreflightReport | null> {
  try {
    const handle = await open(path, fs.O_RDONLY | fs.O_NOFOLLOW);
    try {
      return JSON.parse(await handle.readFile('utf8')) as PreflightReport;
    } finally {
      await handle.close();
    }
  } catch {
    return null;
  }
}
