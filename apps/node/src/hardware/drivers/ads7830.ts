// TI ADS7830, 8-bit 8-channel I2C ADC: one command byte (SD=1 single-ended, channel select with the datasheet's
// odd/even interleave, PD bits), then a one-byte read of the conversion.
import type { I2cBus } from '../transports/types.js';

/** Power-down bits 01: internal reference off (external VREF), converter on. */
export const ADS7830_PD_EXTERNAL_REF = 0b01;

export function ads7830Command(channel: number): number {
  // Single-ended channel order in the datasheet's table: CH0,2,4,6 then CH1,3,5,7.
  const select = (channel >> 1) | ((channel & 1) << 2);
  return 0x80 | (select << 4) | (ADS7830_PD_EXTERNAL_REF << 2);
}

export class Ads7830 {
  readonly driver = 'ads7830';

  constructor(
    private readonly bus: I2cBus,
    readonly address: number,
    private readonly vref: number,
  ) {}

  async probe(): Promise<void> {
    await this.readVolts(0);
  }

  async readVolts(channel: number): Promise<number> {
    await this.bus.write(this.address, Uint8Array.of(ads7830Command(channel)));
    const [raw = 0] = await this.bus.read(this.address, 1);
    return (raw / 255) * this.vref;
  }
}
