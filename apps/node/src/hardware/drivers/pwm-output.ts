// A PWM output in percent (stirrer motor, LED), and the peltier H-bridge: PWM plus a direction line.
import type { GpioLine, PwmChannel } from '../transports/types.js';

export class PwmOutput {
  readonly driver = 'pwm-sysfs';

  constructor(
    private readonly channel: PwmChannel,
    private readonly frequencyHz: number,
  ) {}

  async probe(): Promise<void> {
    await this.channel.configure(this.frequencyHz);
    await this.channel.setDuty(0);
  }

  setPercent(percent: number): Promise<void> {
    return this.channel.setDuty(Math.min(100, Math.max(0, percent)) / 100);
  }

  async close(): Promise<void> {
    await this.channel.close();
  }
}

export class PeltierBridge {
  readonly driver = 'peltier-pwm-dir';

  constructor(
    private readonly pwm: PwmOutput,
    private readonly dir: GpioLine,
    /** By default DIR high cools (the original wiring); true when this board heats with DIR high. */
    private readonly inverted: boolean,
  ) {}

  async probe(): Promise<void> {
    await this.pwm.probe();
    await this.dir.set(false);
  }

  /** Drives the module: heat or cool at `percent`. The duty drops to 0 before the DIR line flips. */
  async drive(mode: 'heat' | 'cool', percent: number): Promise<void> {
    const dirHigh = (mode === 'cool') !== this.inverted;
    await this.pwm.setPercent(0);
    await this.dir.set(dirHigh);
    await this.pwm.setPercent(percent);
  }

  async off(): Promise<void> {
    await this.pwm.setPercent(0);
  }

  async close(): Promise<void> {
    await this.pwm.close();
    await this.dir.close();
  }
}
