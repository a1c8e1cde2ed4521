// Emulated kernel 1-Wire view: DS18B20 thermometers whose w1_slave text is what w1-therm prints, with real CRCs.
import type { Clock } from '../clock.js';
import { dallasCrc8 } from '../drivers/ds18b20.js';
import type { OneWireBus } from '../transports/types.js';

/** w1-therm's text for a scratchpad holding `celsius` (12-bit, 1/16 °C). */
export function w1SlaveText(celsius: number, corrupt = false): string {
  const raw = Math.round(celsius * 16) & 0xffff;
  const bytes = [raw & 0xff, raw >> 8, 0x4b, 0x46, 0x7f, 0xff, 0x0c, 0x10];
  const crc = dallasCrc8(bytes);
  const hex = [...bytes, corrupt ? crc ^ 0x01 : crc].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  const milli = ((raw << 16) >> 16) * 62.5;
  return `${hex} : crc=${(corrupt ? crc ^ 1 : crc).toString(16).padStart(2, '0')} ${corrupt ? 'NO' : 'YES'}\n${hex} t=${Math.round(milli)}\n`;
}

/** 750 ms conversion per read, like a 12-bit DS18B20. */
export class EmulatedOneWire implements OneWireBus {
  static readonly CONVERSION_MS = 750;
  /** Reads left that come back with a bad CRC (fault injection). */
  corruptNext = 0;

  constructor(
    private readonly clock: Clock,
    private readonly sensors: Map<string, () => number>,
  ) {}

  async listThermometers(): Promise<string[]> {
    return [...this.sensors.keys()].sort();
  }

  async readSlave(id: string): Promise<string> {
    const temperature = this.sensors.get(id);
    if (!temperature) throw new Error(`ENOENT: no such 1-Wire device ${id}`);
    await this.clock.sleep(EmulatedOneWire.CONVERSION_MS);
    const corrupt = this.corruptNext > 0;
    if (corrupt) this.corruptNext--;
    return w1SlaveText(temperature(), corrupt);
  }
}
