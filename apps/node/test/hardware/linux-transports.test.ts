// The real-mode transports that are plain files (sysfs PWM, GPIO, 1-Wire), against a temp dir laid out like /sys,
// and the ones needing devices or packages, which must say what is missing and how to fix it.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Ds18b20Array } from '../../src/hardware/drivers/ds18b20.js';
import { PwmOutput } from '../../src/hardware/drivers/pwm-output.js';
import { w1SlaveText } from '../../src/hardware/emulated/one-wire.js';
import { parseHardwareFile } from '../../src/hardware/hardware-file.js';
import { createHardware } from '../../src/hardware/index.js';
import { linuxTransports } from '../../src/hardware/transports/linux.js';
import { recordingLog, tempDir } from './support.js';

function fakeSys() {
  const root = tempDir('bioreactor-sys-');
  const dev = tempDir('bioreactor-dev-');
  const chip = join(root, 'class', 'pwm', 'pwmchip0');
  mkdirSync(join(chip, 'pwm0'), { recursive: true });
  for (const f of ['period', 'duty_cycle', 'enable']) writeFileSync(join(chip, 'pwm0', f), '0');
  writeFileSync(join(chip, 'export'), '');
  const gpio = join(root, 'class', 'gpio');
  mkdirSync(join(gpio, 'gpiochip571'), { recursive: true });
  writeFileSync(join(gpio, 'gpiochip571', 'label'), 'pinctrl-rp1\n');
  writeFileSync(join(gpio, 'gpiochip571', 'base'), '571\n');
  mkdirSync(join(gpio, 'gpio591'), { recursive: true });
  writeFileSync(join(gpio, 'export'), '');
  const w1 = join(root, 'bus', 'w1', 'devices');
  mkdirSync(join(w1, '28-000005e2fdc3'), { recursive: true });
  mkdirSync(join(w1, 'w1_bus_master1'), { recursive: true });
  writeFileSync(join(w1, '28-000005e2fdc3', 'w1_slave'), w1SlaveText(36.5));
  return { root, dev, paths: { sysfsRoot: root, devRoot: dev, gpioChipLabel: 'pinctrl-rp1' } };
}

describe('sysfs transports', () => {
  it('drives a PWM channel: period from the frequency, duty in nanoseconds, enabled', async () => {
    const sys = fakeSys();
    const out = new PwmOutput(await linuxTransports(sys.paths).pwm(0, 0), 1000);
    await out.probe();
    await out.setPercent(30);
    const read = (f: string) => readFileSync(join(sys.root, 'class', 'pwm', 'pwmchip0', 'pwm0', f), 'utf8');
    expect(read('period')).toBe('1000000');
    expect(read('duty_cycle')).toBe('300000');
    expect(read('enable')).toBe('1');
  });

  it('finds the header GPIO controller by label and writes the line (GPIO 20 = 571 + 20)', async () => {
    const sys = fakeSys();
    const line = await linuxTransports(sys.paths).gpio(20);
    await line.set(true);
    const dir = join(sys.root, 'class', 'gpio', 'gpio591');
    expect(readFileSync(join(dir, 'direction'), 'utf8')).toBe('low');
    expect(readFileSync(join(dir, 'value'), 'utf8')).toBe('1');
  });

  it('reads DS18B20s from /sys/bus/w1/devices, ignoring the bus master', async () => {
    const sys = fakeSys();
    const array = new Ds18b20Array(await linuxTransports(sys.paths).oneWire(), [], [0, 100]);
    await array.probe();
    expect(array.channels).toEqual(['28-000005e2fdc3']);
    expect(await array.sample()).toEqual([36.5]);
  });
});

describe('real mode on a machine without the hardware', () => {
  it('starts, reports each component unavailable with the reason and the fix, and logs each once', async () => {
    const sys = fakeSys();
    const { lines, log } = recordingLog();
    const file = parseHardwareFile({
      init_components: { co2_sensor: true, temp_sensor: true, stirrer: true, ring_light: true, pumps: true, led: true },
      pumps: { inflow: { serial: '00473498', steps_per_ml: 1e7 } },
      led: { pwm_pin: 25, frequency_hz: 500 },
      sysfs_root: sys.root,
      dev_root: sys.dev,
    });
    const hardware = await createHardware(
      { HARDWARE_MODE: 'real', BIOREACTOR_HARDWARE_CONFIG: '/nonexistent', DATA_DIR: tempDir() },
      { log, file },
    );
    await hardware.start();
    try {
      const { initialized, unavailable } = hardware.report();
      expect(initialized.temp_sensor).toBe(true);
      expect(initialized.stirrer).toBe(true);
      expect(unavailable.co2_sensor).toMatch(/i2c-1 does not exist: enable I2C/);
      expect(unavailable.ring_light).toMatch(/spidev0\.0 does not exist: enable SPI/);
      expect(unavailable.pumps).toMatch(/no Tic with serial 00473498/);
      expect(unavailable.led).toMatch(/GPIO 25 has no hardware PWM on a Pi 5/);
      expect(unavailable.optical_density).toMatch(/disabled in the hardware file/);
      for (const name of ['co2_sensor', 'ring_light', 'pumps', 'led']) {
        expect(lines.filter((l) => l.msg.startsWith(`${name} is unavailable`))).toHaveLength(1);
      }
      expect(hardware.componentState('stirrer')?.duty_cycle).toBe(30);
    } finally {
      await hardware.stop();
    }
  });
});
