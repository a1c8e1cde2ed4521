// peltier_current: the peltier's supply current, a current sensor's voltage (an ACS712 or a shunt amplifier) on an
// ADS1115/ADS1114 input, scaled to amps: amps = (volts - offset_v) × amps_per_volt. Off unless the hardware file
// enables it. With max_current_a set, a reading above it switches the peltier off (source safety:over-current).
import { Type } from 'typebox';
import { ADS_FSR, Ads1115, pgaCode } from '../drivers/ads1115.js';
import { Ads1115Chip } from '../emulated/i2c-chips.js';
import { type ConfigOf, defineComponent } from './component.js';
import { Gain, hex, I2cAddress, i2cAddress } from './config-kit.js';
import { i2cFaults } from './sim-kit.js';

/** The simulated module's current at full drive, either way (a 12 V, 4 A peltier). */
const SIMULATED_FULL_A = 4;

const config = {
  peltier_current: Type.Object(
    {
      i2c_address: Type.Union([I2cAddress, Type.Null()], { default: null, description: 'null: 0x4b' }),
      chip: Type.Union([Type.Literal('ads1115'), Type.Literal('ads1114')], { default: 'ads1115' }),
      input: Type.String({ pattern: '^A[0-3]$', default: 'A0', description: 'The ADC input (A0 on an ADS1114)' }),
      gain: Type.Optional(Gain),
      amps_per_volt: Type.Number({
        default: 1,
        description: 'The sensor’s scale, A per V (an ACS712-05B, 185 mV/A: 5.405)',
      }),
      offset_v: Type.Number({ default: 0, description: 'Its output at zero current, V (an ACS712 on 5 V: 2.5)' }),
      max_current_a: Type.Union([Type.Number({ exclusiveMinimum: 0 }), Type.Null()], {
        default: null,
        description: 'Above it the node switches the peltier off; null: no limit',
      }),
    },
    { additionalProperties: false, default: {} },
  ),
};
type Config = ConfigOf<typeof config>;
const addressOf = (c: Config) => i2cAddress(c.peltier_current.i2c_address, 0x4b);
const inputOf = (c: Config) => Number(c.peltier_current.input.slice(1));

export default defineComponent({
  name: 'peltier_current',
  kind: 'sensor',
  optional: true,
  config,
  sampling: { default_s: 1, minimum_s: 0.05 },
  unit: 'amps',
  safeState: 'drives nothing',
  async open(ctx) {
    const c = ctx.config.peltier_current;
    const address = addressOf(ctx.config);
    const input = inputOf(ctx.config);
    if (c.chip === 'ads1114' && input !== 0) throw new Error(`an ADS1114 has one input: set peltier_current.input A0`);
    const adc = new Ads1115(await ctx.i2c(), address, ctx.clock, c.chip);
    await adc.probe();
    const gain = c.gain ?? 1;
    const fullScaleV = ADS_FSR[pgaCode(gain)] ?? 4.096;
    let over = false;
    return {
      kind: 'sensor',
      driver: adc.driver,
      unit: 'amps',
      channels: ['current'],
      digits: 3,
      async read() {
        const volts = await adc.readVolts(input, gain);
        if (Math.abs(volts) >= fullScaleV * 0.999)
          throw new Error(`the current sensor's ${volts.toFixed(3)} V is at the ADC's full scale: not a reading`);
        const amps = (volts - c.offset_v) * c.amps_per_volt;
        const limit = c.max_current_a;
        if (limit !== null && Math.abs(amps) > limit) {
          const reason = `the peltier draws ${amps.toFixed(2)} A, above peltier_current.max_current_a (${limit} A)`;
          if (!over) ctx.log.error({ component: ctx.name, amps, limit }, `${reason}: switching it off`);
          over = true;
          await ctx.shared('heating')?.stop('safety:over-current', reason);
        } else over = false;
        return [amps];
      },
      state: (base, values) => ({ ...base, current: values[0] ?? null, unit: 'amps' }),
      capabilities: {
        sensor_type: 'current',
        i2c_address: hex(address),
        input: c.input,
        amps_per_volt: c.amps_per_volt,
        offset_v: c.offset_v,
        max_current_a: c.max_current_a,
      },
    };
  },
  simulate(sim) {
    const c = sim.config.peltier_current;
    const input = inputOf(sim.config);
    const volts = (i: number) =>
      i === input ? c.offset_v + (Math.abs(sim.inputs.peltier()) * SIMULATED_FULL_A) / c.amps_per_volt : 0;
    const address = addressOf(sim.config);
    sim.bus.attach(address, new Ads1115Chip(sim.clock, volts, c.chip === 'ads1114' ? 1 : 4));
    return i2cFaults(sim.bus, [address]);
  },
  i2cAddresses: (c) => [{ who: 'peltier_current', address: addressOf(c) }],
});
