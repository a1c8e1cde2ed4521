// pumps: stepper pumps on Pololu Tics over USB, named in the hardware file; velocity in mL/s. Supervised while they
// run (each Tic read back and kept alive every TIC_KEEPALIVE_MS, restarted or faulted when it stops by itself), the
// volume counted only while a Tic ran, and the overflow guards (overflow-guard.ts) over the inflow and outflow.
// docs/hardware.md, "Pumps" and "Failures and what the node does".
import { join } from 'node:path';
import { ApiError, type ComponentControls, type ComponentStates } from '@bioreactor/api';
import { type Static, Type } from 'typebox';
import {
  TIC_COMMAND_TIMEOUT_MS,
  TIC_ERROR_BITS,
  type TicStatus,
  TicStepper,
  ticStopReason,
  ticUsbMatch,
} from '../drivers/tic.js';
import { EmulatedTic } from '../emulated/outputs.js';
import { OverflowGuard } from '../overflow-guard.js';
import { deviceFault, OK } from './actuator-kit.js';
import { type ComponentContext, type ConfigOf, defineComponent, iso, round } from './component.js';
import { FaultRequestError } from './sim-kit.js';

/**
 * How often a running pump's Tic is read back and kept alive: half its 1000 ms command timeout, so one late tick
 * does not stop it, and a Tic that stopped is found within this long (docs/hardware.md, "Pumps").
 */
export const TIC_KEEPALIVE_MS = 500;
/** Restarts tried, one per keep-alive tick, before a pump that stopped by itself is declared faulted. */
export const PUMP_RESTART_ATTEMPTS = 3;
/** A Tic's "Max speed" at its defaults, microsteps/s (Tic user's guide §6): the default of max_speed. */
export const DEFAULT_PUMP_MAX_STEPS_PER_S = 200;
/** The Tic's velocity limit, microsteps/s (500 000 000 per 10 000 s, Tic user's guide §8). */
export const TIC_MAX_STEPS_PER_S = 50_000;

export const PumpSchema = Type.Object(
  {
    serial: Type.String({ pattern: '^[0-9]{8}$', description: 'The Tic’s 8-digit USB serial number' }),
    steps_per_ml: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        description:
          'Calibration: Tic velocity units (microsteps per 10 000 s) per mL/s, i.e. 10 000 × microsteps per mL (the original’s name); or give ml_per_step',
      }),
    ),
    ml_per_step: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        description:
          'Calibration: mL moved per microstep at step_mode; the same as steps_per_ml = 10 000 / ml_per_step',
      }),
    ),
    max_speed: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: 50_000,
        description:
          'Fastest step rate, microsteps/s (the Tic Control Center’s "Max speed"); default 200, a Tic’s default (2 000 000 per 10 000 s). The node sets the Tic’s own max speed to it',
      }),
    ),
    max_ml_per_s: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, description: 'The fastest rate in mL/s instead of max_speed' }),
    ),
    direction: Type.Optional(
      Type.Union([Type.Literal('forward'), Type.Literal('reverse')], { description: 'default forward' }),
    ),
    step_mode: Type.Optional(Type.Integer({ minimum: 0, maximum: 9, description: 'default 3 (1/8 step)' })),
    current_limit: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 127, description: 'Tic current limit code, default 32' }),
    ),
  },
  { additionalProperties: false },
);

const config = {
  pumps: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_-]{1,32}$' }), PumpSchema, { default: {} }),
  overflow_guard: Type.Object(
    {
      max_excess_inflow_ml: Type.Union([Type.Number({ exclusiveMinimum: 0 }), Type.Null()], {
        default: null,
        description:
          'Liquid the inflow pumps may add beyond what the outflow pumps take out (the vessel’s headroom) before the node stops them; null: no guard',
      }),
      max_run_inflow_ml: Type.Union([Type.Number({ exclusiveMinimum: 0 }), Type.Null()], {
        default: null,
        description:
          'Liquid one experiment run’s own commands may add through the inflow pumps (its medium reservoir) before the node stops them and refuses that run more; null: no cap',
      }),
      inflow_pumps: Type.Array(Type.String(), { default: ['inflow'], description: 'Pumps that add liquid' }),
      outflow_pumps: Type.Array(Type.String(), { default: ['outflow'], description: 'Pumps that take it out' }),
    },
    { additionalProperties: false, default: {} },
  ),
};
type Config = ConfigOf<typeof config>;

/** A pump's calibration as the node uses it: Tic velocity units per mL/s, and its fastest rate. */
export interface PumpCalibration {
  /** Tic velocity units (microsteps per 10 000 s) per mL/s. */
  stepsPerMl: number;
  /** The Tic's max speed to set, microsteps per 10 000 s. */
  maxSpeed: number;
  /** The fastest rate commands may ask, mL/s (either direction). */
  maxMlPerS: number;
}

/** The calibration of a validated pump entry (the hardware file's check has made sure it is complete). */
export function pumpCalibration(pump: Static<typeof PumpSchema>): PumpCalibration {
  const stepsPerMl = pump.steps_per_ml ?? 10_000 / (pump.ml_per_step ?? 1);
  const maxSpeed =
    pump.max_ml_per_s !== undefined
      ? pump.max_ml_per_s * stepsPerMl
      : (pump.max_speed ?? DEFAULT_PUMP_MAX_STEPS_PER_S) * 10_000;
  return { stepsPerMl, maxSpeed, maxMlPerS: maxSpeed / stepsPerMl };
}

/**
 * The experiment run a command source belongs to: `experiment:<id>`, the node's `restore:experiment:<id>`, and
 * `program:experiment:<id>` of a program the run owns (its doses count towards the run's inflow cap).
 */
export function runOfSource(source: string): string | null {
  const m = /^(?:restore:|program:)?experiment:(.+)$/.exec(source);
  return m ? (m[1] ?? null) : null;
}

/** Pumps whose name says they take liquid out; the rest feed the vessel (the simulated vessel's plumbing). */
export const isOutflowPump = (name: string) => /out|waste|effluent|harvest/i.test(name);

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

type PumpBody = ComponentControls['pumps'];

class Pumps {
  readonly kind = 'actuator';
  readonly driver = 'pololu-tic';
  private readonly overflow: OverflowGuard;
  private lastName = 'all';
  private lastVelocity = 0;
  private time: number;
  private pumpStarted: (() => void) | null = null;

  constructor(
    private readonly ctx: ComponentContext<Config>,
    private readonly units: Map<string, PumpUnit>,
    dataDir: string | null,
  ) {
    const guard = ctx.config.overflow_guard;
    this.overflow = new OverflowGuard(
      guard.max_excess_inflow_ml,
      dataDir ? join(dataDir, 'overflow-guard.json') : null,
      guard.max_run_inflow_ml,
    );
    this.time = ctx.clock.now();
  }

  start(): void {
    this.ctx.loop(() => this.keepAlive());
  }

  async close(): Promise<void> {
    const results = await Promise.allSettled([...this.units.values()].map((p) => p.tic.close()));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  /**
   * While a pump runs: every TIC_KEEPALIVE_MS the overflow guards are brought up to date and each running Tic is
   * read back and kept alive (superviseTic), so a pump that stopped by itself is found within one tick.
   */
  private async keepAlive(): Promise<void> {
    const ctx = this.ctx;
    while (ctx.running) {
      if (![...this.units.values()].some((p) => p.velocity !== 0)) {
        // Nothing runs: wait for a pump to start instead of waking twice a second for nothing.
        // Woken by a pump, it lets go of the signal: the node's signal lives for weeks and would otherwise collect a
        // listener per dose.
        await new Promise<void>((resolve) => {
          const abort = () => resolve();
          this.pumpStarted = () => {
            ctx.signal.removeEventListener('abort', abort);
            resolve();
          };
          ctx.signal.addEventListener('abort', abort, { once: true });
        });
        continue;
      }
      await ctx.clock.sleep(TIC_KEEPALIVE_MS, ctx.signal);
      if (!ctx.running) return;
      await this.checkOverflow();
      for (const pump of this.units.values()) {
        if (pump.velocity === 0 || !ctx.running) continue;
        await ctx
          .lock(() => this.superviseTic(pump))
          .catch((err: Error) =>
            ctx.log.error({ component: 'pumps', pump: pump.name, err: err.message }, `pump ${pump.name} check failed`),
          );
      }
    }
  }

  // ---- supervision (docs/hardware.md, "Failures and what the node does") ----

  /**
   * Reads a running pump's Tic back (operation state, errors, target and current velocity) and keeps it alive. A
   * Tic that stopped by itself (its command timeout after a stall of the node, another error, a reset, no steps)
   * is reported and restarted, at most PUMP_RESTART_ATTEMPTS times one tick apart; then the pump is faulted. Its
   * volume is counted only while it ran. Runs under the pumps lock.
   */
  private async superviseTic(pump: PumpUnit): Promise<void> {
    const ctx = this.ctx;
    if (pump.velocity === 0 || !ctx.running) return;
    const now = ctx.clock.now();
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
      if (pump.fault) this.restarted(pump, now);
      pump.seenRunningAt = now;
      try {
        await pump.tic.keepAlive();
        pump.lastCommandAt = ctx.clock.now();
      } catch (err) {
        // The next read finds out what this means for the pump.
        ctx.log.warn({ component: 'pumps', pump: pump.name, err: (err as Error).message }, 'pump keep-alive failed');
      }
      return;
    }
    if (!pump.fault) this.stopped(pump, reason, now, status);
    const fault = pump.fault as PumpFault | null;
    if (!fault) return;
    fault.reason = reason;
    if (fault.attempts >= PUMP_RESTART_ATTEMPTS) {
      await this.faulted(pump, fault);
      return;
    }
    fault.attempts++;
    fault.restartAt = ctx.clock.now();
    pump.commandedAt = fault.restartAt;
    try {
      await pump.tic.restart(pump.steps);
      pump.lastCommandAt = ctx.clock.now();
    } catch (err) {
      fault.reason = `restarting failed: ${(err as Error).message}`;
    }
  }

  /** A running pump's Tic found stopped: volume counted only while it ran, reported everywhere once. */
  private stopped(pump: PumpUnit, reason: string, now: number, status: TicStatus | null): void {
    // It ran until the last read that saw it running; after a command timeout, until the Tic's own timeout.
    let stoppedAt = pump.seenRunningAt;
    if (status && status.errorStatus & (1 << TIC_ERROR_BITS.commandTimeout))
      stoppedAt = Math.max(stoppedAt, Math.min(now, pump.lastCommandAt + TIC_COMMAND_TIMEOUT_MS));
    this.account(now);
    this.uncount(pump, stoppedAt, now);
    pump.fault = { state: 'restarting', reason, stoppedAt, detectedAt: now, attempts: 0, restartAt: now };
    this.overflow.save();
    const message = `pump ${pump.name} stopped by itself (${reason}), found at ${iso(now)}; its volume is counted until ${iso(stoppedAt)}; restarting it`;
    this.ctx.log.error({ component: 'pumps', pump: pump.name, reason, stopped_at: iso(stoppedAt) }, message);
    this.ctx.record('safety', {
      pump_name: pump.name,
      velocity: pump.velocity,
      stopped: reason,
      stopped_at: iso(stoppedAt),
    });
    this.ctx.changed('safety');
    this.ctx.safetyChanged();
  }

  /** A restart took: counting resumes from the restart that worked. */
  private restarted(pump: PumpUnit, now: number): void {
    const fault = pump.fault;
    if (!fault) return;
    pump.fault = null;
    pump.since = fault.restartAt;
    this.account(now);
    this.overflow.save();
    const lostS = Math.round((fault.restartAt - fault.stoppedAt) / 100) / 10;
    this.ctx.log.info(
      { component: 'pumps', pump: pump.name, stopped_for_s: lostS },
      `pump ${pump.name} runs again at ${pump.velocity} mL/s after ${fault.attempts} restart(s); it had stopped (${fault.reason}) and did not pump for ${lostS} s`,
    );
    this.ctx.record('safety', { pump_name: pump.name, velocity: pump.velocity, restarted: true, stopped_for_s: lostS });
    this.ctx.changed('safety');
    this.ctx.safetyChanged();
  }

  /** Restarts did not take: the pump is halted, de-energised and reported faulted until it is commanded again. */
  private async faulted(pump: PumpUnit, fault: PumpFault): Promise<void> {
    fault.state = 'faulted';
    await pump.tic.run(0).catch(() => {});
    pump.velocity = 0;
    pump.steps = 0;
    this.time = this.ctx.clock.now();
    const message = `pump ${pump.name} is faulted: ${fault.reason}, and ${fault.attempts} restart(s) did not take; it stays stopped (halted, de-energised) until it is commanded again`;
    this.ctx.log.error({ component: 'pumps', pump: pump.name, reason: fault.reason }, message);
    this.ctx.record('safety', { pump_name: pump.name, velocity: 0, fault: fault.reason });
    this.ctx.changed('safety');
    this.ctx.safetyChanged();
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

  // ---- commands ----

  async apply(body: PumpBody, source: string): Promise<void> {
    const ctx = this.ctx;
    const name = 'pumps';
    const now = ctx.clock.now();
    const pumpName = body.pump_name;
    const velocity = body.velocity;
    const pump = this.units.get(pumpName);
    if (!pump) {
      const configured = Object.keys(ctx.config.pumps);
      const why = configured.includes(pumpName) ? ` (${pumpName} is configured but did not answer at start)` : '';
      throw new ApiError(
        'VALIDATION_FAILED',
        `Unknown pump "${pumpName}"${why}: use one of ${[...this.units.keys()].join(', ')}`,
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
    this.account(now);
    // A command of a run the guard has not seen yet starts that run's inflow count.
    if (owner !== null) this.overflow.startRun(owner);
    if (adds && owner !== null && this.overflow.runId === owner && this.overflow.runTripped !== null)
      throw new ApiError('SAFETY_INTERLOCK', `Adding liquid refused: ${this.overflow.runTripped}`);
    this.overflow.save();
    const hadFault = pump.fault;
    await (hadFault && steps !== 0 ? pump.tic.restart(steps) : pump.tic.run(steps)).catch((e: unknown) =>
      Promise.reject(deviceFault(ctx.log, name, e)),
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
      this.time = now;
      if (hadFault?.reason !== refusal)
        ctx.log.error(
          { component: name, pump: pumpName, reason: refusal },
          `pump ${pumpName} did not start: ${refusal}`,
        );
      ctx.record(source, { pump_name: pumpName, velocity: 0, requested_velocity: velocity, fault: refusal });
      ctx.changed(source);
      ctx.safetyChanged();
      throw new ApiError('DEVICE_FAULT', `Pump ${pumpName} did not start: ${refusal}`);
    }
    // A fault holds until the pump runs again or someone (not the node's safe state) stops it.
    const cleared = hadFault !== null && (steps !== 0 || !source.startsWith('safety'));
    // Stopped by the node's safe state while being restarted: no restart follows, so it stays faulted.
    if (hadFault && !cleared) hadFault.state = 'faulted';
    if (cleared) {
      pump.fault = null;
      ctx.log.info(
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
    this.lastName = pumpName;
    this.lastVelocity = velocity;
    this.time = now;
    ctx.record(source, { pump_name: pumpName, velocity, steps_per_10000s: steps });
    if (hadFault) ctx.safetyChanged();
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
    const guard = this.ctx.config.overflow_guard;
    if (guard.inflow_pumps.includes(pumpName)) return 1;
    return guard.outflow_pumps.includes(pumpName) ? -1 : 0;
  }

  /**
   * Brings every pump's volume, the inflow's excess over the outflow and the current run's inflow up to `now`.
   * A pump whose Tic stopped by itself (restarting or faulted) moves nothing and is not counted.
   */
  private account(now: number): void {
    let net = 0;
    const guard = this.overflow;
    for (const pump of this.units.values()) {
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
    if (!this.overflow.enabled) return;
    this.account(this.ctx.clock.now());
    this.overflow.save();
    await this.checkRunInflow();
    if (this.overflow.limitMl !== null) await this.checkExcess(this.overflow.limitMl);
  }

  /** Stops the inflow pumps for `why`: those of `owner` only, when given. */
  private async stopInflow(why: string, owner?: string): Promise<void> {
    const ctx = this.ctx;
    for (const pump of this.units.values()) {
      if (this.flowSign(pump.name) * pump.velocity <= 0) continue;
      if (owner !== undefined && pump.owner !== owner) continue;
      await ctx
        .lock(async () => {
          this.account(ctx.clock.now());
          await pump.tic.run(0);
          pump.velocity = 0;
          pump.steps = 0;
          ctx.record('safety', { pump_name: pump.name, velocity: 0, reason: why });
        })
        .catch((err: Error) =>
          ctx.log.error({ component: 'pumps', pump: pump.name, err: err.message }, 'could not stop an inflow pump'),
        );
    }
    this.time = ctx.clock.now();
    ctx.changed('safety');
    ctx.safetyChanged();
  }

  /** Stops a run's inflow once its own commands have added overflow_guard.max_run_inflow_ml. */
  private async checkRunInflow(): Promise<void> {
    const guard = this.overflow;
    const cap = guard.runLimitMl;
    if (cap === null || guard.runId === null || !guard.runActive || guard.runTripped !== null) return;
    if (guard.runInflowMl < cap) return;
    guard.runTripped = `experiment ${guard.runId} has added ${round(guard.runInflowMl, 1)} mL through the inflow pumps, its limit overflow_guard.max_run_inflow_ml (${cap} mL), at ${iso(this.ctx.clock.now())}; that run may add no more liquid`;
    guard.save();
    this.ctx.log.error(
      { component: 'pumps', experiment_id: guard.runId, inflow_ml: guard.runInflowMl, cap },
      guard.runTripped,
    );
    await this.stopInflow(guard.runTripped, guard.runId);
  }

  /** Stops the inflow once it has added overflow_guard.max_excess_inflow_ml more than the outflow removed. */
  private async checkExcess(limit: number): Promise<void> {
    const guard = this.overflow;
    if (guard.tripped !== null && guard.excessMl <= 0) {
      guard.tripped = null;
      guard.save();
      this.ctx.log.info({ component: 'pumps' }, 'overflow guard released: the outflow has caught up');
      this.ctx.changed('safety');
      this.ctx.safetyChanged();
      return;
    }
    if (guard.tripped !== null || guard.excessMl < limit) return;
    guard.tripped = `the inflow added ${round(guard.excessMl, 1)} mL more than the outflow removed, past overflow_guard.max_excess_inflow_ml (${limit} mL), at ${iso(this.ctx.clock.now())}; adding liquid is refused until the outflow has taken that much out`;
    guard.save();
    this.ctx.log.error({ component: 'pumps', excess_ml: guard.excessMl, limit }, guard.tripped);
    await this.stopInflow(guard.tripped);
  }

  /**
   * Every pump stopped. The experiment manager's end of a run ("experiment <id> <status>", or an interrupted
   * experiment found at start) also lifts that run's inflow cap.
   */
  safe(reason: string): PumpBody[] {
    const ended =
      /^experiment (\S+) /.exec(reason)?.[1] ?? (/interrupted experiment/.test(reason) ? this.overflow.runId : null);
    // The safety event goes out after the whole safe state (the controller's).
    if (ended) this.overflow.endRun(ended);
    return [...this.units.keys()].map((pump) => ({ pump_name: pump, velocity: 0 }));
  }

  interlocks(): string[] {
    const out: string[] = [];
    if (this.overflow.tripped) out.push(`Adding liquid refused: ${this.overflow.tripped}`);
    if (this.overflow.runTripped && this.overflow.runActive)
      out.push(`Adding liquid refused: ${this.overflow.runTripped}`);
    for (const pump of this.units.values())
      if (pump.fault)
        out.push(
          pump.fault.state === 'faulted'
            ? `Pump ${pump.name} is faulted: ${pump.fault.reason}; it is stopped until commanded again`
            : `Pump ${pump.name} stopped by itself: ${pump.fault.reason}; restarting it`,
        );
    return out;
  }

  /** Running pumps accumulate volume by the moment, so their state is built fresh each time. */
  volatile(): boolean {
    return [...this.units.values()].some((u) => u.velocity !== 0 && u.fault === null);
  }

  state(): ComponentStates['pumps'] {
    this.account(this.ctx.clock.now());
    const units = [...this.units.values()];
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
      ...OK,
      ...(faults.length > 0 ? { status: 'error' as const, message: faults.join('; ') } : {}),
      timestamp: iso(this.time),
      pump_name: this.lastName,
      velocity: this.lastVelocity,
      active: pumps.some((u) => u.active),
      pumps,
      ...this.overflowState(),
    };
  }

  capabilities(): Record<string, unknown> {
    const names = [...this.units.keys()];
    return {
      type: 'actuator',
      driver: 'pololu-tic',
      control_type: 'stepper',
      parameters: ['pump_name', 'velocity'],
      available_pumps: names,
      count: names.length,
      channels: names,
      velocity_units: 'mL/s',
      unit: 'mL/s',
      max_velocity: Object.fromEntries([...this.units.values()].map((u) => [u.name, round(u.maxMlPerS, 6)])),
      max_speed_steps_per_s: Object.fromEntries(
        [...this.units.values()].map((u) => [u.name, round(u.maxSpeed / 10_000, 4)]),
      ),
      negative_velocity: 'runs against the configured direction',
    };
  }

  /** For the manifest: what each pump has moved since the node started. */
  counters(): Record<string, unknown> {
    this.account(this.ctx.clock.now());
    return Object.fromEntries(
      [...this.units.values()].map((u) => [u.name, { total_volume_ml: round(u.totalMl, 4) ?? 0 }]),
    );
  }
}

export default defineComponent({
  name: 'pumps',
  kind: 'actuator',
  config,
  unit: 'mL/s',
  safeState: 'every pump stopped',
  example: { pump_name: 'inflow', velocity: 0.1 },
  async open(ctx) {
    const units = new Map<string, PumpUnit>();
    const problems: string[] = [];
    for (const [pump, cfg] of Object.entries(ctx.config.pumps)) {
      try {
        const tic = new TicStepper(await ctx.transports.usb(ticUsbMatch(cfg.serial)), cfg.serial);
        const calibration = pumpCalibration(cfg);
        // Configuring never moves liquid: the original's 3 s self-test at boot is deliberately absent. The
        // Tic's own max speed becomes the calibrated maximum, so it never runs faster than the node counts.
        await tic.configure(cfg.step_mode ?? 3, cfg.current_limit ?? 32, calibration.maxSpeed);
        await tic.probe();
        const now = ctx.clock.now();
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
      ctx.log.warn({ component: ctx.name, problems }, `some pumps are missing: ${problems.join('; ')}`);
    return new Pumps(ctx, units, ctx.dataDir);
  },
  simulate(sim) {
    const pumps = sim.config.pumps;
    // One emulated Tic per configured serial; another serial is a device that is not plugged in.
    for (const pump of Object.values(pumps))
      if (!sim.tics.has(pump.serial)) sim.tics.set(pump.serial, new EmulatedTic(sim.clock));
    sim.inputs.flows = () => {
      let inMlPerS = 0;
      let outMlPerS = 0;
      for (const [name, pump] of Object.entries(pumps)) {
        const tic = sim.tics.get(pump.serial);
        if (!tic) continue;
        const sign = pump.direction === 'reverse' ? -1 : 1;
        const mlPerS = (sign * tic.velocity) / pumpCalibration(pump).stepsPerMl;
        if (isOutflowPump(name)) outMlPerS += mlPerS;
        else inMlPerS += mlPerS;
      }
      return { inMlPerS, outMlPerS };
    };
    return {
      faults: ['stall'],
      inject(request) {
        const names = Object.keys(pumps);
        const name = request.pump_name;
        if (name === undefined || !names.includes(name))
          throw new FaultRequestError(`A pump stall needs pump_name, one of ${names.join(', ')}`);
        const tic = sim.tics.get(pumps[name]?.serial ?? '');
        if (!tic) throw new FaultRequestError(`Pump ${name} was not opened, so it cannot stall`);
        tic.stall(true);
        return { pump_name: name };
      },
      clear() {
        for (const tic of sim.tics.values()) if (tic.stalled) tic.stall(false);
      },
    };
  },
  normalize(c) {
    for (const pump of Object.values(c.pumps)) {
      pump.direction ??= 'forward';
      pump.step_mode ??= 3;
      pump.current_limit ??= 32;
    }
  },
  check(c) {
    const problems: string[] = [];
    const serials = new Map<string, string>();
    for (const [name, pump] of Object.entries(c.pumps)) {
      if ((pump.steps_per_ml === undefined) === (pump.ml_per_step === undefined))
        problems.push(`pumps.${name}: give one calibration, steps_per_ml or ml_per_step`);
      if (pump.max_speed !== undefined && pump.max_ml_per_s !== undefined)
        problems.push(`pumps.${name}: give max_speed or max_ml_per_s, not both`);
      if (pump.steps_per_ml !== undefined || pump.ml_per_step !== undefined) {
        const { maxSpeed, stepsPerMl } = pumpCalibration(pump);
        if (maxSpeed > TIC_MAX_STEPS_PER_S * 10_000)
          problems.push(
            `pumps.${name}: max_ml_per_s ${pump.max_ml_per_s} needs ${maxSpeed / 10_000} microsteps/s, past the Tic's ${TIC_MAX_STEPS_PER_S}: at most ${(TIC_MAX_STEPS_PER_S * 10_000) / stepsPerMl} mL/s with this calibration`,
          );
      }
      const other = serials.get(pump.serial);
      if (other) problems.push(`pumps.${name}: serial ${pump.serial} is already pump ${other}`);
      serials.set(pump.serial, name);
    }
    if (c.overflow_guard.max_excess_inflow_ml !== null) {
      const { inflow_pumps: inflow, outflow_pumps: outflow } = c.overflow_guard;
      for (const [key, names] of [
        ['inflow_pumps', inflow],
        ['outflow_pumps', outflow],
      ] as const)
        for (const name of names)
          if (!(name in c.pumps)) problems.push(`overflow_guard.${key}: no pump is named ${name}`);
      for (const name of inflow)
        if (outflow.includes(name)) problems.push(`overflow_guard: pump ${name} cannot be both inflow and outflow`);
      if (inflow.length === 0) problems.push('overflow_guard.inflow_pumps: name the pumps that add liquid');
    }
    return problems;
  },
});
