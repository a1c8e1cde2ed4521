/**
 * Senseair K33 (K33 ELG, BLG, ICB; default I2C address 0x68). Sources: Senseair's "I2C communication guide" for the
 * K-series (CO2Meter application note AN-102) and its K33 example code:
 *
 * - Wake-up: the K33 sleeps between measurements and ignores I2C until a START addressed to it wakes it; that first
 *   transaction is not acknowledged, and the sensor then answers for a short while (the guide's host pulls SDA low
 *   for about 1 ms, then waits 1 ms). So every transaction is preceded by a wake-up. On Linux the START + address +
 *   STOP is an address-only transaction; the Pi 5's I2C controller (Synopsys DesignWare in RP1) cannot send a
 *   zero-length message, so it is a one-byte read whose NACK is expected and ignored.
 * - ReadRAM: command 0x20 | number of bytes (0x22 for a 16-bit value), RAM address high and low, checksum (the byte
 *   sum, low 8 bits). The reply: status (bit 0 set: the read completed), value high, value low, checksum.
 * - RAM 0x0008: the CO2 value. The guide's examples read it as ppm (1 ppm per count, a K33 ELG measures up to
 *   10 000 ppm); the original system multiplied it by 10 (its CSV column "CO2_ppm_x10"), which fits a sensor
 *   configured for a wider range. The factor is therefore the hardware file's `k33_ppm_per_count` (default 1); check
 *   it once against outdoor air (about 420 ppm).
 */
import type { Clock } from '../clock.js';
import type { I2cBus } from '../transports/types.js';

export const K33_READ_RAM = 0x22;
export const K33_CO2_RAM_ADDRESS = 0x08;
/** ppm per count of RAM 0x08 as the guide reads it. */
export const K33_DEFAULT_PPM_PER_COUNT = 1;
/** Time the sensor needs after the wake-up before it takes a command. */
export const K33_WAKE_MS = 1;
/** Time the sensor needs between the command and the reply (the guide waits 10-20 ms). */
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
    readonly ppmPerCount = K33_DEFAULT_PPM_PER_COUNT,
  ) {}

  /** START + address + STOP to wake the sensor; its NACK is expected (it was asleep). */
  async wake(): Promise<void> {
    await this.bus.read(this.address, 1).catch(() => {});
    await this.clock.sleep(K33_WAKE_MS);
  }

  async probe(): Promise<void> {
    await this.sample();
  }

  async sample(): Promise<(number | null)[]> {
    await this.wake();
    const command = [K33_READ_RAM, 0x00, K33_CO2_RAM_ADDRESS];
    await this.bus.write(this.address, Uint8Array.from([...command, checksum(command)]));
    await this.clock.sleep(K33_REPLY_DELAY_MS);
    const reply = await this.bus.read(this.address, 4);
    const [status = 0, high = 0, low = 0, sum = 0] = reply;
    if ((status & 0x01) === 0) throw new Error('K33 read incomplete (status bit 0 clear)');
    if (checksum([status, high, low]) !== sum) throw new Error('K33 reply checksum mismatch');
    return [((high << 8) | low) * this.ppmPerCount];
  }
}
