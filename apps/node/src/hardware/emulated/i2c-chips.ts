// Emulated I2C chips that answer the drivers byte for byte as the datasheets describe, with their conversion delays.
import type { Clock } from '../clock.js';
import type { I2cBus } from '../transports/types.js';

export interface EmulatedI2cDevice {
  onWrite(bytes: Uint8Array): void;
  onRead(length: number): Uint8Array;
}

/** A bus of emulated devices; a missing address fails like a NACK (EREMOTEIO). */
export class EmulatedI2cBus implements I2cBus {
  readonly devices = new Map<number, EmulatedI2cDevice>();
  transactions = 0;
  /** Transactions running at once: the serialising wrapper must keep this at 1. */
  private inFlight = 0;
  maxInFlight = 0;

  attach(address: number, device: EmulatedI2cDevice): void {
    this.devices.set(address, device);
  }

  /** Fault injection: addresses whose chip stops acknowledging (a loose wire, a hung chip), as a NACK. */
  readonly failing = new Set<number>();

  private device(address: number): EmulatedI2cDevice {
    const d = this.failing.has(address) ? undefined : this.devices.get(address);
    if (!d) throw new Error(`Remote I/O error: no device acknowledged at 0x${address.toString(16)}`);
    return d;
  }

  private async track<T>(fn: () => T): Promise<T> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    this.transactions++;
    try {
      // A transaction takes bus time; yielding lets a missing lock show up as overlap.
      await Promise.resolve();
      return fn();
    } finally {
      this.inFlight--;
    }
  }

  write(address: number, bytes: Uint8Array): Promise<void> {
    return this.track(() => this.device(address).onWrite(Uint8Array.from(bytes)));
  }

  read(address: number, length: number): Promise<Uint8Array> {
    return this.track(() => {
      const out = this.device(address).onRead(length);
      const padded = new Uint8Array(length).fill(0xff);
      padded.set(out.subarray(0, length));
      return padded;
    });
  }

  async close(): Promise<void> {}
}

/**
 * An Atlas EZO circuit: "R" takes `readyMs` before the reply is ready, "i" 300 ms; reading earlier gives 254;
 * nothing asked gives 255; another command 2 (syntax error). `reading` formats the value as the circuit prints it.
 */
export class EzoChip implements EmulatedI2cDevice {
  private pending: { command: string; at: number } | null = null;
  commands: string[] = [];

  constructor(
    protected readonly clock: Clock,
    /** The device name of its "i" reply, lower case "?i" as current firmware writes it. */
    private readonly device: string,
    private readonly readyMs: number,
    private readonly reading: () => string,
  ) {}

  onWrite(bytes: Uint8Array): void {
    const command = new TextDecoder().decode(bytes);
    this.commands.push(command);
    this.pending = { command, at: this.clock.now() };
  }

  onRead(): Uint8Array {
    if (!this.pending) return Uint8Array.of(255);
    const { command, at } = this.pending;
    const needed = command === 'R' ? this.readyMs : 300;
    if (this.clock.now() - at < needed) return Uint8Array.of(254);
    this.pending = null;
    let text: string;
    if (command === 'R') text = this.reading();
    else if (command === 'i') text = `?i,${this.device},1.0`;
    else return Uint8Array.of(2);
    return Uint8Array.of(1, ...new TextEncoder().encode(text), 0);
  }
}

/** Atlas EZO-CO2: "R" takes 900 ms; the reply is whole ppm. */
export class EzoCo2Chip extends EzoChip {
  static readonly PROCESSING_MS = 900;

  constructor(clock: Clock, ppm: () => number) {
    super(clock, 'CO2', EzoCo2Chip.PROCESSING_MS, () => String(Math.max(0, Math.round(ppm()))));
  }
}

/** Atlas EZO-O2: "R" takes 900 ms; the reply is % O2 with two decimals (its default output). */
export class EzoO2Chip extends EzoChip {
  static readonly PROCESSING_MS = 900;

  constructor(clock: Clock, percent: () => number) {
    super(clock, 'O2', EzoO2Chip.PROCESSING_MS, () => Math.min(100, Math.max(0, percent())).toFixed(2));
  }
}

/**
 * Senseair K33: asleep until a transaction addressed to it wakes it (that one is not acknowledged, as a sleeping
 * K33 does), awake for AWAKE_MS after its last transaction; answers ReadRAM of the CO2 word after 10 ms, status
 * bit 0 set, with a sum checksum, in units of `ppmPerCount`.
 */
export class K33Chip implements EmulatedI2cDevice {
  static readonly READY_MS = 10;
  static readonly AWAKE_MS = 50;
  private request: { at: number; valid: boolean } | null = null;
  private awakeUntil = Number.NEGATIVE_INFINITY;
  /** Transactions refused because the sensor was asleep. */
  nacks = 0;

  constructor(
    private readonly clock: Clock,
    private readonly ppm: () => number,
    private readonly ppmPerCount = 1,
  ) {}

  /** Every transaction: refused (and the sensor woken) while asleep. */
  private touch(): void {
    const now = this.clock.now();
    const asleep = now > this.awakeUntil;
    this.awakeUntil = now + K33Chip.AWAKE_MS;
    if (asleep) {
      this.nacks++;
      this.request = null;
      throw new Error('Remote I/O error: the K33 is asleep (no acknowledge)');
    }
  }

  onWrite(bytes: Uint8Array): void {
    this.touch();
    const [cmd, hi, lo, sum] = bytes;
    const valid = bytes.length === 4 && cmd === 0x22 && hi === 0x00 && lo === 0x08 && ((cmd + hi + lo) & 0xff) === sum;
    this.request = { at: this.clock.now(), valid };
  }

  onRead(): Uint8Array {
    this.touch();
    const req = this.request;
    this.request = null;
    if (!req?.valid || this.clock.now() - req.at < K33Chip.READY_MS) return Uint8Array.of(0x00, 0, 0, 0);
    const counts = Math.max(0, Math.min(0xffff, Math.round(this.ppm() / this.ppmPerCount)));
    const status = 0x21;
    const hi = counts >> 8;
    const lo = counts & 0xff;
    return Uint8Array.of(status, hi, lo, (status + hi + lo) & 0xff);
  }
}

const FSR = [6.144, 4.096, 2.048, 1.024, 0.512, 0.256, 0.256, 0.256];
const SPS = [8, 16, 32, 64, 128, 250, 475, 860];

/** ADS1115/ADS1114: pointer register, config register with OS bit, conversion after 1/SPS. */
export class Ads1115Chip implements EmulatedI2cDevice {
  private pointer = 0;
  private config = 0x8583; // power-on default
  private conversion = 0;
  private readyAt = 0;

  constructor(
    private readonly clock: Clock,
    private readonly volts: (input: number) => number,
    private readonly inputs = 4,
  ) {}

  onWrite(bytes: Uint8Array): void {
    this.pointer = (bytes[0] ?? 0) & 0x03;
    if (bytes.length < 3) return;
    const value = ((bytes[1] ?? 0) << 8) | (bytes[2] ?? 0);
    if (this.pointer !== 0x01) return;
    this.config = value & 0x7fff;
    if (value & 0x8000) {
      const mux = (value >> 12) & 0x07;
      const input = this.inputs === 1 ? 0 : mux >= 4 ? mux - 4 : 0;
      const fsr = FSR[(value >> 9) & 0x07] ?? 2.048;
      const raw = Math.round((this.volts(input) / fsr) * 32768);
      this.conversion = Math.max(-32768, Math.min(32767, raw)) & 0xffff;
      this.readyAt = this.clock.now() + 1000 / (SPS[(value >> 5) & 0x07] ?? 128);
    }
  }

  onRead(): Uint8Array {
    if (this.pointer === 0x01) {
      const word = this.config | (this.clock.now() >= this.readyAt ? 0x8000 : 0);
      return Uint8Array.of(word >> 8, word & 0xff);
    }
    if (this.pointer === 0x00) return Uint8Array.of(this.conversion >> 8, this.conversion & 0xff);
    return Uint8Array.of(0, 0);
  }
}

/** ADS7830: the command byte selects the channel (interleaved order), the next read returns 8 bits. */
export class Ads7830Chip implements EmulatedI2cDevice {
  private channel = 0;
  lastCommand = 0;

  constructor(
    private readonly vref: number,
    private readonly volts: (channel: number) => number,
  ) {}

  onWrite(bytes: Uint8Array): void {
    const cmd = bytes[0] ?? 0;
    this.lastCommand = cmd;
    if ((cmd & 0x80) === 0) throw new Error('ADS7830 emulator: differential mode is not wired on this board');
    const select = (cmd >> 4) & 0x07;
    this.channel = ((select & 0x03) << 1) | (select >> 2);
  }

  onRead(): Uint8Array {
    const raw = Math.round((this.volts(this.channel) / this.vref) * 255);
    return Uint8Array.of(Math.max(0, Math.min(255, raw)));
  }
}
