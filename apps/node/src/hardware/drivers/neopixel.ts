// WS2812 (NeoPixel) ring over SPI: each data bit becomes three SPI bits (1 → 110, 0 → 100) at 2.4 MHz, so one bit
// lasts 1.25 µs; colours go out green, red, blue, most significant bit first; trailing zero bytes latch the frame.
import type { SpiDevice } from '../transports/types.js';

/** Low time that latches the frame: over 50 µs (300 µs for newer WS2812B) → 96 zero bytes at 2.4 MHz. */
export const NEOPIXEL_LATCH_BYTES = 96;

export type Rgb = [number, number, number];

export function encodePixels(pixels: readonly Rgb[]): Uint8Array {
  const out = new Uint8Array(pixels.length * 9 + NEOPIXEL_LATCH_BYTES);
  let bitIndex = 0;
  const pushBit = (bit: boolean) => {
    // Each data bit is 3 SPI bits: 1 1/0 0.
    for (const spiBit of [true, bit, false]) {
      if (spiBit) out[bitIndex >> 3] = (out[bitIndex >> 3] ?? 0) | (0x80 >> (bitIndex & 7));
      bitIndex++;
    }
  };
  for (const [r, g, b] of pixels)
    for (const byte of [g, r, b]) for (let i = 7; i >= 0; i--) pushBit(((byte >> i) & 1) === 1);
  return out;
}

export class NeoPixelRing {
  readonly driver = 'neopixel-spi';

  constructor(
    private readonly spi: SpiDevice,
    readonly pixelCount: number,
    private readonly speedHz: number,
  ) {}

  async probe(): Promise<void> {
    await this.show(Array.from({ length: this.pixelCount }, () => [0, 0, 0] as Rgb));
  }

  show(pixels: readonly Rgb[]): Promise<void> {
    return this.spi.write(encodePixels(pixels), this.speedHz);
  }

  close(): Promise<void> {
    return this.spi.close();
  }
}
