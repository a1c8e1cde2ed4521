// ambient_temp_sensor: a DS18B20 in the room, not in the culture, on the same 1-Wire bus as temp_sensor (which then
// leaves it out of its list). Off unless the hardware file enables it. It is not one of the vessel's thermometers:
// the heating safety neither waits for it nor acts on it. A read outside valid_range_c is an error.

import { Type } from 'typebox';
import { Ds18b20Array } from '../drivers/ds18b20.js';
import type { OneWireFault } from '../emulated/one-wire.js';
import { THERMAL } from '../thermal-safety.js';
import { defineComponent } from './component.js';
import { FaultRequestError } from './sim-kit.js';

const config = {
  ambient_temp_sensor: Type.Object(
    {
      id: Type.String({
        pattern: '^28-[0-9a-f]{12}$',
        default: '28-0000000000a1',
        description: 'Its 1-Wire id (ls /sys/bus/w1/devices); the default is the simulated one',
      }),
      valid_range_c: Type.Array(Type.Number(), { minItems: 2, maxItems: 2, default: [-10, 50] }),
    },
    { additionalProperties: false, default: {} },
  ),
};

export default defineComponent({
  name: 'ambient_temp_sensor',
  kind: 'sensor',
  optional: true,
  config,
  sampling: { default_s: 5, minimum_s: 1, description: 'A DS18B20 conversion takes 750 ms' },
  unit: 'celsius',
  safeState: 'drives nothing',
  async open(ctx) {
    const c = ctx.config.ambient_temp_sensor;
    const chip = new Ds18b20Array(await ctx.transports.oneWire(), [c.id], c.valid_range_c as [number, number]);
    await chip.probe();
    if (chip.missing.includes(c.id))
      throw new Error(`the ambient thermometer ${c.id} is not on the 1-Wire bus: set ambient_temp_sensor.id`);
    return {
      kind: 'sensor',
      driver: chip.driver,
      unit: 'celsius',
      channels: [c.id],
      digits: 3,
      readMs: THERMAL.conversionMs,
      async read() {
        const read = await chip.read(0);
        if (read.error !== null) throw new Error(read.error);
        return [read.celsius];
      },
      state: (base, values) => ({ ...base, temperature: values[0] ?? null, unit: 'celsius' }),
      capabilities: { sensor_type: 'temperature', placement: 'ambient', valid_range: c.valid_range_c },
    };
  },
  simulate(sim) {
    const id = sim.config.ambient_temp_sensor.id;
    sim.thermometers.set(id, () => sim.at(() => sim.model.ambient()));
    const oneWire = sim.oneWire;
    return {
      faults: ['crc_error', 'stuck', 'bus_error', 'power_on_reset', 'all_zero', 'missing', 'stall'],
      inject(request) {
        if (request.pump_name !== undefined || request.sensor !== undefined)
          throw new FaultRequestError(`${request.component} takes neither pump_name nor sensor`);
        oneWire.setFault(id, request.fault as OneWireFault);
        return {};
      },
      clear: () => oneWire.clearFault(id),
    };
  },
  oneWireIds: (c) => [c.ambient_temp_sensor.id],
});
