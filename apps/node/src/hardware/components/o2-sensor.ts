// o2_sensor: an Atlas EZO-O2 on the I2C bus (default 0x6C), % O2 of the headspace. Off unless the hardware file
// enables it. A reading outside 0-100 % is not a reading: the state reports the error instead.
import { readingSpec } from '@bioreactor/api';
import { Type } from 'typebox';
import { AtlasEzo, EZO_DEVICES } from '../drivers/atlas-ezo.js';
import { EzoO2Chip } from '../emulated/i2c-chips.js';
import { type ConfigOf, defineComponent } from './component.js';
import { hex, I2cAddress, i2cAddress } from './config-kit.js';
import { i2cFaults } from './sim-kit.js';

const config = {
  o2_sensor: Type.Object(
    { i2c_address: Type.Union([I2cAddress, Type.Null()], { default: null, description: 'null: 0x6C' }) },
    { additionalProperties: false, default: {} },
  ),
};
const addressOf = (c: ConfigOf<typeof config>) => i2cAddress(c.o2_sensor.i2c_address, EZO_DEVICES.o2.address);
const [low, high] = readingSpec('o2_percent').range ?? [0, 100];

export default defineComponent({
  name: 'o2_sensor',
  kind: 'sensor',
  optional: true,
  config,
  sampling: { default_s: 2, minimum_s: 1, description: 'An EZO-O2 reading takes 900 ms' },
  unit: 'percent',
  safeState: 'drives nothing',
  async open(ctx) {
    const address = addressOf(ctx.config);
    const chip = new AtlasEzo(await ctx.i2c(), address, ctx.clock, EZO_DEVICES.o2);
    await chip.probe();
    return {
      kind: 'sensor',
      driver: chip.driver,
      unit: 'percent',
      channels: ['o2'],
      digits: 2,
      readMs: 1000,
      async read() {
        const [percent] = await chip.sample();
        if (percent == null || percent < low || percent > high)
          throw new Error(`EZO-O2 reads ${percent} %, outside ${low}-${high} %: not a reading`);
        return [percent];
      },
      state: (base, values) => ({ ...base, o2_percent: values[0] ?? null, unit: 'percent' }),
      capabilities: { sensor_type: 'oxygen', i2c_address: hex(address) },
    };
  },
  simulate(sim) {
    const address = addressOf(sim.config);
    sim.bus.attach(address, new EzoO2Chip(sim.clock, () => sim.at(() => sim.model.o2())));
    return i2cFaults(sim.bus, [address]);
  },
  i2cAddresses: (c) => [{ who: 'o2_sensor', address: addressOf(c) }],
});
