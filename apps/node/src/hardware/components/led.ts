// led: the LED on a hardware PWM output; power in percent. It heats the vessel a little, so the critical thermal
// stage switches it off and refuses it.
import { ApiError, type ComponentControls } from '@bioreactor/api';
import { Type } from 'typebox';
import { deviceFault, OK, openPwm, pwmOutputs } from './actuator-kit.js';
import { defineComponent, iso } from './component.js';
import { PwmOutputWiring } from './config-kit.js';

const config = {
  led: Type.Object(
    { ...PwmOutputWiring },
    { additionalProperties: false, default: { pwm_pin: 18, frequency_hz: 500 } },
  ),
};

export default defineComponent({
  name: 'led',
  kind: 'actuator',
  config,
  unit: 'percent',
  safeState: 'off',
  example: { power: 50 },
  async open(ctx) {
    const c = ctx.config.led;
    const out = await openPwm(ctx.transports, c);
    let power = 0;
    let time = ctx.clock.now();
    return {
      kind: 'actuator',
      driver: out.driver,
      async apply(body: ComponentControls['led'], source) {
        const now = ctx.clock.now();
        const next = body.power;
        const critical = ctx.shared('heating')?.critical ?? null;
        if (next > 0 && critical !== null) throw new ApiError('SAFETY_INTERLOCK', `LED refused: ${critical}`);
        await out.setPercent(next).catch((e: unknown) => Promise.reject(deviceFault(ctx.log, ctx.name, e)));
        power = next;
        time = now;
        ctx.record(source, { power: next });
      },
      state: () => ({ ...OK, timestamp: iso(time), power, active: power > 0 }),
      capabilities: () => ({
        type: 'actuator',
        driver: out.driver,
        control_type: 'pwm',
        parameters: ['power'],
        power_range: [0, 100],
        unit: 'percent',
        frequency_hz: c.frequency_hz,
      }),
      safe: () => [{ power: 0 }],
      heatOff: () => (power > 0 ? { power: 0 } : null),
      close: () => out.close(),
    };
  },
  simulate(sim) {
    sim.inputs.led = () => sim.pwmFor(sim.config.led)?.fraction ?? 0;
    return undefined;
  },
  outputs: (c, paths) => pwmOutputs('led', c.led, paths),
});
