// The program the node runs (at most one at a time): its tracks' steps applied when they come, its automations'
// loops (thermostat PID on the peltier, turbidostat and chemostat doses on the pumps), every command through the
// same hardware control path and safety rules as the HTTP controls (source "program"), and its state kept in
// DATA_DIR/programs/current.json at every change. A node that restarts (or is killed) resumes it: each track is put
// in the step of now (the steps it missed are not replayed), each automation goes on from its kept state.
import { EventEmitter } from 'node:events';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  type ActuatorName,
  ApiError,
  type Automation,
  actuatorKey,
  automationActuators,
  type Chemostat,
  chemostatDoseMl,
  formatDuration,
  MAX_TIMER_MS,
  type Program,
  type ProgramContext,
  type ProgramPatch,
  type ProgramStatus,
  programAsDocument,
  programEnd,
  setpointAt,
  type Thermostat,
  type Turbidostat,
  validateProgram,
} from '@bioreactor/api';
import { bootId } from '../experiments/manager.js';
import { type Clock, realClock } from '../hardware/clock.js';
import { nextChange, stepInForce } from './expand.js';

/** What the executor needs of the node's hardware (apps/node/src/hardware). */
export interface ProgramHardware {
  capabilities(): Record<string, Record<string, unknown>>;
  componentState(name: never): unknown;
  control(name: never, body: never, source: string): Promise<unknown>;
  hardwareConfig(): unknown;
}

export interface ProgramLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** A reading of the monotonic clock, valid for comparison within one boot. */
export interface MonotonicReading {
  boot_id: string | null;
  ns: bigint;
}

export interface ProgramExecutorOptions {
  hardware: ProgramHardware;
  /** The node's clock (the hardware's: real, scaled in a fast simulation, manual in tests). */
  clock?: Clock;
  /** DATA_DIR: the state lives in DATA_DIR/programs/current.json. */
  dataDir: string;
  log: ProgramLog;
  /**
   * The monotonic clock, for a program's elapsed time that a wall-clock step does not move. Default: the process's
   * (with this boot's id) when the clock is the real one; none otherwise, and the clock's own time counts.
   */
  monotonic?: (() => MonotonicReading) | null;
  /** The run live on this node, which then owns a program started meanwhile. */
  activeRun?: () => string | null;
}

/**
 * Every command the executor sends carries this source in the command log and the run's actuator log; a program a
 * run owns adds `:experiment:<id>`, so that its pumps count towards that run's inflow cap as the run's own do.
 */
export const PROGRAM_SOURCE = 'program';

/** The source of a program's commands: `program`, or `program:experiment:<id>` when run `id` owns it. */
export const programSource = (experimentId: string | null): string =>
  experimentId === null ? PROGRAM_SOURCE : `${PROGRAM_SOURCE}:experiment:${experimentId}`;

/** A program that ended: why (`stopped`, `the program reached its end`, …) and the run that owned it. */
export interface ProgramEnd {
  name: string;
  experiment_id: string | null;
  started_at: string;
  reason: string;
}

/** The state file, under DATA_DIR. */
export const PROGRAM_STATE_FILE = join('programs', 'current.json');

/** An automation whose sensor had no valid reading looks again after this many seconds (at most its interval). */
const NO_READING_RETRY_S = 1;

/** Thermostat state is written at most this often (steps and doses at once). */
const THERMOSTAT_SAVE_MS = 60_000;

/** What an automation keeps across a restart. */
interface AutomationState {
  /** Thermostat: the PID's integral (°C·s) and last temperature; turbidostat and chemostat: doses and volume. */
  integral: number;
  last_temperature_c: number | null;
  output: number;
  doses: number;
  dosed_ml: number;
  /** Program second of its next tick. */
  next_s: number;
  last_value: number | null;
  error: string | null;
}

interface Saved {
  version: 1;
  program: Program;
  started_at: string;
  start_monotonic: { boot_id: string; ns: string } | null;
  experiment_id: string | null;
  automations: AutomationState[];
  inflow_ml: number;
}

const newAutomationState = (): AutomationState => ({
  integral: 0,
  last_temperature_c: null,
  output: 0,
  doses: 0,
  dosed_ml: 0,
  next_s: 0,
  last_value: null,
  error: null,
});

/** Writes a file so that a crash leaves the old one or the new one, never a torn one: write, fsync, rename. */
export function writeFileAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  // The rename itself reaches the disk with the directory's fsync.
  try {
    const dir = openSync(dirname(path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // Not every filesystem lets a directory be opened for fsync; the rename still happened.
  }
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;

export class ProgramExecutor extends EventEmitter<{ started: [ProgramStatus]; ended: [ProgramEnd] }> {
  private saved: Saved | null = null;
  private readonly clock: Clock;
  private readonly path: string;
  private monotonic: (() => MonotonicReading) | null;
  /** Aborted when the program stops (or the node shuts down): every loop ends. */
  private stopping: AbortController | null = null;
  /** Each loop's current sleep (`tracks`, `a<i>`, `dose<i>`): aborted to wake it, all of them at stop. */
  private readonly sleepers = new Map<string, AbortController>();
  private loops: Promise<void>[] = [];
  /** Per track: the step last applied (`cycle:step`), so each is sent once. */
  private applied: (string | null)[] = [];
  private trackErrors: (string | null)[] = [];
  private lastThermostatSave = 0;
  /** Thermostats that sent the peltier a command in this process: after a restart the peltier is off, whatever was kept. */
  private commanded = new WeakSet<AutomationState>();
  private ending: Promise<void> | null = null;

  constructor(private readonly opts: ProgramExecutorOptions) {
    super();
    this.clock = opts.clock ?? realClock;
    this.path = join(opts.dataDir, PROGRAM_STATE_FILE);
    this.monotonic = opts.monotonic === undefined ? null : opts.monotonic;
  }

  private async defaultMonotonic(): Promise<void> {
    if (this.opts.monotonic !== undefined || this.clock !== realClock) return;
    const boot = await bootId();
    this.monotonic = () => ({ boot_id: boot, ns: process.hrtime.bigint() });
  }

  get running(): boolean {
    return this.saved !== null;
  }

  /** What the program is checked against: the node's capabilities and its overflow guard. */
  context(): ProgramContext {
    const config = (this.opts.hardware.hardwareConfig() ?? {}) as {
      overflow_guard?: { inflow_pumps?: string[]; max_run_inflow_ml?: number | null };
    };
    return {
      capabilities: this.opts.hardware.capabilities(),
      inflowPumps: config.overflow_guard?.inflow_pumps ?? ['inflow'],
      maxRunInflowMl: config.overflow_guard?.max_run_inflow_ml ?? null,
    };
  }

  /** Seconds since the program started: on the monotonic clock within one boot, else on the wall clock. */
  elapsedS(): number {
    const saved = this.saved;
    if (!saved) return 0;
    const mono = this.monotonic?.();
    const start = saved.start_monotonic;
    if (mono && start && mono.boot_id !== null && mono.boot_id === start.boot_id)
      return Number(mono.ns - BigInt(start.ns)) / 1e9;
    return Math.max(0, (this.clock.now() - Date.parse(saved.started_at)) / 1000);
  }

  private at(seconds: number): string {
    const saved = this.saved as Saved;
    return new Date(Date.parse(saved.started_at) + seconds * 1000).toISOString();
  }

  /**
   * Validates and starts a program; 409 while one runs. Its owner is `experimentId` when given (a program run),
   * else the run live on the node, if any.
   */
  async start(doc: unknown, experimentId?: string): Promise<ProgramStatus> {
    if (this.saved)
      throw new ApiError(
        'INVALID_STATE',
        `Program "${this.saved.program.name}" is running on this node: stop it first (DELETE /api/v3/programs/current) or change it (PATCH)`,
      );
    const program = validateProgram(doc, this.context());
    await this.defaultMonotonic();
    const mono = this.monotonic?.();
    this.saved = {
      version: 1,
      program,
      started_at: new Date(this.clock.now()).toISOString(),
      start_monotonic: mono?.boot_id ? { boot_id: mono.boot_id, ns: mono.ns.toString() } : null,
      experiment_id: experimentId ?? this.opts.activeRun?.() ?? null,
      automations: program.automations.map(newAutomationState),
      inflow_ml: 0,
    };
    this.save();
    this.opts.log.info({ program: program.name }, `program "${program.name}" started`);
    this.launch();
    const status = this.status();
    this.emit('started', status);
    return status;
  }

  /** The actuators the running program drives (as actuatorKey names them: `led`, `pumps:inflow`); none when idle. */
  drivenActuators(): string[] {
    return this.saved ? this.driven(this.saved.program).map((d) => d.key) : [];
  }

  /** At start-up: picks up the program a previous process ran, in the state it should be in now. */
  async resume(): Promise<boolean> {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return false;
    }
    let saved: Saved;
    try {
      saved = JSON.parse(text) as Saved;
      if (saved.version !== 1 || !saved.program || typeof saved.started_at !== 'string')
        throw new Error('not a program state');
    } catch (err) {
      this.opts.log.error(
        { err: (err as Error).message, path: this.path },
        `the program state ${this.path} cannot be read: the program is not resumed`,
      );
      return false;
    }
    await this.defaultMonotonic();
    this.saved = saved;
    // The restart left the peltier off: each thermostat acts at once instead of at its next tick.
    saved.program.automations.forEach((a, i) => {
      const state = saved.automations[i];
      if (a.kind === 'thermostat' && state) state.next_s = 0;
    });
    // The run that owned it may have ended meanwhile; the program goes on either way.
    const elapsed = this.elapsedS();
    this.opts.log.info(
      { program: saved.program.name, elapsed_s: Math.round(elapsed) },
      `program "${saved.program.name}" resumed after a node restart, ${formatDuration(Math.round(elapsed))} after its start`,
    );
    this.launch();
    return true;
  }

  /** A fresh signal for loop `name`'s next sleep, aborted by wake(name) or the program's end. */
  private sleepSignal(name: string): AbortSignal {
    const controller = new AbortController();
    this.sleepers.set(name, controller);
    if (this.stopping?.signal.aborted) controller.abort();
    return controller.signal;
  }

  private wake(name: string): void {
    this.sleepers.get(name)?.abort();
  }

  private halt(): void {
    this.stopping?.abort();
    for (const controller of this.sleepers.values()) controller.abort();
  }

  private launch(): void {
    const saved = this.saved as Saved;
    this.stopping = new AbortController();
    this.commanded = new WeakSet();
    this.applied = saved.program.tracks.map(() => null);
    this.trackErrors = saved.program.tracks.map(() => null);
    const signal = this.stopping.signal;
    this.loops = [this.trackLoop(signal), ...saved.program.automations.map((_, i) => this.automationLoop(i, signal))];
  }

  private save(): void {
    if (!this.saved) return;
    try {
      writeFileAtomic(this.path, JSON.stringify(this.saved));
    } catch (err) {
      this.opts.log.error(
        { err: (err as Error).message },
        `could not write the program state (${(err as Error).message}): a restart now would not resume it where it is`,
      );
    }
  }

  /** Sleeps until program second `target` (in chunks no timer overflows), or until `signal` aborts. */
  private async sleepUntil(target: number, signal: AbortSignal): Promise<void> {
    for (;;) {
      if (signal.aborted) return;
      const left = (target - this.elapsedS()) * 1000;
      if (left <= 0) return;
      await this.clock.sleep(Math.min(Math.max(1, Math.ceil(left)), MAX_TIMER_MS), signal);
    }
  }

  private async command(component: ActuatorName, body: Record<string, unknown>): Promise<void> {
    await this.opts.hardware.control(
      component as never,
      body as never,
      programSource(this.saved?.experiment_id ?? null),
    );
  }

  private async trackLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted && this.saved) {
      const program = this.saved.program;
      const t = this.elapsedS();
      const end = programEnd(program);
      if (end !== null && t >= end) {
        void this.finish('the program reached its end');
        return;
      }
      await this.applyTracks(t, signal);
      const next = nextChange(program, t);
      const wake = Math.min(next ?? Number.POSITIVE_INFINITY, end ?? Number.POSITIVE_INFINITY);
      const sleep = this.sleepSignal('tracks');
      if (Number.isFinite(wake)) await this.sleepUntil(wake, sleep);
      else await new Promise<void>((resolve) => sleep.addEventListener('abort', () => resolve(), { once: true }));
    }
  }

  /** Puts every track in its step of program second `t`; a step already applied is not sent again. */
  private async applyTracks(t: number, signal: AbortSignal): Promise<void> {
    const program = (this.saved as Saved).program;
    for (const [i, track] of program.tracks.entries()) {
      if (signal.aborted) return;
      const at = stepInForce(track, t);
      const key = at ? `${track.start_s}:${at.cycle}:${at.step}` : null;
      if (!at || key === this.applied[i]) continue;
      this.applied[i] = key;
      const set = (track.steps[at.step] as { set: Record<string, unknown> }).set;
      try {
        await this.command(track.component, set);
        this.trackErrors[i] = null;
      } catch (err) {
        const reason = (err as Error).message;
        this.trackErrors[i] = reason;
        this.opts.log.warn(
          { track: i, step: at.step, component: track.component, reason },
          `program: step ${at.step} of track ${i} (${track.component}) was refused: ${reason}`,
        );
      }
    }
  }

  private async automationLoop(index: number, signal: AbortSignal): Promise<void> {
    while (!signal.aborted && this.saved) {
      const saved = this.saved;
      const automation = saved.program.automations[index] as Automation;
      const state = saved.automations[index] as AutomationState;
      const t = this.elapsedS();
      if (state.next_s > t) {
        await this.sleepUntil(state.next_s, this.sleepSignal(`a${index}`));
        continue;
      }
      try {
        if (automation.kind === 'thermostat') await this.thermostatTick(automation, state, signal);
        else if (automation.kind === 'turbidostat') await this.turbidostatTick(automation, state, index);
        else await this.chemostatTick(automation, state, index);
      } catch (err) {
        state.error = (err as Error).message;
      }
      if (signal.aborted) return;
      // The next tick on the automation's own grid; ticks missed while the node was down are not made up. One that
      // had no valid reading (the sensors' first samples after a node restart) looks again soon instead: a thermostat
      // would otherwise leave the vessel unheated for a whole interval.
      const now = this.elapsedS();
      const grid = (Math.floor(now / automation.interval_s) + 1) * automation.interval_s;
      const blind = automation.kind !== 'chemostat' && state.last_value === null;
      state.next_s = blind ? Math.min(grid, now + NO_READING_RETRY_S) : grid;
      if (automation.kind !== 'thermostat' || this.clock.now() - this.lastThermostatSave >= THERMOSTAT_SAVE_MS) {
        if (automation.kind === 'thermostat') this.lastThermostatSave = this.clock.now();
        this.save();
      }
    }
  }

  /** One PID step: temperature from temp_sensor, duty (−100..100, + heats) to the peltier. */
  private async thermostatTick(a: Thermostat, state: AutomationState, signal: AbortSignal): Promise<void> {
    const reading = this.opts.hardware.componentState('temp_sensor' as never) as {
      status?: string;
      temperature?: number | null;
    } | null;
    const temperature = reading?.status === 'success' ? (reading.temperature ?? null) : null;
    const limits = (this.saved as Saved).program.limits;
    let output: number;
    if (temperature === null) {
      state.error = 'no valid temperature from temp_sensor: the peltier is off until there is one';
      output = 0;
    } else {
      state.error = null;
      const dt = a.interval_s;
      const error = setpointAt(a, this.elapsedS()) - temperature;
      const derivative = state.last_temperature_c === null ? 0 : -(temperature - state.last_temperature_c) / dt;
      const raw = a.kp * error + a.ki * (state.integral + error * dt) + a.kd * derivative;
      // Anti-windup: the integral grows only while the output is not saturated in the same direction.
      if (Math.abs(raw) < a.max_duty || Math.sign(raw) !== Math.sign(error)) state.integral += error * dt;
      if (a.ki > 0) state.integral = Math.max(-a.max_duty / a.ki, Math.min(a.max_duty / a.ki, state.integral));
      output = Math.max(-a.max_duty, Math.min(a.max_duty, a.kp * error + a.ki * state.integral + a.kd * derivative));
      if (limits.max_temperature_c !== null && temperature >= limits.max_temperature_c) output = Math.min(output, 0);
      if (limits.min_temperature_c !== null && temperature <= limits.min_temperature_c) output = Math.max(output, 0);
      state.last_temperature_c = temperature;
    }
    state.last_value = temperature;
    if (signal.aborted) return;
    const duty = round(Math.abs(output), 1);
    // Small changes are not sent: the command log would grow by a line every interval for nothing.
    if (
      Math.abs(duty - Math.abs(state.output)) < 0.5 &&
      Math.sign(output) === Math.sign(state.output) &&
      this.commanded.has(state)
    )
      return;
    await this.command('peltier_driver', { duty_cycle: duty, direction: output < 0 ? 'cool' : 'heat' });
    this.commanded.add(state);
    state.output = round(output, 1);
    state.doses += 1;
  }

  private pumpVelocity(pump: string, asked: number | null): number {
    const max = (this.opts.hardware.capabilities().pumps?.max_velocity ?? {}) as Record<string, number>;
    return asked ?? max[pump] ?? 1;
  }

  /**
   * Runs one pump for `ml` at its dose rate, then stops it; counts inflow. A change of the program does not cut a
   * dose short; its end does (and then stops the pump with the other actuators).
   */
  private async dose(pump: string, ml: number, velocityAsked: number | null, index: number): Promise<void> {
    const velocity = this.pumpVelocity(pump, velocityAsked);
    await this.command('pumps', { pump_name: pump, velocity });
    try {
      await this.clock.sleep((ml / velocity) * 1000, this.sleepSignal(`dose${index}`));
    } finally {
      await this.command('pumps', { pump_name: pump, velocity: 0 });
    }
    if (this.context().inflowPumps.includes(pump) && this.saved) this.saved.inflow_ml += ml;
  }

  /**
   * Whether a dose of `ml` stays within the program's limits.max_inflow_ml and the node's max_run_inflow_ml (a
   * program no run owns has no run whose cap the pumps count it towards: it is held to that cap here).
   */
  private inflowLeft(ml: number): boolean {
    const saved = this.saved as Saved;
    const caps = [saved.program.limits.max_inflow_ml, this.context().maxRunInflowMl].filter(
      (c): c is number => c !== null,
    );
    return caps.every((cap) => saved.inflow_ml + ml <= cap);
  }

  private async turbidostatTick(a: Turbidostat, state: AutomationState, index: number): Promise<void> {
    const od = this.opts.hardware.componentState('optical_density' as never) as {
      status?: string;
      voltages?: (number | null)[];
      channels?: string[];
    } | null;
    const channel = a.od_reading === null ? 0 : (od?.channels ?? []).indexOf(a.od_reading);
    const value = od?.status === 'success' ? (od.voltages?.[channel] ?? null) : null;
    state.last_value = value;
    if (value === null) {
      state.error = 'no valid optical_density reading: no dose until there is one';
      return;
    }
    state.error = null;
    if (value <= a.od_target) return;
    if (!this.inflowLeft(a.dose_ml)) {
      state.error = `limits.max_inflow_ml or the node's overflow_guard.max_run_inflow_ml reached (${(this.saved as Saved).inflow_ml} mL added): no more doses`;
      return;
    }
    await this.dose(a.pump, a.dose_ml, a.velocity_ml_s, index);
    if (a.pump_out) await this.dose(a.pump_out, a.dose_ml, a.velocity_ml_s, index);
    state.doses += 1;
    state.dosed_ml += a.dose_ml;
  }

  private async chemostatTick(a: Chemostat, state: AutomationState, index: number): Promise<void> {
    const ml = chemostatDoseMl(a);
    if (!this.inflowLeft(ml)) {
      state.error = `limits.max_inflow_ml or the node's overflow_guard.max_run_inflow_ml reached (${(this.saved as Saved).inflow_ml} mL added): no more doses`;
      return;
    }
    state.error = null;
    await this.dose(a.pump_in, ml, a.velocity_ml_s, index);
    await this.dose(a.pump_out, ml, a.velocity_ml_s, index);
    state.doses += 1;
    state.dosed_ml += ml;
  }

  /** Every actuator the program drives, as actuatorKey names them. */
  private driven(program: Program): { component: ActuatorName; key: string; body: Record<string, unknown> }[] {
    const out = new Map<string, { component: ActuatorName; key: string; body: Record<string, unknown> }>();
    for (const track of program.tracks)
      for (const step of track.steps) {
        const key = actuatorKey(track.component, step.set);
        out.set(key, { component: track.component, key, body: step.set });
      }
    for (const a of program.automations)
      for (const key of automationActuators(a)) {
        const [component] = key.split(':');
        out.set(key, { component: component as ActuatorName, key, body: {} });
      }
    return [...out.values()];
  }

  /** The command that puts one driven actuator in its safe state (what the node's safe state does to it). */
  private safeBody(component: ActuatorName, key: string): Record<string, unknown> {
    const name = key.split(':')[1];
    switch (component) {
      case 'peltier_driver': {
        const state = this.opts.hardware.componentState('peltier_driver' as never) as { direction?: string } | null;
        return { duty_cycle: 0, direction: state?.direction ?? 'heat' };
      }
      case 'stirrer':
        return { duty_cycle: Number(this.opts.hardware.capabilities().stirrer?.idle_duty ?? 0) };
      case 'led':
        return { power: 0 };
      case 'ring_light':
        return { red: 0, green: 0, blue: 0 };
      case 'pumps':
        return { pump_name: name, velocity: 0 };
      case 'gas_relays':
        return { relay: name, open: false };
    }
  }

  /** Ends the program: its loops stop, every actuator it drove goes to its safe state, its state file goes. */
  private finish(reason: string): Promise<void> {
    if (this.ending !== null) return this.ending;
    const saved = this.saved;
    if (!saved) return Promise.resolve();
    this.ending = (async () => {
      this.halt();
      await Promise.allSettled(this.loops);
      const problems: string[] = [];
      for (const { component, key } of this.driven(saved.program)) {
        try {
          await this.command(component, this.safeBody(component, key));
        } catch (err) {
          problems.push(`${key}: ${(err as Error).message}`);
        }
      }
      rmSync(this.path, { force: true });
      this.saved = null;
      this.loops = [];
      this.emit('ended', {
        name: saved.program.name,
        experiment_id: saved.experiment_id,
        started_at: saved.started_at,
        reason,
      });
      if (problems.length > 0)
        this.opts.log.error(
          { program: saved.program.name, problems },
          `program "${saved.program.name}" ended (${reason}), but not every actuator went safe: ${problems.join('; ')}`,
        );
      else
        this.opts.log.info(
          { program: saved.program.name },
          `program "${saved.program.name}" ended (${reason}); its actuators are in their safe state`,
        );
    })().finally(() => {
      this.ending = null;
    });
    return this.ending;
  }

  /** Stops the running program (404-like INVALID_STATE when none runs); every actuator it drove goes safe. */
  async stop(): Promise<ProgramStatus> {
    if (!this.saved) throw new ApiError('INVALID_STATE', 'No program is running on this node');
    const status = this.status();
    await this.finish('stopped');
    return { ...status, running: false };
  }

  /** The node shuts down: the loops stop, the state file stays, and the next start resumes the program. */
  async detach(): Promise<void> {
    this.halt();
    await Promise.allSettled(this.loops);
  }

  /** Changes a running program: one automation's parameters, or one track's steps (which start over now). */
  async change(patch: ProgramPatch): Promise<ProgramStatus> {
    const saved = this.saved;
    if (!saved) throw new ApiError('INVALID_STATE', 'No program is running on this node: start one first');
    if (!patch.automation && !patch.track)
      throw new ApiError('VALIDATION_FAILED', 'Give automation {index, set} or track {index, steps}', [
        { field: '', message: 'nothing to change' },
      ]);
    const doc = programAsDocument(saved.program) as {
      tracks: Record<string, unknown>[];
      automations: Record<string, unknown>[];
    };
    const now = this.elapsedS();
    if (patch.automation) {
      const { index, set } = patch.automation;
      const current = doc.automations[index];
      if (!current)
        throw new ApiError(
          'VALIDATION_FAILED',
          `automation ${index} does not exist: the program has ${doc.automations.length}`,
          [{ field: 'automation.index', message: `no automation ${index}` }],
        );
      if ('kind' in set && set.kind !== current.kind)
        throw new ApiError('VALIDATION_FAILED', 'An automation keeps its kind: stop the program and start a new one', [
          { field: 'automation.set.kind', message: 'cannot change' },
        ]);
      doc.automations[index] = { ...current, ...set };
    }
    if (patch.track) {
      const { index, steps, repeat } = patch.track;
      const current = doc.tracks[index];
      if (!current)
        throw new ApiError('VALIDATION_FAILED', `track ${index} does not exist: the program has ${doc.tracks.length}`, [
          { field: 'track.index', message: `no track ${index}` },
        ]);
      doc.tracks[index] = { ...current, steps, ...(repeat !== undefined ? { repeat } : {}) };
    }
    const program = validateProgram(doc, this.context());
    // Tracks keep their time base; the one replaced starts its steps now.
    program.tracks.forEach((track, i) => {
      track.start_s = patch.track?.index === i ? now : (saved.program.tracks[i]?.start_s ?? 0);
    });
    const automationChanged = patch.automation?.index;
    saved.program = program;
    if (automationChanged !== undefined) {
      const state = saved.automations[automationChanged];
      // A new setpoint or gain acts at once: the next tick is now.
      if (state) state.next_s = now;
    }
    if (patch.track) this.applied[patch.track.index] = null;
    this.save();
    this.opts.log.info({ program: program.name, patch }, `program "${program.name}" changed`);
    // The loop concerned looks again now.
    if (patch.track) this.wake('tracks');
    if (automationChanged !== undefined) this.wake(`a${automationChanged}`);
    return this.status();
  }

  status(): ProgramStatus {
    const saved = this.saved;
    if (!saved)
      return {
        status: 'success',
        running: false,
        name: null,
        experiment_id: null,
        started_at: null,
        elapsed_s: null,
        ends_at: null,
        next_change_at: null,
        tracks: [],
        automations: [],
        inflow_ml: 0,
        program: null,
      };
    const program = saved.program;
    const t = this.elapsedS();
    const end = programEnd(program);
    const next = nextChange(program, t);
    return {
      status: 'success',
      running: true,
      name: program.name,
      experiment_id: saved.experiment_id,
      started_at: saved.started_at,
      elapsed_s: round(t, 3),
      ends_at: end === null ? null : this.at(end),
      next_change_at: next === null ? null : this.at(next),
      tracks: program.tracks.map((track, i) => {
        const at = stepInForce(track, t);
        return {
          track: i,
          component: track.component,
          step: at?.step ?? null,
          cycle: at?.cycle ?? null,
          set: at ? ((track.steps[at.step] as { set: Record<string, unknown> }).set ?? null) : null,
          next_change_at: at?.next_s === null || at?.next_s === undefined ? null : this.at(at.next_s),
          error: this.trackErrors[i] ?? null,
        };
      }),
      automations: program.automations.map((a, i) => {
        const state = saved.automations[i] ?? newAutomationState();
        const { kind, ...params } = a;
        const values: Record<string, unknown> =
          kind === 'thermostat'
            ? { temperature_c: state.last_value, output: state.output, integral: round(state.integral, 3) }
            : kind === 'turbidostat'
              ? { od: state.last_value, doses: state.doses, dosed_ml: round(state.dosed_ml, 4) }
              : { doses: state.doses, pumped_ml: round(state.dosed_ml, 4) };
        return { index: i, kind, params, values, error: state.error };
      }),
      inflow_ml: round(saved.inflow_ml, 4),
      program: program as unknown as Record<string, unknown>,
    };
  }
}
