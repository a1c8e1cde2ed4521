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

/**
 * Endpoint 0 of one USB device, for vendor-defined control transfers (USB 2.0 §9.3: the SETUP packet's
 * bmRequestType, bRequest, wValue, wIndex, wLength). The Pololu Tic takes every command this way.
 */
export interface UsbControl {
  /** bmRequestType 0x40 (vendor, host to device, recipient device), no data stage. */
  vendorOut(request: number, value: number, index: number): Promise<void>;
  /** bmRequestType 0xC0 (vendor, device to host): answers the device's bytes, at most `length`. */
  vendorIn(request: number, value: number, index: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Which USB device to open: its vendor id, the product ids of its family, and its serial number. */
export interface UsbMatch {
  vendorId: number;
  productIds: readonly number[];
  serialNumber: string;
  /** Names the device family in messages ("Tic"). */
  family: string;
}

/** Every transport a component may ask for; real mode opens Linux devices, simulation emulated chips. */
export interface TransportFactory {
  i2c(bus: number): Promise<I2cBus>;
  oneWire(): Promise<OneWireBus>;
  /** `chip` undefined: the 40-pin header's PWM controller (RP1 PWM0 on a Pi 5), found by its device. */
  pwm(chip: number | undefined, channel: number): Promise<PwmChannel>;
  /** An output line resting low, or high with `idleHigh` (an active-low relay): it starts and closes at rest. */
  gpio(pin: number, idleHigh?: boolean): Promise<GpioLine>;
  spi(device: string): Promise<SpiDevice>;
  /** A USB device found by ids and matched by its serial number (the Tic pump controllers). */
  usb(match: UsbMatch): Promise<UsbControl>;
}

/** A transport that cannot open: the component becomes unavailable with this reason and fix. */
export class TransportUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransportUnavailable';
  }
}
