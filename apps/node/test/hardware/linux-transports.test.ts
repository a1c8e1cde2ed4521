// The real-mode transports that are plain files (sysfs PWM, GPIO, 1-Wire), against a temp dir laid out like /sys,
// and the ones needing devices or packages, which must say what is missing and how to fix it.
import { readFileSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Ds18b20Array } from '../../src/hardware/drivers/ds18b20.js';
import { PwmOutput } from '../../src/hardware/drivers/pwm-output.js';
import { parseHardwareFile } from '../../src/hardware/hardware-file.js';
import { createHardware } from '../../src/hardware/index.js';
import { findPwmChip, linuxTransports } from '../../src/hardware/transports/linux.js';
import { fakeSys, PI5_PWM_NUMBERING } from './fake-sys.js';
import { recordingLog, tempDir } from './support.js';

describe('sysfs transports', () => {
  it('drives a PWM channel: period from the frequency, duty in nanoseconds, enabled', async () => {
    const sys = fakeSys();
    const out = new PwmOutput(await linuxTransports(sys.paths).pwm(undefined, 0), 1000);
    await out.probe();
    await out.setPercent(30);
    expect(sys.readPwm(0, 'period')).toBe('1000000');
    expect(sys.readPwm(0, 'duty_cycle')).toBe('300000');
    expect(sys.readPwm(0, 'enable')).toBe('1');
  });

  it.each([
    ['6.6', 'pwmchip2'],
    ['6.12', 'pwmchip0'],
  ] as const)(
    'finds the header PWM (RP1 PWM0) by its device, not its number: %s kernels number it %s',
    async (kernel, name) => {
      const sys = fakeSys(kernel);
      expect(await findPwmChip(undefined, sys.paths)).toBe(join(sys.root, 'class', 'pwm', name));
      const out = new PwmOutput(await linuxTransports(sys.paths).pwm(undefined, 1), 1000);
      await out.probe();
      await out.setPercent(50);
      expect(sys.readPwm(1, 'duty_cycle')).toBe('500000');
      // The fan's controller and RP1's other one are not touched.
      const { fan, rp1Pwm1 } = PI5_PWM_NUMBERING[kernel];
      for (const chip of [fan, rp1Pwm1]) expect(readFileSync(join(sys.pwmOf(chip, 1), 'duty_cycle'), 'utf8')).toBe('0');
    },
  );

  it('an explicit pwm_chip wins over the device lookup', async () => {
    const sys = fakeSys('6.6');
    const out = new PwmOutput(await linuxTransports(sys.paths).pwm(6, 0), 1000);
    await out.probe();
    await out.setPercent(25);
    expect(readFileSync(join(sys.pwmOf(6, 0), 'duty_cycle'), 'utf8')).toBe('250000');
    expect(sys.readPwm(0, 'duty_cycle')).toBe('0');
    await expect(linuxTransports(sys.paths).pwm(9, 0)).rejects.toThrow(/pwmchip9 is missing: .*pwm_chip/);
  });

  it('without RP1 PWM0 says which controllers it found and how to fix it', async () => {
    const sys = fakeSys('6.6');
    rmSync(join(sys.root, 'class', 'pwm', 'pwmchip2'));
    // RP1 PWM1 is left, with the same compatible: not the header's, so the lookup must not pick it by elimination.
    await expect(findPwmChip(undefined, sys.paths)).rejects.toThrow(
      /no PWM controller of the 40-pin header \(RP1 PWM0, device 1f00098000\.pwm\).*found pwmchip0 → 107d517a80\.pwm, pwmchip6 → 1f0009c000\.pwm.*dtoverlay=pwm-2chan.*pwm_chip/,
    );
    unlinkSync(join(sys.root, 'class', 'pwm', 'pwmchip0'));
    unlinkSync(join(sys.root, 'class', 'pwm', 'pwmchip6'));
    await expect(findPwmChip(undefined, sys.paths)).rejects.toThrow(/none found/);
  });

  it('finds the header GPIO controller by label and writes the line (GPIO 20 = 571 + 20)', async () => {
    const sys = fakeSys();
    const line = await linuxTransports(sys.paths).gpio(20);
    await line.set(true);
    const dir = sys.gpio(20);
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
