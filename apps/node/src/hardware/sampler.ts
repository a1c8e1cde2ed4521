// The sensors' coordinator: one loop per sensor reads it on its interval, keeps the latest values (rounded to the
// sensor's resolution) and the 24 h history, logs a failure once when it starts and once when it ends, and says
// when a sensor's reads stopped completing. Many readers (the API, the stream, the safety) read the cache; nothing
// reads the hardware per request.
import { join } from 'node:path';
import type { SensorName } from '@bioreactor/api';
import type { Clock } from './clock.js';
import { iso, round, type Sensor, type StateBase } from './components/component.js';
import { PersistedHistory, SampleHistory } from './history.js';
import type { HardwareLog } from './types.js';

const DAY_S = 24 * 3600;
/** A sensor without a new sample for this many sample periods reports an error: its reads are not completing. */
const STALE_PERIODS = 3;

export interface SensorUnit {
  readonly name: SensorName;
  readonly sensor: Sensor;
  readonly intervalMs: number;
  latest: { time: number; values: (number | null)[] } | null;
  error: string | null;
  readonly history: SampleHistory;
  /** No new sample for this long: the state reports an error. */
  readonly staleMs: number;
}

export interface SamplerOptions {
  clock: Clock;
  log: HardwareLog;
  /** DATA_DIR/hardware/history: each sensor's 24 h history file; null keeps the history in memory only. */
  historyDir: string | null;
  running(): boolean;
  signal: AbortSignal;
  /** After every sample (valid or not): the cached state is rebuilt and the sample sent on. */
  onSample(name: SensorName): void;
}

export class Sampler {
  readonly units = new Map<SensorName, SensorUnit>();

  constructor(private readonly opts: SamplerOptions) {}

  add(name: SensorName, sensor: Sensor, intervalMs: number): void {
    const capacity = Math.ceil(DAY_S / Math.max(1, intervalMs / 1000));
    const width = Math.max(1, sensor.channels.length);
    const { historyDir, clock, log } = this.opts;
    this.units.set(name, {
      name,
      sensor,
      intervalMs,
      latest: null,
      error: null,
      history: historyDir
        ? new PersistedHistory(capacity, width, {
            name,
            path: join(historyDir, `${name}.bin`),
            channels: sensor.channels,
            now: clock.now(),
            log,
          })
        : new SampleHistory(capacity, width),
      staleMs: STALE_PERIODS * Math.max(intervalMs, sensor.readMs ?? 0),
    });
  }

  /** Starts every sensor's loop; each ends at stop. */
  start(): Promise<void>[] {
    return [...this.units.values()].map((unit) => this.loop(unit));
  }

  close(): void {
    for (const unit of this.units.values()) unit.history.close();
  }

  private async loop(unit: SensorUnit): Promise<void> {
    const { clock, log, running } = this.opts;
    const sensor = unit.sensor;
    while (running()) {
      const started = clock.now();
      try {
        const values = (await sensor.read()).map((v) => round(v, sensor.digits));
        if (!running()) return;
        // A sample may succeed with some channels failing (a thermometer): the state is then an error naming them.
        const problem = sensor.problem?.() ?? null;
        if (problem !== null && unit.error === null)
          log.warn({ component: unit.name, err: problem }, `${unit.name} read failed: ${problem}`);
        else if (problem === null && unit.error !== null) log.info({ component: unit.name }, `${unit.name} recovered`);
        unit.error = problem;
        unit.latest = { time: clock.now(), values };
        unit.history.push(unit.latest.time, values);
      } catch (err) {
        if (!running()) return;
        const message = (err as Error).message;
        if (unit.error === null)
          log.warn({ component: unit.name, err: message }, `${unit.name} read failed: ${message}`);
        unit.error = message;
      }
      this.opts.onSample(unit.name);
      await clock.sleep(Math.max(0, unit.intervalMs - (clock.now() - started)), this.opts.signal);
    }
  }

  /** Neither a first sample nor a first error yet. */
  pending(unit: SensorUnit): boolean {
    return unit.latest === null && unit.error === null;
  }

  /** Whether the sensor's cached state no longer holds because its reads stopped completing. */
  stale(unit: SensorUnit, now: number): boolean {
    if (unit.sensor.stale) return unit.sensor.stale(now);
    return unit.latest !== null && now - unit.latest.time > unit.staleMs;
  }

  /** The sensor's state body, as of now. */
  state(unit: SensorUnit): object {
    const sensor = unit.sensor;
    const now = this.opts.clock.now();
    let values = unit.latest?.values ?? sensor.channels.map(() => null);
    let time = unit.latest?.time ?? null;
    let message: string | null;
    const view = sensor.view?.(now);
    if (view) {
      ({ values, time, message } = view);
    } else {
      const staleFor = unit.latest && this.stale(unit, now) ? now - unit.latest.time : null;
      message =
        unit.error ??
        (staleFor !== null
          ? `no new sample for ${Math.round(staleFor / 100) / 10} s (one is due every ${Math.max(unit.intervalMs, sensor.readMs ?? 0) / 1000} s): its reads are not completing`
          : unit.latest
            ? null
            : 'no sample yet: the first reading is in progress');
    }
    const base: StateBase = {
      status: message === null ? 'success' : 'error',
      message,
      timestamp: time === null ? null : iso(time),
    };
    return sensor.state(base, values);
  }

  /** The cached samples at or after `since` (the newest `limit`), as the history route answers them. */
  history(unit: SensorUnit, since: number, limit: number) {
    return unit.history.query(since, limit).map((s) => ({
      timestamp: iso(s.time),
      values: s.values.map((v) => round(v, unit.sensor.digits)),
    }));
  }
}
