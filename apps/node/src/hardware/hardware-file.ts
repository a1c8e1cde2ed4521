// The hardware file (the guide's config_hardware.py as JSON): schema, defaults and a loader naming every problem.
import { readFileSync } from 'node:fs';
import { COMPONENT_NAMES, type ComponentName } from '@bioreactor/api';
import { type Static, Type } from 'typebox';
import { Value } from 'typebox/value';

const I2cAddress = Type.Union(
  [Type.Integer({ minimum: 0x03, maximum: 0x77 }), Type.String({ pattern: '^0[xX][0-7][0-9a-fA-F]$' })],
  {
    description: '7-bit I2C address, a number or a hex string such as "0x69"',
  },
);
const Gain = Type.Union(
  [2 / 3, 1, 2, 4, 8, 16].map((g) => Type.Literal(g)),
  {
    description: 'ADS1x15 programmable gain: 2/3, 1, 2, 4, 8 or 16',
  },
);
const PwmOutput = {
  pwm_pin: Type.Integer({ minimum: 0, maximum: 27, description: 'BCM GPIO number of the PWM signal' }),
  frequency_hz: Type.Number({ minimum: 1, maximum: 100000 }),
  pwm_chip: Type.Optional(Type.Integer({ minimum: 0, description: 'sysfs pwmchip number (default from the pin)' })),
  pwm_channel: Type.Optional(Type.Integer({ minimum: 0, description: 'sysfs PWM channel (default from the pin)' })),
};

const PumpSchema = Type.Object(
  {
    serial: Type.String({ pattern: '^[0-9]{8}$', description: 'The Tic’s 8-digit USB serial number' }),
    steps_per_ml: Type.Number({
      exclusiveMinimum: 0,
      description: 'Tic velocity units (microsteps/10 000 s) per mL/s',
    }),
    direction: Type.Optional(
      Type.Union([Type.Literal('forward'), Type.Literal('reverse')], { description: 'default forward' }),
    ),
    step_mode: Type.Optional(Type.Integer({ minimum: 0, maximum: 9, description: 'default 3 (1/8 step)' })),
    current_limit: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 127, description: 'Tic current limit code, default 32' }),
    ),
  },
  { additionalProperties: false },
);

export const HardwareFileSchema = Type.Object(
  {
    hardware_mode: Type.Optional(Type.Union([Type.Literal('real'), Type.Literal('simulation')])),
    init_components: Type.Object(
      Object.fromEntries(COMPONENT_NAMES.map((n) => [n, Type.Boolean({ default: false })])) as Record<
        ComponentName,
        ReturnType<typeof Type.Boolean>
      >,
      { additionalProperties: false, default: {} },
    ),
    co2_sensor_type: Type.Union([Type.Literal('atlas'), Type.Literal('atlas_i2c'), Type.Literal('sensair_k33')], {
      default: 'atlas',
    }),
    co2_sensor_i2c_address: Type.Union([I2cAddress, Type.Null()], {
      default: null,
      description: 'null: 0x69 for Atlas, 0x68 for the Senseair K33',
    }),
    i2c_bus: Type.Integer({ minimum: 0, default: 1, description: '/dev/i2c-N' }),
    sysfs_root: Type.String({ default: '/sys', description: 'Where /sys is (tests point it at a temp dir)' }),
    dev_root: Type.String({ default: '/dev' }),
    gpio_chip_label: Type.String({ default: 'pinctrl-rp1', description: 'The GPIO controller of the 40-pin header' }),
    sample_intervals_s: Type.Object(
      {
        co2_sensor: Type.Number({ minimum: 2, default: 2, description: 'An EZO-CO2 reading takes 1.5 s' }),
        temp_sensor: Type.Number({ minimum: 0.75, default: 1, description: 'A DS18B20 conversion takes 750 ms' }),
        optical_density: Type.Number({ minimum: 0.05, default: 1 }),
        eyespy_adc: Type.Number({ minimum: 0.05, default: 1 }),
      },
      { additionalProperties: false, default: {} },
    ),
    temp_sensor: Type.Object(
      {
        order: Type.Array(Type.String({ pattern: '^28-[0-9a-f]{12}$' }), {
          default: [],
          description: '1-Wire ids in the order to report them; others follow sorted',
        }),
        valid_range_c: Type.Array(Type.Number(), { minItems: 2, maxItems: 2, default: [0, 100] }),
        simulated_count: Type.Integer({ minimum: 1, maximum: 8, default: 2 }),
      },
      { additionalProperties: false, default: {} },
    ),
    od_adc: Type.Object(
      {
        type: Type.Union([Type.Literal('ads1115'), Type.Literal('ads7830')], { default: 'ads1115' }),
        i2c_address: Type.Union([I2cAddress, Type.Null()], { default: null, description: 'null: 0x48' }),
        gain: Type.Optional(Gain),
        vref: Type.Number({ minimum: 0.5, maximum: 5.5, default: 3.3, description: 'ADS7830 reference voltage' }),
        channels: Type.Record(Type.String({ minLength: 1 }), Type.String({ pattern: '^A[0-7]$' }), {
          default: { '135': 'A0', Ref: 'A1', '90': 'A2' },
          description: 'Channel name → ADC input (A0-A3 on an ADS1115, A0-A7 on an ADS7830)',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    eyespy_adc: Type.Object(
      {
        boards: Type.Record(
          Type.String({ minLength: 1 }),
          Type.Object(
            {
              i2c_address: I2cAddress,
              gain: Type.Optional(Gain),
              chip: Type.Optional(
                Type.Union([Type.Literal('ads1114'), Type.Literal('ads1115')], { description: 'default ads1114' }),
              ),
            },
            { additionalProperties: false },
          ),
          { default: { eyespy1: { i2c_address: '0x49', gain: 1 }, eyespy2: { i2c_address: '0x4a', gain: 1 } } },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    pumps: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_-]{1,32}$' }), PumpSchema, { default: {} }),
    overflow_guard: Type.Object(
      {
        max_excess_inflow_ml: Type.Union([Type.Number({ exclusiveMinimum: 0 }), Type.Null()], {
          default: null,
          description:
            'Liquid the inflow pumps may add beyond what the outflow pumps take out (the vessel’s headroom) before the node stops them; null: no guard',
        }),
        inflow_pumps: Type.Array(Type.String(), { default: ['inflow'], description: 'Pumps that add liquid' }),
        outflow_pumps: Type.Array(Type.String(), { default: ['outflow'], description: 'Pumps that take it out' }),
      },
      { additionalProperties: false, default: {} },
    ),
    stirrer: Type.Object(
      { ...PwmOutput, idle_duty: Type.Number({ minimum: 0, maximum: 100, default: 30 }) },
      { additionalProperties: false, default: { pwm_pin: 12, frequency_hz: 1000 } },
    ),
    peltier_driver: Type.Object(
      {
        ...PwmOutput,
        dir_pin: Type.Integer({ minimum: 0, maximum: 27 }),
        direction_inverted: Type.Boolean({
          default: false,
          description: 'Set when DIR high heats on this wiring (by default DIR high cools)',
        }),
        over_temperature_c: Type.Number({ minimum: 20, maximum: 90, default: 45 }),
      },
      { additionalProperties: false, default: { pwm_pin: 13, dir_pin: 20, frequency_hz: 1000 } },
    ),
    led: Type.Object({ ...PwmOutput }, { additionalProperties: false, default: { pwm_pin: 18, frequency_hz: 500 } }),
    ring_light: Type.Object(
      {
        spi_device: Type.String({ pattern: '^spidev[0-9]+\\.[0-9]+$', default: 'spidev0.0' }),
        pixel_count: Type.Integer({ minimum: 1, maximum: 1024, default: 32 }),
        spi_speed_hz: Type.Integer({ minimum: 1_000_000, maximum: 4_000_000, default: 2_400_000 }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);
export type HardwareFile = Static<typeof HardwareFileSchema>;

/** Thrown when the hardware file is unreadable or invalid; the message names every problem. */
export class HardwareFileError extends Error {
  constructor(
    readonly path: string,
    readonly problems: string[],
  ) {
    super(`Hardware file ${path} is invalid:\n  - ${problems.join('\n  - ')}`);
    this.name = 'HardwareFileError';
  }
}

export function i2cAddress(value: number | string | null | undefined, fallback: number): number {
  if (value === null || value === undefined) return fallback;
  return typeof value === 'number' ? value : Number.parseInt(value, 16);
}

/** Validates parsed JSON, fills defaults and checks what the schema cannot (inputs per chip, address clashes). */
export function parseHardwareFile(raw: unknown, path = '<inline>'): HardwareFile {
  const withDefaults = Value.Default(HardwareFileSchema, structuredClone(raw ?? {}));
  const errors = [...Value.Errors(HardwareFileSchema, withDefaults)];
  const unknownKeys = errors.filter((e) => e.message === 'schema is false');
  const problems = errors
    .filter((e) => e.keyword !== 'additionalProperties' || unknownKeys.length === 0)
    .map((e) => {
      const where = e.instancePath === '' ? '(top level)' : e.instancePath.slice(1).replaceAll('/', '.');
      return e.message === 'schema is false' ? `${where}: unknown key (check its spelling)` : `${where}: ${e.message}`;
    });
  // Errors inside a record's entries stop at the first one; each pump is checked on its own for the rest.
  const pumps = (withDefaults as { pumps?: unknown }).pumps;
  if (pumps && typeof pumps === 'object')
    for (const [name, pump] of Object.entries(pumps))
      for (const e of Value.Errors(PumpSchema, pump))
        problems.push(`pumps.${name}${e.instancePath.replaceAll('/', '.')}: ${e.message}`);
  if (problems.length > 0) throw new HardwareFileError(path, [...new Set(problems)]);
  const file = withDefaults as HardwareFile;
  for (const board of Object.values(file.eyespy_adc.boards)) board.chip ??= 'ads1114';
  for (const pump of Object.values(file.pumps)) {
    pump.direction ??= 'forward';
    pump.step_mode ??= 3;
    pump.current_limit ??= 32;
  }
  const maxInput = file.od_adc.type === 'ads1115' ? 3 : 7;
  for (const [name, input] of Object.entries(file.od_adc.channels)) {
    if (Number(input.slice(1)) > maxInput)
      problems.push(`od_adc.channels.${name}: ${input} does not exist on an ${file.od_adc.type} (A0-A${maxInput})`);
  }
  if (Object.keys(file.od_adc.channels).length === 0) problems.push('od_adc.channels: name at least one channel');
  const seen = new Map<number, string>();
  const claim = (addr: number, who: string) => {
    const other = seen.get(addr);
    if (other) problems.push(`${who}: I2C address 0x${addr.toString(16)} is already used by ${other}`);
    seen.set(addr, who);
  };
  if (file.init_components.co2_sensor)
    claim(i2cAddress(file.co2_sensor_i2c_address, file.co2_sensor_type === 'sensair_k33' ? 0x68 : 0x69), 'co2_sensor');
  if (file.init_components.optical_density) claim(i2cAddress(file.od_adc.i2c_address, 0x48), 'od_adc');
  if (file.init_components.eyespy_adc)
    for (const [name, board] of Object.entries(file.eyespy_adc.boards))
      claim(i2cAddress(board.i2c_address, 0), `eyespy_adc.boards.${name}`);
  const serials = new Map<string, string>();
  for (const [name, pump] of Object.entries(file.pumps)) {
    const other = serials.get(pump.serial);
    if (other) problems.push(`pumps.${name}: serial ${pump.serial} is already pump ${other}`);
    serials.set(pump.serial, name);
  }
  if (file.init_components.pumps && Object.keys(file.pumps).length === 0)
    problems.push('pumps: init_components.pumps is true but no pump is named');
  if (file.overflow_guard.max_excess_inflow_ml !== null) {
    const { inflow_pumps: inflow, outflow_pumps: outflow } = file.overflow_guard;
    for (const [key, names] of [
      ['inflow_pumps', inflow],
      ['outflow_pumps', outflow],
    ] as const)
      for (const name of names)
        if (!(name in file.pumps)) problems.push(`overflow_guard.${key}: no pump is named ${name}`);
    for (const name of inflow)
      if (outflow.includes(name)) problems.push(`overflow_guard: pump ${name} cannot be both inflow and outflow`);
    if (inflow.length === 0) problems.push('overflow_guard.inflow_pumps: name the pumps that add liquid');
  }
  if (problems.length > 0) throw new HardwareFileError(path, problems);
  return file;
}

/** What a node without a hardware file assumes: every component, the original's two pumps (all simulated by default). */
export const DEFAULT_HARDWARE = {
  init_components: Object.fromEntries(COMPONENT_NAMES.map((n) => [n, true])),
  pumps: {
    inflow: { serial: '00473498', steps_per_ml: 10_000_000, direction: 'forward' },
    outflow: { serial: '00473497', steps_per_ml: 10_000_000, direction: 'forward' },
  },
};

/** Reads the file; a missing file means DEFAULT_HARDWARE (the caller logs that it is missing). */
export function loadHardwareFile(path: string): { file: HardwareFile; found: boolean } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      return { file: parseHardwareFile(DEFAULT_HARDWARE, path), found: false };
    throw new HardwareFileError(path, [`cannot read it: ${(err as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new HardwareFileError(path, [`not valid JSON: ${(err as Error).message}`]);
  }
  return { file: parseHardwareFile(raw, path), found: true };
}
