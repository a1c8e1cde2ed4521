// optical_density: the photodiodes on an ADS1115 (16-bit) or ADS7830 (8-bit) ADC, named channels; volts.
import { Type } from 'typebox';
import { Ads1115 } from '../drivers/ads1115.js';
import { Ads7830 } from '../drivers/ads7830.js';
import { Ads1115Chip, Ads7830Chip } from '../emulated/i2c-chips.js';
import { type ConfigOf, defineComponent } from './component.js';
import { Gain, hex, I2cAddress, i2cAddress } from './config-kit.js';
import { i2cFaults } from './sim-kit.js';

const config = {
  od_adc: Type.Object(
    {
      type: Type.Union([Type.Literal('ads1115'), Type.Literal('ads7830')], { default: 'ads1115' }),
      i2c_address: Type.Union([I2cAddress, Type.Null()], { default: null, description: 'null: 0x48' }),
      gain: Type.Optional(Gain),
      vref: Type.Number({ minimum: 0.5, maximum: 5.5, default: 3.3, description: 'ADS7830 reference voltage' }),
      channels: Type.Record(Type.String({ minLength: 1 }), Type.String({ pattern: '^A[0-7]$' }), {
        default: { '135': 'A0', Ref: 'A1', '90': 'A2' },
        description: 'Channel name → ADC input (A0-A3 on an ADS1115, A0-A7 on an ADS7830)',
      }),
    },
    { additionalProperties: false, default: {} },
  ),
};
type Config = ConfigOf<typeof config>;

const addressOf = (c: Config) => i2cAddress(c.od_adc.i2c_address, 0x48);

export default defineComponent({
  name: 'optical_density',
  kind: 'sensor',
  config,
  sampling: { default_s: 1, minimum_s: 0.05 },
  unit: 'volts',
  safeState: 'drives nothing',
  async open(ctx) {
    const od = ctx.config.od_adc;
    const address = addressOf(ctx.config);
    const bus = await ctx.i2c();
    // JSON objects list integer-like keys ("90", "135") first, so the file's order is lost; ADC input order
    // is stable and gives the original's 135, Ref, 90 for A0, A1, A2.
    const wiring = Object.entries(od.channels)
      .map(([channel, pin]) => ({ channel, input: Number(pin.slice(1)) }))
      .sort((a, b) => a.input - b.input);
    const channels = wiring.map((w) => w.channel);
    const inputs = wiring.map((w) => w.input);
    let read: (input: number) => Promise<number>;
    let driver: string;
    if (od.type === 'ads7830') {
      const adc = new Ads7830(bus, address, od.vref);
      await adc.probe();
      read = (i) => adc.readVolts(i);
      driver = adc.driver;
    } else {
      const adc = new Ads1115(bus, address, ctx.clock, 'ads1115');
      await adc.probe();
      const gain = od.gain ?? 1;
      read = (i) => adc.readVolts(i, gain);
      driver = adc.driver;
    }
    return {
      kind: 'sensor',
      driver,
      unit: 'volts',
      channels,
      digits: 4,
      async read() {
        const out: number[] = [];
        for (const input of inputs) out.push(await read(input));
        return out;
      },
      state: (base, values) => ({ ...base, voltages: values, channels, unit: 'volts' }),
      capabilities: {
        sensor_type: 'optical_density',
        adc: od.type,
        resolution: od.type === 'ads7830' ? '8-bit' : '16-bit',
        i2c_address: hex(address),
      },
    };
  },
  simulate(sim) {
    const od = sim.config.od_adc;
    const names = Object.entries(od.channels);
    const volts = (input: number) => {
      const name = names.find(([, pin]) => Number(pin.slice(1)) === input)?.[0];
      return name === undefined ? 0.002 : sim.at(() => sim.model.photodiode(name));
    };
    const address = addressOf(sim.config);
    sim.bus.attach(
      address,
      od.type === 'ads7830' ? new Ads7830Chip(od.vref, volts) : new Ads1115Chip(sim.clock, volts),
    );
    return i2cFaults(sim.bus, [address]);
  },
  i2cAddresses: (c) => [{ who: 'od_adc', address: addressOf(c) }],
  check(c) {
    const problems: string[] = [];
    const maxInput = c.od_adc.type === 'ads1115' ? 3 : 7;
    for (const [name, input] of Object.entries(c.od_adc.channels)) {
      if (Number(input.slice(1)) > maxInput)
        problems.push(`od_adc.channels.${name}: ${input} does not exist on an ${c.od_adc.type} (A0-A${maxInput})`);
    }
    if (Object.keys(c.od_adc.channels).length === 0) problems.push('od_adc.channels: name at least one channel');
    return problems;
  },
});
