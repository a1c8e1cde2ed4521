// Emulated kernel 1-Wire view: DS18B20 thermometers whose w1_slave text is what w1-therm prints, with real CRCs,
// and the ways a real bus fails, so the driver and the node's safety are tested against them.
import type { Clock } from '../clock.js';
import { dallasCrc8 } from '../drivers/ds18b20.js';
import type { OneWireBus } from '../transports/types.js';

/**
 * How a thermometer (or the bus to it) misbehaves:
 * - `crc_error`: noise on the line; w1-therm prints `crc=xx NO`.
 * - `power_on_reset`: the chip reset and did not convert; a valid scratchpad holding +85 °C (0x0550).
 * - `all_zero`: the data line is held low; nine 0x00 bytes, whose CRC (0) matches, so w1-therm says YES and t=0.
 * - `bus_error`: the read fails with EIO after the conversion time.
 * - `missing`: the sensor is gone; its w1_slave no longer exists (ENOENT) and the bus no longer lists it.
 * - `stuck`: the same scratchpad forever, whatever the vessel does (valid CRC).
 * - `stall`: the read never completes (a hung bus master) until the fault is cleared, then fails with EIO.
 */
export const ONE_WIRE_FAULTS = [
  'crc_error',
  'power_on_reset',
  'all_zero',
  'bus_error',
  'missing',
  'stuck',
  'stall',
] as const;
export type OneWireFault = (typeof ONE_WIRE_FAULTS)[number];

/** The nine scratchpad bytes of a 12-bit DS18B20 holding `raw` (1/16 °C), reserved bytes as the datasheet gives. */
function scratchpad(raw: number): number[] {
  const bytes = [raw & 0xff, (raw >> 8) & 0xff, 0x4b, 0x46, 0x7f, 0xff, 0x0c, 0x10];
  return [...bytes, dallasCrc8(bytes)];
}

/** w1-therm's two lines for these nine bytes; `crcOk` is the kernel's own verdict. */
function w1Text(bytes: number[], crcOk: boolean): string {
  const hex = bytes.map((b) => b.toString(16).padStart(2, '0')).join(' ');
  const raw = ((((bytes[1] ?? 0) << 8) | (bytes[0] ?? 0)) << 16) >> 16;
  const crc = (bytes[8] ?? 0).toString(16).padStart(2, '0');
  return `${hex} : crc=${crc} ${crcOk ? 'YES' : 'NO'}\n${hex} t=${Math.round(raw * 62.5)}\n`;
}

/** w1-therm's text for a scratchpad holding `celsius` (12-bit, 1/16 °C); `corrupt` flips a CRC bit (says NO). */
export function w1SlaveText(celsius: number, corrupt = false): string {
  const bytes = scratchpad(Math.round(celsius * 16) & 0xffff);
  if (corrupt) bytes[8] = (bytes[8] ?? 0) ^ 0x01;
  return w1Text(bytes, !corrupt);
}

/** 750 ms conversion per read, like a 12-bit DS18B20. */
export class EmulatedOneWire implements OneWireBus {
  static readonly CONVERSION_MS = 750;
  /** Reads left that come back with a bad CRC (a one-off burst of noise). */
  corruptNext = 0;
  /** Faults in force: per thermometer id, or `*` for every thermometer. */
  private readonly faults = new Map<string, { fault: OneWireFault; frozen?: string }>();
  /** With `stuck` on every thermometer: what each one keeps saying, taken at its first read after the fault. */
  private readonly stuckAll = new Map<string, string>();
  /** Reads held by a `stall`, released (failing) when it is cleared. */
  private stalled: (() => void)[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly sensors: Map<string, () => number>,
  ) {}

  get ids(): string[] {
    return [...this.sensors.keys()].sort();
  }

  /** Puts `fault` on one thermometer, or on all of them when `id` is null. */
  setFault(id: string | null, fault: OneWireFault): void {
    if (id === null) this.stuckAll.clear();
    const frozen = fault === 'stuck' && id !== null ? this.freeze(id) : undefined;
    this.faults.set(id ?? '*', frozen === undefined ? { fault } : { fault, frozen });
  }

  /** Clears the faults of one thermometer, or all of them when `id` is null. */
  clearFault(id: string | null = null): void {
    if (id === null) {
      this.faults.clear();
      this.stuckAll.clear();
    } else this.faults.delete(id);
    if (![...this.faults.values()].some((f) => f.fault === 'stall')) {
      for (const release of this.stalled.splice(0)) release();
    }
  }

  /** What a stuck thermometer keeps saying: its reading at the moment it stuck. */
  private freeze(id: string): string {
    const read = this.sensors.get(id);
    return w1SlaveText(read ? read() : 20);
  }

  private faultOf(id: string): { fault: OneWireFault; frozen?: string } | undefined {
    const own = this.faults.get(id);
    if (own) return own;
    const all = this.faults.get('*');
    if (all?.fault !== 'stuck') return all;
    let frozen = this.stuckAll.get(id);
    if (frozen === undefined) {
      frozen = this.freeze(id);
      this.stuckAll.set(id, frozen);
    }
    return { fault: 'stuck', frozen };
  }

  async listThermometers(): Promise<string[]> {
    return this.ids.filter((id) => this.faultOf(id)?.fault !== 'missing');
  }

  async readSlave(id: string): Promise<string> {
    const temperature = this.sensors.get(id);
    const before = this.faultOf(id);
    if (!temperature || before?.fault === 'missing')
      throw new Error(`ENOENT: no such file or directory, open '/sys/bus/w1/devices/${id}/w1_slave'`);
    if (before?.fault === 'stall') {
      await new Promise<void>((resolve) => this.stalled.push(resolve));
      throw new Error(`EIO: i/o error, read '/sys/bus/w1/devices/${id}/w1_slave'`);
    }
    await this.clock.sleep(EmulatedOneWire.CONVERSION_MS);
    // What the line did during the conversion decides the answer: a fault set meanwhile already shows.
    const fault = this.faultOf(id);
    if (this.corruptNext > 0) {
      this.corruptNext--;
      return w1SlaveText(temperature(), true);
    }
    switch (fault?.fault) {
      case 'crc_error':
        return w1SlaveText(temperature(), true);
      case 'power_on_reset':
        return w1Text(scratchpad(0x0550), true);
      case 'all_zero':
        return w1Text([0, 0, 0, 0, 0, 0, 0, 0, 0], true);
      case 'bus_error':
        throw new Error(`EIO: i/o error, read '/sys/bus/w1/devices/${id}/w1_slave'`);
      case 'missing':
        throw new Error(`ENOENT: no such file or directory, open '/sys/bus/w1/devices/${id}/w1_slave'`);
      case 'stuck':
        return fault.frozen ?? w1SlaveText(temperature());
      default:
        return w1SlaveText(temperature());
    }
  }
}
