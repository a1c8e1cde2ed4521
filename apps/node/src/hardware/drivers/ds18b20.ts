// DS18B20 thermometers through the kernel's w1-therm driver. Each read of `w1_slave` starts a conversion (up to
// 750 ms at 12 bits) and prints the 9-byte scratchpad twice: "<9 hex bytes> : crc=<xx> YES|NO", then
// "<9 hex bytes> t=<millidegrees>".
//
// Checked against the Maxim DS18B20 datasheet (19-7487), section by section:
// - "Memory" (Figure 9, scratchpad): bytes 0-1 temperature LSB/MSB, 2-3 TH/TL, 4 configuration, 5-7 reserved,
//   8 the CRC of bytes 0-7.
// - "CRC Generation" (Figure 11): the Dallas/Maxim CRC-8, polynomial x^8 + x^5 + x^4 + 1. The driver recomputes it
//   instead of trusting the kernel's YES alone, and refuses a NO.
// - "Operation—Measuring Temperature" (Table 1): a sign-extended 16-bit two's complement value in 1/16 °C, from
//   -55 °C (0xFC90) to +125 °C (0x07D0); anything outside that range is not a reading. "The power-on reset value of
//   the temperature register is +85 °C" (0x0550): a scratchpad holding it after a reset (a power glitch, parasite
//   power too weak for the conversion) never converted.
// - "Configuration Register" (Figure 10, Table 2): bit 7 reads 0 and bits 0-4 read 1; R1:R0 set 9-12 bits, and at
//   9, 10 or 11 bits the lowest 3, 2 or 1 bits of the temperature are undefined, so they are masked.
// A scratchpad of nine 0x00 bytes (the data line held low) passes the CRC, since the CRC of zeros is zero, and
// decodes as 0 °C: it is refused explicitly, as are nine 0xFF bytes (nobody drove the line).
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

/** The temperature register's power-on value, +85 °C (datasheet Table 1). */
export const POWER_ON_RESET_RAW = 0x0550;
/** The DS18B20's measuring range, °C. */
export const DS18B20_RANGE_C: readonly [number, number] = [-55, 125];
/**
 * 85 °C is believed only right after a reading this close to it: a vessel moves well under a degree per second,
 * so an 85 that follows anything further away is the power-on value, not a temperature.
 */
export const POWER_ON_PLAUSIBLE_C = 5;

export interface Scratchpad {
  /** The nine bytes as printed. */
  bytes: number[];
  /** °C from bytes 0-1, undefined low bits masked by the configured resolution. */
  celsius: number;
  /** Bytes 0-1 as a signed 16-bit value. */
  raw: number;
  /** The temperature register holds +85 °C, its power-on reset value. */
  powerOnValue: boolean;
}

/** Decodes a `w1_slave` text; throws with what is wrong with it. An 85 °C read is returned, flagged. */
export function decodeW1Slave(text: string): Scratchpad {
  const [first = ''] = text.trim().split('\n');
  const [hex = '', verdict = ''] = first.split(':');
  const bytes = hex
    .trim()
    .split(/\s+/)
    .filter((h) => h !== '')
    .map((h) => Number.parseInt(h, 16));
  if (bytes.length !== 9 || bytes.some((b) => !Number.isInteger(b) || b < 0 || b > 255))
    throw new Error(`unreadable w1_slave text (${JSON.stringify(first.slice(0, 60))})`);
  if (bytes.every((b) => b === 0))
    throw new Error('scratchpad read as all zeros: the data line is held low or the sensor did not answer');
  if (bytes.every((b) => b === 0xff))
    throw new Error('scratchpad read as all ones: no sensor answered (disconnected, or no pull-up on the data line)');
  if (!/YES\s*$/.test(verdict))
    throw new Error(`CRC check failed (w1_slave says${verdict.replace(/\s+/g, ' ').trimEnd()})`);
  if (dallasCrc8(bytes.slice(0, 8)) !== bytes[8])
    throw new Error('scratchpad does not match its CRC (byte 8) although the kernel accepted it');
  const config = bytes[4] ?? 0;
  if ((config & 0x9f) !== 0x1f)
    throw new Error(
      `configuration register reads 0x${config.toString(16).padStart(2, '0')}, which a DS18B20 never holds (bit 7 is 0, bits 0-4 are 1)`,
    );
  const raw = ((((bytes[1] ?? 0) << 8) | (bytes[0] ?? 0)) << 16) >> 16;
  const undefinedBits = 3 - ((config >> 5) & 0x03);
  const masked = raw & ~((1 << undefinedBits) - 1);
  const celsius = masked / 16;
  if (celsius < DS18B20_RANGE_C[0] || celsius > DS18B20_RANGE_C[1])
    throw new Error(`reads ${celsius} °C, outside the DS18B20's -55 to +125 °C: not a temperature`);
  return { bytes, celsius, raw, powerOnValue: raw === POWER_ON_RESET_RAW };
}

/** °C from a `w1_slave` text; throws on anything but a checked reading, including the 85 °C power-on value. */
export function parseW1Slave(text: string): number {
  const pad = decodeW1Slave(text);
  if (pad.powerOnValue) throw new Error('returned its power-on value 85 °C: the sensor reset and did not convert');
  return pad.celsius;
}

/** One thermometer's read: a checked temperature or why there is none. */
export type ThermometerRead =
  | { id: string; celsius: number; error: null }
  | { id: string; celsius: null; error: string };

export class Ds18b20Array {
  readonly driver = 'ds18b20';
  private ids: string[] = [];
  /** Configured in `order` but absent at start: kept as channels that fail, so a missing sensor is seen. */
  private absent: string[] = [];
  private readonly last = new Map<string, number>();

  constructor(
    private readonly bus: OneWireBus,
    private readonly order: string[],
    private readonly validRange: [number, number],
    /** Thermometers on the bus that are not this array's (another component's, e.g. the ambient one). */
    private readonly others: readonly string[] = [],
  ) {}

  get channels(): string[] {
    return this.ids;
  }

  /** Configured thermometers that were not on the bus at start. */
  get missing(): string[] {
    return this.absent;
  }

  async probe(): Promise<void> {
    const found = (await this.bus.listThermometers()).filter((id) => !this.others.includes(id));
    if (found.length === 0) throw new Error('no DS18B20 found on the 1-Wire bus: check the data line and pull-up');
    this.absent = this.order.filter((id) => !found.includes(id));
    this.ids = [...this.order, ...found.filter((id) => !this.order.includes(id))];
  }

  /**
   * One conversion of thermometer `index`, without a retry: a retry is another 750 ms in which the vessel is not
   * watched, and the node must act on the failure now. A reading outside `valid_range_c` is an error too.
   */
  async read(index: number): Promise<ThermometerRead> {
    const id = this.ids[index] ?? '';
    const fail = (error: string): ThermometerRead => ({ id, celsius: null, error: `${id}: ${error}` });
    let pad: Scratchpad;
    try {
      pad = decodeW1Slave(await this.bus.readSlave(id));
    } catch (err) {
      const message = (err as Error).message;
      if (/ENOENT/.test(message)) return fail('not on the 1-Wire bus (w1_slave is gone): check its wiring');
      return fail(message.replace(/^DS18B20:?\s*/, ''));
    }
    const previous = this.last.get(id);
    if (pad.powerOnValue && (previous === undefined || Math.abs(previous - pad.celsius) > POWER_ON_PLAUSIBLE_C))
      return fail('returned its power-on value 85 °C: the sensor reset (power glitch?) and did not convert');
    const [lo, hi] = this.validRange;
    if (pad.celsius < lo || pad.celsius > hi)
      return fail(`reads ${pad.celsius} °C, outside temp_sensor.valid_range_c (${lo} to ${hi} °C)`);
    this.last.set(id, pad.celsius);
    return { id, celsius: pad.celsius, error: null };
  }

  /** One reading per thermometer; a failed one is null (NaN never reaches the API). */
  async sample(): Promise<(number | null)[]> {
    const out: (number | null)[] = [];
    for (let i = 0; i < this.ids.length; i++) out.push((await this.read(i)).celsius);
    return out;
  }
}
