// Byte-level facts from the datasheets, checked against the drivers and the emulated chips independently.
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../src/hardware/clock.js';
import { singleShotConfig } from '../../src/hardware/drivers/ads1115.js';
import { ads7830Command } from '../../src/hardware/drivers/ads7830.js';
import { AtlasEzo, AtlasEzoCo2, EZO_DEVICES } from '../../src/hardware/drivers/atlas-ezo.js';
import { Ds18b20Array, dallasCrc8, parseW1Slave } from '../../src/hardware/drivers/ds18b20.js';
import { encodePixels } from '../../src/hardware/drivers/neopixel.js';
import { SenseairK33 } from '../../src/hardware/drivers/senseair-k33.js';
import {
  TIC_CMD,
  TIC_COMMAND_TIMEOUT_MS,
  TIC_DEFAULT_MAX_SPEED,
  TIC_ERROR_BITS,
  TIC_PRODUCT_IDS,
  TIC_STATUS_LENGTH,
  TIC_VENDOR_ID,
  TicStepper,
  ticErrorNames,
  ticStopReason,
} from '../../src/hardware/drivers/tic.js';
import {
  EmulatedI2cBus,
  type EmulatedI2cDevice,
  EzoCo2Chip,
  EzoO2Chip,
  K33Chip,
} from '../../src/hardware/emulated/i2c-chips.js';
import { EmulatedOneWire, w1SlaveText } from '../../src/hardware/emulated/one-wire.js';
import { EmulatedTic } from '../../src/hardware/emulated/outputs.js';
import type { UsbControl } from '../../src/hardware/transports/types.js';
import { whileTimePasses } from './support.js';

/** A device that records what the driver sent and answers with fixed bytes. */
class Scripted implements EmulatedI2cDevice {
  writes: number[][] = [];
  reads = 0;
  constructor(private readonly replies: number[][]) {}
  onWrite(bytes: Uint8Array) {
    this.writes.push([...bytes]);
  }
  onRead() {
    this.reads++;
    return Uint8Array.from(this.replies.shift() ?? [0xff]);
  }
}

/** A USB device that records each control transfer as its SETUP fields and answers reads with `answer`. */
function usbRecorder(
  answer: (request: number, index: number, length: number) => Uint8Array = (_r, _i, n) => new Uint8Array(n),
) {
  const setups: number[][] = [];
  const usb: UsbControl = {
    vendorOut: async (request, value, index) => {
      setups.push([0x40, request, value, index, 0]);
    },
    vendorIn: async (request, value, index, length) => {
      setups.push([0xc0, request, value, index, length]);
      return answer(request, index, length);
    },
    close: async () => {},
  };
  return { usb, setups };
}

describe('Pololu Tic over native USB (user’s guide §11, vendor control transfers on endpoint 0)', () => {
  it('sends quick, 7-bit and 32-bit writes as 0x40 requests, a 32-bit value split low word wValue, high word wIndex', async () => {
    const { usb, setups } = usbRecorder();
    const driver = new TicStepper(usb, '00473498');
    await driver.configure(3, 32, 500_000_000);
    await driver.run(-2_000_000);
    await driver.keepAlive();
    await driver.run(0);
    expect(setups).toEqual([
      [0x40, TIC_CMD.setStepMode, 3, 0, 0], // §11 example: set step mode 1/8 is 0x40 0x94 0x0003 0 0
      [0x40, TIC_CMD.setCurrentLimit, 32, 0, 0],
      [0x40, TIC_CMD.setMaxSpeed, 0x6500, 0x1dcd, 0], // 500 000 000 = 0x1DCD6500
      [0x40, TIC_CMD.energize, 0, 0, 0],
      [0x40, TIC_CMD.exitSafeStart, 0, 0, 0],
      [0x40, TIC_CMD.setTargetVelocity, 0x7b80, 0xffe1, 0], // −2 000 000 = 0xFFE17B80
      [0x40, TIC_CMD.resetCommandTimeout, 0, 0, 0],
      [0x40, TIC_CMD.haltAndHold, 0, 0, 0], // §11 example: halt and hold is 0x40 0x89 0 0 0
      [0x40, TIC_CMD.deenergize, 0, 0, 0],
    ]);
    // The codes as §8 and pololu-tic-software's tic_protocol.h give them.
    expect(TIC_CMD).toMatchObject({
      setTargetVelocity: 0xe3,
      resetCommandTimeout: 0x8c,
      haltAndHold: 0x89,
      energize: 0x85,
      deenergize: 0x86,
      exitSafeStart: 0x83,
      setMaxSpeed: 0xe6,
      getVariable: 0xa1,
      getVariableAndClearErrorsOccurred: 0xa2,
    });
    expect(TIC_VENDOR_ID).toBe(0x1ffb);
    expect(Object.values(TIC_PRODUCT_IDS)).toEqual([0xb3, 0xb5, 0xbd, 0xc3, 0xc9, 0xcb]);
  });

  it('reads its status as one 0xC0 block read (wIndex offset, wLength length) and decodes the §7 offsets', async () => {
    const block = new DataView(new ArrayBuffer(TIC_STATUS_LENGTH));
    block.setUint8(0x00, 4); // soft error
    block.setUint8(0x01, 1); // energized
    block.setUint16(0x02, (1 << 6) | (1 << 7), true); // command timeout, safe start violation
    block.setUint32(0x04, 1 << 6, true);
    block.setUint8(0x09, 2); // target velocity planning
    block.setInt32(0x0e, -2_000_000, true);
    block.setUint32(0x16, 2_000_000, true);
    block.setInt32(0x26, 0, true);
    const { usb, setups } = usbRecorder((_r, index, n) => new Uint8Array(block.buffer).slice(index, index + n));
    const status = await new TicStepper(usb, '00473498').status();
    expect(setups).toEqual([[0xc0, TIC_CMD.getVariableAndClearErrorsOccurred, 0, 0, TIC_STATUS_LENGTH]]);
    expect(status).toEqual({
      operationState: 4,
      state: 'soft error',
      energized: true,
      errorStatus: 0xc0,
      errorsOccurred: 0x40,
      planningMode: 2,
      targetVelocity: -2_000_000,
      maxSpeed: 2_000_000,
      currentVelocity: 0,
    });
    expect(ticErrorNames(status.errorStatus)).toEqual(['command timeout', 'safe start violation']);
    expect(ticStopReason(status, -2_000_000, false)).toMatch(/command timeout, safe start violation.*soft error/);
    expect(ticStopReason({ ...status, operationState: 10, state: 'normal', errorStatus: 0 }, -2_000_000, true)).toMatch(
      /no steps/,
    );
    expect(ticStopReason({ ...status, operationState: 10, state: 'normal', errorStatus: 0 }, 1_000_000, false)).toMatch(
      /holds target velocity -2000000, not the commanded 1000000/,
    );
  });

  it('runs and stops the emulated Tic: energize, exit safe start and the velocity; halt and de-energize', async () => {
    const clock = createManualClock();
    const tic = new EmulatedTic(clock);
    const driver = new TicStepper(tic, '00473498');
    await driver.configure(3, 32, 10_000_000);
    await driver.run(-2_000_000);
    expect(tic.log.slice(3).map((t) => t.bRequest)).toEqual([
      TIC_CMD.energize,
      TIC_CMD.exitSafeStart,
      TIC_CMD.setTargetVelocity,
    ]);
    expect(tic.velocity).toBe(-2_000_000);
    expect(ticStopReason(await driver.status(), -2_000_000, true)).toBeNull();
    await driver.run(0);
    expect(tic.velocity).toBe(0);
    expect((await driver.status()).state).toBe('de-energized');
  });

  it('never steps faster than its max speed: 2 000 000 (200 steps/s) at its defaults, what the driver sets after', async () => {
    const clock = createManualClock();
    const tic = new EmulatedTic(clock);
    const driver = new TicStepper(tic, '00473498');
    await driver.run(5_000_000);
    expect(tic.velocity).toBe(TIC_DEFAULT_MAX_SPEED);
    await driver.configure(3, 32, 8_000_000);
    expect((await driver.status()).maxSpeed).toBe(8_000_000);
    expect(tic.velocity).toBe(5_000_000);
  });

  it('stops a pump on its own when the node stops talking (command timeout), unless kept alive', async () => {
    const clock = createManualClock();
    const tic = new EmulatedTic(clock);
    const driver = new TicStepper(tic, '00473498');
    await driver.run(1_000_000);
    for (let i = 0; i < 6; i++) {
      await clock.advance(500);
      await driver.keepAlive();
    }
    expect(tic.velocity).toBe(1_000_000);
    await clock.advance(TIC_COMMAND_TIMEOUT_MS + 1);
    expect(tic.velocity).toBe(0);
    const status = await driver.status();
    expect(status.state).toBe('soft error');
    expect(ticStopReason(status, 1_000_000, true)).toMatch(/command timeout/);
    // Keeping alive alone does not move it again: safe start holds until a restart.
    await driver.keepAlive();
    expect(tic.velocity).toBe(0);
    await driver.restart(1_000_000);
    expect(tic.velocity).toBe(1_000_000);
    expect(ticStopReason(await driver.status(), 1_000_000, true)).toBeNull();
  });

  it('a stalled Tic stops and reports "command timeout" (error bit 6) and a soft error, whatever it is sent', async () => {
    const clock = createManualClock();
    const tic = new EmulatedTic(clock);
    const driver = new TicStepper(tic, '00473498');
    await driver.run(1_000_000);
    expect((await driver.status()).errorStatus).toBe(0);
    tic.stall(true);
    await driver.keepAlive();
    await driver.restart(1_000_000);
    expect(tic.velocity).toBe(0);
    expect((await driver.status()).errorStatus & (1 << TIC_ERROR_BITS.commandTimeout)).not.toBe(0);
    expect(await driver.probe()).toBe('soft error');
    tic.stall(false);
    await driver.restart(1_000_000);
    expect(tic.velocity).toBe(1_000_000);
    expect((await driver.status()).errorStatus).toBe(0);
  });

  it('an unplugged Tic fails every transfer; a request it does not know is a STALL', async () => {
    const clock = createManualClock();
    const tic = new EmulatedTic(clock);
    const driver = new TicStepper(tic, '00473498');
    await expect(tic.vendorOut(0x42, 0, 0)).rejects.toThrow(/STALL/);
    await expect(tic.vendorIn(0xa1, 0, 0, 129)).rejects.toThrow(/STALL/);
    tic.unplugged = true;
    await expect(driver.status()).rejects.toThrow(/NO_DEVICE/);
    await expect(driver.keepAlive()).rejects.toThrow(/NO_DEVICE/);
  });
});

describe('ADS1x15 and ADS7830 command words', () => {
  it('starts a single-shot A0 conversion at gain 1, 128 SPS with the well-known word 0xC383', () => {
    expect(singleShotConfig(0, 1)).toBe(0xc383);
    expect(singleShotConfig(3, 2 / 3)).toBe(0xf183);
  });

  it('selects ADS7830 single-ended channels in the datasheet’s interleaved order', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7].map(ads7830Command)).toEqual([0x84, 0xc4, 0x94, 0xd4, 0xa4, 0xe4, 0xb4, 0xf4]);
  });
});

describe('Senseair K33', () => {
  it('wakes the sensor (a read at its address, not acknowledged), then sends ReadRAM 0x22 0x00 0x08 with checksum 0x2A', async () => {
    const clock = createManualClock();
    const bus = new EmulatedI2cBus();
    // 0x01A4 = 420 counts.
    const chip = new Scripted([[0x00], [0x21, 0x01, 0xa4, (0x21 + 0x01 + 0xa4) & 0xff]]);
    bus.attach(0x68, chip);
    const value = await whileTimePasses(clock, new SenseairK33(bus, 0x68, clock).sample());
    expect(chip.writes).toEqual([[0x22, 0x00, 0x08, 0x2a]]);
    expect(chip.reads).toBe(2);
    // Senseair's guide reads RAM 0x08 as ppm; a sensor configured as the original assumed counts 10 ppm.
    expect(value).toEqual([420]);
    const scaled = new Scripted([[0x00], [0x21, 0x01, 0xa4, (0x21 + 0x01 + 0xa4) & 0xff]]);
    bus.attach(0x68, scaled);
    expect(await whileTimePasses(clock, new SenseairK33(bus, 0x68, clock, 10).sample())).toEqual([4200]);
  });

  it('a sleeping K33 refuses the first transaction: with the wake-up every read succeeds, without it reads fail', async () => {
    const clock = createManualClock();
    const bus = new EmulatedI2cBus();
    const chip = new K33Chip(clock, () => 800);
    bus.attach(0x68, chip);
    const driver = new SenseairK33(bus, 0x68, clock);
    for (let i = 0; i < 3; i++) {
      expect(await whileTimePasses(clock, driver.sample())).toEqual([800]);
      await clock.advance(2000);
    }
    expect(chip.nacks).toBe(3);
    // A driver that writes the command straight away meets a sleeping sensor.
    await expect(bus.write(0x68, Uint8Array.of(0x22, 0x00, 0x08, 0x2a))).rejects.toThrow(/asleep/);
  });

  it('rejects a reply with a bad checksum or an incomplete status, and a bus error', async () => {
    const clock = createManualClock();
    for (const reply of [
      [0x21, 0x00, 0x2a, 0x00],
      [0x20, 0x00, 0x2a, 0x4a],
    ]) {
      const bus = new EmulatedI2cBus();
      bus.attach(0x68, new Scripted([[0x00], reply]));
      await expect(whileTimePasses(clock, new SenseairK33(bus, 0x68, clock).sample())).rejects.toThrow(
        /checksum|incomplete/,
      );
    }
    const bus = new EmulatedI2cBus();
    bus.attach(0x68, new K33Chip(clock, () => 500));
    bus.failing.add(0x68);
    await expect(whileTimePasses(clock, new SenseairK33(bus, 0x68, clock).sample())).rejects.toThrow(/Remote I\/O/);
  });
});

describe('Atlas EZO-O2 (the shared EZO driver)', () => {
  it('reads % O2 from "R" with two decimals, and knows its identity "?i,O2,…"', async () => {
    const clock = createManualClock();
    const bus = new EmulatedI2cBus();
    const chip = new Scripted([[1, ...Buffer.from('?i,O2,1.2'), 0], [254], [1, ...Buffer.from('20.951'), 0]]);
    bus.attach(0x6c, chip);
    const driver = new AtlasEzo(bus, 0x6c, clock, EZO_DEVICES.o2);
    await whileTimePasses(clock, driver.probe());
    expect(await whileTimePasses(clock, driver.sample())).toEqual([20.95]);
    expect(chip.writes.map((w) => Buffer.from(w).toString())).toEqual(['i', 'R']);
    expect(driver.driver).toBe('atlas-ezo-o2');
    // An EZO-CO2 at that address is not an O2 sensor.
    const co2 = new EmulatedI2cBus();
    co2.attach(0x6c, new EzoCo2Chip(clock, () => 400));
    await expect(whileTimePasses(clock, new AtlasEzo(co2, 0x6c, clock, EZO_DEVICES.o2).probe())).rejects.toThrow(
      /not an EZO-O2 \(\?i,CO2,1\.0\)/,
    );
  });

  it('the emulated EZO-O2 answers "R" after 900 ms with % O2, two decimals', async () => {
    const clock = createManualClock();
    const chip = new EzoO2Chip(clock, () => 20.9512);
    chip.onWrite(Buffer.from('R'));
    expect([...chip.onRead()]).toEqual([254]);
    await clock.advance(EzoO2Chip.PROCESSING_MS);
    expect(Buffer.from(chip.onRead()).toString('latin1')).toBe('\x0120.95\x00');
  });
});

describe('Atlas EZO-CO2', () => {
  it('sends the ASCII command R and keeps polling while the chip answers 254 (still processing)', async () => {
    const clock = createManualClock();
    const bus = new EmulatedI2cBus();
    const chip = new Scripted([[254], [254], [1, ...Buffer.from('1234'), 0]]);
    bus.attach(0x69, chip);
    expect(await whileTimePasses(clock, new AtlasEzoCo2(bus, 0x69, clock).sample())).toEqual([1234]);
    expect(chip.writes[0]).toEqual([0x52]);
  });

  it('reports a syntax-error code as a failure, not a value', async () => {
    const clock = createManualClock();
    const bus = new EmulatedI2cBus();
    bus.attach(0x69, new Scripted([[2]]));
    await expect(whileTimePasses(clock, new AtlasEzoCo2(bus, 0x69, clock).sample())).rejects.toThrow(/code 2/);
  });

  it('accepts its identity in either case ("?i,CO2,…" as the datasheet writes it, "?I,CO2,…"), nothing else', async () => {
    const clock = createManualClock();
    for (const [reply, ok] of [
      ['?i,CO2,1.0', true],
      ['?I,CO2,2.11', true],
      ['?i,co2,1.0', true],
      ['?i,pH,1.98', false],
      ['?i,CO2x', false],
    ] as const) {
      const bus = new EmulatedI2cBus();
      bus.attach(0x69, new Scripted([[1, ...Buffer.from(reply), 0]]));
      const probe = whileTimePasses(clock, new AtlasEzoCo2(bus, 0x69, clock).probe());
      if (ok) await probe;
      else await expect(probe, reply).rejects.toThrow(/not an EZO-CO2/);
    }
    // The emulated chip answers as the datasheet does, and the driver takes it.
    const bus = new EmulatedI2cBus();
    bus.attach(0x69, new EzoCo2Chip(clock, () => 500));
    await whileTimePasses(clock, new AtlasEzoCo2(bus, 0x69, clock).probe());
  });

  it('a bus error (no acknowledge) is a failed read, not a value', async () => {
    const clock = createManualClock();
    const bus = new EmulatedI2cBus();
    bus.attach(0x69, new EzoCo2Chip(clock, () => 500));
    bus.failing.add(0x69);
    await expect(whileTimePasses(clock, new AtlasEzoCo2(bus, 0x69, clock).sample())).rejects.toThrow(/Remote I\/O/);
  });

  it('the emulated chip answers 254 before its processing time and 255 when nothing was asked', async () => {
    const clock = createManualClock();
    const chip = new EzoCo2Chip(clock, () => 500);
    expect([...chip.onRead()]).toEqual([255]);
    chip.onWrite(Uint8Array.of(0x52));
    expect([...chip.onRead()]).toEqual([254]);
    await clock.advance(EzoCo2Chip.PROCESSING_MS);
    expect([...chip.onRead()]).toEqual([1, 0x35, 0x30, 0x30, 0]);
  });
});

describe('DS18B20 through w1-therm', () => {
  const sample = '72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n';

  it('parses a real w1_slave text and agrees with its CRC', () => {
    expect(dallasCrc8([0x72, 0x01, 0x4b, 0x46, 0x7f, 0xff, 0x0e, 0x10])).toBe(0x57);
    expect(parseW1Slave(sample)).toBe(23.125);
  });

  it('refuses crc NO, a corrupted scratchpad and the 85 °C power-on value', () => {
    expect(() => parseW1Slave(sample.replace('YES', 'NO'))).toThrow(/CRC/);
    expect(() =>
      parseW1Slave(sample.replace('72 01 4b 46 7f ff 0e 10 57 :', '73 01 4b 46 7f ff 0e 10 57 :')),
    ).toThrow();
    expect(() => parseW1Slave(w1SlaveText(85))).toThrow(/power-on/);
    expect(parseW1Slave(w1SlaveText(-10.5))).toBe(-10.5);
  });

  it('refuses what passes a naive parser: all zeros (CRC 0 matches), all ones, a foreign configuration byte', () => {
    const zeros = '00 00 00 00 00 00 00 00 00 : crc=00 YES\n00 00 00 00 00 00 00 00 00 t=0\n';
    expect(dallasCrc8([0, 0, 0, 0, 0, 0, 0, 0])).toBe(0);
    expect(() => parseW1Slave(zeros)).toThrow(/all zeros/);
    const ones = 'ff ff ff ff ff ff ff ff ff : crc=c9 NO\nff ff ff ff ff ff ff ff ff t=-62\n';
    expect(() => parseW1Slave(ones)).toThrow(/all ones/);
    // Byte 4 with bit 7 set: a DS18B20 configuration register reads 0 there (datasheet Figure 10).
    const bytes = [0x72, 0x01, 0x4b, 0x46, 0xff, 0xff, 0x0e, 0x10];
    const hex = [...bytes, dallasCrc8(bytes)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    expect(() => parseW1Slave(`${hex} : crc=00 YES\n${hex} t=23125\n`)).toThrow(/configuration register/);
  });

  it('masks the undefined low bits at 9-bit resolution and decodes negative temperatures', () => {
    // 9 bits: R1:R0 = 00, config 0x1f; bits 2-0 of the LSB are undefined (datasheet Table 2).
    const bytes = [0x77, 0x01, 0x4b, 0x46, 0x1f, 0xff, 0x0e, 0x10];
    const hex = [...bytes, dallasCrc8(bytes)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    expect(parseW1Slave(`${hex} : crc=00 YES\n${hex} t=23437\n`)).toBe(23);
    expect(parseW1Slave(w1SlaveText(-0.5))).toBe(-0.5);
  });

  it('reads each thermometer once, without a retry: a bad CRC is that thermometer’s error at once, never NaN', async () => {
    const clock = createManualClock();
    const wire = new EmulatedOneWire(clock, new Map([['28-000005e2fdc3', () => 30]]));
    const array = new Ds18b20Array(wire, [], [0, 100]);
    await array.probe();
    wire.corruptNext = 1;
    expect(await whileTimePasses(clock, array.read(0))).toMatchObject({ celsius: null, error: /CRC check failed/ });
    expect(await whileTimePasses(clock, array.sample())).toEqual([30]);
    wire.setFault(null, 'bus_error');
    expect(await whileTimePasses(clock, array.read(0))).toMatchObject({ celsius: null, error: /EIO/ });
  });

  it('believes 85 °C only right after a reading near it; otherwise it is the power-on value', async () => {
    const clock = createManualClock();
    let celsius = 37;
    const wire = new EmulatedOneWire(clock, new Map([['28-000005e2fdc3', () => celsius]]));
    const array = new Ds18b20Array(wire, [], [0, 100]);
    await array.probe();
    wire.setFault(null, 'power_on_reset');
    expect(await whileTimePasses(clock, array.read(0))).toMatchObject({ error: /power-on value 85 °C/ });
    wire.clearFault();
    expect(await whileTimePasses(clock, array.sample())).toEqual([37]);
    celsius = 84;
    expect(await whileTimePasses(clock, array.sample())).toEqual([84]);
    celsius = 85;
    expect(await whileTimePasses(clock, array.sample())).toEqual([85]);
  });

  it('keeps a configured thermometer that is missing as a channel that fails, so its absence is seen', async () => {
    const clock = createManualClock();
    const wire = new EmulatedOneWire(clock, new Map([['28-00000000000a', () => 20]]));
    const array = new Ds18b20Array(wire, ['28-00000000000b', '28-00000000000a'], [0, 100]);
    await array.probe();
    expect(array.channels).toEqual(['28-00000000000b', '28-00000000000a']);
    expect(array.missing).toEqual(['28-00000000000b']);
    expect(await whileTimePasses(clock, array.read(0))).toMatchObject({ error: /not on the 1-Wire bus/ });
  });

  it('reports sensors in the configured order, the rest after them', async () => {
    const clock = createManualClock();
    const ids = ['28-00000000000a', '28-00000000000b', '28-00000000000c'];
    const wire = new EmulatedOneWire(clock, new Map(ids.map((id, i) => [id, () => 20 + i])));
    const array = new Ds18b20Array(wire, ['28-00000000000c'], [0, 100]);
    await array.probe();
    expect(array.channels).toEqual(['28-00000000000c', '28-00000000000a', '28-00000000000b']);
  });
});

describe('NeoPixel SPI encoding', () => {
  it('sends green, red, blue MSB first with 110 for a one and 100 for a zero, then a latch', () => {
    const bytes = encodePixels([[0xff, 0x00, 0x01]]);
    // green 0x00: eight "100" groups; red 0xff: eight "110"; blue 0x01: seven "100" and one "110".
    expect([...bytes.subarray(0, 9)]).toEqual([0x92, 0x49, 0x24, 0xdb, 0x6d, 0xb6, 0x92, 0x49, 0x26]);
    expect(bytes.length).toBe(9 + 96);
    expect(bytes.subarray(9).every((b) => b === 0)).toBe(true);
  });
});
