// Byte-level facts from the datasheets, checked against the drivers and the emulated chips independently.
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../src/hardware/clock.js';
import { singleShotConfig } from '../../src/hardware/drivers/ads1115.js';
import { ads7830Command } from '../../src/hardware/drivers/ads7830.js';
import { AtlasEzoCo2 } from '../../src/hardware/drivers/atlas-ezo-co2.js';
import { Ds18b20Array, dallasCrc8, parseW1Slave } from '../../src/hardware/drivers/ds18b20.js';
import { encodePixels } from '../../src/hardware/drivers/neopixel.js';
import { SenseairK33 } from '../../src/hardware/drivers/senseair-k33.js';
import { encode32, TIC, TIC_VAR, TicStepper } from '../../src/hardware/drivers/tic.js';
import { EmulatedI2cBus, type EmulatedI2cDevice, EzoCo2Chip } from '../../src/hardware/emulated/i2c-chips.js';
import { EmulatedOneWire, w1SlaveText } from '../../src/hardware/emulated/one-wire.js';
import { EmulatedTic } from '../../src/hardware/emulated/outputs.js';
import { whileTimePasses } from './support.js';

/** A device that records what the driver sent and answers with fixed bytes. */
class Scripted implements EmulatedI2cDevice {
  writes: number[][] = [];
  constructor(private readonly replies: number[][]) {}
  onWrite(bytes: Uint8Array) {
    this.writes.push([...bytes]);
  }
  onRead() {
    return Uint8Array.from(this.replies.shift() ?? [0xff]);
  }
}

describe('Pololu Tic serial encoding', () => {
  it('encodes a 32-bit write: MSbs byte (bit 0 = MSb of the first data byte), then 7-bit little-endian bytes', () => {
    // 1,234,567,890 = 0x499602D2: bytes D2 02 96 49; D2 and 96 carry an MSb (bits 0 and 2 → 0x05).
    expect([...encode32(0xe0, 1_234_567_890)]).toEqual([0xe0, 0x05, 0x52, 0x02, 0x16, 0x49]);
    expect([...encode32(0xe3, -1)]).toEqual([0xe3, 0x0f, 0x7f, 0x7f, 0x7f, 0x7f]);
  });

  it('sends energize, exit safe start and the velocity to run; halt and de-energize to stop', async () => {
    const clock = createManualClock();
    const tic = new EmulatedTic(clock);
    const driver = new TicStepper(tic, '00473498');
    await driver.run(-2_000_000);
    expect(tic.log.map((f) => f[0])).toEqual([TIC.energize, TIC.exitSafeStart, TIC.setTargetVelocity]);
    expect(tic.velocity).toBe(-2_000_000);
    await driver.run(0);
    expect(tic.log.slice(3).map((f) => f[0])).toEqual([TIC.haltAndHold, TIC.deenergize]);
    expect(tic.velocity).toBe(0);
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
    await clock.advance(1500);
    expect(tic.velocity).toBe(0);
  });

  it('a stalled Tic stops and reports "command timeout" (error bit 6) and a soft error, whatever it is sent', async () => {
    const clock = createManualClock();
    const tic = new EmulatedTic(clock);
    const driver = new TicStepper(tic, '00473498');
    await driver.run(1_000_000);
    const errorStatus = async () => {
      const [lo = 0, hi = 0] = await driver.getVariable(TIC_VAR.errorStatus, 2);
      return lo | (hi << 8);
    };
    expect(await errorStatus()).toBe(0);
    tic.stall(true);
    await driver.keepAlive();
    await driver.run(1_000_000);
    expect(tic.velocity).toBe(0);
    expect((await errorStatus()) & (1 << 6)).not.toBe(0);
    expect(await driver.probe()).toBe('soft error');
    tic.stall(false);
    await driver.run(1_000_000);
    expect(tic.velocity).toBe(1_000_000);
    expect(await errorStatus()).toBe(0);
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
  it('sends ReadRAM 0x22 0x00 0x08 with checksum 0x2A and scales the reply by 10 ppm', async () => {
    const clock = createManualClock();
    const bus = new EmulatedI2cBus();
    const chip = new Scripted([[0x21, 0x00, 0x2a, (0x21 + 0x2a) & 0xff]]);
    bus.attach(0x68, chip);
    const value = await whileTimePasses(clock, new SenseairK33(bus, 0x68, clock).sample());
    expect(chip.writes).toEqual([[0x22, 0x00, 0x08, 0x2a]]);
    expect(value).toEqual([420]);
  });

  it('rejects a reply with a bad checksum or an incomplete status', async () => {
    const clock = createManualClock();
    for (const reply of [
      [0x21, 0x00, 0x2a, 0x00],
      [0x20, 0x00, 0x2a, 0x4a],
    ]) {
      const bus = new EmulatedI2cBus();
      bus.attach(0x68, new Scripted([reply]));
      await expect(whileTimePasses(clock, new SenseairK33(bus, 0x68, clock).sample())).rejects.toThrow(
        /checksum|incomplete/,
      );
    }
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
