// stirrer: the stirrer motor on a hardware PWM output; duty in percent, idle_duty in the safe state.
import type { ComponentControls } from '@bioreactor/api';
import { Type } from 'typebox';
import { deviceFault, OK, openPwm, pwmOutputs } from './actuator-kit.js';
import { defineComponent, iso } from './component.js';
import { PwmOutputWiring } from './config-kit.js';

const config = {
  stirrer: Type.Object(
    { ...PwmOutputWiring, idle_duty: Type.Number({ minimum: 0, maximum: 100, default: 30 }) },
    { additionalProperties: false, default: { pwm_pin: 12, frequency_hz: 1000 } },
  ),
};

export default defineComponent({
  name: 'stirrer',
  kind: 'actuator',
  config,
  unit: 'percent',
  safeState: 'runs at idle_duty (a culture left unstirred settles)',
  example: { duty_cycle: 30 },
  async open(ctx) {
    const c = ctx.config.stirrer;
    const out = await openPwm(ctx.transports, c);
    let duty = 0;
    let time = ctx.clock.now();
    return {
      kind: 'actuator',
      driver: out.driver,
      async apply(body: ComponentControls['stirrer'], source) {
        const now = ctx.clock.now();
        const next = body.duty_cycle;
        await out.setPercent(next).catch((e: unknown) => Promise.reject(deviceFault(ctx.log, ctx.name, e)));
        duty = next;
        time = now;
        ctx.record(source, { duty_cycle: next });
      },
      state: () => ({ ...OK, timestamp: iso(time), duty_cycle: duty, active: duty > 0 }),
      capabilities: () => ({
        type: 'actuator',
        driver: out.driver,
        control_type: 'pwm',
        parameters: ['duty_cycle'],
        duty_range: [0, 100],
        unit: 'percent',
        frequency_hz: c.frequency_hz,
        idle_duty: c.idle_duty,
      }),
      safe: () => [{ duty_cycle: c.idle_duty }],
      close: () => out.close(),
    };
  },
  simulate(sim) {
    sim.inputs.stirrer = () => sim.pwmFor(sim.config.stirrer)?.fraction ?? 0;
    return undefined;
  },
  outputs: (c, paths) => pwmOutputs('stirrer', c.stirrer, paths),
});
