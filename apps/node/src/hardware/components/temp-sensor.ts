// temp_sensor: the vessel's DS18B20 thermometers on the 1-Wire bus, read one at a time; the heating safety looks
// after each read (thermal-safety.ts keeps what it believes about each thermometer).
import { Type } from 'typebox';
import { Ds18b20Array } from '../drivers/ds18b20.js';
import type { OneWireFault } from '../emulated/one-wire.js';
import { THERMAL, Thermometry } from '../thermal-safety.js';
import { defineComponent, round } from './component.js';
import { FaultRequestError } from './sim-kit.js';

const config = {
  temp_sensor: Type.Object(
    {
      order: Type.Array(Type.String({ pattern: '^28-[0-9a-f]{12}$' }), {
        default: [],
        description: '1-Wire ids in the order to report them; others follow sorted',
      }),
      valid_range_c: Type.Array(Type.Number(), { minItems: 2, maxItems: 2, default: [0, 100] }),
      simulated_count: Type.Integer({ minimum: 1, maximum: 8, default: 2 }),
    },
    { additionalProperties: false, default: {} },
  ),
};

const DIGITS = 3;

/** The simulated thermometers' ids: the configured order, then made-up ids. */
export function simulatedThermometerIds(order: string[], count: number): string[] {
  return Array.from(
    { length: count },
    (_, i) => order[i] ?? `28-${(0x0316a2790000 + i * 0x1111).toString(16).padStart(12, '0')}`,
  );
}

export default defineComponent({
  name: 'temp_sensor',
  kind: 'sensor',
  config,
  sampling: { default_s: 1, minimum_s: 0.75, description: 'A DS18B20 conversion takes 750 ms' },
  unit: 'celsius',
  safeState: 'drives nothing',
  async open(ctx) {
    const c = ctx.config.temp_sensor;
    const chip = new Ds18b20Array(
      await ctx.transports.oneWire(),
      c.order,
      c.valid_range_c as [number, number],
      ctx.oneWireTaken,
    );
    await chip.probe();
    if (chip.missing.length > 0)
      ctx.log.warn(
        { component: ctx.name, missing: chip.missing },
        `configured thermometers are not on the 1-Wire bus: ${chip.missing.join(', ')} (heating is refused until they read)`,
      );
    const thermometry = new Thermometry(chip.channels, ctx.intervalMs, ctx.clock.now());
    ctx.provide('thermometry', thermometry);
    return {
      kind: 'sensor',
      driver: chip.driver,
      unit: 'celsius',
      channels: chip.channels,
      digits: DIGITS,
      readMs: chip.channels.length * THERMAL.conversionMs,
      // One thermometer at a time, and the safety looks after each: a failure acts within one conversion.
      async read() {
        const values: (number | null)[] = [];
        for (let i = 0; i < chip.channels.length && ctx.running; i++) {
          const read = await chip.read(i);
          if (!ctx.running) break;
          thermometry.note(i, read, ctx.clock.now(), ctx.shared('heating')?.hardSince ?? null);
          values.push(thermometry.reported(i));
          // The state shows each thermometer as it is read, so it agrees with what the safety acts on.
          ctx.invalidate();
          await ctx.announce('thermometer', undefined);
        }
        return values;
      },
      problem: () => thermometry.problem(),
      // Thermometer by thermometer, as the heating safety sees them: an error whenever one has no valid reading.
      stale: (now) => thermometry.nextStaleAt() <= now,
      view(now) {
        const readAt = thermometry.lastReadAt;
        return {
          values: thermometry.list.map((_, i) => round(thermometry.reported(i), DIGITS)),
          time: readAt,
          message:
            readAt === null && thermometry.nextStaleAt() > now
              ? 'no sample yet: the first reading is in progress'
              : thermometry.stateProblem(now),
        };
      },
      state: (base, values) => ({ ...base, temperature: values[0] ?? null, temperatures: values, unit: 'celsius' }),
      capabilities: { sensor_type: 'temperature', valid_range: c.valid_range_c },
    };
  },
  simulate(sim) {
    const c = sim.config.temp_sensor;
    simulatedThermometerIds(c.order, c.simulated_count).forEach((id, i) => {
      sim.thermometers.set(id, () => sim.at(() => sim.model.thermometer(i)));
    });
    const oneWire = sim.oneWire;
    return {
      faults: ['crc_error', 'stuck', 'bus_error', 'power_on_reset', 'all_zero', 'missing', 'stall'],
      inject(request) {
        if (request.pump_name !== undefined) throw new FaultRequestError('pump_name goes with pumps only');
        const sensor = request.sensor ?? null;
        if (sensor !== null && !oneWire.ids.includes(sensor))
          throw new FaultRequestError(
            `No thermometer "${sensor}": use one of ${oneWire.ids.join(', ')}, or omit sensor for all`,
          );
        oneWire.setFault(sensor, request.fault as OneWireFault);
        return sensor === null ? {} : { sensor };
      },
      clear: () => oneWire.clearFault(null),
    };
  },
});
