// The small transport interfaces drivers are written against: what a Pi 5 exposes, or an emulated chip.

/** One I2C adapter (/dev/i2c-N). Each call is one bus transaction. */
export interface I2cBus {
  write(address: number, bytes: Uint8Array): Promise<void>;
  read(address: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** The kernel's 1-Wire master (/sys/bus/w1/devices). */
export interface OneWireBus {
  /** Ids of the DS18B20 family (28-…) present now. */
  listThermometers(): Promise<string[]>;
  /** The `w1_slave` text; reading it triggers a conversion (up to 750 ms). */
  readSlave(id: string): Promise<string>;
}

/** One hardware PWM channel. */
export interface PwmChannel {
  configure(frequencyHz: number): Promise<void>;
  /** Duty as a fraction 0..1. */
  setDuty(fraction: number): Promise<void>;
  close(): Promise<void>;
}

/** One GPIO output line. */
export interface GpioLine {
  set(high: boolean): Promise<void>;
  close(): Promise<void>;
}

/** One SPI device (/dev/spidevB.C), write-only as the NeoPixel needs. */
export interface SpiDevice {
  write(bytes: Uint8Array, speedHz: number): Promise<void>;
  close(): Promise<void>;
}

/** A byte stream to one USB serial device (the Tic's virtual COM port). */
export interface SerialLink {
  write(bytes: Uint8Array): Promise<void>;
  /** Reads exactly `length` bytes or rejects after `timeoutMs`. */
  read(length: number, timeoutMs: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Every transport a component may ask for; real mode opens Linux devices, simulation emulated chips. */
export interface TransportFactory {
  i2c(bus: number): Promise<I2cBus>;
  oneWire(): Promise<OneWireBus>;
  /** `chip` undefined: the 40-pin header's PWM controller (RP1 PWM0 on a Pi 5), found by its device. */
  pwm(chip: number | undefined, channel: number): Promise<PwmChannel>;
  gpio(pin: number): Promise<GpioLine>;
  spi(device: string): Promise<SpiDevice>;
  serial(serialNumber: string): Promise<SerialLink>;
}

/** A transport that cannot open: the component becomes unavailable with this reason and fix. */
export class TransportUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransportUnavailable';
  }
}
