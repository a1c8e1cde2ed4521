// The node's hardware: opens the registered components (registry.ts) over real or emulated transports, samples the
// sensors in the background (sampler.ts), applies actuator commands under each component's lock, applies the safe
// state, and logs every command. What each component is and does lives in its module (components/); this is the
// orchestration between them, and the only thing that holds them all.
import { EventEmitter, setMaxListeners } from 'node:events';
import { join } from 'node:path';
import {
  ACTUATOR_NAMES,
  type ActuatorName,
  type AllStates as AllStatesSchema,
  ApiError,
  actuatorKey,
  type Capability,
  COMPONENT_NAMES,
  type ComponentControls,
  type ComponentName,
  type ComponentStates,
  GUIDE_COMPONENT_NAMES,
  isActuatorName,
  SENSOR_NAMES,
  type SensorName,
  type SimulatedFault,
  type SimulatedFaultRequest,
} from '@bioreactor/api';
import type { Static } from 'typebox';
import { type Clock, realClock } from './clock.js';
import { CommandLog, type CommandLogEntry } from './command-log.js';
import type {
  Actuator,
  ComponentContext,
  ComponentDescriptor,
  Opened,
  Sensor,
  Shared,
  Topics,
} from './components/component.js';
import { iso } from './components/component.js';
import type { HardwareFile } from './hardware-file.js';
import { Mutex } from './mutex.js';
import { REGISTRY } from './registry.js';
import { Sampler } from './sampler.js';
import { FaultRequestError, type Simulation } from './simulation.js';
import type { I2cBus, TransportFactory } from './transports/types.js';
import type { HardwareLog, HardwareMode } from './types.js';

export { PUMP_RESTART_ATTEMPTS, runOfSource, TIC_KEEPALIVE_MS } from './components/pumps.js';
export type { HardwareLog, HardwareMode } from './types.js';

/** As GET /api/v3/capabilities: the contract's fields plus each component's own ranges and names. */
export type Capabilities = Record<string, Static<typeof Capability> & Record<string, unknown>>;
export type AllStates = Static<typeof AllStatesSchema>;
export type { CommandLogEntry };

/**
 * `at_ms` is the node's wall clock (Date.now(), ms) when the sample was taken or the change applied: the hardware's
 * own clock may run faster than real time in simulation, and followers measure a reading's age against real time.
 */
export interface HardwareEvents {
  sample: [{ component: SensorName; state: ComponentStates[SensorName]; at_ms: number }];
  changed: [{ component: ActuatorName; state: ComponentStates[ActuatorName]; source: string; at_ms: number }];
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

const DESCRIPTORS = new Map<string, ComponentDescriptor>(
  (REGISTRY as readonly ComponentDescriptor[]).map((c) => [c.name, c]),
);

export class HardwareController {
  readonly events = new EventEmitter<HardwareEvents>();
  readonly mode: HardwareMode;
  readonly clock: Clock;
  readonly simulation: Simulation | undefined;
  readonly file: HardwareFile;
  private readonly transports: TransportFactory;
  private readonly log: HardwareLog;
  private readonly commands: CommandLog;
  /** DATA_DIR/hardware: what components keep across restarts; null keeps everything in memory. */
  private readonly hardwareDir: string | null;
  private readonly unavailable = new Map<ComponentName, string>();
  private readonly opened = new Map<ComponentName, Opened>();
  private readonly locks = new Map<ComponentName, Mutex>(COMPONENT_NAMES.map((n) => [n, new Mutex()]));
  private readonly sampler: Sampler;
  private readonly shared: Partial<Shared> = {};
  private readonly topics = new Map<keyof Topics, ((payload: never) => Promise<void> | void)[]>();
  private bus: I2cBus | null = null;
  private running = false;
  private started = false;
  private ready = false;
  /** Aborted at stop: wakes every sampler's and keep-alive's sleep so nothing keeps the process alive. */
  private readonly stopping = (() => {
    const controller = new AbortController();
    // Every sampler, watchdog and timed command sleeps on this one signal at the same time (one listener each, let go
    // when it wakes): more than Node's default warning threshold of 10 on a full node, and no leak.
    setMaxListeners(256, controller.signal);
    return controller;
  })();
  /** Requests waiting for first samples during start. */
  private readonly firstSampleWaiters = new Set<() => void>();
  /** Every enabled sensor has had its first sample or error: set once, so the hot path checks one boolean. */
  private settled = false;
  private lastInterlocks: string[] = [];
  /** Built states, reused until the component samples or changes: state reads are the API's hot path. */
  private readonly stateCache = new Map<ComponentName, unknown>();
  private reportCache: ComponentReport | null = null;
  private loops: Promise<void>[] = [];

  constructor(opts: HardwareOptions) {
    this.file = opts.file;
    this.mode = opts.mode;
    this.transports = opts.transports;
    this.log = opts.log;
    this.clock = opts.clock ?? realClock;
    this.simulation = opts.simulation;
    this.commands = new CommandLog(opts.dataDir ? join(opts.dataDir, 'hardware', 'command-log.jsonl') : null);
    this.hardwareDir = opts.dataDir ? join(opts.dataDir, 'hardware') : null;
    this.sampler = new Sampler({
      clock: this.clock,
      log: this.log,
      historyDir: this.hardwareDir ? join(this.hardwareDir, 'history') : null,
      running: () => this.running,
      signal: this.stopping.signal,
      onSample: (name) => {
        this.stateCache.delete(name);
        this.events.emit('sample', {
          component: name,
          state: this.componentState(name) as ComponentStates[SensorName],
          at_ms: Date.now(),
        });
        if (!this.settled) for (const wake of [...this.firstSampleWaiters]) wake();
      },
    });
  }

  private enabled(name: string): boolean {
    return (this.file.init_components as Record<string, boolean>)[name] === true;
  }

  /** Listed in /api/status: the guide's nine always; a component added since when the hardware file enables it. */
  private listed(name: ComponentName): boolean {
    return (GUIDE_COMPONENT_NAMES as readonly string[]).includes(name) || this.enabled(name);
  }

  /** The actuators, the safe state's first ones (the peltier) before the others in registry order. */
  private safeOrder(): [ActuatorName, Actuator][] {
    const actuators = (REGISTRY as readonly ComponentDescriptor[]).filter((c) => c.kind === 'actuator');
    const ordered = [...actuators.filter((c) => c.safeFirst), ...actuators.filter((c) => !c.safeFirst)];
    return ordered.flatMap((c) => {
      const opened = this.opened.get(c.name);
      return opened?.kind === 'actuator' ? [[c.name as ActuatorName, opened]] : [];
    });
  }

  // ---- lifecycle ----

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.running = true;
    for (const descriptor of REGISTRY as readonly ComponentDescriptor[]) {
      const name = descriptor.name;
      if (!this.enabled(name)) {
        this.unavailable.set(name, `disabled in the hardware file (init_components.${name} is false)`);
        continue;
      }
      try {
        const opened = await descriptor.open(this.contextFor(descriptor) as never);
        this.opened.set(name, opened);
        if (opened.kind === 'sensor') this.sampler.add(name as SensorName, opened, this.intervalMs(name));
      } catch (err) {
        const reason = (err as Error).message;
        this.unavailable.set(name, reason);
        this.log.warn({ component: name, reason }, `${name} is unavailable: ${reason}`);
      }
    }
    await this.applySafeState('startup');
    this.loops.push(...this.sampler.start());
    for (const [, actuator] of this.safeOrder()) actuator.start?.();
    this.ready = true;
    const ready = COMPONENT_NAMES.filter((n) => this.opened.has(n));
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
    for (const opened of this.opened.values()) if (opened.close) closers.push(opened.close());
    if (this.bus) closers.push(this.bus.close());
    const results = await Promise.allSettled(closers);
    for (const r of results)
      if (r.status === 'rejected') this.log.warn({ err: String(r.reason) }, 'releasing a hardware handle failed');
    this.commands.close();
    this.sampler.close();
  }

  private intervalMs(name: string): number {
    const intervals = this.file.sample_intervals_s as Record<string, number>;
    return (intervals[name] ?? DESCRIPTORS.get(name)?.sampling?.default_s ?? 1) * 1000;
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

  /** What one component sees of the node: its keys of the file, time, the log, its lock and its peers. */
  private contextFor(descriptor: ComponentDescriptor): ComponentContext {
    const name = descriptor.name;
    const file = this.file as Record<string, unknown>;
    const config = Object.fromEntries(Object.keys(descriptor.config).map((k) => [k, file[k]]));
    const oneWireTaken = (REGISTRY as readonly ComponentDescriptor[]).flatMap((other) =>
      other.name !== name && this.enabled(other.name) && other.oneWireIds
        ? other.oneWireIds(Object.fromEntries(Object.keys(other.config).map((k) => [k, file[k]])) as never)
        : [],
    );
    const self = this;
    return {
      name,
      config,
      clock: this.clock,
      log: this.log,
      transports: this.transports,
      intervalMs: this.intervalMs(name),
      oneWireTaken,
      dataDir: this.hardwareDir,
      get running() {
        return self.running;
      },
      signal: this.stopping.signal,
      i2c: () => this.i2c(),
      record: (source, values) => this.record(source, name, values),
      written: () => this.commands.written(),
      changed: (source) => this.emitChanged(name as ActuatorName, source),
      invalidate: () => {
        this.stateCache.delete(name);
      },
      safetyChanged: () => this.emitSafety(),
      lock: (fn) => this.locked(name, fn),
      command: async (other, body, source) => {
        const actuator = this.actuator(other);
        await this.locked(other, () => actuator.apply(body, source));
        this.emitChanged(other, source);
      },
      heatSourcesOff: (source) => this.heatSourcesOff(name, source),
      unavailable: (other) => this.unavailable.get(other),
      waitForFirstSamples: (names) => this.waitForFirstSamples(names),
      nextSample: (sensor, timeoutMs) => this.nextSample(sensor, timeoutMs),
      provide: (key, value) => {
        (this.shared as Record<string, unknown>)[key] = value;
      },
      shared: (key) => this.shared[key],
      on: (topic, listener) => {
        const list = this.topics.get(topic) ?? [];
        list.push(listener as (payload: never) => Promise<void> | void);
        this.topics.set(topic, list);
      },
      announce: async (topic, payload) => {
        for (const listener of this.topics.get(topic) ?? []) await listener(payload as never);
      },
      loop: (fn) => {
        this.loops.push(fn());
      },
    };
  }

  /** The critical thermal stage: every other actuator that heats and is on goes off (each recorded by its apply). */
  private async heatSourcesOff(caller: ComponentName, source: string): Promise<void> {
    for (const [name, actuator] of this.safeOrder()) {
      if (name === caller) continue;
      const body = actuator.heatOff?.() ?? null;
      if (!body) continue;
      try {
        await this.locked(name, () => actuator.apply(body, source));
        this.emitChanged(name, source);
      } catch (err) {
        this.log.error({ component: name, err: (err as Error).message }, `could not switch ${name} off`);
      }
    }
  }

  /** The safety interlocks in force, as the dashboard's banner words them. */
  interlocks(): string[] {
    return this.safeOrder().flatMap(([, actuator]) => actuator.interlocks?.() ?? []);
  }

  /** Sends the safety event when the interlocks in force changed. */
  private emitSafety(): void {
    const now = this.interlocks();
    if (now.length === this.lastInterlocks.length && now.every((text, i) => text === this.lastInterlocks[i])) return;
    this.lastInterlocks = now;
    this.events.emit('safety', { interlocks: now });
  }

  // ---- readiness ----

  /** True until every enabled sensor has its first sample or its error. */
  get starting(): boolean {
    if (this.settled) return false;
    if (!this.ready) return true;
    for (const unit of this.sampler.units.values()) if (this.sampler.pending(unit)) return true;
    this.settled = true;
    return false;
  }

  readiness(): Readiness {
    if (!this.starting) return { ready: true, waiting_for: [] };
    const waiting = this.ready
      ? [...this.sampler.units.values()].filter((u) => this.sampler.pending(u)).map((u) => u.name)
      : SENSOR_NAMES.filter((n) => this.enabled(n) && !this.unavailable.has(n));
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
          const unit = this.sampler.units.get(n);
          return unit !== undefined && this.sampler.pending(unit);
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
    if (state) {
      this.events.emit('changed', {
        component,
        state: state as ComponentStates[ActuatorName],
        source,
        at_ms: Date.now(),
      });
    }
  }

  private missing(name: ComponentName): ApiError {
    const reason = this.unavailable.get(name) ?? 'not configured';
    return new ApiError('COMPONENT_NOT_FOUND', `${name} is unavailable on this node: ${reason}`);
  }

  /** An opened actuator, or the 404 that says why it is not there. */
  private actuator(name: ActuatorName): Actuator {
    const opened = this.opened.get(name);
    if (opened?.kind !== 'actuator') throw this.missing(name);
    return opened;
  }

  /** Validates and applies one actuator command; answers the new state. */
  async control<K extends ActuatorName>(
    name: K,
    body: ComponentControls[K],
    source: string,
  ): Promise<ComponentStates[K]> {
    if (!isActuatorName(name))
      throw new ApiError('COMPONENT_NOT_FOUND', `${name} is not an actuator: use one of ${ACTUATOR_NAMES.join(', ')}`);
    const actuator = this.actuator(name);
    await actuator.prepare?.(body, source);
    await this.locked(name, () => actuator.apply(body, source));
    await this.commands.written();
    this.emitChanged(name, source);
    return this.componentState(name) as ComponentStates[K];
  }

  /**
   * Every actuator to its safe state (peltier off first, pumps stopped, ...); each step tried even if another fails.
   * `keep` names actuators (as actuatorKey: `led`, `pumps:inflow`) left as they are: those a running program drives.
   */
  async applySafeState(reason: string, keep: readonly string[] = []): Promise<void> {
    const problems: string[] = [];
    const source = `safety:${reason}`;
    for (const [name, actuator] of this.safeOrder()) {
      for (const body of actuator.safe(reason)) {
        if (keep.length > 0 && keep.includes(actuatorKey(name, body as Record<string, unknown>))) continue;
        try {
          await this.locked(name, () => actuator.apply(body, source));
          this.emitChanged(name, source);
        } catch (err) {
          problems.push(`${name}: ${(err as Error).message}`);
        }
      }
    }
    await this.commands.written().catch((err: unknown) => problems.push(`command log: ${(err as Error).message}`));
    if (problems.length > 0)
      this.log.error({ reason, problems }, `safe state incomplete (${reason}): ${problems.join('; ')}`);
    else this.log.info({ reason }, `safe state applied (${reason})`);
    // A run's end lifts its interlocks (the inflow cap): the banner follows.
    this.emitSafety();
  }

  // ---- reading ----

  isAvailable(name: ComponentName): boolean {
    return this.started && this.opened.has(name);
  }

  /** Why a component is unavailable (disabled, missing, failing), including one /api/status does not list. */
  whyUnavailable(name: string): string | undefined {
    return this.unavailable.get(name as ComponentName);
  }

  report(): ComponentReport {
    if (this.reportCache) return this.reportCache;
    const initialized: Record<string, boolean> = {};
    const unavailable: Record<string, string> = {};
    for (const name of COMPONENT_NAMES) {
      if (!this.listed(name)) continue;
      initialized[name] = this.isAvailable(name);
      if (!initialized[name]) unavailable[name] = this.unavailable.get(name) ?? 'the hardware has not started';
    }
    // Which components work is settled once start() has finished opening them.
    if (this.ready && this.running) this.reportCache = { initialized, unavailable };
    return { initialized, unavailable };
  }

  componentState<K extends ComponentName>(name: K): ComponentStates[K] | null {
    if (!this.isAvailable(name)) return null;
    const unit = this.sampler.units.get(name as SensorName);
    // A sensor whose reads stopped completing says so, however long ago its last sample was cached.
    if (unit && this.sampler.stale(unit, this.clock.now())) return this.sampler.state(unit) as ComponentStates[K];
    const cached = this.stateCache.get(name);
    if (cached) return cached as ComponentStates[K];
    const opened = this.opened.get(name);
    let state: object | null = null;
    if (unit) state = this.sampler.state(unit);
    else if (opened?.kind === 'actuator') state = opened.state();
    // A state that changes by itself (running pumps count volume) is built fresh each time.
    if (state && !(opened?.kind === 'actuator' && opened.volatile?.())) this.stateCache.set(name, state);
    return state as ComponentStates[K] | null;
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
    for (const unit of this.sampler.units.values()) {
      if (!this.isAvailable(unit.name)) continue;
      const sensor: Sensor = unit.sensor;
      out[unit.name] = {
        type: 'sensor',
        driver: sensor.driver,
        unit: sensor.unit,
        count: sensor.channels.length,
        channels: sensor.channels,
        sample_interval_s: unit.intervalMs / 1000,
        ...sensor.capabilities,
      };
    }
    // Actuators in registry order, the pumps last (as the node has always listed them).
    const actuators = ACTUATOR_NAMES.filter((n) => n !== 'pumps');
    for (const name of [...actuators, 'pumps' as const]) {
      const opened = this.opened.get(name);
      if (opened?.kind === 'actuator') out[name] = opened.capabilities() as Capabilities[string];
    }
    return out;
  }

  /** What the manifest counts per actuator (pumped volumes, valve openings), as of now. */
  counters(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const name of ACTUATOR_NAMES) {
      const opened = this.opened.get(name);
      if (opened?.kind === 'actuator' && opened.counters) out[name] = opened.counters();
    }
    return out;
  }

  history(name: string, sinceIso: string | undefined, limit: number) {
    if (!(SENSOR_NAMES as readonly string[]).includes(name))
      throw new ApiError('COMPONENT_NOT_FOUND', `${name} has no history: use one of ${SENSOR_NAMES.join(', ')}`);
    const unit = this.sampler.units.get(name as SensorName);
    if (!unit || !this.isAvailable(unit.name)) throw this.missing(name as SensorName);
    const since = sinceIso === undefined ? Number.NEGATIVE_INFINITY : Date.parse(sinceIso);
    if (Number.isNaN(since))
      throw new ApiError(
        'VALIDATION_FAILED',
        `since "${sinceIso}" is not a date-time: use ISO 8601, e.g. 2026-01-25T20:35:11Z`,
      );
    const samples = this.sampler.history(unit, since, limit);
    return { component: name, unit: unit.sensor.unit, channels: unit.sensor.channels, samples };
  }

  commandLog(sinceIso?: string): CommandLogEntry[] {
    return this.commands.since(sinceIso);
  }

  /** Every actuator command from now on, as it is carried out (a run's own actuator log). */
  onCommand(listener: (entry: CommandLogEntry) => void): () => void {
    return this.commands.subscribe(listener);
  }
}
