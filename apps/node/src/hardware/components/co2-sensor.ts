// co2_sensor: an Atlas EZO-CO2 (default 0x69) or a Senseair K33 (default 0x68) on the I2C bus; ppm.
import { Type } from 'typebox';
import { AtlasEzo, EZO_DEVICES } from '../drivers/atlas-ezo.js';
import { SenseairK33 } from '../drivers/senseair-k33.js';
import { EzoCo2Chip, K33Chip } from '../emulated/i2c-chips.js';
import { type ConfigOf, defineComponent } from './component.js';
import { hex, I2cAddress, i2cAddress } from './config-kit.js';
import { i2cFaults } from './sim-kit.js';

const config = {
  co2_sensor_type: Type.Union([Type.Literal('atlas'), Type.Literal('atlas_i2c'), Type.Literal('sensair_k33')], {
    default: 'atlas',
  }),
  co2_sensor_i2c_address: Type.Union([I2cAddress, Type.Null()], {
    default: null,
    description: 'null: 0x69 for Atlas, 0x68 for the Senseair K33',
  }),
  k33_ppm_per_count: Type.Number({
    exclusiveMinimum: 0,
    default: 1,
    description:
      'Senseair K33: ppm per count of its CO2 value (RAM 0x08); 1 as Senseair’s I2C guide reads it, 10 as the original system did',
  }),
};

const addressOf = (c: ConfigOf<typeof config>) =>
  i2cAddress(c.co2_sensor_i2c_address, c.co2_sensor_type === 'sensair_k33' ? 0x68 : EZO_DEVICES.co2.address);

export default defineComponent({
  name: 'co2_sensor',
  kind: 'sensor',
  config,
  sampling: { default_s: 2, minimum_s: 2, description: 'An EZO-CO2 reading takes 1.5 s' },
  unit: 'ppm',
  safeState: 'drives nothing',
  async open(ctx) {
    const c = ctx.config;
    const k33 = c.co2_sensor_type === 'sensair_k33';
    const address = addressOf(c);
    const bus = await ctx.i2c();
    const chip = k33
      ? new SenseairK33(bus, address, ctx.clock, c.k33_ppm_per_count)
      : new AtlasEzo(bus, address, ctx.clock, EZO_DEVICES.co2);
    await chip.probe();
    return {
      kind: 'sensor',
      driver: chip.driver,
      unit: 'ppm',
      channels: ['co2'],
      digits: 0,
      // The EZO-CO2 processes a read for 1.5 s.
      readMs: 2000,
      read: () => chip.sample(),
      state: (base, values) => ({ ...base, co2_ppm: values[0] ?? null, unit: 'ppm' }),
      capabilities: { sensor_type: 'co2', model: k33 ? 'sensair_k33' : 'atlas', i2c_address: hex(address) },
    };
  },
  simulate(sim) {
    const c = sim.config;
    const address = addressOf(c);
    const co2 = () => sim.at(() => sim.model.co2());
    sim.bus.attach(
      address,
      c.co2_sensor_type === 'sensair_k33'
        ? new K33Chip(sim.clock, co2, c.k33_ppm_per_count)
        : new EzoCo2Chip(sim.clock, co2),
    );
    return i2cFaults(sim.bus, [address]);
  },
  i2cAddresses: (c) => [{ who: 'co2_sensor', address: addressOf(c) }],
});
