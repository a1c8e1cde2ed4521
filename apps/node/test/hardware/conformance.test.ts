// Every driver against its emulated chip, through one suite: it finds its chip, moves values through the chip's
// protocol byte for byte, takes the chip's conversion time, and fails cleanly when nothing answers.
import { describe, expect, it } from 'vitest';
import { createManualClock, type ManualClock } from '../../src/hardware/clock.js';
import { Ads1115 } from '../../src/hardware/drivers/ads1115.js';
import { Ads7830 } from '../../src/hardware/drivers/ads7830.js';
import { AtlasEzo, AtlasEzoCo2, EZO_DEVICES } from '../../src/hardware/drivers/atlas-ezo.js';
import { Ds18b20Array } from '../../src/hardware/drivers/ds18b20.js';
import { NeoPixelRing, type Rgb } from '../../src/hardware/drivers/neopixel.js';
import { PeltierBridge, PwmOutput } from '../../src/hardware/drivers/pwm-output.js';
import { SenseairK33 } from '../../src/hardware/drivers/senseair-k33.js';
import { TIC_MAX_VELOCITY, TicStepper } from '../../src/hardware/drivers/tic.js';
import {
  Ads1115Chip,
  Ads7830Chip,
  EmulatedI2cBus,
  EzoCo2Chip,
  EzoO2Chip,
  K33Chip,
} from '../../src/hardware/emulated/i2c-chips.js';
import { EmulatedOneWire } from '../../src/hardware/emulated/one-wire.js';
import { EmulatedGpio, EmulatedNeoPixelSpi, EmulatedPwm, EmulatedTic } from '../../src/hardware/emulated/outputs.js';
import { whileTimePasses } from './support.js';

/** One driver wired to its emulated chip; `present: false` wires it to nothing. */
interface Rig {
  probe(): Promise<unknown>;
  /** Sensors: put `value` into the physical world; actuators: command it through the driver. */
  apply(value: number): Promise<void> | void;
  /** Sensors: read through the driver; actuators: what the emulated chip now does. */
  observe(): Promise<number> | number;
}

interface DriverCase {
  name: string;
  values: number[];
  tolerance: number;
  /** The chip needs at least this long (datasheet) for one reading. */
  readTakesMs?: number;
  rig(clock: ManualClock, present: boolean): Rig;
}

const cases: DriverCase[] = [
  {
    name: 'atlas-ezo-co2',
    values: [0, 412, 1850, 9999],
    tolerance: 0,
    readTakesMs: 900,
    rig(clock, present) {
      let ppm = 400;
      const bus = new EmulatedI2cBus();
      if (present) bus.attach(0x69, new EzoCo2Chip(clock, () => ppm));
      const driver = new AtlasEzoCo2(bus, 0x69, clock);
      return {
        probe: () => driver.probe(),
        apply: (v) => {
          ppm = v;
        },
        observe: async () => (await driver.sample())[0] ?? Number.NaN,
      };
    },
  },
  {
    name: 'atlas-ezo-o2',
    values: [0, 20.95, 4.5, 42],
    tolerance: 0.005,
    readTakesMs: 900,
    rig(clock, present) {
      let percent = 20.95;
      const bus = new EmulatedI2cBus();
      if (present) bus.attach(0x6c, new EzoO2Chip(clock, () => percent));
      const driver = new AtlasEzo(bus, 0x6c, clock, EZO_DEVICES.o2);
      return {
        probe: () => driver.probe(),
        apply: (v) => {
          percent = v;
        },
        observe: async () => (await driver.sample())[0] ?? Number.NaN,
      };
    },
  },
  {
    name: 'senseair-k33',
    values: [0, 420, 5000, 300_000],
    tolerance: 0,
    readTakesMs: 10,
    rig(clock, present) {
      let ppm = 400;
      const bus = new EmulatedI2cBus();
      // A K33 whose CO2 word counts 10 ppm (the original system's scale), so 30 % still fits 16 bits.
      if (present) bus.attach(0x68, new K33Chip(clock, () => ppm, 10));
      const driver = new SenseairK33(bus, 0x68, clock, 10);
      return {
        probe: () => driver.probe(),
        apply: (v) => {
          ppm = v;
        },
        observe: async () => (await driver.sample())[0] ?? Number.NaN,
      };
    },
  },
  ...[0, 1, 2, 3].map(
    (input): DriverCase => ({
      name: `ads1115 input A${input}`,
      values: [0, 0.5, 1.234, 3.3, -0.2],
      tolerance: 4.096 / 32768,
      readTakesMs: 1000 / 128,
      rig(clock, present) {
        const volts = [0, 0, 0, 0];
        const bus = new EmulatedI2cBus();
        if (present) bus.attach(0x48, new Ads1115Chip(clock, (i) => volts[i] ?? 0));
        const driver = new Ads1115(bus, 0x48, clock, 'ads1115');
        return {
          probe: () => driver.probe(),
          apply: (v) => {
            volts.fill(9);
            volts[input] = v;
          },
          observe: () => driver.readVolts(input, 1),
        };
      },
    }),
  ),
  {
    name: 'ads1114 (eyespy board, gain 2)',
    values: [0.01, 1.0, 2.04],
    tolerance: 2.048 / 32768,
    readTakesMs: 1000 / 128,
    rig(clock, present) {
      let volts = 0;
      const bus = new EmulatedI2cBus();
      if (present) bus.attach(0x49, new Ads1115Chip(clock, () => volts, 1));
      const driver = new Ads1115(bus, 0x49, clock, 'ads1114');
      return {
        probe: () => driver.probe(),
        apply: (v) => {
          volts = v;
        },
        observe: () => driver.readVolts(0, 2),
      };
    },
  },
  ...[0, 1, 5, 6, 7].map(
    (channel): DriverCase => ({
      name: `ads7830 channel ${channel}`,
      values: [0, 1.1, 2.5, 3.3],
      tolerance: 3.3 / 255 / 2 + 1e-9,
      rig(_clock, present) {
        const volts = new Array<number>(8).fill(0);
        const bus = new EmulatedI2cBus();
        if (present) bus.attach(0x48, new Ads7830Chip(3.3, (c) => volts[c] ?? 0));
        const driver = new Ads7830(bus, 0x48, 3.3);
        return {
          probe: () => driver.probe(),
          apply: (v) => {
            volts.fill(0.7);
            volts[channel] = v;
          },
          observe: () => driver.readVolts(channel),
        };
      },
    }),
  ),
  {
    name: 'ds18b20',
    values: [0.5, 21.3125, 37, 44.9375, 99.5],
    tolerance: 1 / 32,
    readTakesMs: 750,
    rig(clock, present) {
      let celsius = 20;
      const sensors = new Map<string, () => number>();
      if (present) sensors.set('28-000005e2fdc3', () => celsius);
      const driver = new Ds18b20Array(new EmulatedOneWire(clock, sensors), [], [0, 100]);
      return {
        probe: () => driver.probe(),
        apply: (v) => {
          celsius = v;
        },
        observe: async () => (await driver.sample())[0] ?? Number.NaN,
      };
    },
  },
  {
    name: 'pwm-sysfs (stirrer, LED)',
    values: [0, 12.5, 30, 100],
    tolerance: 1e-3,
    rig(_clock, present) {
      const pwm = new EmulatedPwm();
      const channel = present ? pwm : { ...pwm, configure: () => Promise.reject(new Error('EACCES')) };
      const driver = new PwmOutput(channel as EmulatedPwm, 1000);
      return {
        probe: () => driver.probe(),
        apply: (v) => driver.setPercent(v),
        observe: () => pwm.fraction * 100,
      };
    },
  },
  {
    name: 'peltier-pwm-dir (heating positive, cooling negative)',
    values: [0, 40, -40, 100, -100],
    tolerance: 1e-3,
    rig(_clock, present) {
      const pwm = new EmulatedPwm();
      const dir = new EmulatedGpio();
      const channel = present ? pwm : { ...pwm, configure: () => Promise.reject(new Error('EACCES')) };
      const bridge = new PeltierBridge(new PwmOutput(channel as EmulatedPwm, 1000), dir, false);
      return {
        probe: () => bridge.probe(),
        apply: (v) => (v === 0 ? bridge.off() : bridge.drive(v > 0 ? 'heat' : 'cool', Math.abs(v))),
        // Default wiring: DIR high cools.
        observe: () => pwm.fraction * 100 * (dir.high ? -1 : 1),
      };
    },
  },
  {
    name: 'neopixel-spi (whole-ring brightness)',
    values: [0, 1, 128, 255],
    tolerance: 0,
    rig(_clock, present) {
      const spi = new EmulatedNeoPixelSpi(32);
      const device = present ? spi : { write: () => Promise.reject(new Error('ENOENT')), close: async () => {} };
      const ring = new NeoPixelRing(device as EmulatedNeoPixelSpi, 32, 2_400_000);
      return {
        probe: () => ring.probe(),
        apply: (v) => ring.show(Array.from({ length: 32 }, (_, i) => [v, i % 2 ? v : 0, 255 - v] as Rgb)),
        observe: () => {
          expect(spi.pixels.every(([, , b]) => b === 255 - (spi.pixels[0]?.[0] ?? 0))).toBe(true);
          return spi.pixels[0]?.[0] ?? Number.NaN;
        },
      };
    },
  },
  {
    name: 'pololu-tic (velocity in microsteps per 10 000 s)',
    values: [0, 8, 2_000_000, -2_000_000, 500_000_000, -123_456_789],
    tolerance: 0,
    rig(clock, present) {
      const tic = new EmulatedTic(clock);
      const gone = () => Promise.reject(new Error('LIBUSB_ERROR_NO_DEVICE'));
      const link = present ? tic : { vendorOut: gone, vendorIn: gone, close: async () => {} };
      const driver = new TicStepper(link, '00473498');
      return {
        probe: () => driver.probe(),
        // The Tic's own max speed at its limit, so every value reaches the motor.
        apply: async (v) => {
          await driver.configure(3, 32, TIC_MAX_VELOCITY);
          await driver.run(v);
        },
        observe: () => tic.velocity,
      };
    },
  },
];

describe.each(cases)('driver conformance: $name', (c) => {
  it('finds its chip', async () => {
    const clock = createManualClock();
    const rig = c.rig(clock, true);
    await whileTimePasses(clock, Promise.resolve(rig.probe()));
  });

  it('carries every value through the chip protocol', async () => {
    const clock = createManualClock();
    const rig = c.rig(clock, true);
    await whileTimePasses(clock, Promise.resolve(rig.probe()));
    for (const value of c.values) {
      await rig.apply(value);
      const seen = await whileTimePasses(clock, Promise.resolve(rig.observe()));
      expect(Math.abs(seen - value), `${c.name}: wrote ${value}, saw ${seen}`).toBeLessThanOrEqual(c.tolerance);
    }
  });

  it('fails with an error when no chip answers', async () => {
    const clock = createManualClock();
    const rig = c.rig(clock, false);
    await expect(
      whileTimePasses(
        clock,
        Promise.resolve().then(() => rig.probe()),
      ),
    ).rejects.toThrow();
  });
});

describe.each(cases.filter((c) => c.readTakesMs !== undefined))('driver conformance, timing: $name', (c) => {
  it('waits for the chip’s conversion time, then answers', async () => {
    const clock = createManualClock();
    const rig = c.rig(clock, true);
    await whileTimePasses(clock, Promise.resolve(rig.probe()));
    let done = false;
    const reading = Promise.resolve(rig.observe()).then((v) => {
      done = true;
      return v;
    });
    await clock.advance(Math.max(0, (c.readTakesMs ?? 0) - 2));
    expect(done, 'answered before the chip could have converted').toBe(false);
    await whileTimePasses(clock, reading, 5, 2000);
    expect(done).toBe(true);
  });
});
