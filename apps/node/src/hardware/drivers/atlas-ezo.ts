// Atlas Scientific EZO circuits over I2C, one protocol for every kind (the EZO datasheets' "I2C mode" chapter): an
// ASCII command written to the circuit's address, a processing delay, then a reply whose first byte is a response
// code (1 ok, 2 syntax error, 254 still processing, 255 no data) followed by ASCII text ending in a NUL. "i" answers
// "?i,<device>,<firmware>"; "R" answers the reading. Each kind differs only in its device name, its delays and how
// its reading reads: the constants below. A kind is one entry of EZO_DEVICES.
import type { Clock } from '../clock.js';
import type { I2cBus } from '../transports/types.js';

export const EZO_CODES = { success: 1, syntaxError: 2, processing: 254, noData: 255 } as const;
const POLL_MS = 100;
const MAX_POLLS = 10;
/** The "i" command's processing delay (every EZO datasheet: 300 ms). */
export const EZO_INFO_DELAY_MS = 300;

/** One kind of EZO circuit, as its datasheet describes it. */
export interface EzoDevice {
  /** The device name in the "i" reply (`?i,CO2,1.0`). */
  name: string;
  /** Its default I2C address. */
  address: number;
  /** The processing delay of "R". */
  readDelayMs: number;
  /** The driver id in capabilities. */
  driver: string;
  /** The reading as the API reports it (a ppm is whole, a % keeps two decimals). */
  parse(first: number): number;
}

export const EZO_DEVICES = {
  /** EZO-CO2 (Embedded NDIR CO2 sensor), default 0x69: "R" takes 1.5 s; ppm, whole. */
  co2: { name: 'CO2', address: 0x69, readDelayMs: 1500, driver: 'atlas-ezo-co2', parse: (v) => Math.round(v) },
  /**
   * EZO-O2 (dissolved/gaseous oxygen, % O2), default 0x6C: "R" takes 900 ms and answers % O2, the output enabled
   * by default ("O,%,1"; with "O,ppt,1" too, the % comes first); two decimals.
   */
  o2: {
    name: 'O2',
    address: 0x6c,
    readDelayMs: 900,
    driver: 'atlas-ezo-o2',
    parse: (v) => Math.round(v * 100) / 100,
  },
} as const satisfies Record<string, EzoDevice>;

/** The EZO-CO2 datasheet's processing delay for "R". */
export const EZO_READ_DELAY_MS = EZO_DEVICES.co2.readDelayMs;

export class AtlasEzo {
  readonly driver: string;
  readonly channels: string[];

  constructor(
    private readonly bus: I2cBus,
    readonly address: number,
    private readonly clock: Clock,
    readonly device: EzoDevice,
  ) {
    this.driver = device.driver;
    this.channels = [device.name.toLowerCase()];
  }

  private where(): string {
    return `EZO-${this.device.name} at 0x${this.address.toString(16)}`;
  }

  private async command(text: string, delayMs: number): Promise<string> {
    await this.bus.write(this.address, new TextEncoder().encode(text));
    await this.clock.sleep(delayMs);
    for (let attempt = 0; attempt < MAX_POLLS; attempt++) {
      const reply = await this.bus.read(this.address, 16);
      const code = reply[0];
      if (code === EZO_CODES.success) {
        const end = reply.indexOf(0, 1);
        return new TextDecoder().decode(reply.subarray(1, end < 0 ? reply.length : end));
      }
      if (code !== EZO_CODES.processing) throw new Error(`${this.where()} answered "${text}" with code ${code}`);
      await this.clock.sleep(POLL_MS);
    }
    throw new Error(`${this.where()} kept processing "${text}"`);
  }

  /**
   * Asks the device who it is: "i" answers "?i,<device>,<firmware>" (the datasheets' I2C "Device information";
   * older firmware and other EZO circuits write "?I"), so the prefix is compared without regard to case.
   */
  async probe(): Promise<void> {
    const info = await this.command('i', EZO_INFO_DELAY_MS);
    const expected = new RegExp(`^\\?i,${this.device.name}(,|$)`, 'i');
    if (!expected.test(info))
      throw new Error(`the device at 0x${this.address.toString(16)} is not an EZO-${this.device.name} (${info})`);
  }

  /** The reading (the first field; a second field, e.g. a temperature, may follow when enabled on the device). */
  async sample(): Promise<(number | null)[]> {
    const text = await this.command('R', this.device.readDelayMs);
    const value = Number.parseFloat(text.split(',')[0] ?? '');
    if (!Number.isFinite(value)) throw new Error(`EZO-${this.device.name} sent an unreadable value "${text}"`);
    return [this.device.parse(value)];
  }
}

/** The EZO-CO2: the shared driver with the CO2 circuit's constants. */
export class AtlasEzoCo2 extends AtlasEzo {
  constructor(bus: I2cBus, address: number, clock: Clock) {
    super(bus, address, clock, EZO_DEVICES.co2);
  }
}
