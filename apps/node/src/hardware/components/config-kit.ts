// Pieces of the hardware file's schema that several components use: I2C addresses, ADS1x15 gains, PWM wiring.
import { Type } from 'typebox';

export const I2cAddress = Type.Union(
  [Type.Integer({ minimum: 0x03, maximum: 0x77 }), Type.String({ pattern: '^0[xX][0-7][0-9a-fA-F]$' })],
  {
    description: '7-bit I2C address, a number or a hex string such as "0x69"',
  },
);

export const Gain = Type.Union(
  [2 / 3, 1, 2, 4, 8, 16].map((g) => Type.Literal(g)),
  {
    description: 'ADS1x15 programmable gain: 2/3, 1, 2, 4, 8 or 16',
  },
);

/** A PWM output's wiring: the header pin (or an explicit sysfs chip and channel) and its frequency. */
export const PwmOutputWiring = {
  pwm_pin: Type.Integer({ minimum: 0, maximum: 27, description: 'BCM GPIO number of the PWM signal' }),
  frequency_hz: Type.Number({ minimum: 1, maximum: 100000 }),
  pwm_chip: Type.Optional(Type.Integer({ minimum: 0, description: 'sysfs pwmchip number (default from the pin)' })),
  pwm_channel: Type.Optional(Type.Integer({ minimum: 0, description: 'sysfs PWM channel (default from the pin)' })),
};

/** An address as the file writes it (a number, "0x69" or null) as a number; `fallback` for null. */
export function i2cAddress(value: number | string | null | undefined, fallback: number): number {
  if (value === null || value === undefined) return fallback;
  return typeof value === 'number' ? value : Number.parseInt(value, 16);
}

export const hex = (address: number) => `0x${address.toString(16)}`;
