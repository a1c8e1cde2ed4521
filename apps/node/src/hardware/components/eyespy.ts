// eyespy_adc: ADS1114/ADS1115 boards (default eyespy1 at 0x49, eyespy2 at 0x4a), one voltage per board.
import { Type } from 'typebox';
import { Ads1115 } from '../drivers/ads1115.js';
import { Ads1115Chip } from '../emulated/i2c-chips.js';
import { defineComponent } from './component.js';
import { Gain, I2cAddress, i2cAddress } from './config-kit.js';
import { i2cFaults } from './sim-kit.js';

const config = {
  eyespy_adc: Type.Object(
    {
      boards: Type.Record(
        Type.String({ minLength: 1 }),
        Type.Object(
          {
            i2c_address: I2cAddress,
            gain: Type.Optional(Gain),
            chip: Type.Optional(
              Type.Union([Type.Literal('ads1114'), Type.Literal('ads1115')], { description: 'default ads1114' }),
            ),
          },
          { additionalProperties: false },
        ),
        { default: { eyespy1: { i2c_address: '0x49', gain: 1 }, eyespy2: { i2c_address: '0x4a', gain: 1 } } },
      ),
    },
    { additionalProperties: false, default: {} },
  ),
};

export default defineComponent({
  name: 'eyespy_adc',
  kind: 'sensor',
  config,
  sampling: { default_s: 1, minimum_s: 0.05 },
  unit: 'volts',
  safeState: 'drives nothing',
  async open(ctx) {
    const bus = await ctx.i2c();
    const boards: { name: string; adc: Ads1115; gain: number }[] = [];
    const problems: string[] = [];
    for (const [board, cfg] of Object.entries(ctx.config.eyespy_adc.boards)) {
      const adc = new Ads1115(bus, i2cAddress(cfg.i2c_address, 0x49), ctx.clock, cfg.chip ?? 'ads1114');
      try {
        await adc.probe();
        boards.push({ name: board, adc, gain: cfg.gain ?? 1 });
      } catch (err) {
        problems.push(`${board}: ${(err as Error).message}`);
      }
    }
    if (boards.length === 0) throw new Error(`no eyespy board answered (${problems.join('; ') || 'none configured'})`);
    if (problems.length > 0)
      ctx.log.warn({ component: ctx.name, problems }, `some eyespy boards are missing: ${problems.join('; ')}`);
    const channels = boards.map((b) => b.name);
    return {
      kind: 'sensor',
      driver: boards[0]?.adc.driver ?? 'ads1114',
      unit: 'volts',
      channels,
      digits: 4,
      async read() {
        const out: number[] = [];
        for (const b of boards) out.push(await b.adc.readVolts(0, b.gain));
        return out;
      },
      state: (base, values) => ({ ...base, voltages: values, channels, unit: 'volts' }),
      capabilities: { sensor_type: 'adc', resolution: '16-bit', boards: boards.length },
    };
  },
  simulate(sim) {
    const boards = Object.values(sim.config.eyespy_adc.boards);
    const addresses = boards.map((b) => i2cAddress(b.i2c_address, 0x49));
    boards.forEach((board, index) => {
      sim.bus.attach(
        i2cAddress(board.i2c_address, 0x49),
        new Ads1115Chip(sim.clock, () => sim.at(() => sim.model.eyespy(index)), board.chip === 'ads1114' ? 1 : 4),
      );
    });
    return i2cFaults(sim.bus, addresses);
  },
  i2cAddresses: (c) =>
    Object.entries(c.eyespy_adc.boards).map(([name, board]) => ({
      who: `eyespy_adc.boards.${name}`,
      address: i2cAddress(board.i2c_address, 0),
    })),
  normalize(c) {
    for (const board of Object.values(c.eyespy_adc.boards)) board.chip ??= 'ads1114';
  },
});
