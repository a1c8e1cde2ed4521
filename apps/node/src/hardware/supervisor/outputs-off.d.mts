// Types of outputs-off.mjs, for the node's TypeScript.

/** One actuator output the supervisor guards: a sysfs PWM channel directory or a sysfs GPIO line directory. */
export interface GuardedOutput {
  component: string;
  kind: 'pwm' | 'gpio';
  /** /sys/class/pwm/pwmchipN/pwmM or /sys/class/gpio/gpioN */
  path: string;
  /** A GPIO line's safe level (default 0). */
  safe?: 0 | 1;
}

export interface OffReport {
  /** Outputs written to their safe state. */
  off: string[];
  /** Of those, the ones that were on, with the value they had. */
  wasOn: string[];
  /** Writes that failed, with the reason. */
  failed: string[];
  /** Outputs whose files do not exist (a PWM channel never exported drives nothing). */
  missing: string[];
}

export function turnOutputsOff(outputs: GuardedOutput[]): OffReport;
