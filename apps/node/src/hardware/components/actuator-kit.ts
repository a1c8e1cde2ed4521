// What several actuators share: opening a PWM output from its wiring, the sysfs files the output supervisor guards,
// and the error a command that the hardware did not take answers with.
import { ApiError } from '@bioreactor/api';
import { PwmOutput } from '../drivers/pwm-output.js';
import { type PwmWiring, pwmChannelFor } from '../pins.js';
import type { GuardedOutput } from '../supervisor/outputs-off.mjs';
import { type LinuxPaths, pwmChannelDir } from '../transports/linux.js';
import type { TransportFactory } from '../transports/types.js';
import type { HardwareLog } from '../types.js';

export async function openPwm(
  transports: TransportFactory,
  wiring: PwmWiring & { frequency_hz: number },
): Promise<PwmOutput> {
  const where = pwmChannelFor(wiring);
  if ('error' in where) throw new Error(where.error);
  const out = new PwmOutput(await transports.pwm(where.chip, where.channel), wiring.frequency_hz);
  await out.probe();
  return out;
}

/** The sysfs PWM channel of a wiring, for the output supervisor; none when it cannot be found. */
export async function pwmOutputs(component: string, wiring: PwmWiring, paths: LinuxPaths): Promise<GuardedOutput[]> {
  const where = pwmChannelFor(wiring);
  if ('error' in where) return [];
  // A controller that cannot be found makes the component unavailable at start; there is nothing to guard.
  const path = await pwmChannelDir(where.chip, where.channel, paths).catch(() => null);
  return path ? [{ component, kind: 'pwm', path }] : [];
}

/** A command the hardware did not take: logged, and answered 502 DEVICE_FAULT. */
export function deviceFault(log: HardwareLog, name: string, err: unknown): ApiError {
  const message = (err as Error).message;
  log.error({ component: name, err: message }, `${name} command failed`);
  return new ApiError('DEVICE_FAULT', `${name} did not accept the command: ${message}`);
}

/** `success` with no message: what every actuator state says unless it reports a fault. */
export const OK = { status: 'success' as const, message: null };
