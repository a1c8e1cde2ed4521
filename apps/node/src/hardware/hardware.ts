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
import { TIC_MAX_VELOCITY, TicStepper } from './drivers/tic.js';
import { type HardwareFile, i2cAddress } from './hardware-file.js';
import { SampleHistory } from './history.js';
import { Mutex } from './mutex.js';
import { OverflowGuard } from './overflow-guard.js';
import { type PwmWiring, pwmChannelFor } from './pins.js';
import type { Simulation } from './simulation.js';
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
}

export interface HardwareEvents {
  sample: [{ component: SensorName; state: ComponentStates[SensorName] }];
  changed: [{ component: ActuatorName; state: ComponentStates[ActuatorName]; source: string }];
}

/** What the node says about each component in /api/status and /health. */
export interface ComponentReport {
  initialized: Record<string, boolean>;
  unavailable: Record<string, string>;
}

const DAY_S = 24 * 3600;
const TIC_KEEPALIVE_MS = 500;
/** The cutoff releases once the vessel is this far below the limit, so it does not chatter. */
const CUTOFF_HYSTERESIS_C = 2;

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
  latest: { time: number; values: (number | null)[] } | null;
  error: string | null;
  history: SampleHistory | null;
  extra: Record<string, unknown>;
}

interface PumpUnit {
  name: string;
  tic: TicStepper;
  stepsPerMl: number;
  direction: 'forward' | 'reverse';
  velocity: number;
  totalMl: number;
  since: number;
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
    cutoff: string | null;
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
    this.overflow = new OverflowGuard(
      opts.file.overflow_guard.max_excess_inflow_ml,
      opts.dataDir ? join(opts.dataDir, 'hardware', 'overflow-guard.json') : null,
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

  private addSensor(unit: Omit<SensorUnit, 'latest' | 'error' | 'history'>): void {
    const capacity = Math.ceil(DAY_S / Math.max(1, unit.intervalMs / 1000));
    this.sensors.set(unit.name, {
      ...unit,
      latest: null,
      error: null,
      history: new SampleHistory(capacity, Math.max(1, unit.channels.length)),
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
        const chip = k33 ? new SenseairK33(bus, address, this.clock) : new AtlasEzoCo2(bus, address, this.clock);
        await chip.probe();
        this.addSensor({
          name,
          driver: chip.driver,
          unit: 'ppm',
          channels: ['co2'],
          intervalMs: intervals.co2_sensor * 1000,
          digits: 0,
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
        this.addSensor({
          name,
          driver: chip.driver,
          unit: 'celsius',
          channels: chip.channels,
          intervalMs: intervals.temp_sensor * 1000,
          digits: 3,
          sample: () => chip.sample(),
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
        this.peltier = { bridge, duty: 0, direction: 'forward', time: this.clock.now(), cutoff: null };
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
            const tic = new TicStepper(await this.transports.serial(cfg.serial), cfg.serial);
            // Configuring never moves liquid: the original's 3 s self-test at boot is deliberately absent.
            await tic.configure(cfg.step_mode ?? 3, cfg.current_limit ?? 32);
            await tic.probe();
            units.set(pump, {
              name: pump,
              tic,
              stepsPerMl: cfg.steps_per_ml,
              direction: cfg.direction ?? 'forward',
              velocity: 0,
              totalMl: 0,
              since: this.clock.now(),
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
        if (unit.error) this.log.info({ component: unit.name }, `${unit.name} recovered`);
        unit.error = null;
        unit.latest = { time: this.clock.now(), values };
        unit.history?.push(unit.latest.time, values);
        if (unit.name === 'temp_sensor') await this.checkOverTemperature(values);
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
      await this.clock.sleep(Math.max(0, unit.intervalMs - (this.clock.now() - started)), this.stopping.signal);
    }
  }

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
        if (pump.velocity === 0) continue;
        await pump.tic.keepAlive().catch((err: Error) => {
          this.log.error(
            { component: 'pumps', pump: pump.name, err: err.message },
            `pump ${pump.name} keep-alive failed`,
          );
        });
      }
    }
  }

  private async checkOverTemperature(values: (number | null)[]): Promise<void> {
    const p = this.peltier;
    if (!p) return;
    const limit = this.file.peltier_driver.over_temperature_c;
    const hottest = Math.max(...values.filter((v): v is number => v !== null));
    if (!Number.isFinite(hottest)) return;
    if (hottest >= limit && p.cutoff === null) {
      p.cutoff = `vessel at ${hottest.toFixed(1)} °C reached the ${limit} °C over-temperature cutoff at ${iso(this.clock.now())}; heating is refused until it is below ${limit - CUTOFF_HYSTERESIS_C} °C`;
      this.log.error({ component: 'peltier_driver', temperature: hottest, limit }, p.cutoff);
      if (this.peltierMode(p.direction, p.duty) === 'heat') {
        await this.locked('peltier_driver', async () => {
          await p.bridge.off();
          p.duty = 0;
          p.time = this.clock.now();
        });
        this.record('safety', 'peltier_driver', { duty_cycle: 0, direction: p.direction, reason: p.cutoff });
      }
      this.emitChanged('peltier_driver', 'safety');
    } else if (p.cutoff !== null && hottest < limit - CUTOFF_HYSTERESIS_C) {
      this.log.info({ component: 'peltier_driver', temperature: hottest }, 'over-temperature cutoff released');
      p.cutoff = null;
      this.emitChanged('peltier_driver', 'safety');
    }
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
        if (mode === 'heat' && p.cutoff !== null)
          throw new ApiError('SAFETY_INTERLOCK', `Heating refused: ${p.cutoff}`);
        await (mode === 'off' ? p.bridge.off() : p.bridge.drive(mode, duty)).catch((e: unknown) =>
          Promise.reject(this.fault(name, e)),
        );
        Object.assign(p, { duty, direction, time: now });
        this.record(source, name, { duty_cycle: duty, direction });
        return;
      }
      case 'ring_light': {
        const r = this.ring;
        if (!r) throw this.missing(name);
        const colour: Rgb = [body.red as number, body.green as number, body.blue as number];
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
        const max = TIC_MAX_VELOCITY / pump.stepsPerMl;
        if (Math.abs(velocity) > max)
          throw new ApiError(
            'VALIDATION_FAILED',
            `velocity ${velocity} mL/s is beyond what pump ${pumpName} can do: use -${round(max, 6)} to ${round(max, 6)} mL/s`,
          );
        const sign = pump.direction === 'reverse' ? -1 : 1;
        // Whole multiples of 8 steps, as the original computed it, so calibrations carry over unchanged.
        const steps = sign * 8 * Math.trunc((velocity * pump.stepsPerMl) / 8);
        const adds = this.flowSign(pump.name) * velocity > 0;
        if (adds && this.overflow.tripped !== null)
          throw new ApiError('SAFETY_INTERLOCK', `Adding liquid refused: ${this.overflow.tripped}`);
        this.accountPumps(now);
        this.overflow.save();
        await pump.tic.run(steps).catch((e: unknown) => Promise.reject(this.fault(name, e)));
        pump.velocity = velocity;
        if (velocity !== 0) this.pumpStarted?.();
        Object.assign(p, { lastName: pumpName, lastVelocity: velocity, time: now });
        this.record(source, name, { pump_name: pumpName, velocity, steps_per_10000s: steps });
        return;
      }
    }
  }

  /** +1 for a pump that adds liquid when it runs forward, -1 for one that takes it out, 0 for others. */
  private flowSign(pumpName: string): number {
    const guard = this.file.overflow_guard;
    if (guard.inflow_pumps.includes(pumpName)) return 1;
    return guard.outflow_pumps.includes(pumpName) ? -1 : 0;
  }

  /** Brings every pump's volume, and the inflow's excess over the outflow, up to `now`. */
  private accountPumps(now: number): void {
    let net = 0;
    for (const pump of this.pumps?.units.values() ?? []) {
      const ml = (pump.velocity * (now - pump.since)) / 1000;
      pump.totalMl += Math.abs(ml);
      pump.since = now;
      net += this.flowSign(pump.name) * ml;
    }
    this.overflow.add(net);
  }

  private overflowState(): Pick<ComponentStates['pumps'], 'overflow_guard'> {
    const { limitMl: limit, excessMl, tripped } = this.overflow;
    if (limit === null) return {};
    return { overflow_guard: { excess_inflow_ml: round(excessMl, 4) ?? 0, limit_ml: limit, tripped } };
  }

  /** Stops the inflow once it has added overflow_guard.max_excess_inflow_ml more than the outflow removed. */
  private async checkOverflow(): Promise<void> {
    const limit = this.overflow.limitMl;
    const pumps = this.pumps;
    if (limit === null || !pumps) return;
    this.accountPumps(this.clock.now());
    const guard = this.overflow;
    guard.save();
    if (guard.tripped !== null && guard.excessMl <= 0) {
      guard.tripped = null;
      guard.save();
      this.log.info({ component: 'pumps' }, 'overflow guard released: the outflow has caught up');
      this.emitChanged('pumps', 'safety');
      return;
    }
    if (guard.tripped !== null || guard.excessMl < limit) return;
    guard.tripped = `the inflow added ${round(guard.excessMl, 1)} mL more than the outflow removed, past overflow_guard.max_excess_inflow_ml (${limit} mL), at ${iso(this.clock.now())}; adding liquid is refused until the outflow has taken that much out`;
    guard.save();
    this.log.error({ component: 'pumps', excess_ml: guard.excessMl, limit }, guard.tripped);
    for (const pump of pumps.units.values()) {
      if (this.flowSign(pump.name) * pump.velocity <= 0) continue;
      await this.locked('pumps', async () => {
        this.accountPumps(this.clock.now());
        await pump.tic.run(0);
        pump.velocity = 0;
        this.record('safety', 'pumps', { pump_name: pump.name, velocity: 0, reason: guard.tripped });
      }).catch((err: Error) =>
        this.log.error({ component: 'pumps', pump: pump.name, err: err.message }, 'could not stop an inflow pump'),
      );
    }
    this.emitChanged('pumps', 'safety');
  }

  /** Peltier off, pumps stopped, stirrer at its idle duty, lights off; each step tried even if another fails. */
  async applySafeState(reason: string): Promise<void> {
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

  private sensorState(unit: SensorUnit): ComponentStates[SensorName] {
    const values = unit.latest?.values ?? unit.channels.map(() => null);
    const base = {
      status: unit.error === null && unit.latest ? ('success' as const) : ('error' as const),
      message: unit.error ?? (unit.latest ? null : 'no sample yet: the first reading is in progress'),
      timestamp: unit.latest ? iso(unit.latest.time) : null,
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
        return {
          ...ok,
          timestamp: at(p.time),
          duty_cycle: p.duty,
          direction: p.direction,
          mode,
          active: mode !== 'off',
          cutoff: p.cutoff,
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
        const pumps = [...p.units.values()].map((u) => ({
          pump_name: u.name,
          velocity: u.velocity,
          direction: u.direction,
          active: u.velocity !== 0,
          total_volume_ml: round(u.totalMl, 4) ?? 0,
        }));
        return {
          ...ok,
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
        max_velocity: Object.fromEntries(
          [...this.pumps.units.values()].map((u) => [u.name, round(TIC_MAX_VELOCITY / u.stepsPerMl, 6)]),
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
