// What a component is to the node: one descriptor per kind (its hardware-file keys, how it opens into a sensor or an
// actuator over the transports, its emulator for the simulation, its safe state), and the ComponentContext through
// which an opened component reaches the rest of the node. Components never see the controller: everything they
// may do to it is in the context, so nothing here imports back into hardware.ts.
import type { ActuatorName, ComponentName, SensorName, SimulatedFaultRequest } from '@bioreactor/api';
import type { Static, TSchema } from 'typebox';
import type { Clock } from '../clock.js';
import type { EmulatedI2cBus } from '../emulated/i2c-chips.js';
import type { EmulatedOneWire } from '../emulated/one-wire.js';
import type { EmulatedGpio, EmulatedNeoPixelSpi, EmulatedPwm, EmulatedTic } from '../emulated/outputs.js';
import type { PwmWiring } from '../pins.js';
import type { GuardedOutput } from '../supervisor/outputs-off.mjs';
import type { Thermometry } from '../thermal-safety.js';
import type { LinuxPaths } from '../transports/linux.js';
import type { I2cBus, TransportFactory } from '../transports/types.js';
import type { HardwareLog } from '../types.js';
import type { VesselInputs, VesselModel } from '../vessel-model.js';

/** A component's keys of the hardware file, each a TypeBox schema with its defaults and descriptions. */
export type ConfigSchema = Record<string, TSchema>;
/** Those keys as the validated hardware file holds them. */
export type ConfigOf<C extends ConfigSchema> = { [K in keyof C]: Static<C[K]> };

/** What one opened component shares with another, by name (the thermal safety: thermometers and heating). */
export interface Shared {
  /** temp_sensor: each thermometer's last read, as the heating safety sees it. */
  thermometry: Thermometry;
  /** peltier_driver: what the heating is doing, for the thermometers and for what else heats. */
  heating: {
    /** Since when the peltier heats at ≥ THERMAL.stuckMinHeatDuty (stuck-thermometer detection), or null. */
    readonly hardSince: number | null;
    /** Why everything that heats is refused (the critical stage), or null. */
    readonly critical: string | null;
    /** Switches the peltier off, heating or cooling (duty 0, its direction kept), recorded under `source`. */
    stop(source: string, reason: string): Promise<void>;
  };
}

/** Moments one component announces and others act on, awaited in turn. */
export interface Topics {
  /** temp_sensor has just read one thermometer: the heating safety looks at once. */
  thermometer: undefined;
}

/** How an opened component reaches the node: time, the log, the command log, the stream, its lock, its peers. */
export interface ComponentContext<C = unknown> {
  readonly name: ComponentName;
  /** Its keys of the validated hardware file. */
  readonly config: C;
  readonly clock: Clock;
  readonly log: HardwareLog;
  readonly transports: TransportFactory;
  /** Sensors: sample_intervals_s of the hardware file, in milliseconds. */
  readonly intervalMs: number;
  /** 1-Wire thermometers other enabled components claim (not this one's to list). */
  readonly oneWireTaken: readonly string[];
  /** DATA_DIR/hardware, where a component keeps what must survive a restart; null keeps it in memory. */
  readonly dataDir: string | null;
  /** True from start until stop. */
  readonly running: boolean;
  /** Aborted at stop: wakes every sleep of a component's loops. */
  readonly signal: AbortSignal;
  /** The I2C bus of the hardware file, shared by every I2C chip, one transaction at a time. */
  i2c(): Promise<I2cBus>;
  /** Appends one entry to the command log (and the running experiment's actuator log) under this component. */
  record(source: string, values: Record<string, unknown>): void;
  /** Resolves when the command log has written what was appended. */
  written(): Promise<void>;
  /** This actuator's state changed: rebuilt and sent on the stream (`component.changed`) with `source`. */
  changed(source: string): void;
  /** This component's cached state no longer holds (a sensor mid-sample); rebuilt at the next read. */
  invalidate(): void;
  /** The safety interlocks may have changed: the `safety` event goes out if they did. */
  safetyChanged(): void;
  /** Runs `fn` under this component's lock (the one its commands take). */
  lock<T>(fn: () => Promise<T>): Promise<T>;
  /** Commands another actuator through its own lock, the command log and the stream (as the API would). */
  command(name: ActuatorName, body: Record<string, unknown>, source: string): Promise<void>;
  /** Switches off, as `source`, every other actuator that heats and is on (the critical thermal stage). */
  heatSourcesOff(source: string): Promise<void>;
  /** Why a component is unavailable, if it is. */
  unavailable(name: ComponentName): string | undefined;
  /** Waits (bounded) until these sensors have their first sample or error. */
  waitForFirstSamples(names: readonly SensorName[]): Promise<void>;
  /** Resolves at the next sample of `name`, or after `timeoutMs`. */
  nextSample(name: SensorName, timeoutMs: number): Promise<void>;
  /** Offers a live object to the other components. */
  provide<K extends keyof Shared>(key: K, value: Shared[K]): void;
  /** What another component offers, once it is open. */
  shared<K extends keyof Shared>(key: K): Shared[K] | undefined;
  /** Listens to a topic; listeners run in turn and are awaited by `announce`. */
  on<K extends keyof Topics>(topic: K, listener: (payload: Topics[K]) => Promise<void> | void): void;
  announce<K extends keyof Topics>(topic: K, payload: Topics[K]): Promise<void>;
  /** Runs a background loop from start to stop (keep-alives, watchdogs). */
  loop(fn: () => Promise<void>): void;
}

/** A sensor, opened: the sampler reads it on its interval, caches the values and keeps its history. */
export interface Sensor {
  readonly kind: 'sensor';
  readonly driver: string;
  /** The API's unit (states, capabilities, history): `ppm`, `celsius`, `volts`, `percent`, `amps`. */
  readonly unit: string;
  readonly channels: string[];
  /** Decimals kept of each value. */
  readonly digits: number;
  /** How long one sample takes at least (conversions): staleness is judged against the slower of it and the interval. */
  readonly readMs?: number;
  /** One value per channel; a channel that fails is null (with `problem` saying why) or the whole read throws. */
  read(): Promise<(number | null)[]>;
  /** Channels that failed in a read that otherwise succeeded, as one message. */
  problem?(): string | null;
  /** Its own idea of staleness, instead of the cache's (no new sample for 3 periods). */
  stale?(now: number): boolean;
  /** Its own idea of what it shows (the thermometers, channel by channel), instead of the cached sample. */
  view?(now: number): { values: (number | null)[]; time: number | null; message: string | null };
  /** The state body from the sampled values and the base (status, message, timestamp). */
  state(base: StateBase, values: (number | null)[]): object;
  /** What GET /api/v3/capabilities says besides type, driver, unit, count, channels and interval. */
  readonly capabilities: Record<string, unknown>;
  close?(): Promise<void>;
}

export interface StateBase {
  status: 'success' | 'error';
  message: string | null;
  timestamp: string | null;
}

/** An actuator, opened: commands are validated and applied under its lock; its state answers the API. */
export interface Actuator<B = Record<string, unknown>> {
  readonly kind: 'actuator';
  readonly driver: string;
  /** Before the lock: waits a command may need (heating waits for a first temperature). */
  prepare?(body: B, source: string): Promise<void>;
  /** Validates (ApiError), drives the hardware, records the command. Runs under the component's lock. */
  apply(body: B, source: string): Promise<void>;
  /** The state body; null when there is none. */
  state(): object | null;
  /** True while the state changes by itself (running pumps count volume): never cached. */
  volatile?(): boolean;
  capabilities(): Record<string, unknown>;
  /** The commands that make it safe (each applied on its own, every one tried), for `reason`. */
  safe(reason: string): B[];
  /** The command that switches it off if it heats the vessel and is on (the critical stage), else null. */
  heatOff?(): B | null;
  /** The interlocks it holds, as the dashboard's banner words them. */
  interlocks?(): string[];
  /** After the start's safe state: its background loops. */
  start?(): void;
  /** What the experiment manifest counts for a run (volumes pumped, valve openings). */
  counters?(): Record<string, unknown>;
  close(): Promise<void>;
}

export type Opened = Sensor | Actuator;

/** The simulation's shared emulated world, as a component's emulator joins it. */
export interface SimulationContext<C = unknown> {
  readonly config: C;
  readonly clock: Clock;
  readonly model: VesselModel;
  /** The vessel's inputs: an actuator's emulator sets the one it drives. */
  readonly inputs: VesselInputs;
  readonly bus: EmulatedI2cBus;
  readonly oneWire: EmulatedOneWire;
  /** Thermometers on the emulated 1-Wire bus: id → what it senses. */
  readonly thermometers: Map<string, () => number>;
  readonly tics: Map<string, EmulatedTic>;
  readonly pwm: Map<string, EmulatedPwm>;
  readonly gpio: Map<number, EmulatedGpio>;
  /** The emulated PWM channel of a wiring, once the node has opened it. */
  pwmFor(wiring: PwmWiring): EmulatedPwm | undefined;
  /** The ring (one per simulation); set by the ring light's emulator. */
  ring: EmulatedNeoPixelSpi;
  /** Brings the model up to now, then reads it. */
  at<T>(read: () => T): T;
}

/** The faults an emulated component can be given (POST /api/v3/simulation/faults). */
export interface FaultTarget {
  readonly faults: readonly string[];
  /** Puts the fault on; answers the request's target fields to list (`sensor`, `pump_name`); throws FaultRequestError. */
  inject(request: SimulatedFaultRequest): { sensor?: string; pump_name?: string };
  clear(): void;
}

export interface ComponentDescriptor<C extends ConfigSchema = ConfigSchema> {
  readonly name: ComponentName;
  readonly kind: 'sensor' | 'actuator';
  /** Off unless the hardware file enables it, and only then listed in /api/status (not one of the guide's nine). */
  readonly optional?: boolean;
  /** Its keys of the hardware file (the guide's flat keys stay flat: co2_sensor_type, ...). */
  readonly config: C;
  /** Sensors: its sample_intervals_s entry. */
  readonly sampling?: { default_s: number; minimum_s: number; description?: string };
  /** The unit of what it measures or is commanded in. */
  readonly unit: string;
  /** What the safe state does to it ("drives nothing" for a sensor). */
  readonly safeState: string;
  /** Actuators: applied first by the safe state (the peltier), before the others in registry order. */
  readonly safeFirst?: boolean;
  /** Opens the hardware: transports, probe; throws (TransportUnavailable, a probe error) when it cannot. */
  open(ctx: ComponentContext<ConfigOf<C>>): Promise<Opened>;
  /** Joins the simulation: attaches its emulated chip or output, senses or drives the vessel model. */
  simulate(sim: SimulationContext<ConfigOf<C>>): FaultTarget | undefined;
  /** The I2C addresses it claims, to find clashes in the hardware file. */
  i2cAddresses?(config: ConfigOf<C>): { who: string; address: number }[];
  /** The 1-Wire thermometers it claims by id. */
  oneWireIds?(config: ConfigOf<C>): string[];
  /** What the schema cannot say about its keys. */
  check?(config: ConfigOf<C>): string[];
  /** Fills what the schema leaves optional, after validation. */
  normalize?(config: ConfigOf<C>): void;
  /** Real mode: the sysfs outputs the output supervisor turns off when the node dies. */
  outputs?(config: ConfigOf<C>, paths: LinuxPaths): Promise<GuardedOutput[]>;
  /** An example command, for the API documents and the registry's conformance test. */
  readonly example?: Record<string, unknown>;
}

/** Identity with types: a component module's one export. */
export function defineComponent<const C extends ConfigSchema>(
  descriptor: ComponentDescriptor<C>,
): ComponentDescriptor<C> {
  return descriptor;
}

/** Rounds to `digits` decimals; null for null and non-finite numbers. */
export const round = (v: number | null, digits: number): number | null =>
  v === null || !Number.isFinite(v) ? null : Math.round(v * 10 ** digits) / 10 ** digits;
export const iso = (ms: number) => new Date(ms).toISOString();
