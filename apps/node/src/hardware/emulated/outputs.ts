// Emulated outputs: PWM channels and GPIO lines remember their levels; the SPI ring decodes NeoPixel frames bit by bit;
// the Tic parses its compact serial protocol and enforces safe start and the command timeout.
import type { Clock } from '../clock.js';
import type { Rgb } from '../drivers/neopixel.js';
import type { GpioLine, PwmChannel, SerialLink, SpiDevice } from '../transports/types.js';

export class EmulatedPwm implements PwmChannel {
  periodNs = 0;
  dutyNs = 0;
  enabled = false;

  async configure(frequencyHz: number): Promise<void> {
    this.dutyNs = 0;
    this.periodNs = Math.round(1e9 / frequencyHz);
    this.enabled = true;
  }

  async setDuty(fraction: number): Promise<void> {
    if (!this.enabled) throw new Error('PWM channel not enabled');
    this.dutyNs = Math.round(this.periodNs * fraction);
  }

  get fraction(): number {
    return this.enabled && this.periodNs > 0 ? this.dutyNs / this.periodNs : 0;
  }

  async close(): Promise<void> {
    this.dutyNs = 0;
    this.enabled = false;
  }
}

export class EmulatedGpio implements GpioLine {
  high = false;
  async set(high: boolean): Promise<void> {
    this.high = high;
  }
  async close(): Promise<void> {
    this.high = false;
  }
}

/** Decodes what a WS2812 ring would latch; a malformed bit pattern is an error, as the LEDs would show garbage. */
export class EmulatedNeoPixelSpi implements SpiDevice {
  pixels: Rgb[];
  frames = 0;

  constructor(readonly pixelCount: number) {
    this.pixels = Array.from({ length: pixelCount }, () => [0, 0, 0] as Rgb);
  }

  async write(bytes: Uint8Array, speedHz: number): Promise<void> {
    if (speedHz < 2_000_000 || speedHz > 3_000_000)
      throw new Error(`NeoPixel timing needs ~2.4 MHz SPI, got ${speedHz}`);
    const bit = (i: number) => ((bytes[i >> 3] ?? 0) >> (7 - (i & 7))) & 1;
    const dataBits = this.pixelCount * 24;
    const values: number[] = [];
    for (let i = 0; i < dataBits; i++) {
      const a = bit(i * 3);
      const b = bit(i * 3 + 1);
      const c = bit(i * 3 + 2);
      if (a !== 1 || c !== 0) throw new Error(`malformed NeoPixel bit ${i}`);
      values.push(b);
    }
    const tail = bytes.subarray(Math.ceil((dataBits * 3) / 8));
    if (tail.length < 15 || tail.some((x) => x !== 0)) throw new Error('NeoPixel frame has no latch (≥50 µs low)');
    const byteAt = (k: number) => values.slice(k * 8, k * 8 + 8).reduce((acc, v) => (acc << 1) | v, 0);
    this.pixels = Array.from({ length: this.pixelCount }, (_, p) => {
      const g = byteAt(p * 3);
      const r = byteAt(p * 3 + 1);
      const b2 = byteAt(p * 3 + 2);
      return [r, g, b2] as Rgb;
    });
    this.frames++;
  }

  async close(): Promise<void> {}
}

/** Bits of the Tic's "error status" variable (Tic user's guide, "Variable reference" → "Error status"). */
export const TIC_ERROR_BITS = {
  intentionallyDeenergized: 0,
  commandTimeout: 6,
  safeStartViolation: 7,
} as const;

/** A Tic T825 as its serial port sees it. */
export class EmulatedTic implements SerialLink {
  energized = false;
  safeStart = true;
  targetVelocity = 0;
  stepMode = 0;
  currentLimit = 0;
  commandTimedOut = false;
  /**
   * Fault injection: the controller acts as if its command timeout had fired and keeps the motor stopped, whatever
   * it is sent, until the fault is cleared; its status says "command timeout". After that it needs an exit safe
   * start (the driver's next run) to move again, as a real Tic after an error does.
   */
  stalled = false;
  private lastCommandAt: number;
  private output: number[] = [];
  private input: number[] = [];
  readonly log: number[][] = [];

  constructor(private readonly clock: Clock) {
    this.lastCommandAt = clock.now();
  }

  /** Microsteps per 10 000 s actually driven now (0 unless energised, out of safe start and not timed out). */
  get velocity(): number {
    this.checkTimeout();
    return this.energized && !this.safeStart && !this.commandTimedOut && !this.stalled ? this.targetVelocity : 0;
  }

  /** Stalls the controller (see `stalled`), or lets it recover. */
  stall(on: boolean): void {
    if (on) {
      this.commandTimedOut = true;
      this.safeStart = true;
    }
    this.stalled = on;
  }

  private checkTimeout(): void {
    if (this.clock.now() - this.lastCommandAt > 1000 && this.energized && this.targetVelocity !== 0) {
      this.commandTimedOut = true;
      this.safeStart = true;
    }
  }

  async write(bytes: Uint8Array): Promise<void> {
    this.checkTimeout();
    this.input.push(...bytes);
    this.parse();
  }

  private parse(): void {
    for (;;) {
      const cmd = this.input[0];
      if (cmd === undefined) return;
      if ((cmd & 0x80) === 0) {
        this.input.shift(); // stray data byte: the Tic ignores it
        continue;
      }
      const length =
        cmd === 0xe3 || cmd === 0xe0 || cmd === 0xec ? 6 : cmd === 0xa1 ? 3 : cmd === 0x94 || cmd === 0x91 ? 2 : 1;
      if (this.input.length < length) return;
      const frame = this.input.splice(0, length);
      this.log.push(frame);
      this.lastCommandAt = this.clock.now();
      this.execute(frame);
    }
  }

  private execute(frame: number[]): void {
    const [cmd = 0, ...data] = frame;
    switch (cmd) {
      case 0xe3: {
        const [msbs = 0, ...bytes] = data;
        let v = 0;
        bytes.forEach((b, i) => {
          v |= ((b & 0x7f) | ((msbs >> i) & 1 ? 0x80 : 0)) << (8 * i);
        });
        this.targetVelocity = v | 0;
        break;
      }
      case 0x85:
        this.energized = true;
        break;
      case 0x86:
        this.energized = false;
        this.targetVelocity = 0;
        break;
      case 0x83:
        if (this.stalled) break;
        this.safeStart = false;
        this.commandTimedOut = false;
        break;
      case 0x89:
        this.targetVelocity = 0;
        break;
      case 0x8c:
        break;
      case 0x94:
        this.stepMode = data[0] ?? 0;
        break;
      case 0x91:
        this.currentLimit = data[0] ?? 0;
        break;
      case 0xa1: {
        const [offset = 0, length = 1] = data;
        const bits = TIC_ERROR_BITS;
        const errors =
          (this.energized ? 0 : 1 << bits.intentionallyDeenergized) |
          (this.commandTimedOut ? 1 << bits.commandTimeout : 0) |
          (this.safeStart && this.commandTimedOut ? 1 << bits.safeStartViolation : 0);
        // Operation state: 10 normal, 4 soft error (energised but held stopped by an error), 2 de-energised.
        const state = !this.energized ? 2 : this.commandTimedOut ? 4 : 10;
        const vars = [state, 0, errors & 0xff, errors >> 8];
        for (let i = 0; i < length; i++) this.output.push(vars[offset + i] ?? 0);
        break;
      }
      default:
        break;
    }
  }

  async read(length: number): Promise<Uint8Array> {
    if (this.output.length < length) throw new Error('the emulated Tic has nothing to say');
    return Uint8Array.from(this.output.splice(0, length));
  }

  async close(): Promise<void> {}
}
