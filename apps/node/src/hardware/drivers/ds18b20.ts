// DS18B20 thermometers through the kernel's w1-therm driver: each `w1_slave` read converts (up to 750 ms) and
// returns the 9-byte scratchpad twice: first with "crc=xx YES|NO", then with "t=<millidegrees>".
import type { OneWireBus } from '../transports/types.js';

/** Dallas/Maxim CRC-8 (polynomial x^8 + x^5 + x^4 + 1, reflected 0x8C). */
export function dallasCrc8(bytes: ArrayLike<number>): number {
  let crc = 0;
  for (let i = 0; i < bytes.length; i++) {
    let byte = bytes[i] ?? 0;
    for (let bit = 0; bit < 8; bit++) {
      const mix = (crc ^ byte) & 0x01;
      crc >>= 1;
      if (mix) crc ^= 0x8c;
      byte >>= 1;
    }
  }
  return crc;
}

/** The power-on value of the temperature register: a read that returns it never converted. */
const POWER_ON_RESET_MILLIDEGREES = 85000;

export function parseW1Slave(text: string): number {
  const [first = '', second = ''] = text.trim().split('\n');
  if (!/YES\s*$/.test(first)) throw new Error('DS18B20 CRC check failed (crc=… NO)');
  const bytes = (first.split(':')[0] ?? '')
    .trim()
    .split(/\s+/)
    .map((h) => Number.parseInt(h, 16));
  if (bytes.length !== 9 || dallasCrc8(bytes.slice(0, 8)) !== bytes[8])
    throw new Error('DS18B20 scratchpad does not match its CRC');
  const match = /t=(-?\d+)/.exec(second);
  if (!match) throw new Error('DS18B20 reply has no t= field');
  const milli = Number(match[1]);
  if (milli === POWER_ON_RESET_MILLIDEGREES) throw new Error('DS18B20 returned its power-on value 85 °C');
  return milli / 1000;
}

export class Ds18b20Array {
  readonly driver = 'ds18b20';
  private ids: string[] = [];

  constructor(
    private readonly bus: OneWireBus,
    private readonly order: string[],
    private readonly validRange: [number, number],
  ) {}

  get channels(): string[] {
    return this.ids;
  }

  async probe(): Promise<void> {
    const found = await this.bus.listThermometers();
    if (found.length === 0) throw new Error('no DS18B20 found on the 1-Wire bus: check the data line and pull-up');
    const ordered = this.order.filter((id) => found.includes(id));
    this.ids = [...ordered, ...found.filter((id) => !ordered.includes(id))];
  }

  /** One reading per thermometer; a failed or out-of-range one is null (NaN never reaches the API). */
  async sample(): Promise<(number | null)[]> {
    const out: (number | null)[] = [];
    for (const id of this.ids) {
      let value: number | null = null;
      for (let attempt = 0; attempt < 2 && value === null; attempt++) {
        try {
          value = parseW1Slave(await this.bus.readSlave(id));
        } catch {
          value = null;
        }
      }
      const [lo, hi] = this.validRange;
      out.push(value !== null && value >= lo && value <= hi ? value : null);
    }
    return out;
  }
}
