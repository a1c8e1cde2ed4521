// Senseair K33 over I2C (default 0x68): ReadRAM 0x22, address 0x0008, a one-byte sum checksum; the reply is
// status (bit 0 = complete), value high, value low, checksum. The K33 reports CO2 in units of 10 ppm.
import type { Clock } from '../clock.js';
import type { I2cBus } from '../transports/types.js';

export const K33_READ_RAM = 0x22;
export const K33_CO2_RAM_ADDRESS = 0x08;
export const K33_PPM_PER_COUNT = 10;
/** Time the sensor needs between the command and the reply. */
export const K33_REPLY_DELAY_MS = 20;

export const checksum = (bytes: ArrayLike<number>): number => {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) sum += bytes[i] ?? 0;
  return sum & 0xff;
};

export class SenseairK33 {
  readonly driver = 'senseair-k33';
  readonly channels = ['co2'];

  constructor(
    private readonly bus: I2cBus,
    readonly address: number,
    private readonly clock: Clock,
  ) {}

  async probe(): Promise<void> {
    await this.sample();
  }

  async sample(): Promise<(number | null)[]> {
    const command = [K33_READ_RAM, 0x00, K33_CO2_RAM_ADDRESS];
    await this.bus.write(this.address, Uint8Array.from([...command, checksum(command)]));
    await this.clock.sleep(K33_REPLY_DELAY_MS);
    const reply = await this.bus.read(this.address, 4);
    const [status = 0, high = 0, low = 0, sum = 0] = reply;
    if ((status & 0x01) === 0) throw new Error('K33 read incomplete (status bit 0 clear)');
    if (checksum([status, high, low]) !== sum) throw new Error('K33 reply checksum mismatch');
    return [((high << 8) | low) * K33_PPM_PER_COUNT];
  }
}
