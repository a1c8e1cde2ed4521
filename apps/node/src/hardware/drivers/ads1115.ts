// TI ADS1115 (4 inputs) / ADS1114 (1 input) over I2C: write the config register (pointer 0x01) with OS=1 to start
// a single-shot conversion, poll OS until it reads 1, then read the signed conversion register (pointer 0x00).
import type { Clock } from '../clock.js';
import type { I2cBus } from '../transports/types.js';

export const ADS_REG_CONVERSION = 0x00;
export const ADS_REG_CONFIG = 0x01;
/** Full-scale range in volts per PGA code (datasheet table 3): gain 2/3, 1, 2, 4, 8, 16. */
export const ADS_FSR = [6.144, 4.096, 2.048, 1.024, 0.512, 0.256] as const;
const GAINS = [2 / 3, 1, 2, 4, 8, 16];
/** Data-rate code 0b100 = 128 samples per second. */
export const ADS_DR_128 = 0b100;
export const ADS_SPS = 128;

export function pgaCode(gain: number): number {
  const code = GAINS.findIndex((g) => Math.abs(g - gain) < 1e-9);
  if (code < 0) throw new Error(`gain ${gain} is not one of 2/3, 1, 2, 4, 8, 16`);
  return code;
}

/** The config word that starts one single-shot conversion of `input` against GND. */
export function singleShotConfig(input: number, gain: number): number {
  return (
    (1 << 15) | // OS: start a conversion
    ((0b100 + input) << 12) | // MUX: AINx vs GND
    (pgaCode(gain) << 9) |
    (1 << 8) | // MODE: single-shot
    (ADS_DR_128 << 5) |
    0b00011 // comparator disabled
  );
}

export class Ads1115 {
  readonly driver: string;

  constructor(
    private readonly bus: I2cBus,
    readonly address: number,
    private readonly clock: Clock,
    readonly chip: 'ads1115' | 'ads1114' = 'ads1115',
  ) {
    this.driver = chip;
  }

  async probe(): Promise<void> {
    await this.bus.write(this.address, Uint8Array.of(ADS_REG_CONFIG));
    const reply = await this.bus.read(this.address, 2);
    if (reply.length !== 2) throw new Error('no config register');
  }

  /** Volts at `input` (0-3; the ADS1114 has only input 0, measured AIN0-AIN1). */
  async readVolts(input: number, gain: number): Promise<number> {
    if (this.chip === 'ads1114' && input !== 0) throw new Error('an ADS1114 has one input');
    const config = singleShotConfig(input, gain);
    await this.bus.write(this.address, Uint8Array.of(ADS_REG_CONFIG, config >> 8, config & 0xff));
    await this.clock.sleep(Math.ceil(1000 / ADS_SPS) + 1);
    for (let poll = 0; ; poll++) {
      await this.bus.write(this.address, Uint8Array.of(ADS_REG_CONFIG));
      const status = await this.bus.read(this.address, 2);
      if (((status[0] ?? 0) & 0x80) !== 0) break;
      if (poll >= 10) throw new Error(`ADS1x15 at 0x${this.address.toString(16)} never finished converting`);
      await this.clock.sleep(1);
    }
    await this.bus.write(this.address, Uint8Array.of(ADS_REG_CONVERSION));
    const data = await this.bus.read(this.address, 2);
    const raw = ((((data[0] ?? 0) << 8) | (data[1] ?? 0)) << 16) >> 16;
    return (raw / 32768) * (ADS_FSR[pgaCode(gain)] ?? 4.096);
  }
}
