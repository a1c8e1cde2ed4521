// The hardware file (the guide's config_hardware.py as JSON): schema, defaults and a loader naming every problem.
// The guide's own config_hardware.py is read too, as data (config-py.ts), with its upper-case names mapped here.
import { readFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { GUIDE_COMPONENT_NAMES } from '@bioreactor/api';
import { type Static, type TSchema, Type } from 'typebox';
import { Value } from 'typebox/value';
import type { ConfigSchema } from './components/component.js';
import { PumpSchema } from './components/pumps.js';
import { type PyAssignment, type PyValue, parsePyConfig } from './config-py.js';
import { REGISTRY, type RegisteredKeys } from './registry.js';

export { i2cAddress } from './components/config-kit.js';
export {
  DEFAULT_PUMP_MAX_STEPS_PER_S,
  type PumpCalibration,
  pumpCalibration,
  TIC_MAX_STEPS_PER_S,
} from './components/pumps.js';
export { REGISTRY };

/** The keys every hardware file has, whatever its components. */
const COMMON = {
  hardware_mode: Type.Optional(Type.Union([Type.Literal('real'), Type.Literal('simulation')])),
  init_components: Type.Object(
    Object.fromEntries(REGISTRY.map((c) => [c.name, Type.Boolean({ default: false })])) as Record<
      string,
      ReturnType<typeof Type.Boolean>
    >,
    { additionalProperties: false, default: {} },
  ),
};
const BUS = {
  i2c_bus: Type.Integer({ minimum: 0, default: 1, description: '/dev/i2c-N' }),
  sysfs_root: Type.String({ default: '/sys', description: 'Where /sys is (tests point it at a temp dir)' }),
  dev_root: Type.String({ default: '/dev' }),
  gpio_chip_label: Type.String({ default: 'pinctrl-rp1', description: 'The GPIO controller of the 40-pin header' }),
  sample_intervals_s: Type.Object(
    Object.fromEntries(
      REGISTRY.flatMap((c) =>
        c.sampling
          ? [
              [
                c.name,
                Type.Number({
                  minimum: c.sampling.minimum_s,
                  default: c.sampling.default_s,
                  ...(c.sampling.description ? { description: c.sampling.description } : {}),
                }),
              ],
            ]
          : [],
      ),
    ) as Record<string, TSchema>,
    { additionalProperties: false, default: {} },
  ),
};

/** Each component's keys, in registry order; the guide's flat CO2 keys come first, as the guide lists them. */
const [first, ...rest] = REGISTRY;
const componentKeys = (list: typeof REGISTRY): ConfigSchema => Object.assign({}, ...list.map((c) => c.config));

/** The schema's static type: the common keys and every registered component's. */
type AllKeys = typeof COMMON & typeof BUS & RegisteredKeys;

export const HardwareFileSchema = Type.Object(
  { ...COMMON, ...(first ? first.config : {}), ...BUS, ...componentKeys(rest) },
  { additionalProperties: false },
) as unknown as ReturnType<typeof Type.Object<AllKeys>>;
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
  const keysOf = (c: (typeof REGISTRY)[number]) =>
    Object.fromEntries(Object.keys(c.config).map((k) => [k, (file as Record<string, unknown>)[k]]));
  for (const c of REGISTRY) c.normalize?.(keysOf(c) as never);
  for (const c of REGISTRY) problems.push(...(c.check?.(keysOf(c) as never) ?? []));
  const enabled = file.init_components as Record<string, boolean>;
  const seen = new Map<number, string>();
  for (const c of REGISTRY) {
    if (!enabled[c.name]) continue;
    for (const { who, address } of c.i2cAddresses?.(keysOf(c) as never) ?? []) {
      const other = seen.get(address);
      if (other) problems.push(`${who}: I2C address 0x${address.toString(16)} is already used by ${other}`);
      seen.set(address, who);
    }
  }
  if (file.init_components.pumps && Object.keys(file.pumps).length === 0)
    problems.push('pumps: init_components.pumps is true but no pump is named');
  if (problems.length > 0) throw new HardwareFileError(path, problems);
  return file;
}

/**
 * What a node without a hardware file assumes: the guide's nine components (the ones added since stay off until a
 * file enables them), the original's two pumps (all simulated by default).
 */
export const DEFAULT_HARDWARE = {
  init_components: Object.fromEntries(GUIDE_COMPONENT_NAMES.map((n) => [n, true])),
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
