// Atlas Scientific EZO-CO2 over I2C (default 0x69): ASCII command "R", ~1.5 s of processing, then a reply whose
// first byte is a response code (1 ok, 2 syntax error, 254 still processing, 255 no data) and the rest ASCII text.
import type { Clock } from '../clock.js';
import type { I2cBus } from '../transports/types.js';

export const EZO_CODES = { success: 1, syntaxError: 2, processing: 254, noData: 255 } as const;
/** The EZO-CO2 datasheet's processing delay for "R". */
export const EZO_READ_DELAY_MS = 1500;
const POLL_MS = 100;
const MAX_POLLS = 10;

export class AtlasEzoCo2 {
  readonly driver = 'atlas-ezo-co2';
  readonly channels = ['co2'];

  constructor(
    private readonly bus: I2cBus,
    readonly address: number,
    private readonly clock: Clock,
  ) {}

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
      if (code !== EZO_CODES.processing)
        throw new Error(`EZO-CO2 at 0x${this.address.toString(16)} answered "${text}" with code ${code}`);
      await this.clock.sleep(POLL_MS);
    }
    throw new Error(`EZO-CO2 at 0x${this.address.toString(16)} kept processing "${text}"`);
  }

  /**
   * Asks the device who it is: "i" answers "?i,CO2,<firmware>" (EZO-CO2 datasheet, I2C "Device information"; older
   * firmware and other EZO circuits write "?I"), so the prefix is compared without regard to case.
   */
  async probe(): Promise<void> {
    const info = await this.command('i', 300);
    if (!/^\?i,co2(,|$)/i.test(info))
      throw new Error(`the device at 0x${this.address.toString(16)} is not an EZO-CO2 (${info})`);
  }

  /** CO2 in ppm (the first field; a temperature field may follow when enabled on the device). */
  async sample(): Promise<(number | null)[]> {
    const text = await this.command('R', EZO_READ_DELAY_MS);
    const ppm = Number.parseFloat(text.split(',')[0] ?? '');
    if (!Number.isFinite(ppm)) throw new Error(`EZO-CO2 sent an unreadable value "${text}"`);
    return [Math.round(ppm)];
  }
}
