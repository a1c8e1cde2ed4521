// peltier_driver: the peltier module on an H-bridge (PWM + a direction line), and the thermal safety that watches
// it: it listens to every thermometer read of temp_sensor, stages the over-temperature response, refuses heating
// without a valid, fresh temperature and switches off what must be off (thermal-safety.ts holds the rules;
// docs/hardware.md, "Failures and what the node does").
import { ApiError, type ComponentControls, PELTIER_DIRECTIONS, type PeltierDirection } from '@bioreactor/api';
import { Type } from 'typebox';
import { PeltierBridge } from '../drivers/pwm-output.js';
import { type CutoffKind, nextOverStage, type OverStage, THERMAL } from '../thermal-safety.js';
import { gpioLineDir } from '../transports/linux.js';
import { deviceFault, OK, openPwm, pwmOutputs } from './actuator-kit.js';
import { defineComponent, iso } from './component.js';
import { PwmOutputWiring } from './config-kit.js';

/** The watchdog looks again this soon when switching the heating off failed. */
const WATCHDOG_RETRY_MS = 250;

const config = {
  peltier_driver: Type.Object(
    {
      ...PwmOutputWiring,
      dir_pin: Type.Integer({ minimum: 0, maximum: 27 }),
      direction_inverted: Type.Boolean({
        default: false,
        description: 'Set when DIR high heats on this wiring (by default DIR high cools)',
      }),
      over_temperature_c: Type.Number({ minimum: 20, maximum: 90, default: 45 }),
    },
    { additionalProperties: false, default: { pwm_pin: 13, dir_pin: 20, frequency_hz: 1000 } },
  ),
};

export function peltierMode(direction: PeltierDirection, duty: number): 'heat' | 'cool' | 'off' {
  if (duty <= 0) return 'off';
  return direction === 'heat' || direction === 'reverse' ? 'heat' : 'cool';
}

export default defineComponent({
  name: 'peltier_driver',
  kind: 'actuator',
  config,
  unit: 'percent',
  safeState: 'off (duty 0), heating first of all',
  safeFirst: true,
  example: { duty_cycle: 40, direction: 'heat' },
  async open(ctx) {
    const c = ctx.config.peltier_driver;
    const pwm = await openPwm(ctx.transports, c);
    const dir = await ctx.transports.gpio(c.dir_pin);
    const bridge = new PeltierBridge(pwm, dir, c.direction_inverted);
    await bridge.probe();
    const p = {
      duty: 0,
      direction: 'forward' as PeltierDirection,
      time: ctx.clock.now(),
      /** Why heating is refused (no valid temperature, over-temperature, critical); see thermal-safety.ts. */
      cutoff: null as string | null,
      /** Why heating runs at half the commanded duty. */
      heatLimit: null as string | null,
    };
    let overStage: OverStage = 0;
    /** The last hottest valid reading, for the messages of a stage that holds while no reading is valid. */
    let lastHottest: number | null = null;
    let cutoffKind: CutoffKind | null = null;
    /** Since when the peltier heats at ≥ THERMAL.stuckMinHeatDuty (stuck-thermometer detection). */
    let heatingHardSince: number | null = null;
    /** Wakes the heating watchdog when the peltier starts heating. */
    let heatStarted: (() => void) | null = null;
    const thermometry = () => ctx.shared('thermometry');

    ctx.provide('heating', {
      get hardSince() {
        return heatingHardSince;
      },
      get critical() {
        return cutoffKind === 'critical' ? p.cutoff : null;
      },
      async stop(source: string, reason: string) {
        if (p.duty === 0) return;
        await ctx.lock(async () => {
          await bridge.off();
          p.duty = 0;
          p.time = ctx.clock.now();
          noteHeating();
        });
        ctx.record(source, { duty_cycle: 0, direction: p.direction, reason });
        ctx.changed(source);
      },
    });

    /** Keeps heatingHardSince: when the peltier started heating at ≥ THERMAL.stuckMinHeatDuty, or null. */
    const noteHeating = () => {
      const hard = peltierMode(p.direction, p.duty) === 'heat' && p.duty >= THERMAL.stuckMinHeatDuty;
      heatingHardSince = hard ? (heatingHardSince ?? ctx.clock.now()) : null;
    };

    /** Switches a heating peltier off (cooling and off are left alone) and records the cut-off either way. */
    const heatOff = async (source: string, reason: string) => {
      try {
        await ctx.lock(async () => {
          if (peltierMode(p.direction, p.duty) !== 'heat') return;
          await bridge.off();
          p.duty = 0;
          p.time = ctx.clock.now();
          noteHeating();
        });
      } catch (err) {
        ctx.log.error(
          { component: 'peltier_driver', err: (err as Error).message },
          `could not switch the heating off: ${(err as Error).message}`,
        );
      }
      ctx.record(source, { duty_cycle: p.duty, direction: p.direction, cutoff: reason });
    };

    /** Halves a heating peltier's duty (the limited stage) and records the limit either way. */
    const halveHeating = async (reason: string) => {
      try {
        await ctx.lock(async () => {
          if (peltierMode(p.direction, p.duty) !== 'heat') return;
          const duty = p.duty / 2;
          await bridge.drive('heat', duty);
          p.duty = duty;
          p.time = ctx.clock.now();
          noteHeating();
        });
      } catch (err) {
        ctx.log.error(
          { component: 'peltier_driver', err: (err as Error).message },
          `could not limit the heating: ${(err as Error).message}`,
        );
      }
      ctx.record('safety:over-temperature-limit', {
        duty_cycle: p.duty,
        direction: p.direction,
        heat_limit: reason,
      });
    };

    /**
     * Brings the thermal safety up to the thermometers' latest reads: the over-temperature stage, the cut-off in
     * force and the heating limit, and switches off what must be off. Each change is logged once, shown in
     * peltier_driver (cutoff, heat_limit, safety_stage), written to the command log and sent on the stream.
     */
    const checkThermal = async () => {
      const now = ctx.clock.now();
      const limitC = c.over_temperature_c;
      const t = thermometry();
      const hottest = t?.hottest(now) ?? null;
      if (hottest !== null) {
        overStage = nextOverStage(overStage, hottest, limitC);
        lastHottest = hottest;
      }
      const stage = overStage;
      const at = iso(now);
      const vessel = `vessel at ${lastHottest?.toFixed(1) ?? '?'} °C`;
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
          reason: `no thermometer: temp_sensor is unavailable (${ctx.unavailable('temp_sensor') ?? 'not configured'}), and heating needs a valid temperature`,
        };
      else {
        // Before the first read this is null unless that read is overdue: heating waits for it (heatRefusal).
        const distrust = t.distrust(now);
        if (distrust) verdict = { kind: distrust.kind, reason: `${distrust.reason} (at ${at})` };
      }
      const previousKind = cutoffKind;
      const kindChanged = (verdict?.kind ?? null) !== previousKind;
      if (kindChanged) {
        cutoffKind = verdict?.kind ?? null;
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
        const fields = { component: 'peltier_driver', cutoff: verdict.kind, temperature: lastHottest };
        if (verdict.kind === 'critical')
          (ctx.log.fatal ?? ctx.log.error).call(ctx.log, fields, `heating cut off: ${verdict.reason}`);
        else if (previousKind === 'critical')
          ctx.log.info(fields, `critical stage released; heating is still refused: ${verdict.reason}`);
        else ctx.log.error(fields, `heating cut off: ${verdict.reason}`);
        await heatOff(`safety:${verdict.kind}`, verdict.reason);
        if (verdict.kind === 'critical') await ctx.heatSourcesOff(`safety:${verdict.kind}`);
      } else if (kindChanged) {
        ctx.log.info(
          { component: 'peltier_driver', released: previousKind },
          `heating allowed again: the ${previousKind} cutoff is released`,
        );
        ctx.record(`safety:${previousKind}`, {
          duty_cycle: p.duty,
          direction: p.direction,
          cutoff: null,
          released: previousKind,
        });
      }
      if (limitChanged && p.heatLimit !== null) {
        ctx.log.warn({ component: 'peltier_driver', temperature: lastHottest }, `heating limited: ${p.heatLimit}`);
        await halveHeating(p.heatLimit);
      } else if (limitChanged) {
        ctx.log.info({ component: 'peltier_driver' }, 'heating limit released: full duty allowed again');
        ctx.record('safety:over-temperature-limit', { duty_cycle: p.duty, direction: p.direction, heat_limit: null });
      }
      ctx.changed(`safety:${cutoffKind ?? previousKind ?? 'over-temperature-limit'}`);
      ctx.safetyChanged();
    };
    ctx.on('thermometer', checkThermal);

    /** Why a heating command is refused now, or null. */
    const heatRefusal = (): string | null => {
      if (p.cutoff) return p.cutoff;
      const t = thermometry();
      if (t && !t.anyRead)
        return `no temperature yet: the first reading is still in progress (${THERMAL.conversionMs} ms per thermometer)`;
      return null;
    };

    /**
     * The watchdog of a heating peltier: wakes when the next thermometer would go stale, so heating stops at most
     * THERMAL.stalePeriods sample periods after the last valid reading even when a read never completes.
     */
    const heatWatch = async () => {
      // The state at start: e.g. no thermometer at all refuses heating from the first command on.
      await checkThermal();
      while (ctx.running) {
        const t = thermometry();
        if (!t || peltierMode(p.direction, p.duty) !== 'heat') {
          await new Promise<void>((resolve) => {
            const wake = () => {
              ctx.signal.removeEventListener('abort', wake);
              if (heatStarted === wake) heatStarted = null;
              resolve();
            };
            heatStarted = wake;
            ctx.signal.addEventListener('abort', wake, { once: true });
          });
          continue;
        }
        const wait = t.nextStaleAt() - ctx.clock.now();
        if (wait > 0) await ctx.clock.sleep(wait, ctx.signal);
        if (!ctx.running) return;
        await checkThermal();
        // Still overdue and still heating: switching off failed; look again soon rather than spin.
        if (t.nextStaleAt() <= ctx.clock.now() && peltierMode(p.direction, p.duty) === 'heat')
          await ctx.clock.sleep(WATCHDOG_RETRY_MS, ctx.signal);
      }
    };

    return {
      kind: 'actuator',
      driver: bridge.driver,
      async prepare(body: ComponentControls['peltier_driver']) {
        if (peltierMode(body.direction, body.duty_cycle) !== 'heat') return;
        const t = thermometry();
        // Heating needs a temperature: right after start, wait for the first one (bounded) instead of refusing.
        if (t && !t.anyRead) await ctx.waitForFirstSamples(['temp_sensor']);
        await checkThermal();
        // Stale only (the node itself was stalled, so the thermometers were not read): the next reading, due within
        // a sample period, settles it; a command waits for it (bounded) instead of failing the script for our pause.
        if (cutoffKind === 'stale' && t) {
          await ctx.nextSample('temp_sensor', 2 * t.periodMs);
          await checkThermal();
        }
      },
      async apply(body: ComponentControls['peltier_driver'], source) {
        const now = ctx.clock.now();
        const duty = body.duty_cycle;
        const direction = body.direction;
        if (!PELTIER_DIRECTIONS.includes(direction))
          throw new ApiError('VALIDATION_FAILED', `direction must be one of ${PELTIER_DIRECTIONS.join(', ')}`);
        const mode = peltierMode(direction, duty);
        const refusal = mode === 'heat' ? heatRefusal() : null;
        if (refusal !== null) throw new ApiError('SAFETY_INTERLOCK', `Heating refused: ${refusal}`);
        // Within THERMAL.limitBelowC of the over-temperature limit, heating runs at half the commanded duty.
        const applied = mode === 'heat' && p.heatLimit !== null ? duty / 2 : duty;
        await (mode === 'off' ? bridge.off() : bridge.drive(mode, applied)).catch((e: unknown) =>
          Promise.reject(deviceFault(ctx.log, ctx.name, e)),
        );
        Object.assign(p, { duty: applied, direction, time: now });
        noteHeating();
        ctx.record(
          source,
          applied === duty
            ? { duty_cycle: duty, direction }
            : { duty_cycle: applied, direction, requested_duty_cycle: duty, heat_limit: p.heatLimit },
        );
        if (mode === 'heat') heatStarted?.();
      },
      state() {
        const mode = peltierMode(p.direction, p.duty);
        const stage = cutoffKind === 'critical' ? 'critical' : p.cutoff ? 'cutoff' : p.heatLimit ? 'limited' : 'normal';
        return {
          ...OK,
          timestamp: iso(p.time),
          duty_cycle: p.duty,
          direction: p.direction,
          mode,
          active: mode !== 'off',
          cutoff: p.cutoff,
          heat_limit: p.heatLimit,
          safety_stage: stage,
        };
      },
      capabilities: () => ({
        type: 'actuator',
        driver: bridge.driver,
        control_type: 'pwm_directional',
        parameters: ['duty_cycle', 'direction'],
        duty_range: [0, 100],
        directions: [...PELTIER_DIRECTIONS],
        direction_meaning: { heat: 'heat', reverse: 'heat', cool: 'cool', forward: 'cool' },
        unit: 'percent',
        frequency_hz: c.frequency_hz,
        over_temperature_c: c.over_temperature_c,
      }),
      safe: () => [{ duty_cycle: 0, direction: p.direction }],
      interlocks() {
        const out: string[] = [];
        if (p.cutoff) out.push(`Heating refused: ${p.cutoff}`);
        if (p.heatLimit) out.push(`Heating limited to half duty: ${p.heatLimit}`);
        return out;
      },
      start: () => ctx.loop(heatWatch),
      close: () => bridge.close(),
    };
  },
  simulate(sim) {
    const c = sim.config.peltier_driver;
    sim.inputs.peltier = () => {
      const duty = sim.pwmFor(c)?.fraction ?? 0;
      const dirHigh = sim.gpio.get(c.dir_pin)?.high ?? false;
      const heating = dirHigh === c.direction_inverted;
      return heating ? duty : -duty;
    };
    return undefined;
  },
  async outputs(c, paths) {
    const out = await pwmOutputs('peltier_driver', c.peltier_driver, paths);
    const path = await gpioLineDir(c.peltier_driver.dir_pin, paths).catch(() => null);
    // Low is the level the node gives the line at start and at close.
    if (path) out.push({ component: 'peltier_driver', kind: 'gpio', path, safe: 0 });
    return out;
  },
});
