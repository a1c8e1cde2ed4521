// Emulated outputs: PWM channels and GPIO lines remember their levels; the SPI ring decodes NeoPixel frames bit by bit;
// the Tic answers USB control transfers as its user's guide describes and enforces safe start and the command timeout.
import type { Clock } from '../clock.js';
import type { Rgb } from '../drivers/neopixel.js';
import type { GpioLine, PwmChannel, SpiDevice, UsbControl } from '../transports/types.js';

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
  high: boolean;
  /** `idleHigh`: the line rests high (an active-low relay), at start and after close. */
  constructor(private readonly idleHigh = false) {
    this.high = idleHigh;
  }
  async set(high: boolean): Promise<void> {
    this.high = high;
  }
  async close(): Promise<void> {
    this.high = this.idleHigh;
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

/** A control transfer the emulated Tic received, as the SETUP packet carried it. */
export interface UsbSetup {
  bmRequestType: number;
  bRequest: number;
  wValue: number;
  wIndex: number;
  wLength: number;
}

/** Error status bits (Tic user's guide §7), written here from the guide, not taken from the driver. */
const ERR = { intentionallyDeenergized: 0, motorDriverError: 1, commandTimeout: 6, safeStartViolation: 7 } as const;
/** Size of the Tic's variable block (tic_protocol.h TIC_VARIABLES_SIZE). */
const VARIABLES_SIZE = 0x55;

/**
 * A Tic T825 as its USB endpoint 0 sees it (Tic user's guide §11): vendor requests only, commands with
 * bmRequestType 0x40, block reads with 0xC0; anything else, or an unknown command, is answered with a STALL as the
 * Tic does. It keeps the variables of §7, enforces safe start and the 1000 ms command timeout (§5.4), limits the
 * step rate to its max speed (default 2 000 000, §6) and drives steps at once (no acceleration ramp).
 */
export class EmulatedTic implements UsbControl {
  energized = false;
  safeStart = true;
  targetVelocity = 0;
  planningMode = 0;
  maxSpeed = 2_000_000;
  stepMode = 0;
  currentLimit = 0;
  commandTimedOut = false;
  driverError = false;
  errorsOccurred = 0;
  /**
   * Fault injection: the controller acts as if its command timeout had fired and keeps the motor stopped, whatever
   * it is sent, until the fault is cleared; its status says "command timeout". After that it needs an exit safe
   * start (the driver's next run or restart) to move again, as a real Tic after an error does.
   */
  stalled = false;
  /** Fault injection: the device is gone from the bus (unplugged, powered off): every transfer fails. */
  unplugged = false;
  private lastCommandAt: number;
  readonly log: UsbSetup[] = [];

  constructor(
    private readonly clock: Clock,
    readonly timeoutMs = 1000,
  ) {
    this.lastCommandAt = clock.now();
  }

  /** Microsteps per 10 000 s actually driven now (0 unless energised, out of safe start and without an error). */
  get velocity(): number {
    this.checkTimeout();
    if (!this.energized || this.errorStatus() !== 0) return 0;
    return Math.max(-this.maxSpeed, Math.min(this.maxSpeed, this.targetVelocity));
  }

  /** Stalls the controller (see `stalled`), or lets it recover. */
  stall(on: boolean): void {
    if (on) this.timeOut();
    this.stalled = on;
  }

  private timeOut(): void {
    this.commandTimedOut = true;
    this.safeStart = true;
    this.errorsOccurred |= 1 << ERR.commandTimeout;
  }

  private checkTimeout(): void {
    if (!this.commandTimedOut && this.clock.now() - this.lastCommandAt > this.timeoutMs) this.timeOut();
  }

  /** §7 "Error status": what stops the motor now. Safe start holds from an error until "Exit safe start". */
  private errorStatus(): number {
    let bits = 0;
    if (!this.energized) bits |= 1 << ERR.intentionallyDeenergized;
    if (this.driverError) bits |= 1 << ERR.motorDriverError;
    if (this.commandTimedOut || this.stalled) bits |= 1 << ERR.commandTimeout;
    if (this.safeStart) bits |= 1 << ERR.safeStartViolation;
    return bits;
  }

  private transfer(setup: UsbSetup): void {
    if (this.unplugged) throw new Error('LIBUSB_ERROR_NO_DEVICE: the Tic is gone from the bus');
    this.log.push(setup);
  }

  async vendorOut(request: number, value: number, index: number): Promise<void> {
    this.transfer({ bmRequestType: 0x40, bRequest: request, wValue: value, wIndex: index, wLength: 0 });
    this.checkTimeout();
    const data32 = ((index & 0xffff) << 16) | (value & 0xffff);
    switch (request) {
      case 0xe3: // set target velocity, 32-bit signed
        this.targetVelocity = data32 | 0;
        this.planningMode = 2;
        break;
      case 0xe6: // set max speed, 32-bit unsigned, 0..500 000 000
        this.maxSpeed = Math.min(500_000_000, data32 >>> 0);
        break;
      case 0x85:
        this.energized = true;
        break;
      case 0x86:
        this.energized = false;
        this.targetVelocity = 0;
        this.planningMode = 0;
        break;
      case 0x83:
        if (!this.stalled) this.safeStart = false;
        break;
      case 0x89:
        this.targetVelocity = 0;
        this.planningMode = 0;
        break;
      case 0x8c:
        break;
      case 0x8a:
        this.driverError = false;
        break;
      case 0x94:
        this.stepMode = value & 0x7f;
        break;
      case 0x91:
        this.currentLimit = value & 0x7f;
        break;
      default:
        throw new Error(`LIBUSB_TRANSFER_STALL: the Tic has no command 0x${request.toString(16)}`);
    }
    // Every command resets the command timeout; a stalled controller stays timed out.
    this.lastCommandAt = this.clock.now();
    if (!this.stalled) this.commandTimedOut = false;
  }

  async vendorIn(request: number, value: number, index: number, length: number): Promise<Uint8Array> {
    this.transfer({ bmRequestType: 0xc0, bRequest: request, wValue: value, wIndex: index, wLength: length });
    if (request !== 0xa1 && request !== 0xa2)
      throw new Error(`LIBUSB_TRANSFER_STALL: the Tic has no read 0x${request.toString(16)}`);
    if (length < 1 || length > 128) throw new Error('LIBUSB_TRANSFER_STALL: a block read is 1 to 128 bytes');
    this.checkTimeout();
    const vars = new DataView(new ArrayBuffer(VARIABLES_SIZE));
    const errors = this.errorStatus();
    // Operation state: 2 de-energized, 4 soft error (an error holds the motor), 10 normal.
    vars.setUint8(0x00, !this.energized ? 2 : errors !== 0 ? 4 : 10);
    vars.setUint8(0x01, this.energized ? 1 : 0);
    vars.setUint16(0x02, errors, true);
    vars.setUint32(0x04, this.errorsOccurred | errors, true);
    vars.setUint8(0x09, this.planningMode);
    vars.setInt32(0x0e, this.targetVelocity, true);
    vars.setUint32(0x16, this.maxSpeed, true);
    vars.setInt32(0x26, this.velocity, true);
    if (request === 0xa2) this.errorsOccurred = 0;
    const all = new Uint8Array(vars.buffer);
    return all.slice(index, Math.min(VARIABLES_SIZE, index + length));
  }

  async close(): Promise<void> {}
}
