// The node's hardware: opens the configured components over real or emulated transports, samples the sensors in
// the background, applies actuator commands with validation and safety, and logs every command.
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import {
  ACTUATOR_NAMES,
  type ActuatorName,
  type AllStates as AllStatesSchema,
  ApiError,
  type Capability,
  COMPONENT_NAMES,
  type ComponentControls,
  type ComponentName,
  type ComponentStates,
  PELTIER_DIRECTIONS,
  type PeltierDirection,
  SENSOR_NAMES,
  type SensorName,
  type SimulatedFault,
  type SimulatedFaultRequest,
} from '@bioreactor/api';
import type { Static } from 'typebox';
import { type Clock, realClock } from './clock.js';
import { CommandLog, type CommandLogEntry } from './command-log.js';
import { Ads1115 } from './drivers/ads1115.js';
import { Ads7830 } from './drivers/ads7830.js';
import { AtlasEzoCo2 } from './drivers/atlas-ezo-co2.js';
import { Ds18b20Array } from './drivers/ds18b20.js';
import { NeoPixelRing, type Rgb } from './drivers/neopixel.js';
import { PeltierBridge, PwmOutput } from './drivers/pwm-output.js';
import { SenseairK33 } from './drivers/senseair-k33.js';
import {
  TIC_COMMAND_TIMEOUT_MS,
  TIC_ERROR_BITS,
  type TicStatus,
  TicStepper,
  ticStopReason,
  ticUsbMatch,
} from './drivers/tic.js';
import { type HardwareFile, i2cAddress, pumpCalibration } from './hardware-file.js';
import { PersistedHistory, SampleHistory } from './history.js';
import { Mutex } from './mutex.js';
import { OverflowGuard } from './overflow-guard.js';
import { type PwmWiring, pwmChannelFor } from './pins.js';
import { FaultRequestError, type Simulation } from './simulation.js';
import { type CutoffKind, nextOverStage, type OverStage, THERMAL, Thermometry } from './thermal-safety.js';
import type { I2cBus, TransportFactory } from './transports/types.js';

/** As GET /api/v3/capabilities: the contract's fields plus each component's own ranges and names. */
export type Capabilities = Record<string, Static<typeof Capability> & Record<string, unknown>>;
export type AllStates = Static<typeof AllStatesSchema>;
export type { CommandLogEntry };
export type HardwareMode = 'real' | 'simulation';

export interface HardwareLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  /** The critical stage of the over-temperature response (pino's fatal level); error when absent. */
  fatal?(obj: object, msg: string): void;
}

export interface HardwareEvents {
  sample: [{ component: SensorName; state: ComponentStates[SensorName] }];
  changed: [{ component: ActuatorName; state: ComponentStates[ActuatorName]; source: string }];
  /** The safety interlocks in force changed (EVENT_TYPES.safety on the stream). */
  safety: [{ interlocks: string[] }];
}

/** Whether the node has its first samples: `starting` until every enabled sensor has one or its error. */
export interface Readiness {
  ready: boolean;
  waiting_for: string[];
}

/** How long a state read during start waits for its sensor's first sample before answering without one. */
export const FIRST_SAMPLE_WAIT_MS = 3000;

/** What the node says about each component in /api/status and /health. */
export interface ComponentReport {
  initialized: Record<string, boolean>;
  unavailable: Record<string, string>;
}

const DAY_S = 24 * 3600;
/**
 * How often a running pump's Tic is read back and kept alive: half its 1000 ms command timeout, so one late tick
 * does not stop it, and a Tic that stopped is found within this long (docs/hardware.md, "Pumps").
 */
export const TIC_KEEPALIVE_MS = 500;
/** Restarts tried, one per keep-alive tick, before a pump that stopped by itself is declared faulted. */
export const PUMP_RESTART_ATTEMPTS = 3;
/** A sensor without a new sample for this many sample periods reports an error: its reads are not completing. */
const STALE_PERIODS = 3;
/** The watchdog looks again this soon when switching the heating off failed. */
const WATCHDOG_RETRY_MS = 250;

const round = (v: number | null, digits: number): number | null =>
  v === null || !Number.isFinite(v) ? null : Math.round(v * 10 ** digits) / 10 ** digits;
const iso = (ms: number) => new Date(ms).toISOString();

interface SensorUnit {
  name: SensorName;
  driver: string;
  unit: string;
  channels: string[];
  intervalMs: number;
  digits: number;
  sample: () => Promise<(number | null)[]>;
  /** Channels that failed in a sample that otherwise succeeded (thermometers), as one message. */
  problem?: () => string | null;
  /** How long one sample takes at least (conversions), so staleness is judged against the slower of the two. */
  readMs?: number;
  latest: { time: number; values: (number | null)[] } | null;
  error: string | null;
  history: SampleHistory | null;
  extra: Record<string, unknown>;
  /** No new sample for this long: the state reports an error. */
  staleMs: number;
}

/** A pump whose Tic stopped by itself: being restarted, or given up on. */
interface PumpFault {
  state: 'restarting' | 'faulted';
  reason: string;
  /** When it stopped pumping, as far as the node can tell (volume is counted up to here). */
  stoppedAt: number;
  detectedAt: number;
  attempts: number;
  /** When the last restart was sent: a restart that takes is counted from here. */
  restartAt: number;
}

interface PumpUnit {
  name: string;
  tic: TicStepper;
  stepsPerMl: number;
  /** The calibrated fastest rate, mL/s. */
  maxMlPerS: number;
  /** The Tic's max speed the node set, microsteps per 10 000 s. */
  maxSpeed: number;
  direction: 'forward' | 'reverse';
  /** Commanded mL/s; 0 when idle or faulted. */
  velocity: number;
  /** The Tic velocity commanded (microsteps per 10 000 s). */
  steps: number;
  totalMl: number;
  /** Volume is counted up to here. */
  since: number;
  /** When the velocity was commanded (or the last restart sent). */
  commandedAt: number;
  /** When the last command that resets the Tic's command timeout was sent. */
  lastCommandAt: number;
  /** When a status read last showed the Tic running as commanded. */
  seenRunningAt: number;
  /** The experiment run whose command set the velocity (its inflow cap), or null. */
  owner: string | null;
  fault: PumpFault | null;
}

/** The experiment run a command source belongs to: `experiment:<id>` and the node's `restore:experiment:<id>`. */
export function runOfSource(source: string): string | null {
  const m = /^(?:restore:)?experiment:(.+)$/.exec(source);
  return m ? (m[1] ?? null) : null;
}

export interface HardwareOptions {
  file: HardwareFile;
  mode: HardwareMode;
  transports: TransportFactory;
  log: HardwareLog;
  clock?: Clock;
  /** Where command-log.jsonl lives; null keeps the log in memory only. */
  dataDir?: string | null;
  simulation?: Simulation;
}

export class HardwareController {
  readonly events = new EventEmitter<HardwareEvents>();
  readonly mode: HardwareMode;
  readonly clock: Clock;
  readonly simulation: Simulation | undefined;
  readonly file: HardwareFile;
  private readonly transports: TransportFactory;
  private readonly log: HardwareLog;
  private readonly commands: CommandLog;
  /** DATA_DIR/hardware/history: each sensor's 24 h history file; null keeps the history in memory only. */
  private readonly historyDir: string | null;
  private readonly unavailable = new Map<ComponentName, string>();
  private readonly sensors = new Map<SensorName, SensorUnit>();
  private readonly locks = new Map<ComponentName, Mutex>(COMPONENT_NAMES.map((n) => [n, new Mutex()]));
  private bus: I2cBus | null = null;
  private running = false;
  private started = false;
  private ready = false;
  /** Aborted at stop: wakes every sampler's and keep-alive's sleep so nothing keeps the process alive. */
  private readonly stopping = new AbortController();
  private pumpStarted: (() => void) | null = null;
  /** Wakes the heating watchdog when the peltier starts heating. */
  private heatStarted: (() => void) | null = null;
  /** Requests waiting for first samples during start. */
  private readonly firstSampleWaiters = new Set<() => void>();
  /** Every enabled sensor has had its first sample or error: set once, so the hot path checks one boolean. */
  private settled = false;
  private thermometry: Thermometry | null = null;
  private overStage: OverStage = 0;
  /** The last hottest valid reading, for the messages of a stage that holds while no reading is valid. */
  private lastHottest: number | null = null;
  private cutoffKind: CutoffKind | null = null;
  /** Since when the peltier heats at ≥ THERMAL.stuckMinHeatDuty (stuck-thermometer detection). */
  private heatingHardSince: number | null = null;
  private lastInterlocks: string[] = [];
  private readonly overflow: OverflowGuard;
  /** Built states, reused until the component samples or changes: state reads are the API's hot path. */
  private readonly stateCache = new Map<ComponentName, unknown>();
  private reportCache: ComponentReport | null = null;
  private loops: Promise<void>[] = [];

  private stirrer: { out: PwmOutput; duty: number; time: number } | null = null;
  private led: { out: PwmOutput; power: number; time: number } | null = null;
  private peltier: {
    bridge: PeltierBridge;
    duty: number;
    direction: PeltierDirection;
    time: number;
    /** Why heating is refused (no valid temperature, over-temperature, critical); see thermal-safety.ts. */
    cutoff: string | null;
    /** Why heating runs at half the commanded duty. */
    heatLimit: string | null;
  } | null = null;
  private ring: { driver: NeoPixelRing; pixels: Rgb[]; last: Rgb; time: number } | null = null;
  private pumps: { units: Map<string, PumpUnit>; lastName: string; lastVelocity: number; time: number } | null = null;

  constructor(opts: HardwareOptions) {
    this.file = opts.file;
    this.mode = opts.mode;
    this.transports = opts.transports;
    this.log = opts.log;
    this.clock = opts.clock ?? realClock;
    this.simulation = opts.simulation;
    this.commands = new CommandLog(opts.dataDir ? join(opts.dataDir, 'hardware', 'command-log.jsonl') : null);
    this.historyDir = opts.dataDir ? join(opts.dataDir, 'hardware', 'history') : null;
    this.overflow = new OverflowGuard(
      opts.file.overflow_guard.max_excess_inflow_ml,
      opts.dataDir ? join(opts.dataDir, 'hardware', 'overflow-guard.json') : null,
      opts.file.overflow_guard.max_run_inflow_ml,
    );
  }

  // ---- lifecycle ----

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.running = true;
    for (const name of COMPONENT_NAMES) {
      if (!this.file.init_components[name]) {
        this.unavailable.set(name, `disabled in the hardware file (init_components.${name} is false)`);
        continue;
      }
      try {
        await this.open(name);
      } catch (err) {
        const reason = (err as Error).message;
        this.unavailable.set(name, reason);
        this.log.warn({ component: name, reason }, `${name} is unavailable: ${reason}`);
      }
    }
    await this.applySafeState('startup');
    for (const unit of this.sensors.values()) this.loops.push(this.sampleLoop(unit));
    if (this.pumps) this.loops.push(this.pumpKeepAlive());
    if (this.peltier) this.loops.push(this.heatWatch());
    this.ready = true;
    const ready = COMPONENT_NAMES.filter((n) => !this.unavailable.has(n));
    this.log.info(
      { mode: this.mode, components: ready },
      `hardware (${this.mode}) ready: ${ready.join(', ') || 'none'}`,
    );
  }

  async stop(): Promise<void> {
    if (!this.started || !this.running) return;
    await this.applySafeState('shutdown');
    this.running = false;
    this.stopping.abort();
    const closers: Promise<unknown>[] = [];
    if (this.stirrer) closers.push(this.stirrer.out.close());
    if (this.led) closers.push(this.led.out.close());
    if (this.peltier) closers.push(this.peltier.bridge.close());
    if (this.ring) closers.push(this.ring.driver.close());
    for (const p of this.pumps?.units.values() ?? []) closers.push(p.tic.close());
    if (this.bus) closers.push(this.bus.close());
    const results = await Promise.allSettled(closers);
    for (const r of results)
      if (r.status === 'rejected') this.log.warn({ err: String(r.reason) }, 'releasing a hardware handle failed');
    this.commands.close();
    for (const unit of this.sensors.values()) unit.history?.close();
  }

  private i2c(): Promise<I2cBus> {
    if (this.bus) return Promise.resolve(this.bus);
    return this.transports.i2c(this.file.i2c_bus).then((raw) => {
      const mutex = new Mutex();
      this.bus = {
        write: (a, b) => mutex.run(() => raw.write(a, b)),
        read: (a, n) => mutex.run(() => raw.read(a, n)),
        close: () => mutex.run(() => raw.close()),
      };
      return this.bus;
    });
  }

  private addSensor(unit: Omit<SensorUnit, 'latest' | 'error' | 'history' | 'staleMs'>): void {
    const capacity = Math.ceil(DAY_S / Math.max(1, unit.intervalMs / 1000));
    const width = Math.max(1, unit.channels.length);
    this.sensors.set(unit.name, {
      ...unit,
      latest: null,
      error: null,
      history: this.historyDir
        ? new PersistedHistory(capacity, width, {
            name: unit.name,
            path: join(this.historyDir, `${unit.name}.bin`),
            channels: unit.channels,
            now: this.clock.now(),
            log: this.log,
          })
        : new SampleHistory(capacity, width),
      staleMs: STALE_PERIODS * Math.max(unit.intervalMs, unit.readMs ?? 0),
    });
  }

  private async openPwm(wiring: PwmWiring & { frequency_hz: number }): Promise<PwmOutput> {
    const where = pwmChannelFor(wiring);
    if ('error' in where) throw new Error(where.error);
    const out = new PwmOutput(await this.transports.pwm(where.chip, where.channel), wiring.frequency_hz);
    await out.probe();
    return out;
  }

  private async open(name: ComponentName): Promise<void> {
    const f = this.file;
    const intervals = f.sample_intervals_s;
    switch (name) {
      case 'co2_sensor': {
        const k33 = f.co2_sensor_type === 'sensair_k33';
        const address = i2cAddress(f.co2_sensor_i2c_address, k33 ? 0x68 : 0x69);
        const bus = await this.i2c();
        const chip = k33
          ? new SenseairK33(bus, address, this.clock, f.k33_ppm_per_count)
          : new AtlasEzoCo2(bus, address, this.clock);
        await chip.probe();
        this.addSensor({
          name,
          driver: chip.driver,
          unit: 'ppm',
          channels: ['co2'],
          intervalMs: intervals.co2_sensor * 1000,
          digits: 0,
          // The EZO-CO2 processes a read for 1.5 s.
          readMs: 2000,
          sample: () => chip.sample(),
          extra: { sensor_type: 'co2', model: k33 ? 'sensair_k33' : 'atlas', i2c_address: `0x${address.toString(16)}` },
        });
        return;
      }
      case 'temp_sensor': {
        const chip = new Ds18b20Array(
          await this.transports.oneWire(),
          f.temp_sensor.order,
          f.temp_sensor.valid_range_c as [number, number],
        );
        await chip.probe();
        if (chip.missing.length > 0)
          this.log.warn(
            { component: name, missing: chip.missing },
            `configured thermometers are not on the 1-Wire bus: ${chip.missing.join(', ')} (heating is refused until they read)`,
          );
        const intervalMs = intervals.temp_sensor * 1000;
        const thermometry = new Thermometry(chip.channels, intervalMs, this.clock.now());
        this.thermometry = thermometry;
        this.addSensor({
          name,
          driver: chip.driver,
          unit: 'celsius',
          channels: chip.channels,
          intervalMs,
          digits: 3,
          readMs: chip.channels.length * THERMAL.conversionMs,
          // One thermometer at a time, and the safety looks after each: a failure acts within one conversion.
          sample: async () => {
            const values: (number | null)[] = [];
            for (let i = 0; i < chip.channels.length && this.running; i++) {
              const read = await chip.read(i);
              if (!this.running) break;
              thermometry.note(i, read, this.clock.now(), this.heatingHardSince);
              values.push(thermometry.reported(i));
              // The state shows each thermometer as it is read, so it agrees with what the safety acts on.
              this.stateCache.delete(name);
              await this.checkThermal();
            }
            return values;
          },
          problem: () => thermometry.problem(),
          extra: { sensor_type: 'temperature', valid_range: f.temp_sensor.valid_range_c },
        });
        return;
      }
      case 'optical_density': {
        const address = i2cAddress(f.od_adc.i2c_address, 0x48);
        const bus = await this.i2c();
        // JSON objects list integer-like keys ("90", "135") first, so the file's order is lost; ADC input order
        // is stable and gives the original's 135, Ref, 90 for A0, A1, A2.
        const wiring = Object.entries(f.od_adc.channels)
          .map(([channel, pin]) => ({ channel, input: Number(pin.slice(1)) }))
          .sort((a, b) => a.input - b.input);
        const channels = wiring.map((w) => w.channel);
        const inputs = wiring.map((w) => w.input);
        let read: (input: number) => Promise<number>;
        let driver: string;
        if (f.od_adc.type === 'ads7830') {
          const adc = new Ads7830(bus, address, f.od_adc.vref);
          await adc.probe();
          read = (i) => adc.readVolts(i);
          driver = adc.driver;
        } else {
          const adc = new Ads1115(bus, address, this.clock, 'ads1115');
          await adc.probe();
          const gain = f.od_adc.gain ?? 1;
          read = (i) => adc.readVolts(i, gain);
          driver = adc.driver;
        }
        this.addSensor({
          name,
          driver,
          unit: 'volts',
          channels,
          intervalMs: intervals.optical_density * 1000,
          digits: 4,
          sample: async () => {
            const out: number[] = [];
            for (const input of inputs) out.push(await read(input));
            return out;
          },
          extra: {
            sensor_type: 'optical_density',
            adc: f.od_adc.type,
            resolution: f.od_adc.type === 'ads7830' ? '8-bit' : '16-bit',
            i2c_address: `0x${address.toString(16)}`,
          },
        });
        return;
      }
      case 'eyespy_adc': {
        const bus = await this.i2c();
        const boards: { name: string; adc: Ads1115; gain: number }[] = [];
        const problems: string[] = [];
        for (const [board, cfg] of Object.entries(f.eyespy_adc.boards)) {
          const adc = new Ads1115(bus, i2cAddress(cfg.i2c_address, 0x49), this.clock, cfg.chip ?? 'ads1114');
          try {
            await adc.probe();
            boards.push({ name: board, adc, gain: cfg.gain ?? 1 });
          } catch (err) {
            problems.push(`${board}: ${(err as Error).message}`);
          }
        }
        if (boards.length === 0)
          throw new Error(`no eyespy board answered (${problems.join('; ') || 'none configured'})`);
        if (problems.length > 0)
          this.log.warn({ component: name, problems }, `some eyespy boards are missing: ${problems.join('; ')}`);
        this.addSensor({
          name,
          driver: boards[0]?.adc.driver ?? 'ads1114',
          unit: 'volts',
          channels: boards.map((b) => b.name),
          intervalMs: intervals.eyespy_adc * 1000,
          digits: 4,
          sample: async () => {
            const out: number[] = [];
            for (const b of boards) out.push(await b.adc.readVolts(0, b.gain));
            return out;
          },
          extra: { sensor_type: 'adc', resolution: '16-bit', boards: boards.length },
        });
        return;
      }
      case 'stirrer': {
        this.stirrer = { out: await this.openPwm(f.stirrer), duty: 0, time: this.clock.now() };
        return;
      }
      case 'led': {
        this.led = { out: await this.openPwm(f.led), power: 0, time: this.clock.now() };
        return;
      }
      case 'peltier_driver': {
        const pwm = await this.openPwm(f.peltier_driver);
        const dir = await this.transports.gpio(f.peltier_driver.dir_pin);
        const bridge = new PeltierBridge(pwm, dir, f.peltier_driver.direction_inverted);
        await bridge.probe();
        this.peltier = {
          bridge,
          duty: 0,
          direction: 'forward',
          time: this.clock.now(),
          cutoff: null,
          heatLimit: null,
        };
        return;
      }
      case 'ring_light': {
        const rl = f.ring_light;
        const driver = new NeoPixelRing(await this.transports.spi(rl.spi_device), rl.pixel_count, rl.spi_speed_hz);
        await driver.probe();
        this.ring = {
          driver,
          pixels: Array.from({ length: rl.pixel_count }, () => [0, 0, 0] as Rgb),
          last: [0, 0, 0],
          time: this.clock.now(),
        };
        return;
      }
      case 'pumps': {
        const units = new Map<string, PumpUnit>();
        const problems: string[] = [];
        for (const [pump, cfg] of Object.entries(f.pumps)) {
          try {
            const tic = new TicStepper(await this.transports.usb(ticUsbMatch(cfg.serial)), cfg.serial);
            const calibration = pumpCalibration(cfg);
            // Configuring never moves liquid: the original's 3 s self-test at boot is deliberately absent. The
            // Tic's own max speed becomes the calibrated maximum, so it never runs faster than the node counts.
            await tic.configure(cfg.step_mode ?? 3, cfg.current_limit ?? 32, calibration.maxSpeed);
            await tic.probe();
            const now = this.clock.now();
            units.set(pump, {
              name: pump,
              tic,
              stepsPerMl: calibration.stepsPerMl,
              maxMlPerS: calibration.maxMlPerS,
              maxSpeed: calibration.maxSpeed,
              direction: cfg.direction ?? 'forward',
              velocity: 0,
              steps: 0,
              totalMl: 0,
              since: now,
              commandedAt: now,
              lastCommandAt: now,
              seenRunningAt: now,
              owner: null,
              fault: null,
            });
          } catch (err) {
            problems.push(`${pump}: ${(err as Error).message}`);
          }
        }
        if (units.size === 0) throw new Error(`no pump answered (${problems.join('; ') || 'none configured'})`);
        if (problems.length > 0)
          this.log.warn({ component: name, problems }, `some pumps are missing: ${problems.join('; ')}`);
        this.pumps = { units, lastName: 'all', lastVelocity: 0, time: this.clock.now() };
        return;
      }
    }
  }

  // ---- sampling ----

  private async sampleLoop(unit: SensorUnit): Promise<void> {
    while (this.running) {
      const started = this.clock.now();
      try {
        const values = (await unit.sample()).map((v) => round(v, unit.digits));
        if (!this.running) return;
        // A sample may succeed with some channels failing (a thermometer): the state is then an error naming them.
        const problem = unit.problem?.() ?? null;
        if (problem !== null && unit.error === null)
          this.log.warn({ component: unit.name, err: problem }, `${unit.name} read failed: ${problem}`);
        else if (problem === null && unit.error !== null)
          this.log.info({ component: unit.name }, `${unit.name} recovered`);
        unit.error = problem;
        unit.latest = { time: this.clock.now(), values };
        unit.history?.push(unit.latest.time, values);
      } catch (err) {
        if (!this.running) return;
        const message = (err as Error).message;
        if (unit.error === null)
          this.log.warn({ component: unit.name, err: message }, `${unit.name} read failed: ${message}`);
        unit.error = message;
      }
      this.stateCache.delete(unit.name);
      this.events.emit('sample', {
        component: unit.name,
        state: this.componentState(unit.name) as ComponentStates[SensorName],
      });
      if (!this.settled) for (const wake of [...this.firstSampleWaiters]) wake();
      await this.clock.sleep(Math.max(0, unit.intervalMs - (this.clock.now() - started)), this.stopping.signal);
    }
  }

  /**
   * While a pump runs: every TIC_KEEPALIVE_MS the overflow guards are brought up to date and each running Tic is
   * read back and kept alive (superviseTic), so a pump that stopped by itself is found within one tick.
   */
  private async pumpKeepAlive(): Promise<void> {
    while (this.running) {
      if (![...(this.pumps?.units.values() ?? [])].some((p) => p.velocity !== 0)) {
        // Nothing runs: wait for a pump to start instead of waking twice a second for nothing.
        await new Promise<void>((resolve) => {
          this.pumpStarted = resolve;
          this.stopping.signal.addEventListener('abort', () => resolve(), { once: true });
        });
        continue;
      }
      await this.clock.sleep(TIC_KEEPALIVE_MS, this.stopping.signal);
      if (!this.running || !this.pumps) return;
      await this.checkOverflow();
      for (const pump of this.pumps.units.values()) {
        if (pump.velocity === 0 || !this.running) continue;
        await this.locked('pumps', () => this.superviseTic(pump)).catch((err: Error) =>
          this.log.error({ component: 'pumps', pump: pump.name, err: err.message }, `pump ${pump.name} check failed`),
        );
      }
    }
  }

  // ---- pump supervision (docs/hardware.md, "Failures and what the node does") ----

  /**
   * Reads a running pump's Tic back (operation state, errors, target and current velocity) and keeps it alive. A
   * Tic that stopped by itself (its command timeout after a stall of the node, another error, a reset, no steps)
   * is reported and restarted, at most PUMP_RESTART_ATTEMPTS times one tick apart; then the pump is faulted. Its
   * volume is counted only while it ran. Runs under the pumps lock.
   */
  private async superviseTic(pump: PumpUnit): Promise<void> {
    if (pump.velocity === 0 || !this.running) return;
    const now = this.clock.now();
    let status: TicStatus | null = null;
    let reason: string | null;
    try {
      status = await pump.tic.status();
      // Right after a command the ramp from standstill may not have produced a step yet.
      reason = ticStopReason(status, pump.steps, now - pump.commandedAt >= TIC_KEEPALIVE_MS);
    } catch (err) {
      reason = `the Tic did not answer: ${(err as Error).message}`;
    }
    if (reason === null) {
      if (pump.fault) this.pumpRestarted(pump, now);
      pump.seenRunningAt = now;
      try {
        await pump.tic.keepAlive();
        pump.lastCommandAt = this.clock.now();
      } catch (err) {
        // The next read finds out what this means for the pump.
        this.log.warn({ component: 'pumps', pump: pump.name, err: (err as Error).message }, 'pump keep-alive failed');
      }
      return;
    }
    if (!pump.fault) this.pumpStopped(pump, reason, now, status);
    const fault = pump.fault as PumpFault | null;
    if (!fault) return;
    fault.reason = reason;
    if (fault.attempts >= PUMP_RESTART_ATTEMPTS) {
      await this.pumpFaulted(pump, fault);
      return;
    }
    fault.attempts++;
    fault.restartAt = this.clock.now();
    pump.commandedAt = fault.restartAt;
    try {
      await pump.tic.restart(pump.steps);
      pump.lastCommandAt = this.clock.now();
    } catch (err) {
      fault.reason = `restarting failed: ${(err as Error).message}`;
    }
  }

  /** A running pump's Tic found stopped: volume counted only while it ran, reported everywhere once. */
  private pumpStopped(pump: PumpUnit, reason: string, now: number, status: TicStatus | null): void {
    // It ran until the last read that saw it running; after a command timeout, until the Tic's own timeout.
    let stoppedAt = pump.seenRunningAt;
    if (status && status.errorStatus & (1 << TIC_ERROR_BITS.commandTimeout))
      stoppedAt = Math.max(stoppedAt, Math.min(now, pump.lastCommandAt + TIC_COMMAND_TIMEOUT_MS));
    this.accountPumps(now);
    this.uncount(pump, stoppedAt, now);
    pump.fault = { state: 'restarting', reason, stoppedAt, detectedAt: now, attempts: 0, restartAt: now };
    this.overflow.save();
    const message = `pump ${pump.name} stopped by itself (${reason}), found at ${iso(now)}; its volume is counted until ${iso(stoppedAt)}; restarting it`;
    this.log.error({ component: 'pumps', pump: pump.name, reason, stopped_at: iso(stoppedAt) }, message);
    this.record('safety', 'pumps', {
      pump_name: pump.name,
      velocity: pump.velocity,
      stopped: reason,
      stopped_at: iso(stoppedAt),
    });
    this.emitChanged('pumps', 'safety');
    this.emitSafety();
  }

  /** A restart took: counting resumes from the restart that worked. */
  private pumpRestarted(pump: PumpUnit, now: number): void {
    const fault = pump.fault;
    if (!fault) return;
    pump.fault = null;
    pump.since = fault.restartAt;
    this.accountPumps(now);
    this.overflow.save();
    const lostS = Math.round((fault.restartAt - fault.stoppedAt) / 100) / 10;
    this.log.info(
      { component: 'pumps', pump: pump.name, stopped_for_s: lostS },
      `pump ${pump.name} runs again at ${pump.velocity} mL/s after ${fault.attempts} restart(s); it had stopped (${fault.reason}) and did not pump for ${lostS} s`,
    );
    this.record('safety', 'pumps', {
      pump_name: pump.name,
      velocity: pump.velocity,
      restarted: true,
      stopped_for_s: lostS,
    });
    this.emitChanged('pumps', 'safety');
    this.emitSafety();
  }

  /** Restarts did not take: the pump is halted, de-energised and reported faulted until it is commanded again. */
  private async pumpFaulted(pump: PumpUnit, fault: PumpFault): Promise<void> {
    fault.state = 'faulted';
    await pump.tic.run(0).catch(() => {});
    pump.velocity = 0;
    pump.steps = 0;
    this.markPumpsChanged();
    const message = `pump ${pump.name} is faulted: ${fault.reason}, and ${fault.attempts} restart(s) did not take; it stays stopped (halted, de-energised) until it is commanded again`;
    this.log.error({ component: 'pumps', pump: pump.name, reason: fault.reason }, message);
    this.record('safety', 'pumps', { pump_name: pump.name, velocity: 0, fault: fault.reason });
    this.emitChanged('pumps', 'safety');
    this.emitSafety();
  }

  /** Takes back the volume counted for a pump between `from` and `to` (it was not pumping then). */
  private uncount(pump: PumpUnit, from: number, to: number): void {
    if (to <= from) return;
    const ml = (pump.velocity * (to - from)) / 1000;
    pump.totalMl = Math.max(0, pump.totalMl - Math.abs(ml));
    const sign = this.flowSign(pump.name);
    this.overflow.add(-sign * ml);
    if (sign > 0 && ml > 0 && pump.owner !== null && pump.owner === this.overflow.runId)
      this.overflow.addRunInflow(-ml);
  }

  private markPumpsChanged(): void {
    if (this.pumps) this.pumps.time = this.clock.now();
  }

  // ---- thermal safety (thermal-safety.ts; docs/hardware.md "Failures and what the node does") ----

  /**
   * Brings the thermal safety up to the thermometers' latest reads: the over-temperature stage, the cut-off in force
   * and the heating limit, and switches off what must be off. Each change is logged once, shown in peltier_driver
   * (cutoff, heat_limit, safety_stage), written to the command log and sent on the stream.
   */
  private async checkThermal(): Promise<void> {
    const p = this.peltier;
    if (!p) return;
    const now = this.clock.now();
    const limitC = this.file.peltier_driver.over_temperature_c;
    const t = this.thermometry;
    const hottest = t?.hottest(now) ?? null;
    if (hottest !== null) {
      this.overStage = nextOverStage(this.overStage, hottest, limitC);
      this.lastHottest = hottest;
    }
    const stage = this.overStage;
    const at = iso(now);
    const vessel = `vessel at ${this.lastHottest?.toFixed(1) ?? '?'} °C`;
    const { limitBelowC: below, criticalAboveC: above, hysteresisC: hyst } = THERMAL;
    let verdict: { kind: CutoffKind; reason: string } | null = null;
    if (stage === 3)
      verdict = {
        kind: 'critical',
        reason: `${vessel} is ${above} °C or more past the ${limitC} °C over-temperature limit at ${at}: everything that heats is off (peltier heating, LED, ring light) until it is below ${limitC + above - hyst} °C`,
      };
    else if (stage === 2)
      verdict = {
        kind: 'over-temperature',
        reason: `${vessel} reached the ${limitC} °C over-temperature cutoff at ${at}; heating is refused until it is below ${limitC - hyst} °C`,
      };
    else if (!t)
      verdict = {
        kind: 'no-thermometer',
        reason: `no thermometer: temp_sensor is unavailable (${this.unavailable.get('temp_sensor') ?? 'not configured'}), and heating needs a valid temperature`,
      };
    else {
      // Before the first read this is null unless that read is overdue: heating waits for it (heatRefusal).
      const distrust = t.distrust(now);
      if (distrust) verdict = { kind: distrust.kind, reason: `${distrust.reason} (at ${at})` };
    }
    const previousKind = this.cutoffKind;
    const kindChanged = (verdict?.kind ?? null) !== previousKind;
    if (kindChanged) {
      this.cutoffKind = verdict?.kind ?? null;
      p.cutoff = verdict?.reason ?? null;
    }
    const limitChanged = stage >= 1 !== (p.heatLimit !== null);
    if (limitChanged)
      p.heatLimit =
        stage >= 1
          ? `${vessel} is within ${below} °C of the ${limitC} °C over-temperature limit at ${at}: heating runs at half the commanded duty until it is below ${limitC - below - hyst} °C`
          : null;
    if (!kindChanged && !limitChanged) return;

    if (kindChanged && verdict) {
      const fields = { component: 'peltier_driver', cutoff: verdict.kind, temperature: this.lastHottest };
      if (verdict.kind === 'critical')
        (this.log.fatal ?? this.log.error).call(this.log, fields, `heating cut off: ${verdict.reason}`);
      else if (previousKind === 'critical')
        this.log.info(fields, `critical stage released; heating is still refused: ${verdict.reason}`);
      else this.log.error(fields, `heating cut off: ${verdict.reason}`);
      await this.heatOff(`safety:${verdict.kind}`, verdict.reason);
      if (verdict.kind === 'critical') await this.heatSourcesOff(`safety:${verdict.kind}`);
    } else if (kindChanged) {
      this.log.info(
        { component: 'peltier_driver', released: previousKind },
        `heating allowed again: the ${previousKind} cutoff is released`,
      );
      this.record(`safety:${previousKind}`, 'peltier_driver', {
        duty_cycle: p.duty,
        direction: p.direction,
        cutoff: null,
        released: previousKind,
      });
    }
    if (limitChanged && p.heatLimit !== null) {
      this.log.warn({ component: 'peltier_driver', temperature: this.lastHottest }, `heating limited: ${p.heatLimit}`);
      await this.halveHeating(p.heatLimit);
    } else if (limitChanged) {
      this.log.info({ component: 'peltier_driver' }, 'heating limit released: full duty allowed again');
      this.record('safety:over-temperature-limit', 'peltier_driver', {
        duty_cycle: p.duty,
        direction: p.direction,
        heat_limit: null,
      });
    }
    this.emitChanged('peltier_driver', `safety:${this.cutoffKind ?? previousKind ?? 'over-temperature-limit'}`);
    this.emitSafety();
  }

  /** Switches a heating peltier off (cooling and off are left alone) and records the cut-off either way. */
  private async heatOff(source: string, reason: string): Promise<void> {
    const p = this.peltier;
    if (!p) return;
    try {
      await this.locked('peltier_driver', async () => {
        if (this.peltierMode(p.direction, p.duty) !== 'heat') return;
        await p.bridge.off();
        p.duty = 0;
        p.time = this.clock.now();
        this.noteHeating();
      });
    } catch (err) {
      this.log.error(
        { component: 'peltier_driver', err: (err as Error).message },
        `could not switch the heating off: ${(err as Error).message}`,
      );
    }
    this.record(source, 'peltier_driver', { duty_cycle: p.duty, direction: p.direction, cutoff: reason });
  }

  /** Halves a heating peltier's duty (the limited stage) and records the limit either way. */
  private async halveHeating(reason: string): Promise<void> {
    const p = this.peltier;
    if (!p) return;
    try {
      await this.locked('peltier_driver', async () => {
        if (this.peltierMode(p.direction, p.duty) !== 'heat') return;
        const duty = p.duty / 2;
        await p.bridge.drive('heat', duty);
        p.duty = duty;
        p.time = this.clock.now();
        this.noteHeating();
      });
    } catch (err) {
      this.log.error(
        { component: 'peltier_driver', err: (err as Error).message },
        `could not limit the heating: ${(err as Error).message}`,
      );
    }
    this.record('safety:over-temperature-limit', 'peltier_driver', {
      duty_cycle: p.duty,
      direction: p.direction,
      heat_limit: reason,
    });
  }

  /** The critical stage: the LED and the ring light off too (each recorded by apply). */
  private async heatSourcesOff(source: string): Promise<void> {
    const off: [ActuatorName, Record<string, unknown>, boolean][] = [
      ['led', { power: 0 }, (this.led?.power ?? 0) > 0],
      ['ring_light', { red: 0, green: 0, blue: 0 }, this.ring?.pixels.some(([r, g, b]) => r + g + b > 0) ?? false],
    ];
    for (const [name, body, on] of off) {
      if (!on) continue;
      try {
        await this.locked(name, () => this.apply(name, body, source));
        this.emitChanged(name, source);
      } catch (err) {
        this.log.error({ component: name, err: (err as Error).message }, `could not switch ${name} off`);
      }
    }
  }

  /** Keeps heatingHardSince: when the peltier started heating at ≥ THERMAL.stuckMinHeatDuty, or null. */
  private noteHeating(): void {
    const p = this.peltier;
    const hard = p !== null && this.peltierMode(p.direction, p.duty) === 'heat' && p.duty >= THERMAL.stuckMinHeatDuty;
    this.heatingHardSince = hard ? (this.heatingHardSince ?? this.clock.now()) : null;
  }

  /** Why a heating command is refused now, or null. */
  private heatRefusal(): string | null {
    if (this.peltier?.cutoff) return this.peltier.cutoff;
    if (this.thermometry && !this.thermometry.anyRead)
      return `no temperature yet: the first reading is still in progress (${THERMAL.conversionMs} ms per thermometer)`;
    return null;
  }

  /**
   * The watchdog of a heating peltier: wakes when the next thermometer would go stale, so heating stops at most
   * THERMAL.stalePeriods sample periods after the last valid reading even when a read never completes.
   */
  private async heatWatch(): Promise<void> {
    // The state at start: e.g. no thermometer at all refuses heating from the first command on.
    await this.checkThermal();
    while (this.running) {
      const p = this.peltier;
      const t = this.thermometry;
      if (!p || !t || this.peltierMode(p.direction, p.duty) !== 'heat') {
        await new Promise<void>((resolve) => {
          const wake = () => {
            this.stopping.signal.removeEventListener('abort', wake);
            if (this.heatStarted === wake) this.heatStarted = null;
            resolve();
          };
          this.heatStarted = wake;
          this.stopping.signal.addEventListener('abort', wake, { once: true });
        });
        continue;
      }
      const wait = t.nextStaleAt() - this.clock.now();
      if (wait > 0) await this.clock.sleep(wait, this.stopping.signal);
      if (!this.running) return;
      await this.checkThermal();
      // Still overdue and still heating: switching off failed; look again soon rather than spin.
      if (t.nextStaleAt() <= this.clock.now() && this.peltierMode(p.direction, p.duty) === 'heat')
        await this.clock.sleep(WATCHDOG_RETRY_MS, this.stopping.signal);
    }
  }

  /** The safety interlocks in force, as the dashboard's banner words them. */
  interlocks(): string[] {
    const out: string[] = [];
    if (this.peltier?.cutoff) out.push(`Heating refused: ${this.peltier.cutoff}`);
    if (this.peltier?.heatLimit) out.push(`Heating limited to half duty: ${this.peltier.heatLimit}`);
    if (this.overflow.tripped) out.push(`Adding liquid refused: ${this.overflow.tripped}`);
    if (this.overflow.runTripped && this.overflow.runActive)
      out.push(`Adding liquid refused: ${this.overflow.runTripped}`);
    for (const pump of this.pumps?.units.values() ?? [])
      if (pump.fault)
        out.push(
          pump.fault.state === 'faulted'
            ? `Pump ${pump.name} is faulted: ${pump.fault.reason}; it is stopped until commanded again`
            : `Pump ${pump.name} stopped by itself: ${pump.fault.reason}; restarting it`,
        );
    return out;
  }

  /** Sends the safety event when the interlocks in force changed. */
  private emitSafety(): void {
    const now = this.interlocks();
    if (now.length === this.lastInterlocks.length && now.every((text, i) => text === this.lastInterlocks[i])) return;
    this.lastInterlocks = now;
    this.events.emit('safety', { interlocks: now });
  }

  // ---- readiness ----

  private pending(unit: SensorUnit): boolean {
    return unit.latest === null && unit.error === null;
  }

  /** True until every enabled sensor has its first sample or its error. */
  get starting(): boolean {
    if (this.settled) return false;
    if (!this.ready) return true;
    for (const unit of this.sensors.values()) if (this.pending(unit)) return true;
    this.settled = true;
    return false;
  }

  readiness(): Readiness {
    if (!this.starting) return { ready: true, waiting_for: [] };
    const waiting = this.ready
      ? [...this.sensors.values()].filter((u) => this.pending(u)).map((u) => u.name)
      : SENSOR_NAMES.filter((n) => this.file.init_components[n] && !this.unavailable.has(n));
    return { ready: false, waiting_for: waiting };
  }

  /**
   * Waits until these sensors have their first sample or error, at most `timeoutMs` of the node's clock: a state
   * read right after start answers with a sample instead of "no sample yet".
   */
  async waitForFirstSamples(
    names: readonly SensorName[] = SENSOR_NAMES,
    timeoutMs = FIRST_SAMPLE_WAIT_MS,
  ): Promise<void> {
    const waiting = () =>
      this.running &&
      (!this.ready ||
        names.some((n) => {
          const unit = this.sensors.get(n);
          return unit !== undefined && this.pending(unit);
        }));
    if (this.settled || !waiting()) return;
    const timer = new AbortController();
    await new Promise<void>((resolve) => {
      const finish = () => {
        this.firstSampleWaiters.delete(check);
        timer.abort();
        resolve();
      };
      const check = () => {
        if (!waiting()) finish();
      };
      this.firstSampleWaiters.add(check);
      void this.clock.sleep(timeoutMs, AbortSignal.any([timer.signal, this.stopping.signal])).then(finish);
    });
  }

  /** Resolves at the next sample of `name` (valid or not), or after `timeoutMs`. */
  private nextSample(name: SensorName, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = new AbortController();
      const finish = () => {
        this.events.off('sample', onSample);
        timer.abort();
        resolve();
      };
      const onSample = (sample: { component: string }) => {
        if (sample.component === name) finish();
      };
      this.events.on('sample', onSample);
      void this.clock.sleep(timeoutMs, AbortSignal.any([timer.signal, this.stopping.signal])).then(finish);
    });
  }

  // ---- fault injection (simulation only) ----

  private simulatedFaults() {
    const faults = this.simulation?.faults;
    if (!faults)
      throw new ApiError(
        'NOT_FOUND',
        'Fault injection exists only in simulation: this node drives real hardware (HARDWARE_MODE=real)',
      );
    return faults;
  }

  /** The injected faults in force. */
  faults(): SimulatedFault[] {
    return this.simulatedFaults().list();
  }

  /** Injects a fault into an emulated chip; answers the faults in force. */
  injectFault(request: SimulatedFaultRequest): SimulatedFault[] {
    const faults = this.simulatedFaults();
    let fault: SimulatedFault;
    try {
      fault = faults.inject(request);
    } catch (err) {
      if (err instanceof FaultRequestError) throw new ApiError('VALIDATION_FAILED', err.message);
      throw err;
    }
    const target = fault.pump_name ?? fault.sensor ?? 'all';
    this.log.warn({ fault }, `simulation: fault ${fault.fault} injected into ${fault.component} (${target})`);
    return faults.list();
  }

  /** Clears every injected fault; answers how many there were. */
  clearFaults(): number {
    const cleared = this.simulatedFaults().clear();
    if (cleared > 0) this.log.info({ cleared }, `simulation: ${cleared} injected fault(s) cleared`);
    return cleared;
  }

  // ---- commands ----

  private locked<T>(name: ComponentName, fn: () => Promise<T>): Promise<T> {
    return (this.locks.get(name) as Mutex).run(fn);
  }

  private record(source: string, component: ComponentName, values: Record<string, unknown>): void {
    this.commands.append({ time: iso(this.clock.now()), source, component, values });
  }

  private emitChanged(component: ActuatorName, source: string): void {
    this.stateCache.delete(component);
    const state = this.componentState(component);
    if (state) this.events.emit('changed', { component, state: state as ComponentStates[ActuatorName], source });
  }

  private missing(name: ComponentName): ApiError {
    const reason = this.unavailable.get(name) ?? 'not configured';
    return new ApiError('COMPONENT_NOT_FOUND', `${name} is unavailable on this node: ${reason}`);
  }

  private fault(name: ComponentName, err: unknown): ApiError {
    const message = (err as Error).message;
    this.log.error({ component: name, err: message }, `${name} command failed`);
    return new ApiError('DEVICE_FAULT', `${name} did not accept the command: ${message}`);
  }

  private peltierMode(direction: PeltierDirection, duty: number): 'heat' | 'cool' | 'off' {
    if (duty <= 0) return 'off';
    return direction === 'heat' || direction === 'reverse' ? 'heat' : 'cool';
  }

  /** Validates and applies one actuator command; answers the new state. */
  async control<K extends ActuatorName>(
    name: K,
    body: ComponentControls[K],
    source: string,
  ): Promise<ComponentStates[K]> {
    if (!(ACTUATOR_NAMES as readonly string[]).includes(name))
      throw new ApiError('COMPONENT_NOT_FOUND', `${name} is not an actuator: use one of ${ACTUATOR_NAMES.join(', ')}`);
    if (name === 'peltier_driver') {
      const { duty_cycle: duty, direction } = body as ComponentControls['peltier_driver'];
      if (this.peltierMode(direction, duty) === 'heat') {
        // Heating needs a temperature: right after start, wait for the first one (bounded) instead of refusing.
        if (this.thermometry && !this.thermometry.anyRead) await this.waitForFirstSamples(['temp_sensor']);
        await this.checkThermal();
        // Stale only (the node itself was stalled, so the thermometers were not read): the next reading, due within a
        // sample period, settles it; a command waits for it (bounded) instead of failing the script for our pause.
        if (this.cutoffKind === 'stale' && this.thermometry) {
          await this.nextSample('temp_sensor', 2 * this.thermometry.periodMs);
          await this.checkThermal();
        }
      }
    }
    await this.locked(name, () => this.apply(name, body as never, source));
    await this.commands.written();
    this.emitChanged(name, source);
    return this.componentState(name) as ComponentStates[K];
  }

  private async apply(name: ActuatorName, body: Record<string, unknown>, source: string): Promise<void> {
    const now = this.clock.now();
    switch (name) {
      case 'stirrer': {
        const s = this.stirrer;
        if (!s) throw this.missing(name);
        const duty = body.duty_cycle as number;
        await s.out.setPercent(duty).catch((e: unknown) => Promise.reject(this.fault(name, e)));
        Object.assign(s, { duty, time: now });
        this.record(source, name, { duty_cycle: duty });
        return;
      }
      case 'led': {
        const l = this.led;
        if (!l) throw this.missing(name);
        const power = body.power as number;
        if (power > 0 && this.cutoffKind === 'critical')
          throw new ApiError('SAFETY_INTERLOCK', `LED refused: ${this.peltier?.cutoff}`);
        await l.out.setPercent(power).catch((e: unknown) => Promise.reject(this.fault(name, e)));
        Object.assign(l, { power, time: now });
        this.record(source, name, { power });
        return;
      }
      case 'peltier_driver': {
        const p = this.peltier;
        if (!p) throw this.missing(name);
        const duty = body.duty_cycle as number;
        const direction = body.direction as PeltierDirection;
        if (!PELTIER_DIRECTIONS.includes(direction))
          throw new ApiError('VALIDATION_FAILED', `direction must be one of ${PELTIER_DIRECTIONS.join(', ')}`);
        const mode = this.peltierMode(direction, duty);
        const refusal = mode === 'heat' ? this.heatRefusal() : null;
        if (refusal !== null) throw new ApiError('SAFETY_INTERLOCK', `Heating refused: ${refusal}`);
        // Within THERMAL.limitBelowC of the over-temperature limit, heating runs at half the commanded duty.
        const applied = mode === 'heat' && p.heatLimit !== null ? duty / 2 : duty;
        await (mode === 'off' ? p.bridge.off() : p.bridge.drive(mode, applied)).catch((e: unknown) =>
          Promise.reject(this.fault(name, e)),
        );
        Object.assign(p, { duty: applied, direction, time: now });
        this.noteHeating();
        this.record(
          source,
          name,
          applied === duty
            ? { duty_cycle: duty, direction }
            : { duty_cycle: applied, direction, requested_duty_cycle: duty, heat_limit: p.heatLimit },
        );
        if (mode === 'heat') this.heatStarted?.();
        return;
      }
      case 'ring_light': {
        const r = this.ring;
        if (!r) throw this.missing(name);
        const colour: Rgb = [body.red as number, body.green as number, body.blue as number];
        if (colour.some((c) => c > 0) && this.cutoffKind === 'critical')
          throw new ApiError('SAFETY_INTERLOCK', `Ring light refused: ${this.peltier?.cutoff}`);
        const index = body.pixel_index as number | null | undefined;
        if (index !== undefined && index !== null && index >= r.pixels.length)
          throw new ApiError(
            'VALIDATION_FAILED',
            `pixel_index ${index} is out of range: this ring has ${r.pixels.length} pixels (0-${r.pixels.length - 1}); omit it to set the whole ring`,
          );
        const pixels = r.pixels.map((p, i) => (index === undefined || index === null || i === index ? colour : p));
        await r.driver.show(pixels).catch((e: unknown) => Promise.reject(this.fault(name, e)));
        Object.assign(r, { pixels, last: colour, time: now });
        this.record(source, name, { red: colour[0], green: colour[1], blue: colour[2], pixel_index: index ?? null });
        return;
      }
      case 'pumps': {
        const p = this.pumps;
        if (!p) throw this.missing(name);
        const pumpName = body.pump_name as string;
        const velocity = body.velocity as number;
        const pump = p.units.get(pumpName);
        if (!pump) {
          const configured = Object.keys(this.file.pumps);
          const why = configured.includes(pumpName) ? ` (${pumpName} is configured but did not answer at start)` : '';
          throw new ApiError(
            'VALIDATION_FAILED',
            `Unknown pump "${pumpName}"${why}: use one of ${[...p.units.keys()].join(', ')}`,
          );
        }
        const max = pump.maxMlPerS;
        if (Math.abs(velocity) > max * (1 + 1e-9))
          throw new ApiError(
            'VALIDATION_FAILED',
            `velocity ${velocity} mL/s is beyond pump ${pumpName}'s calibrated maximum: use -${round(max, 6)} to ${round(max, 6)} mL/s (its Tic's max speed, ${round(pump.maxSpeed / 10_000, 4)} microsteps/s, at steps_per_ml ${pump.stepsPerMl}; raise max_speed or max_ml_per_s in the hardware file if the pump is rated faster)`,
          );
        const sign = pump.direction === 'reverse' ? -1 : 1;
        // Whole multiples of 8 steps, as the original computed it, so calibrations carry over unchanged.
        const steps = sign * 8 * Math.trunc((velocity * pump.stepsPerMl) / 8);
        const adds = this.flowSign(pump.name) * velocity > 0;
        if (adds && this.overflow.tripped !== null)
          throw new ApiError('SAFETY_INTERLOCK', `Adding liquid refused: ${this.overflow.tripped}`);
        const owner = runOfSource(source);
        this.accountPumps(now);
        // A command of a run the guard has not seen yet starts that run's inflow count.
        if (owner !== null) this.overflow.startRun(owner);
        if (adds && owner !== null && this.overflow.runId === owner && this.overflow.runTripped !== null)
          throw new ApiError('SAFETY_INTERLOCK', `Adding liquid refused: ${this.overflow.runTripped}`);
        this.overflow.save();
        const hadFault = pump.fault;
        await (hadFault && steps !== 0 ? pump.tic.restart(steps) : pump.tic.run(steps)).catch((e: unknown) =>
          Promise.reject(this.fault(name, e)),
        );
        // Read back at once: a Tic that does not take the command is a fault now, not one tick later.
        const refusal = steps === 0 ? null : await this.ticRefusal(pump, steps);
        if (refusal !== null) {
          await pump.tic.run(0).catch(() => {});
          Object.assign(pump, { velocity: 0, steps: 0, since: now });
          pump.fault = {
            state: 'faulted',
            reason: refusal,
            stoppedAt: now,
            detectedAt: now,
            attempts: (hadFault?.attempts ?? 0) + 1,
            restartAt: now,
          };
          p.time = now;
          if (hadFault?.reason !== refusal)
            this.log.error(
              { component: name, pump: pumpName, reason: refusal },
              `pump ${pumpName} did not start: ${refusal}`,
            );
          this.record(source, name, { pump_name: pumpName, velocity: 0, requested_velocity: velocity, fault: refusal });
          this.emitChanged(name, source);
          this.emitSafety();
          throw new ApiError('DEVICE_FAULT', `Pump ${pumpName} did not start: ${refusal}`);
        }
        // A fault holds until the pump runs again or someone (not the node's safe state) stops it.
        const cleared = hadFault !== null && (steps !== 0 || !source.startsWith('safety'));
        // Stopped by the node's safe state while being restarted: no restart follows, so it stays faulted.
        if (hadFault && !cleared) hadFault.state = 'faulted';
        if (cleared) {
          pump.fault = null;
          this.log.info(
            { component: name, pump: pumpName },
            `pump ${pumpName}: its fault is cleared by a ${steps === 0 ? 'stop' : 'run'} command (${source})`,
          );
        }
        Object.assign(pump, {
          velocity,
          steps,
          owner,
          since: now,
          commandedAt: now,
          lastCommandAt: now,
          seenRunningAt: now,
        });
        if (velocity !== 0) this.pumpStarted?.();
        Object.assign(p, { lastName: pumpName, lastVelocity: velocity, time: now });
        this.record(source, name, { pump_name: pumpName, velocity, steps_per_10000s: steps });
        if (hadFault) this.emitSafety();
        return;
      }
    }
  }

  /** Why a Tic just told to run at `steps` is not running it, or null. */
  private async ticRefusal(pump: PumpUnit, steps: number): Promise<string | null> {
    try {
      return ticStopReason(await pump.tic.status(), steps, false);
    } catch (err) {
      return `the Tic did not answer: ${(err as Error).message}`;
    }
  }

  /** +1 for a pump that adds liquid when it runs forward, -1 for one that takes it out, 0 for others. */
  private flowSign(pumpName: string): number {
    const guard = this.file.overflow_guard;
    if (guard.inflow_pumps.includes(pumpName)) return 1;
    return guard.outflow_pumps.includes(pumpName) ? -1 : 0;
  }

  /**
   * Brings every pump's volume, the inflow's excess over the outflow and the current run's inflow up to `now`.
   * A pump whose Tic stopped by itself (restarting or faulted) moves nothing and is not counted.
   */
  private accountPumps(now: number): void {
    let net = 0;
    const guard = this.overflow;
    for (const pump of this.pumps?.units.values() ?? []) {
      const ml = pump.fault ? 0 : (pump.velocity * (now - pump.since)) / 1000;
      pump.totalMl += Math.abs(ml);
      pump.since = now;
      const sign = this.flowSign(pump.name);
      net += sign * ml;
      if (sign > 0 && ml > 0 && pump.owner !== null && pump.owner === guard.runId) guard.addRunInflow(ml);
    }
    guard.add(net);
  }

  private overflowState(): Pick<ComponentStates['pumps'], 'overflow_guard' | 'run_inflow'> {
    const { limitMl: limit, excessMl, tripped, runLimitMl } = this.overflow;
    const out: Pick<ComponentStates['pumps'], 'overflow_guard' | 'run_inflow'> = {};
    if (limit !== null) out.overflow_guard = { excess_inflow_ml: round(excessMl, 4) ?? 0, limit_ml: limit, tripped };
    if (runLimitMl !== null) {
      const g = this.overflow;
      out.run_inflow = {
        experiment_id: g.runId,
        inflow_ml: round(g.runInflowMl, 4) ?? 0,
        limit_ml: runLimitMl,
        tripped: g.runActive ? g.runTripped : null,
      };
    }
    return out;
  }

  /** The overflow guard and the run's inflow cap, brought up to now (on every keep-alive tick). */
  private async checkOverflow(): Promise<void> {
    const pumps = this.pumps;
    if (!pumps || !this.overflow.enabled) return;
    this.accountPumps(this.clock.now());
    this.overflow.save();
    await this.checkRunInflow(pumps.units);
    if (this.overflow.limitMl !== null) await this.checkExcess(pumps.units, this.overflow.limitMl);
  }

  /** Stops the inflow pumps for `why`: those of `owner` only, when given. */
  private async stopInflow(units: Map<string, PumpUnit>, why: string, owner?: string): Promise<void> {
    for (const pump of units.values()) {
      if (this.flowSign(pump.name) * pump.velocity <= 0) continue;
      if (owner !== undefined && pump.owner !== owner) continue;
      await this.locked('pumps', async () => {
        this.accountPumps(this.clock.now());
        await pump.tic.run(0);
        pump.velocity = 0;
        pump.steps = 0;
        this.record('safety', 'pumps', { pump_name: pump.name, velocity: 0, reason: why });
      }).catch((err: Error) =>
        this.log.error({ component: 'pumps', pump: pump.name, err: err.message }, 'could not stop an inflow pump'),
      );
    }
    this.markPumpsChanged();
    this.emitChanged('pumps', 'safety');
    this.emitSafety();
  }

  /** Stops a run's inflow once its own commands have added overflow_guard.max_run_inflow_ml. */
  private async checkRunInflow(units: Map<string, PumpUnit>): Promise<void> {
    const guard = this.overflow;
    const cap = guard.runLimitMl;
    if (cap === null || guard.runId === null || !guard.runActive || guard.runTripped !== null) return;
    if (guard.runInflowMl < cap) return;
    guard.runTripped = `experiment ${guard.runId} has added ${round(guard.runInflowMl, 1)} mL through the inflow pumps, its limit overflow_guard.max_run_inflow_ml (${cap} mL), at ${iso(this.clock.now())}; that run may add no more liquid`;
    guard.save();
    this.log.error(
      { component: 'pumps', experiment_id: guard.runId, inflow_ml: guard.runInflowMl, cap },
      guard.runTripped,
    );
    await this.stopInflow(units, guard.runTripped, guard.runId);
  }

  /** Stops the inflow once it has added overflow_guard.max_excess_inflow_ml more than the outflow removed. */
  private async checkExcess(units: Map<string, PumpUnit>, limit: number): Promise<void> {
    const guard = this.overflow;
    if (guard.tripped !== null && guard.excessMl <= 0) {
      guard.tripped = null;
      guard.save();
      this.log.info({ component: 'pumps' }, 'overflow guard released: the outflow has caught up');
      this.emitChanged('pumps', 'safety');
      this.emitSafety();
      return;
    }
    if (guard.tripped !== null || guard.excessMl < limit) return;
    guard.tripped = `the inflow added ${round(guard.excessMl, 1)} mL more than the outflow removed, past overflow_guard.max_excess_inflow_ml (${limit} mL), at ${iso(this.clock.now())}; adding liquid is refused until the outflow has taken that much out`;
    guard.save();
    this.log.error({ component: 'pumps', excess_ml: guard.excessMl, limit }, guard.tripped);
    await this.stopInflow(units, guard.tripped);
  }

  /** Peltier off, pumps stopped, stirrer at its idle duty, lights off; each step tried even if another fails. */
  async applySafeState(reason: string): Promise<void> {
    // The experiment manager's end of a run ("experiment <id> <status>"): the run's inflow cap no longer holds.
    const ended =
      /^experiment (\S+) /.exec(reason)?.[1] ?? (/interrupted experiment/.test(reason) ? this.overflow.runId : null);
    if (ended) this.overflow.endRun(ended);
    const problems: string[] = [];
    const attempt = async (name: ActuatorName, body: Record<string, unknown>) => {
      try {
        await this.locked(name, () => this.apply(name, body, `safety:${reason}`));
        this.emitChanged(name, `safety:${reason}`);
      } catch (err) {
        problems.push(`${name}: ${(err as Error).message}`);
      }
    };
    if (this.peltier) await attempt('peltier_driver', { duty_cycle: 0, direction: this.peltier.direction });
    for (const pump of this.pumps?.units.keys() ?? []) await attempt('pumps', { pump_name: pump, velocity: 0 });
    if (this.stirrer) await attempt('stirrer', { duty_cycle: this.file.stirrer.idle_duty });
    if (this.led) await attempt('led', { power: 0 });
    if (this.ring) await attempt('ring_light', { red: 0, green: 0, blue: 0 });
    await this.commands.written().catch((err: unknown) => problems.push(`command log: ${(err as Error).message}`));
    if (problems.length > 0)
      this.log.error({ reason, problems }, `safe state incomplete (${reason}): ${problems.join('; ')}`);
    else this.log.info({ reason }, `safe state applied (${reason})`);
    if (ended) this.emitSafety();
  }

  // ---- reading ----

  isAvailable(name: ComponentName): boolean {
    return this.started && !this.unavailable.has(name);
  }

  report(): ComponentReport {
    if (this.reportCache) return this.reportCache;
    const initialized: Record<string, boolean> = {};
    const unavailable: Record<string, string> = {};
    for (const name of COMPONENT_NAMES) {
      initialized[name] = this.isAvailable(name);
      if (!initialized[name]) unavailable[name] = this.unavailable.get(name) ?? 'the hardware has not started';
    }
    // Which components work is settled once start() has finished opening them.
    if (this.ready && this.running) this.reportCache = { initialized, unavailable };
    return { initialized, unavailable };
  }

  /** Whether the sensor's cached state no longer holds because its reads stopped completing. */
  private stale(unit: SensorUnit, now: number): boolean {
    if (unit.name === 'temp_sensor' && this.thermometry) return this.thermometry.nextStaleAt() <= now;
    return unit.latest !== null && now - unit.latest.time > unit.staleMs;
  }

  private sensorState(unit: SensorUnit): ComponentStates[SensorName] {
    let values = unit.latest?.values ?? unit.channels.map(() => null);
    const now = this.clock.now();
    let time = unit.latest?.time ?? null;
    let message: string | null;
    const thermo = unit.name === 'temp_sensor' ? this.thermometry : null;
    if (thermo) {
      // Thermometer by thermometer, as the heating safety sees them: an error whenever one has no valid reading.
      const readAt = thermo.lastReadAt;
      values = thermo.list.map((_, i) => round(thermo.reported(i), unit.digits));
      time = readAt;
      message =
        readAt === null && thermo.nextStaleAt() > now
          ? 'no sample yet: the first reading is in progress'
          : thermo.stateProblem(now);
    } else {
      const staleFor = unit.latest && this.stale(unit, now) ? now - unit.latest.time : null;
      message =
        unit.error ??
        (staleFor !== null
          ? `no new sample for ${Math.round(staleFor / 100) / 10} s (one is due every ${Math.max(unit.intervalMs, unit.readMs ?? 0) / 1000} s): its reads are not completing`
          : unit.latest
            ? null
            : 'no sample yet: the first reading is in progress');
    }
    const base = {
      status: message === null ? ('success' as const) : ('error' as const),
      message,
      timestamp: time === null ? null : iso(time),
    };
    switch (unit.name) {
      case 'co2_sensor':
        return { ...base, co2_ppm: values[0] ?? null, unit: 'ppm' };
      case 'temp_sensor':
        return { ...base, temperature: values[0] ?? null, temperatures: values, unit: 'celsius' };
      default:
        return { ...base, voltages: values, channels: unit.channels, unit: 'volts' };
    }
  }

  componentState<K extends ComponentName>(name: K): ComponentStates[K] | null {
    if (!this.isAvailable(name)) return null;
    const sensor = this.sensors.get(name as SensorName);
    // A sensor whose reads stopped completing says so, however long ago its last sample was cached.
    if (sensor && this.stale(sensor, this.clock.now())) return this.sensorState(sensor) as ComponentStates[K];
    const cached = this.stateCache.get(name);
    if (cached) return cached as ComponentStates[K];
    const state = this.buildState(name);
    // Running pumps accumulate volume by the moment, so their state is built fresh each time.
    if (state && !(name === 'pumps' && (state as ComponentStates['pumps']).active)) this.stateCache.set(name, state);
    return state;
  }

  private buildState<K extends ComponentName>(name: K): ComponentStates[K] | null {
    const ok = { status: 'success' as const, message: null };
    const sensor = this.sensors.get(name as SensorName);
    if (sensor) return this.sensorState(sensor) as ComponentStates[K];
    const at = (ms: number) => iso(ms);
    switch (name as ActuatorName) {
      case 'stirrer': {
        const s = this.stirrer;
        return s
          ? ({ ...ok, timestamp: at(s.time), duty_cycle: s.duty, active: s.duty > 0 } as ComponentStates[K])
          : null;
      }
      case 'led': {
        const l = this.led;
        return l ? ({ ...ok, timestamp: at(l.time), power: l.power, active: l.power > 0 } as ComponentStates[K]) : null;
      }
      case 'peltier_driver': {
        const p = this.peltier;
        if (!p) return null;
        const mode = this.peltierMode(p.direction, p.duty);
        const stage =
          this.cutoffKind === 'critical' ? 'critical' : p.cutoff ? 'cutoff' : p.heatLimit ? 'limited' : 'normal';
        return {
          ...ok,
          timestamp: at(p.time),
          duty_cycle: p.duty,
          direction: p.direction,
          mode,
          active: mode !== 'off',
          cutoff: p.cutoff,
          heat_limit: p.heatLimit,
          safety_stage: stage,
        } as ComponentStates[K];
      }
      case 'ring_light': {
        const r = this.ring;
        if (!r) return null;
        return {
          ...ok,
          timestamp: at(r.time),
          red: r.last[0],
          green: r.last[1],
          blue: r.last[2],
          active: r.pixels.some(([a, b, c]) => a + b + c > 0),
          pixel_count: r.pixels.length,
          pixels: r.pixels.map((px) => [...px]),
        } as ComponentStates[K];
      }
      case 'pumps': {
        const p = this.pumps;
        if (!p) return null;
        const now = this.clock.now();
        this.accountPumps(now);
        const units = [...p.units.values()];
        const pumps = units.map((u) => ({
          pump_name: u.name,
          velocity: u.velocity,
          direction: u.direction,
          active: u.velocity !== 0 && u.fault === null,
          total_volume_ml: round(u.totalMl, 4) ?? 0,
          state: u.fault?.state ?? (u.velocity !== 0 ? ('running' as const) : ('idle' as const)),
          fault: u.fault?.reason ?? null,
          max_velocity: round(u.maxMlPerS, 6) ?? 0,
        }));
        const faults = units
          .filter((u) => u.fault)
          .map(
            (u) =>
              `pump ${u.name} ${u.fault?.state === 'faulted' ? 'is faulted' : 'stopped by itself, restarting'}: ${u.fault?.reason}`,
          );
        return {
          ...ok,
          ...(faults.length > 0 ? { status: 'error' as const, message: faults.join('; ') } : {}),
          timestamp: at(p.time),
          pump_name: p.lastName,
          velocity: p.lastVelocity,
          active: pumps.some((u) => u.active),
          pumps,
          ...this.overflowState(),
        } as ComponentStates[K];
      }
    }
    return null;
  }

  allStates(): AllStates {
    const components: Record<string, unknown> = {};
    for (const name of COMPONENT_NAMES) {
      const state = this.componentState(name);
      if (state) components[name] = state;
    }
    return {
      timestamp: iso(this.clock.now()),
      hardware_mode: this.mode,
      components: components as AllStates['components'],
      unavailable: this.report().unavailable,
    };
  }

  capabilities(): Capabilities {
    const out: Capabilities = {};
    for (const unit of this.sensors.values()) {
      if (!this.isAvailable(unit.name)) continue;
      out[unit.name] = {
        type: 'sensor',
        driver: unit.driver,
        unit: unit.unit,
        count: unit.channels.length,
        channels: unit.channels,
        sample_interval_s: unit.intervalMs / 1000,
        ...unit.extra,
      };
    }
    const f = this.file;
    if (this.stirrer)
      out.stirrer = {
        type: 'actuator',
        driver: this.stirrer.out.driver,
        control_type: 'pwm',
        parameters: ['duty_cycle'],
        duty_range: [0, 100],
        unit: 'percent',
        frequency_hz: f.stirrer.frequency_hz,
        idle_duty: f.stirrer.idle_duty,
      };
    if (this.peltier)
      out.peltier_driver = {
        type: 'actuator',
        driver: this.peltier.bridge.driver,
        control_type: 'pwm_directional',
        parameters: ['duty_cycle', 'direction'],
        duty_range: [0, 100],
        directions: [...PELTIER_DIRECTIONS],
        direction_meaning: { heat: 'heat', reverse: 'heat', cool: 'cool', forward: 'cool' },
        unit: 'percent',
        frequency_hz: f.peltier_driver.frequency_hz,
        over_temperature_c: f.peltier_driver.over_temperature_c,
      };
    if (this.led)
      out.led = {
        type: 'actuator',
        driver: this.led.out.driver,
        control_type: 'pwm',
        parameters: ['power'],
        power_range: [0, 100],
        unit: 'percent',
        frequency_hz: f.led.frequency_hz,
      };
    if (this.ring)
      out.ring_light = {
        type: 'actuator',
        driver: this.ring.driver.driver,
        control_type: 'rgb_addressable',
        parameters: ['red', 'green', 'blue', 'pixel_index'],
        color_range: [0, 255],
        pixel_count: this.ring.pixels.length,
        count: this.ring.pixels.length,
      };
    if (this.pumps) {
      const names = [...this.pumps.units.keys()];
      out.pumps = {
        type: 'actuator',
        driver: 'pololu-tic',
        control_type: 'stepper',
        parameters: ['pump_name', 'velocity'],
        available_pumps: names,
        count: names.length,
        channels: names,
        velocity_units: 'mL/s',
        unit: 'mL/s',
        max_velocity: Object.fromEntries([...this.pumps.units.values()].map((u) => [u.name, round(u.maxMlPerS, 6)])),
        max_speed_steps_per_s: Object.fromEntries(
          [...this.pumps.units.values()].map((u) => [u.name, round(u.maxSpeed / 10_000, 4)]),
        ),
        negative_velocity: 'runs against the configured direction',
      };
    }
    return out;
  }

  history(name: string, sinceIso: string | undefined, limit: number) {
    if (!(SENSOR_NAMES as readonly string[]).includes(name))
      throw new ApiError('COMPONENT_NOT_FOUND', `${name} has no history: use one of ${SENSOR_NAMES.join(', ')}`);
    const unit = this.sensors.get(name as SensorName);
    if (!unit || !this.isAvailable(unit.name)) throw this.missing(name as SensorName);
    const since = sinceIso === undefined ? Number.NEGATIVE_INFINITY : Date.parse(sinceIso);
    if (Number.isNaN(since))
      throw new ApiError(
        'VALIDATION_FAILED',
        `since "${sinceIso}" is not a date-time: use ISO 8601, e.g. 2026-01-25T20:35:11Z`,
      );
    const samples = (unit.history?.query(since, limit) ?? []).map((s) => ({
      timestamp: iso(s.time),
      values: s.values.map((v) => round(v, unit.digits)),
    }));
    return { component: name, unit: unit.unit, channels: unit.channels, samples };
  }

  commandLog(sinceIso?: string): CommandLogEntry[] {
    return this.commands.since(sinceIso);
  }

  /** Every actuator command from now on, as it is carried out (a run's own actuator log). */
  onCommand(listener: (entry: CommandLogEntry) => void): () => void {
    return this.commands.subscribe(listener);
  }
}
