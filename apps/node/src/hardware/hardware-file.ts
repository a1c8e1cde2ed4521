// The hardware file (the guide's config_hardware.py as JSON): schema, defaults and a loader naming every problem.
// The guide's own config_hardware.py is read too, as data (config-py.ts), with its upper-case names mapped here.
import { readFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { COMPONENT_NAMES, type ComponentName } from '@bioreactor/api';
import { type Static, Type } from 'typebox';
import { Value } from 'typebox/value';
import { type PyAssignment, type PyValue, parsePyConfig } from './config-py.js';

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
    steps_per_ml: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        description:
          'Calibration: Tic velocity units (microsteps per 10 000 s) per mL/s, i.e. 10 000 × microsteps per mL (the original’s name); or give ml_per_step',
      }),
    ),
    ml_per_step: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        description:
          'Calibration: mL moved per microstep at step_mode; the same as steps_per_ml = 10 000 / ml_per_step',
      }),
    ),
    max_speed: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: 50_000,
        description:
          'Fastest step rate, microsteps/s (the Tic Control Center’s "Max speed"); default 200, a Tic’s default (2 000 000 per 10 000 s). The node sets the Tic’s own max speed to it',
      }),
    ),
    max_ml_per_s: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, description: 'The fastest rate in mL/s instead of max_speed' }),
    ),
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

/** A Tic's "Max speed" at its defaults, microsteps/s (Tic user's guide §6): the default of max_speed. */
export const DEFAULT_PUMP_MAX_STEPS_PER_S = 200;
/** The Tic's velocity limit, microsteps/s (500 000 000 per 10 000 s, Tic user's guide §8). */
export const TIC_MAX_STEPS_PER_S = 50_000;

/** A pump's calibration as the node uses it: Tic velocity units per mL/s, and its fastest rate. */
export interface PumpCalibration {
  /** Tic velocity units (microsteps per 10 000 s) per mL/s. */
  stepsPerMl: number;
  /** The Tic's max speed to set, microsteps per 10 000 s. */
  maxSpeed: number;
  /** The fastest rate commands may ask, mL/s (either direction). */
  maxMlPerS: number;
}

/** The calibration of a validated pump entry (parseHardwareFile has checked that it is complete). */
export function pumpCalibration(pump: Static<typeof PumpSchema>): PumpCalibration {
  const stepsPerMl = pump.steps_per_ml ?? 10_000 / (pump.ml_per_step ?? 1);
  const maxSpeed =
    pump.max_ml_per_s !== undefined
      ? pump.max_ml_per_s * stepsPerMl
      : (pump.max_speed ?? DEFAULT_PUMP_MAX_STEPS_PER_S) * 10_000;
  return { stepsPerMl, maxSpeed, maxMlPerS: maxSpeed / stepsPerMl };
}

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
    k33_ppm_per_count: Type.Number({
      exclusiveMinimum: 0,
      default: 1,
      description:
        'Senseair K33: ppm per count of its CO2 value (RAM 0x08); 1 as Senseair’s I2C guide reads it, 10 as the original system did',
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
        max_run_inflow_ml: Type.Union([Type.Number({ exclusiveMinimum: 0 }), Type.Null()], {
          default: null,
          description:
            'Liquid one experiment run’s own commands may add through the inflow pumps (its medium reservoir) before the node stops them and refuses that run more; null: no cap',
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
    /** Replaces the first line, `Hardware file … is invalid:`. */
    headline = `Hardware file ${path} is invalid:`,
    /** Printed after the problems (the both-files error's JSON). */
    readonly detail = '',
  ) {
    super(`${headline}\n  - ${problems.join('\n  - ')}${detail ? `\n${detail}` : ''}`);
    this.name = 'HardwareFileError';
  }
}

/** The guide's file name: read when it is beside the JSON file (see loadHardwareFile). */
export const GUIDE_PY_FILE = 'config_hardware.py';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

interface PyName {
  /** Where the value goes in the JSON file. */
  path: string[];
  /** Reshapes the original's form into the JSON file's; `warn` names what is dropped. */
  convert?: (value: PyValue, warn: (message: string) => void) => unknown;
}

/**
 * The upper-case names of config_hardware.py: the deployment guide's four, the original system's flat names
 * (its config_hardware.py, as ../reference/original-system.md lists them), then every other top-level key of the
 * JSON file upper-cased (I2C_BUS, STIRRER = {...}, OVERFLOW_GUARD, ...).
 */
export const PY_NAMES: Readonly<Record<string, PyName>> = (() => {
  const names: Record<string, PyName> = {
    INIT_COMPONENTS: {
      path: ['init_components'],
      convert: (value, warn) => {
        // The original enabled 'i2c' as if it were a component; here a bus opens for the components that use it.
        if (!isObject(value) || !Object.hasOwn(value, 'i2c')) return value;
        warn("INIT_COMPONENTS['i2c'] is not used: the I2C bus opens for the components that need it");
        return Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'i2c'));
      },
    },
    CO2_SENSOR_TYPE: { path: ['co2_sensor_type'] },
    CO2_SENSOR_I2C_ADDRESS: { path: ['co2_sensor_i2c_address'] },
    HARDWARE_MODE: { path: ['hardware_mode'] },
    PELTIER_PWM_PIN: { path: ['peltier_driver', 'pwm_pin'] },
    PELTIER_DIR_PIN: { path: ['peltier_driver', 'dir_pin'] },
    DIR_PIN: { path: ['peltier_driver', 'dir_pin'] },
    PELTIER_DIR_INVERTED: { path: ['peltier_driver', 'direction_inverted'] },
    STIRRER_PWM_PIN: { path: ['stirrer', 'pwm_pin'] },
    STIRRER_DEFAULT_DUTY: { path: ['stirrer', 'idle_duty'] },
    LED_PWM_PIN: { path: ['led', 'pwm_pin'] },
    OD_ADC_CHANNELS: { path: ['od_adc', 'channels'] },
    TEMP_SENSOR_ORDER: { path: ['temp_sensor', 'order'] },
    EYESPY_ADC: {
      path: ['eyespy_adc', 'boards'],
      // The original's {'eyespy1': 0x49, ...}: a board per name at that address. {'boards': {...}} is the JSON form.
      convert: (value) => {
        if (!isObject(value)) return value;
        const keys = Object.keys(value);
        if (keys.length === 1 && keys[0] === 'boards' && isObject(value.boards)) return value.boards;
        return Object.fromEntries(
          Object.entries(value).map(([k, v]) => [
            k,
            typeof v === 'number' || typeof v === 'string' ? { i2c_address: v } : v,
          ]),
        );
      },
    },
    PUMPS: { path: ['pumps'] },
  };
  for (const key of Object.keys(HardwareFileSchema.properties)) names[key.toUpperCase()] ??= { path: [key] };
  return names;
})();

/** The original's names that mean nothing to this node: read, and named in a warning. */
const UNUSED_PY_NAMES: Readonly<Record<string, string>> = {
  CO2_SENSOR_ENABLED: "INIT_COMPONENTS['co2_sensor'] alone starts the CO2 sensor",
  LOG_FILE: 'the node logs to its standard output',
  DATA_OUT_FILE: 'each experiment keeps its data under DATA_DIR',
};

/** The JSON key a config_hardware.py name stands for, as written in the JSON file (`peltier_driver.pwm_pin`). */
export function jsonKeyOf(pyName: string): string | undefined {
  return PY_NAMES[pyName]?.path.join('.');
}

/** Sets `value` at `key` of `target`, merging objects; returns the dotted key both set when two names clash. */
function merge(
  target: Record<string, unknown>,
  key: string,
  value: unknown,
  at: string,
  who: string,
  owners: Map<string, string>,
): string | undefined {
  const dotted = at ? `${at}.${key}` : key;
  if (!Object.hasOwn(target, key)) {
    // defineProperty: a dict key '__proto__' stays an own key, as JSON.parse makes it.
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
    owners.set(dotted, who);
    return undefined;
  }
  const existing = target[key];
  if (isObject(existing) && isObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      const clash = merge(existing, k, v, dotted, who, owners);
      if (clash) return clash;
    }
    return undefined;
  }
  return dotted;
}

/**
 * config_hardware.py's assignments as the JSON file's object: each upper-case name to its key, unknown names and
 * two names setting one key as problems, names this node does not use as warnings.
 */
export function pyAssignmentsToJson(assignments: PyAssignment[]): {
  raw: Record<string, unknown>;
  problems: string[];
  warnings: string[];
} {
  const raw: Record<string, unknown> = {};
  const problems: string[] = [];
  const warnings: string[] = [];
  const owners = new Map<string, string>();
  const flat = new Set<string>();
  const ownerOf = (dotted: string): string => {
    for (let k = dotted; k; k = k.slice(0, Math.max(0, k.lastIndexOf('.')))) {
      const who = owners.get(k);
      if (who) return who;
    }
    return '?';
  };
  for (const { name, value, line, column } of assignments) {
    const where = `${line}:${column}`;
    const unused = UNUSED_PY_NAMES[name];
    if (unused !== undefined) {
      warnings.push(`${name} (line ${line}) is not used by this node: ${unused}`);
      continue;
    }
    const known = PY_NAMES[name];
    if (!known) {
      const upper = name.toUpperCase();
      problems.push(
        PY_NAMES[upper] || UNUSED_PY_NAMES[upper] !== undefined
          ? `${where}: ${name}: write ${upper} in ${GUIDE_PY_FILE} (upper case, as the deployment guide does)`
          : `${where}: ${name} is not a name this node reads; it reads ${Object.keys(PY_NAMES).join(', ')}`,
      );
      continue;
    }
    const converted = known.convert ? known.convert(value, (m) => warnings.push(`${m} (line ${line})`)) : value;
    if (known.path.length > 1) flat.add(known.path[0] as string);
    const nested = known.path.slice(1).reduceRight<unknown>((v, k) => ({ [k]: v }), converted);
    const clash = merge(raw, known.path[0] as string, nested, '', name, owners);
    if (clash) problems.push(`${where}: ${name} sets ${clash}, which ${ownerOf(clash)} already sets`);
  }
  // A flat name (PELTIER_DIR_PIN) changes one setting; the others of its object keep their defaults.
  const properties = HardwareFileSchema.properties as Record<string, { default?: unknown }>;
  for (const key of flat) {
    const defaults = properties[key]?.default;
    if (isObject(defaults) && isObject(raw[key])) raw[key] = { ...structuredClone(defaults), ...raw[key] };
  }
  // What the file leaves out is what a node without a hardware file assumes (every component, the inflow and
  // outflow pumps): the original's config_hardware.py inherited it from its Config class, so the guide's file,
  // which enables the pumps without naming any, works as it did there.
  for (const [key, value] of Object.entries(DEFAULT_HARDWARE))
    if (!Object.hasOwn(raw, key)) raw[key] = structuredClone(value);
  return { raw, problems, warnings };
}

/** The JSON a config_hardware.py stands for, addresses written as hex ("0x69") as people write them. */
export function pyAsJson(raw: Record<string, unknown>): string {
  return JSON.stringify(
    raw,
    (key, value) =>
      /i2c_address$/.test(key) && Number.isInteger(value)
        ? `0x${(value as number).toString(16).padStart(2, '0')}`
        : value,
    2,
  );
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
      if (e.message !== 'schema is false') return `${where}: ${e.message}`;
      // config_hardware.py's upper-case names, written in the JSON file: say which key they are here.
      const key = e.instancePath.slice(1);
      const jsonKey = jsonKeyOf(key);
      if (jsonKey) return `${key}: write ${jsonKey} in the JSON file`;
      if (UNUSED_PY_NAMES[key] !== undefined)
        return `${key}: not used by this node (${UNUSED_PY_NAMES[key]}); remove it`;
      return `${where}: unknown key (check its spelling)`;
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
    if ((pump.steps_per_ml === undefined) === (pump.ml_per_step === undefined))
      problems.push(`pumps.${name}: give one calibration, steps_per_ml or ml_per_step`);
    if (pump.max_speed !== undefined && pump.max_ml_per_s !== undefined)
      problems.push(`pumps.${name}: give max_speed or max_ml_per_s, not both`);
    if (pump.steps_per_ml !== undefined || pump.ml_per_step !== undefined) {
      const { maxSpeed, stepsPerMl } = pumpCalibration(pump);
      if (maxSpeed > TIC_MAX_STEPS_PER_S * 10_000)
        problems.push(
          `pumps.${name}: max_ml_per_s ${pump.max_ml_per_s} needs ${maxSpeed / 10_000} microsteps/s, past the Tic's ${TIC_MAX_STEPS_PER_S}: at most ${(TIC_MAX_STEPS_PER_S * 10_000) / stepsPerMl} mL/s with this calibration`,
        );
    }
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

export interface LoadedHardwareFile {
  file: HardwareFile;
  /** False when there was no file: DEFAULT_HARDWARE (the caller logs that it is missing). */
  found: boolean;
  /** The file read: BIOREACTOR_HARDWARE_CONFIG itself, or config_hardware.py beside it. */
  path: string;
  /** Names in a config_hardware.py that this node does not use (the caller logs them). */
  warnings: string[];
}

/** The text of a file, or undefined when there is none. */
function readIfThere(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new HardwareFileError(path, [`cannot read it: ${(err as Error).message}`]);
  }
}

/** config_hardware.py read as data (never run), mapped to the JSON keys and validated as the JSON file is. */
export function readPyHardwareFile(
  text: string,
  path = `<${GUIDE_PY_FILE}>`,
): { file: HardwareFile; warnings: string[] } {
  const parsed = parsePyConfig(text);
  const { raw, problems, warnings } = pyAssignmentsToJson(parsed.assignments);
  if (parsed.problems.length > 0 || problems.length > 0)
    throw new HardwareFileError(path, [...parsed.problems, ...problems].sort(byPosition));
  return { file: parseHardwareFile(raw, path), warnings };
}

const byPosition = (a: string, b: string): number => {
  const [la = 0, ca = 0] = a.split(':', 2).map(Number);
  const [lb = 0, cb = 0] = b.split(':', 2).map(Number);
  return la - lb || ca - cb;
};

/**
 * Reads the hardware file. BIOREACTOR_HARDWARE_CONFIG naming a .py file reads that file as the guide's
 * config_hardware.py. Naming a JSON file, the guide's config_hardware.py beside it is looked for too: only one
 * of them there, it is read; both there, start-up stops with config_hardware.py shown as JSON to merge, since
 * picking one would silently ignore the edits in the other. Neither there: DEFAULT_HARDWARE.
 */
export function loadHardwareFile(path: string): LoadedHardwareFile {
  const missing = (): LoadedHardwareFile => ({
    file: parseHardwareFile(DEFAULT_HARDWARE, path),
    found: false,
    path,
    warnings: [],
  });
  if (extname(path).toLowerCase() === '.py') {
    const text = readIfThere(path);
    return text === undefined ? missing() : { ...readPyHardwareFile(text, path), found: true, path };
  }
  const text = readIfThere(path);
  const pyPath = join(dirname(path), GUIDE_PY_FILE);
  const pyText = readIfThere(pyPath);
  if (pyText !== undefined && text !== undefined) throw bothFilesError(path, pyPath, pyText);
  if (pyText !== undefined) return { ...readPyHardwareFile(pyText, pyPath), found: true, path: pyPath };
  if (text === undefined) return missing();
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    const problems = [`not valid JSON: ${(err as Error).message}`];
    if (/^[A-Z][A-Z0-9_]*\s*=/m.test(text))
      problems.push(
        `it looks like the guide's ${GUIDE_PY_FILE}: save it as ${GUIDE_PY_FILE} beside ${basename(path)} (and remove ${basename(path)}), or write it as JSON`,
      );
    throw new HardwareFileError(path, problems);
  }
  return { file: parseHardwareFile(raw, path), found: true, path, warnings: [] };
}

function bothFilesError(jsonPath: string, pyPath: string, pyText: string): HardwareFileError {
  const json = basename(jsonPath);
  const parsed = parsePyConfig(pyText);
  const { raw, problems } = pyAssignmentsToJson(parsed.assignments);
  const pyProblems = [...parsed.problems, ...problems].sort(byPosition).map((p) => `${GUIDE_PY_FILE} ${p}`);
  return new HardwareFileError(
    jsonPath,
    [
      `to use ${GUIDE_PY_FILE}, delete ${json}`,
      `to keep ${json}, merge ${GUIDE_PY_FILE} into it (below, as JSON) and delete ${GUIDE_PY_FILE}`,
      ...pyProblems,
    ],
    `Two hardware files: ${jsonPath} and ${pyPath}. The node reads one:`,
    `${GUIDE_PY_FILE} as JSON${pyProblems.length > 0 ? ' (the lines it could read)' : ''}:\n${pyAsJson(raw)}`,
  );
}
