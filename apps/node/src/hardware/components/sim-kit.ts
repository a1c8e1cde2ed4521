// What several emulators share: a chip that stops acknowledging on its I2C addresses (the `bus_error` fault).
import type { EmulatedI2cBus } from '../emulated/i2c-chips.js';
import type { FaultTarget } from './component.js';

/** A fault request the simulation cannot carry out; the message says what would be valid. */
export class FaultRequestError extends Error {}

/** `bus_error`: the chips at these addresses stop acknowledging (a loose wire, a hung chip), as a NACK. */
export function i2cFaults(bus: EmulatedI2cBus, addresses: number[]): FaultTarget {
  return {
    faults: ['bus_error'],
    inject(request) {
      if (request.pump_name !== undefined || request.sensor !== undefined)
        throw new FaultRequestError(`${request.component} takes neither pump_name nor sensor`);
      for (const address of addresses) bus.failing.add(address);
      return {};
    },
    clear() {
      for (const address of addresses) bus.failing.delete(address);
    },
  };
}
