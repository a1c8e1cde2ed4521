// Transports over what a Raspberry Pi 5 exposes: sysfs PWM, GPIO and 1-Wire as plain files; I2C, SPI and USB
// through npm packages loaded only when asked for, so a node without them starts and names the missing package.
import { constants } from 'node:fs';
import { access, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  type GpioLine,
  type I2cBus,
  type OneWireBus,
  type PwmChannel,
  type SpiDevice,
  type TransportFactory,
  TransportUnavailable,
  type UsbControl,
  type UsbMatch,
} from './types.js';

export interface LinuxPaths {
  sysfsRoot: string;
  devRoot: string;
  gpioChipLabel: string;
}

/** Loads an optional native package by name; undefined when it is not installed or cannot load. */
async function optionalImport(specifier: string): Promise<{ module?: Record<string, unknown>; error?: string }> {
  try {
    const mod = (await import(specifier)) as Record<string, unknown> & { default?: Record<string, unknown> };
    return { module: mod.default ?? mod };
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0] };
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/** Waits for a sysfs node udev creates after an export; a short bounded retry, not a timing assumption. */
async function waitForPath(path: string): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    if (await exists(path)) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

interface I2cBusModule {
  openPromisified(bus: number): Promise<{
    i2cWrite(addr: number, length: number, buf: Buffer): Promise<{ bytesWritten: number }>;
    i2cRead(addr: number, length: number, buf: Buffer): Promise<{ bytesRead: number; buffer: Buffer }>;
    close(): Promise<void>;
  }>;
}

export function openI2c(bus: number, paths: LinuxPaths): Promise<I2cBus> {
  return (async () => {
    const device = join(paths.devRoot, `i2c-${bus}`);
    if (!(await exists(device)))
      throw new TransportUnavailable(`${device} does not exist: enable I2C (raspi-config → Interface → I2C)`);
    const { module, error } = await optionalImport('i2c-bus');
    if (!module)
      throw new TransportUnavailable(`the i2c-bus package is not installed (${error}): run npm install i2c-bus`);
    const handle = await (module as unknown as I2cBusModule).openPromisified(bus);
    return {
      async write(address, bytes) {
        const { bytesWritten } = await handle.i2cWrite(address, bytes.length, Buffer.from(bytes));
        if (bytesWritten !== bytes.length) throw new Error(`short I2C write to 0x${address.toString(16)}`);
      },
      async read(address, length) {
        const { bytesRead, buffer } = await handle.i2cRead(address, length, Buffer.alloc(length));
        if (bytesRead !== length) throw new Error(`short I2C read from 0x${address.toString(16)}`);
        return new Uint8Array(buffer);
      },
      close: () => handle.close(),
    };
  })();
}

export function sysfsOneWire(paths: LinuxPaths): OneWireBus {
  const dir = join(paths.sysfsRoot, 'bus', 'w1', 'devices');
  return {
    async listThermometers() {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        throw new TransportUnavailable(`${dir} is missing: add dtoverlay=w1-gpio to /boot/firmware/config.txt`);
      }
      return names.filter((n) => /^28-[0-9a-f]{12}$/.test(n)).sort();
    },
    readSlave: (id) => readFile(join(dir, id, 'w1_slave'), 'utf8'),
  };
}

/** The device of the 40-pin header's hardware PWM on a Pi 5: RP1's PWM0 (GPIO 12, 13, 18, 19). */
export const RP1_PWM0_DEVICE = '1f00098000.pwm';
/** The devicetree compatible of RP1's PWM blocks (PWM0, and PWM1 which is not on the header). */
export const RP1_PWM_COMPATIBLE = 'raspberrypi,rp1-pwm';

interface PwmChipInfo {
  name: string;
  device: string;
  compatible: string[];
}

async function pwmChips(root: string): Promise<PwmChipInfo[]> {
  const names = (await readdir(root)).filter((n) => /^pwmchip[0-9]+$/.test(n));
  return Promise.all(
    names.map(async (name) => ({
      name,
      device: basename(await readlink(join(root, name, 'device')).catch(() => '')),
      compatible: (await readFile(join(root, name, 'device', 'of_node', 'compatible'), 'utf8').catch(() => ''))
        .split('\0')
        .filter(Boolean),
    })),
  );
}

/**
 * The sysfs directory of a PWM controller. `chip` names pwmchipN outright (the hardware file's `pwm_chip`);
 * undefined means the header's controller, found by its device and not by its number: the kernel numbers PWM chips
 * as they probe (RP1 PWM0 is pwmchip2 on the Pi 5's 6.6 kernels, pwmchip0 on 6.12).
 */
export async function findPwmChip(chip: number | undefined, paths: Pick<LinuxPaths, 'sysfsRoot'>): Promise<string> {
  const root = join(paths.sysfsRoot, 'class', 'pwm');
  const overlay = 'add dtoverlay=pwm-2chan (GPIO 12/13/18/19) to /boot/firmware/config.txt';
  if (chip !== undefined) {
    const dir = join(root, `pwmchip${chip}`);
    if (!(await exists(dir)))
      throw new TransportUnavailable(`${dir} is missing: ${overlay}, or correct pwm_chip in the hardware file`);
    return dir;
  }
  let chips: PwmChipInfo[];
  try {
    chips = await pwmChips(root);
  } catch {
    throw new TransportUnavailable(`${root} is missing: the kernel has no sysfs PWM (CONFIG_PWM_SYSFS)`);
  }
  const byDevice = chips.find((c) => c.device === RP1_PWM0_DEVICE);
  if (byDevice) return join(root, byDevice.name);
  // RP1 mapped at another address (another board of the family): its PWM0 block is still at offset 0x98000, and
  // PWM1 (0x9c000, not on the header) shares the compatible, so both are checked.
  const rp1Pwm0 = chips.filter((c) => c.compatible.includes(RP1_PWM_COMPATIBLE) && /98000\.pwm$/.test(c.device));
  if (rp1Pwm0.length === 1 && rp1Pwm0[0]) return join(root, rp1Pwm0[0].name);
  const found = chips.map((c) => `${c.name} → ${c.device || 'no device'}`).join(', ');
  throw new TransportUnavailable(
    `no PWM controller of the 40-pin header (RP1 PWM0, device ${RP1_PWM0_DEVICE}) under ${root}` +
      ` (${found ? `found ${found}` : 'none found'}): ${overlay}, or set pwm_chip in the hardware file`,
  );
}

/** The sysfs directory of one PWM channel (it exists once the channel is exported). */
export async function pwmChannelDir(
  chip: number | undefined,
  channel: number,
  paths: Pick<LinuxPaths, 'sysfsRoot'>,
): Promise<string> {
  return join(await findPwmChip(chip, paths), `pwm${channel}`);
}

export async function sysfsPwm(chip: number | undefined, channel: number, paths: LinuxPaths): Promise<PwmChannel> {
  const chipDir = await findPwmChip(chip, paths);
  const dir = join(chipDir, `pwm${channel}`);
  if (!(await exists(dir))) {
    await writeFile(join(chipDir, 'export'), String(channel));
    if (!(await waitForPath(dir)))
      throw new TransportUnavailable(`exporting PWM channel ${channel} of ${chipDir} failed`);
  }
  let periodNs = 0;
  return {
    async configure(frequencyHz) {
      periodNs = Math.round(1e9 / frequencyHz);
      // The kernel refuses a period shorter than the current duty, so the duty goes to 0 first.
      await writeFile(join(dir, 'duty_cycle'), '0');
      await writeFile(join(dir, 'period'), String(periodNs));
      await writeFile(join(dir, 'enable'), '1');
    },
    async setDuty(fraction) {
      await writeFile(join(dir, 'duty_cycle'), String(Math.round(periodNs * Math.min(1, Math.max(0, fraction)))));
    },
    async close() {
      await writeFile(join(dir, 'duty_cycle'), '0');
      await writeFile(join(dir, 'enable'), '0');
    },
  };
}

/** Finds the sysfs number base of the header's GPIO controller (gpiochip4 on a Pi 5, base 571 on 6.6 kernels). */
async function gpioBase(paths: LinuxPaths): Promise<number> {
  const root = join(paths.sysfsRoot, 'class', 'gpio');
  let entries: string[] = [];
  try {
    entries = await readdir(root);
  } catch {
    throw new TransportUnavailable(`${root} is missing: the kernel has no sysfs GPIO (CONFIG_GPIO_SYSFS)`);
  }
  for (const entry of entries.filter((e) => e.startsWith('gpiochip'))) {
    const label = (await readFile(join(root, entry, 'label'), 'utf8').catch(() => '')).trim();
    if (label === paths.gpioChipLabel) return Number((await readFile(join(root, entry, 'base'), 'utf8')).trim());
  }
  throw new TransportUnavailable(`no GPIO controller labelled ${paths.gpioChipLabel} under ${root}`);
}

/** The sysfs directory of a header GPIO line (it exists once the line is exported). */
export async function gpioLineDir(pin: number, paths: LinuxPaths): Promise<string> {
  return join(paths.sysfsRoot, 'class', 'gpio', `gpio${(await gpioBase(paths)) + pin}`);
}

/**
 * A header GPIO line as an output. `idleHigh`: the line's resting level is high (an active-low relay board, which a
 * low line opens): it becomes an output at that level ("high", never passing through low) and goes back to it at
 * close. Otherwise it rests low.
 */
export async function sysfsGpio(pin: number, paths: LinuxPaths, idleHigh = false): Promise<GpioLine> {
  const root = join(paths.sysfsRoot, 'class', 'gpio');
  const number = (await gpioBase(paths)) + pin;
  const dir = join(root, `gpio${number}`);
  if (!(await exists(dir))) {
    await writeFile(join(root, 'export'), String(number));
    if (!(await waitForPath(dir))) throw new TransportUnavailable(`exporting GPIO ${pin} (${number}) failed`);
  }
  await writeFile(join(dir, 'direction'), idleHigh ? 'high' : 'low');
  return {
    set: (high) => writeFile(join(dir, 'value'), high ? '1' : '0'),
    close: () => writeFile(join(dir, 'value'), idleHigh ? '1' : '0'),
  };
}

interface SpiModule {
  open(
    bus: number,
    device: number,
    cb: (err: Error | null) => void,
  ): {
    transfer(messages: object[], cb: (err: Error | null) => void): void;
    close(cb: (err: Error | null) => void): void;
  };
}

export async function openSpi(name: string, paths: LinuxPaths): Promise<SpiDevice> {
  const path = join(paths.devRoot, name);
  if (!(await exists(path)))
    throw new TransportUnavailable(`${path} does not exist: enable SPI (raspi-config → Interface → SPI)`);
  const { module, error } = await optionalImport('spi-device');
  if (!module)
    throw new TransportUnavailable(`the spi-device package is not installed (${error}): run npm install spi-device`);
  const [bus, chip] = name.replace('spidev', '').split('.').map(Number) as [number, number];
  const device = await new Promise<ReturnType<SpiModule['open']>>((resolve, reject) => {
    const d = (module as unknown as SpiModule).open(bus, chip, (err) => (err ? reject(err) : resolve(d)));
  });
  return {
    write: (bytes, speedHz) =>
      new Promise((resolve, reject) =>
        device.transfer([{ sendBuffer: Buffer.from(bytes), byteLength: bytes.length, speedHz }], (err) =>
          err ? reject(err) : resolve(),
        ),
      ),
    close: () => new Promise((resolve) => device.close(() => resolve())),
  };
}

interface UsbDevice {
  deviceDescriptor: { idVendor: number; idProduct: number; iSerialNumber: number };
  busNumber: number;
  deviceAddress: number;
  timeout: number;
  open(defaultConfig?: boolean): void;
  close(): void;
  getStringDescriptor(index: number, cb: (err?: Error, value?: string) => void): void;
  controlTransfer(
    bmRequestType: number,
    bRequest: number,
    wValue: number,
    wIndex: number,
    dataOrLength: number | Buffer,
    cb: (err?: Error, data?: Buffer | number) => void,
  ): void;
}
interface UsbModule {
  getDeviceList(): UsbDevice[];
}

/** How long one control transfer may take; a Tic answers in about a millisecond. */
export const USB_TRANSFER_TIMEOUT_MS = 500;

const hex4 = (n: number) => n.toString(16).padStart(4, '0');

/**
 * A USB device by vendor and product ids, matched by its serial number, for vendor control transfers on endpoint 0
 * through libusb (npm `usb`, loaded only when asked for). Opening needs write access to /dev/bus/usb/BBB/DDD:
 * root, or the udev rule in docs/raspberry-pi.md. No interface is claimed: control transfers to the device itself
 * need none, and the kernel's CDC ACM driver keeps the Tic's virtual serial ports.
 */
export async function openUsb(match: UsbMatch): Promise<UsbControl> {
  const { module, error } = await optionalImport('usb');
  if (!module)
    throw new TransportUnavailable(
      `the usb package is not installed or cannot load (${error}): run npm install -w @bioreactor/node usb (libusb; it needs libudev.so.1, and make, g++ and libudev-dev to build)`,
    );
  const usb = module as unknown as UsbModule;
  const candidates = usb
    .getDeviceList()
    .filter(
      (d) => d.deviceDescriptor.idVendor === match.vendorId && match.productIds.includes(d.deviceDescriptor.idProduct),
    );
  const seen: string[] = [];
  const problems: string[] = [];
  for (const device of candidates) {
    const where = `bus ${device.busNumber} device ${device.deviceAddress} (${hex4(match.vendorId)}:${hex4(device.deviceDescriptor.idProduct)})`;
    try {
      device.open(false);
    } catch (err) {
      const message = (err as Error).message;
      problems.push(
        /ACCESS/.test(message)
          ? `${where}: permission denied (${message}): run the node as root or add the udev rule for vendor ${hex4(match.vendorId)} (docs/raspberry-pi.md)`
          : `${where}: ${message}`,
      );
      continue;
    }
    const serial = await new Promise<string | undefined>((resolve) =>
      device.getStringDescriptor(device.deviceDescriptor.iSerialNumber, (err, value) =>
        resolve(err ? undefined : value?.split('\u0000')[0]),
      ),
    );
    if (serial !== match.serialNumber) {
      seen.push(serial ?? `${where} (serial unreadable)`);
      device.close();
      continue;
    }
    device.timeout = USB_TRANSFER_TIMEOUT_MS;
    const transfer = (type: number, request: number, value: number, index: number, data: number | Buffer) =>
      new Promise<Buffer | number | undefined>((resolve, reject) =>
        device.controlTransfer(type, request, value, index, data, (err, out) =>
          err ? reject(new Error(`${match.family} ${match.serialNumber}: ${err.message}`)) : resolve(out),
        ),
      );
    let open = true;
    return {
      async vendorOut(request, value, index) {
        await transfer(0x40, request, value, index, Buffer.alloc(0));
      },
      async vendorIn(request, value, index, length) {
        const out = await transfer(0xc0, request, value, index, length);
        return new Uint8Array(Buffer.isBuffer(out) ? out : Buffer.alloc(0));
      },
      async close() {
        if (!open) return;
        open = false;
        device.close();
      },
    };
  }
  const found = seen.length > 0 ? `found ${match.family} ${seen.join(', ')}` : `no ${match.family} found`;
  throw new TransportUnavailable(
    `no ${match.family} with serial ${match.serialNumber} on USB (vendor ${hex4(match.vendorId)}; ${found}${problems.length > 0 ? `; ${problems.join('; ')}` : ''}): check the USB cable and the serial in the hardware file`,
  );
}

export function linuxTransports(paths: LinuxPaths): TransportFactory {
  return {
    i2c: (bus) => openI2c(bus, paths),
    oneWire: async () => sysfsOneWire(paths),
    pwm: (chip, channel) => sysfsPwm(chip, channel, paths),
    gpio: (pin, idleHigh) => sysfsGpio(pin, paths, idleHigh),
    spi: (device) => openSpi(device, paths),
    usb: (match) => openUsb(match),
  };
}
