// Which sysfs PWM channel drives a header pin. The node uses the Pi 5's hardware PWM (the original's lgpio timed
// any pin in software), so PWM signals belong on GPIO 12, 13, 18 or 19 (dtoverlay=pwm-2chan).

/** RP1 PWM0 channels on the 40-pin header. */
export const PI5_PWM_PINS: Readonly<Record<number, number>> = { 12: 0, 13: 1, 18: 2, 19: 3 };

export interface PwmWiring {
  pwm_pin: number;
  pwm_chip?: number | undefined;
  pwm_channel?: number | undefined;
}

/**
 * The sysfs chip and channel of an output, or why the pin cannot do hardware PWM. The chip is undefined unless the
 * hardware file names one: the transport then finds the header's PWM controller by its device.
 */
export function pwmChannelFor(wiring: PwmWiring): { chip: number | undefined; channel: number } | { error: string } {
  if (wiring.pwm_channel !== undefined) return { chip: wiring.pwm_chip, channel: wiring.pwm_channel };
  const channel = PI5_PWM_PINS[wiring.pwm_pin];
  if (channel === undefined)
    return {
      error: `GPIO ${wiring.pwm_pin} has no hardware PWM on a Pi 5: wire the signal to GPIO 12, 13, 18 or 19, or set pwm_chip and pwm_channel`,
    };
  return { chip: wiring.pwm_chip, channel };
}
