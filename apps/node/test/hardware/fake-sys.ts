// A temp dir laid out like a Raspberry Pi 5's /sys, for real mode without the hardware: the RP1's two PWM
// controllers and the fan's, each a pwmchipN link under /sys/class/pwm to its device's directory with a `device`
// link back (as the kernel makes them), their channels already exported; the header's GPIO controller (pinctrl-rp1,
// base 571) with GPIO 20 exported; one DS18B20 on 1-Wire.
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { w1SlaveText } from '../../src/hardware/emulated/one-wire.js';
import { tempDir } from './support.js';

/** The chip numbers the kernel gave the controllers: RP1 PWM0 was pwmchip2 on 6.6 kernels and is pwmchip0 on 6.12. */
export const PI5_PWM_NUMBERING = {
  '6.6': { rp1Pwm0: 2, rp1Pwm1: 6, fan: 0 },
  '6.12': { rp1Pwm0: 0, rp1Pwm1: 1, fan: 2 },
} as const;

export interface FakeSys {
  root: string;
  dev: string;
  paths: { sysfsRoot: string; devRoot: string; gpioChipLabel: string };
  /** The directory of a channel of RP1 PWM0 (the header's PWM: GPIO 12, 13, 18, 19 are channels 0-3). */
  headerPwm(channel: number): string;
  /** Reads a file of a header PWM channel (duty_cycle, period, enable). */
  readPwm(channel: number, file: 'duty_cycle' | 'period' | 'enable'): string;
  /** The directory of a channel of another controller. */
  pwmOf(chip: number, channel: number): string;
  /** /sys/class/gpio/gpio{571 + pin} */
  gpio(pin: number): string;
}

export function fakeSys(kernel: keyof typeof PI5_PWM_NUMBERING = '6.6'): FakeSys {
  const root = tempDir('bioreactor-sys-');
  const dev = tempDir('bioreactor-dev-');
  const numbers = PI5_PWM_NUMBERING[kernel];
  const classPwm = join(root, 'class', 'pwm');
  mkdirSync(classPwm, { recursive: true });
  const controller = (parent: string, device: string, compatible: string, chip: number, channels: number) => {
    const deviceDir = join(root, 'devices', 'platform', ...parent.split('/').filter(Boolean), device);
    mkdirSync(join(deviceDir, 'of_node'), { recursive: true });
    writeFileSync(join(deviceDir, 'of_node', 'compatible'), `${compatible}\0`);
    const chipDir = join(deviceDir, 'pwm', `pwmchip${chip}`);
    mkdirSync(chipDir, { recursive: true });
    symlinkSync(`../../../${device}`, join(chipDir, 'device'));
    writeFileSync(join(chipDir, 'npwm'), `${channels}\n`);
    writeFileSync(join(chipDir, 'export'), '');
    writeFileSync(join(chipDir, 'unexport'), '');
    for (let c = 0; c < channels; c++) {
      mkdirSync(join(chipDir, `pwm${c}`));
      for (const f of ['period', 'duty_cycle', 'enable']) writeFileSync(join(chipDir, `pwm${c}`, f), '0');
    }
    symlinkSync(chipDir, join(classPwm, `pwmchip${chip}`));
  };
  controller('axi/1000120000.pcie', '1f00098000.pwm', 'raspberrypi,rp1-pwm', numbers.rp1Pwm0, 4);
  controller('axi/1000120000.pcie', '1f0009c000.pwm', 'raspberrypi,rp1-pwm', numbers.rp1Pwm1, 4);
  controller('', '107d517a80.pwm', 'brcm,bcm2835-pwm', numbers.fan, 2);

  const gpio = join(root, 'class', 'gpio');
  mkdirSync(join(gpio, 'gpiochip571'), { recursive: true });
  writeFileSync(join(gpio, 'gpiochip571', 'label'), 'pinctrl-rp1\n');
  writeFileSync(join(gpio, 'gpiochip571', 'base'), '571\n');
  mkdirSync(join(gpio, 'gpio591'), { recursive: true });
  writeFileSync(join(gpio, 'gpio591', 'value'), '0');
  writeFileSync(join(gpio, 'gpio591', 'direction'), 'in');
  writeFileSync(join(gpio, 'export'), '');
  const w1 = join(root, 'bus', 'w1', 'devices');
  mkdirSync(join(w1, '28-000005e2fdc3'), { recursive: true });
  mkdirSync(join(w1, 'w1_bus_master1'), { recursive: true });
  writeFileSync(join(w1, '28-000005e2fdc3', 'w1_slave'), w1SlaveText(36.5));

  const pwmOf = (chip: number, channel: number) => join(classPwm, `pwmchip${chip}`, `pwm${channel}`);
  const headerPwm = (channel: number) => pwmOf(numbers.rp1Pwm0, channel);
  return {
    root,
    dev,
    paths: { sysfsRoot: root, devRoot: dev, gpioChipLabel: 'pinctrl-rp1' },
    headerPwm,
    readPwm: (channel, file) => readFileSync(join(headerPwm(channel), file), 'utf8').trim(),
    pwmOf,
    gpio: (pin) => join(gpio, `gpio${571 + pin}`),
  };
}
