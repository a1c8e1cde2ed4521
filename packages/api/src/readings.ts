// The one table of what the bioreactor measures and reports as columns: each reading's component, where it sits in
// that component's state, its unit, label, digits and range, whether it is one of the deployment guide's eight CSV
// columns (in the guide's order), and how the dashboard shows it. The CSV's units in the manifest, the live samples,
// the dashboard's tiles, charts and settings, the batched state's flat readings and the Python client's extra
// columns are all read from here.

/** How the dashboard shows a reading. */
export interface ReadingDisplay {
  /** Its key in the dashboard settings' display_components (default: the reading's own key). */
  readonly setting?: string;
  /** What the settings page calls it. */
  readonly settingLabel?: string;
  /** Shown unless the settings say otherwise (absent: the key is optional in the settings, and shown). */
  readonly shownByDefault?: boolean;
  /** A tile with the latest value. */
  readonly tile?: {
    readonly label: string;
    readonly testId: string;
    readonly digits?: number;
    readonly suffixFrom?: string;
  };
  /** A chart series; readings with the same chart id share one chart. */
  readonly chart?: {
    readonly id: string;
    readonly title: string;
    /** The series' legend; a list reading numbers each element (`OD channel 1`). */
    readonly series: string;
    readonly color?: string;
  };
}

export interface ReadingSpec {
  /** The component whose state carries it. */
  readonly component: string;
  /** Its field in that state; with `each`, the field of every entry of the list `each`. */
  readonly field: string;
  readonly each?: string;
  /** number: one value; list: one per channel (JSON list in the CSV); text: a word. */
  readonly kind: 'number' | 'list' | 'text';
  /** The unit as the API writes it in states and capabilities (`ppm`, `celsius`, `volts`, `percent`, `amps`). */
  readonly unit: string;
  /** The unit as people read it (`ppm`, `°C`, `V`, `%`, `A`); empty for a word. */
  readonly symbol: string;
  readonly label: string;
  /** Decimals shown (the node keeps the sensor's own resolution). */
  readonly digits: number;
  /** What the quantity can be (a sensor's measuring range, a duty's 0-100). */
  readonly range?: readonly [number, number];
  /** One of the deployment guide's eight CSV columns (after `timestamp`), in the guide's order. */
  readonly guide?: true;
  /** The CSV column's unit in the experiment manifest, when not the symbol. */
  readonly csvUnit?: string | null;
  readonly display?: ReadingDisplay;
}

export const READINGS = {
  // ---- the deployment guide's columns, in its order ----
  co2_ppm: {
    component: 'co2_sensor',
    field: 'co2_ppm',
    kind: 'number',
    unit: 'ppm',
    symbol: 'ppm',
    label: 'CO2',
    digits: 0,
    guide: true,
    display: {
      setting: 'co2_sensor',
      settingLabel: 'CO2 (ppm)',
      shownByDefault: true,
      tile: { label: 'CO2', testId: 'reading-co2' },
      chart: { id: 'co2', title: 'CO2', series: 'CO2 (ppm)', color: '#059669' },
    },
  },
  temperature: {
    component: 'temp_sensor',
    field: 'temperature',
    kind: 'number',
    unit: 'celsius',
    symbol: '°C',
    label: 'Temperature',
    digits: 2,
    guide: true,
    display: {
      settingLabel: 'Temperature (°C)',
      shownByDefault: true,
      tile: { label: 'Temperature', testId: 'reading-temperature' },
      chart: { id: 'temperature', title: 'Temperature', series: 'Temperature (°C)', color: '#dc2626' },
    },
  },
  od_voltages: {
    component: 'optical_density',
    field: 'voltages',
    kind: 'list',
    unit: 'volts',
    symbol: 'V',
    label: 'Optical density',
    digits: 4,
    guide: true,
    csvUnit: 'V (JSON list, one per channel)',
    display: {
      settingLabel: 'Optical density, every channel (V)',
      shownByDefault: true,
      chart: { id: 'od', title: 'Optical density', series: 'OD channel' },
    },
  },
  eyespy_voltages: {
    component: 'eyespy_adc',
    field: 'voltages',
    kind: 'list',
    unit: 'volts',
    symbol: 'V',
    label: 'Eyespy ADC',
    digits: 4,
    guide: true,
    csvUnit: 'V (JSON list, one per board)',
    display: {
      settingLabel: 'Eyespy ADC, every board (V)',
      shownByDefault: false,
      chart: { id: 'eyespy', title: 'Eyespy ADC', series: 'Eyespy' },
    },
  },
  stirrer_duty: {
    component: 'stirrer',
    field: 'duty_cycle',
    kind: 'number',
    unit: 'percent',
    symbol: '%',
    label: 'Stirrer',
    digits: 0,
    range: [0, 100],
    guide: true,
    display: {
      settingLabel: 'Stirrer duty (%)',
      shownByDefault: true,
      tile: { label: 'Stirrer', testId: 'reading-stirrer' },
      chart: { id: 'duty', title: 'Actuator duty', series: 'Stirrer (%)', color: '#2563eb' },
    },
  },
  peltier_duty: {
    component: 'peltier_driver',
    field: 'duty_cycle',
    kind: 'number',
    unit: 'percent',
    symbol: '%',
    label: 'Peltier',
    digits: 0,
    range: [0, 100],
    guide: true,
    display: {
      settingLabel: 'Peltier duty and direction (%)',
      shownByDefault: true,
      tile: { label: 'Peltier', testId: 'reading-peltier', suffixFrom: 'peltier_direction' },
      chart: { id: 'duty', title: 'Actuator duty', series: 'Peltier (%)', color: '#d97706' },
    },
  },
  peltier_direction: {
    component: 'peltier_driver',
    field: 'direction',
    kind: 'text',
    unit: '',
    symbol: '',
    label: 'Peltier direction',
    digits: 0,
    guide: true,
    csvUnit: null,
  },
  // ---- columns bioreactor_client writes when asked (include_ring_light) ----
  ring_light_r: {
    component: 'ring_light',
    field: 'red',
    kind: 'number',
    unit: '0-255',
    symbol: '',
    label: 'Ring light red',
    digits: 0,
    range: [0, 255],
    csvUnit: '0-255',
  },
  ring_light_g: {
    component: 'ring_light',
    field: 'green',
    kind: 'number',
    unit: '0-255',
    symbol: '',
    label: 'Ring light green',
    digits: 0,
    range: [0, 255],
    csvUnit: '0-255',
  },
  ring_light_b: {
    component: 'ring_light',
    field: 'blue',
    kind: 'number',
    unit: '0-255',
    symbol: '',
    label: 'Ring light blue',
    digits: 0,
    range: [0, 255],
    csvUnit: '0-255',
  },
  led_power: {
    component: 'led',
    field: 'power',
    kind: 'number',
    unit: 'percent',
    symbol: '%',
    label: 'LED power',
    digits: 0,
    range: [0, 100],
  },
  // ---- sensors added since the guide ----
  o2_percent: {
    component: 'o2_sensor',
    field: 'o2_percent',
    kind: 'number',
    unit: 'percent',
    symbol: '%',
    label: 'O2',
    digits: 2,
    range: [0, 100],
    display: {
      settingLabel: 'O2 (%)',
      tile: { label: 'O2', testId: 'reading-o2' },
      chart: { id: 'o2', title: 'O2', series: 'O2 (%)', color: '#0891b2' },
    },
  },
  ambient_temperature: {
    component: 'ambient_temp_sensor',
    field: 'temperature',
    kind: 'number',
    unit: 'celsius',
    symbol: '°C',
    label: 'Ambient temperature',
    digits: 2,
    display: {
      settingLabel: 'Ambient temperature, the room (°C)',
      tile: { label: 'Ambient', testId: 'reading-ambient' },
      chart: { id: 'temperature', title: 'Temperature', series: 'Ambient (°C)', color: '#7c3aed' },
    },
  },
  peltier_current: {
    component: 'peltier_current',
    field: 'current',
    kind: 'number',
    unit: 'amps',
    symbol: 'A',
    label: 'Peltier current',
    digits: 2,
    display: {
      settingLabel: 'Peltier current (A)',
      tile: { label: 'Peltier current', testId: 'reading-peltier-current' },
      chart: { id: 'current', title: 'Peltier current', series: 'Peltier (A)', color: '#ea580c' },
    },
  },
  // ---- counters: what the pumps have moved since the node started, one per pump in the state's order ----
  pump_volumes_ml: {
    component: 'pumps',
    field: 'total_volume_ml',
    each: 'pumps',
    kind: 'list',
    unit: 'mL',
    symbol: 'mL',
    label: 'Pumped volume',
    digits: 3,
    csvUnit: 'mL (JSON list, one per pump)',
  },
  // ---- counters: what the gas relays have done since the node started, one per relay in the state's order ----
  gas_open_s: {
    component: 'gas_relays',
    field: 'open_s_total',
    each: 'relays',
    kind: 'list',
    unit: 's',
    symbol: 's',
    label: 'Gas relay open time',
    digits: 1,
    csvUnit: 's (JSON list, one per relay)',
  },
  gas_doses: {
    component: 'gas_relays',
    field: 'doses_total',
    each: 'relays',
    kind: 'list',
    unit: 'doses',
    symbol: '',
    label: 'Gas relay doses',
    digits: 0,
    csvUnit: 'openings (JSON list, one per relay)',
  },
} as const satisfies Record<string, ReadingSpec>;

export type ReadingKey = keyof typeof READINGS;
export const READING_KEYS = Object.keys(READINGS) as ReadingKey[];
const rows = READINGS as Record<ReadingKey, ReadingSpec>;

/** The deployment guide's CSV columns, in its order: `timestamp`, then the guide's readings. */
export const GUIDE_CSV_COLUMNS = ['timestamp', ...READING_KEYS.filter((k) => rows[k].guide)] as const;

export const readingSpec = (key: ReadingKey): ReadingSpec => rows[key];
export const isReadingKey = (key: string): key is ReadingKey => Object.hasOwn(READINGS, key);

/** The readings a component's state carries. */
export const readingsOf = (component: string): ReadingKey[] =>
  READING_KEYS.filter((k) => rows[k].component === component);

type ReadingValue = number | null | string | (number | null)[];

/** A reading's value in its component's state (null when the state does not carry it). */
export function readingValue(key: ReadingKey, state: Record<string, unknown> | null | undefined): ReadingValue | null {
  if (!state) return null;
  const spec = rows[key];
  if (spec.each !== undefined) {
    const entries = state[spec.each];
    if (!Array.isArray(entries)) return null;
    return entries.map((e) => {
      const v = (e as Record<string, unknown>)?.[spec.field];
      return typeof v === 'number' ? v : null;
    });
  }
  const v = state[spec.field];
  if (spec.kind === 'text') return typeof v === 'string' ? v : null;
  if (spec.kind === 'list') return Array.isArray(v) ? v.map((x) => (typeof x === 'number' ? x : null)) : null;
  return typeof v === 'number' ? v : null;
}

/** Every reading of the components in `states` (component → state), keyed by reading, in the table's order. */
export function readingsFrom(states: Record<string, unknown>): Partial<Record<ReadingKey, ReadingValue | null>> {
  const out: Partial<Record<ReadingKey, ReadingValue | null>> = {};
  for (const key of READING_KEYS) {
    const state = states[rows[key].component];
    if (state && typeof state === 'object') out[key] = readingValue(key, state as Record<string, unknown>);
  }
  return out;
}

/** A CSV column's unit for the manifest: the reading's, `null` for a word, undefined for a column not in the table. */
export function csvColumnUnit(column: string): string | null | undefined {
  if (!isReadingKey(column)) return undefined;
  const spec = rows[column];
  if (spec.csvUnit !== undefined) return spec.csvUnit;
  return spec.symbol === '' ? null : spec.symbol;
}

/** The readings the dashboard shows, in the table's order, with their settings key. */
export const DISPLAYED_READINGS = READING_KEYS.filter((k) => rows[k].display !== undefined).map((key) => {
  const display = rows[key].display as ReadingDisplay;
  return { key, spec: rows[key], display, setting: display.setting ?? key };
});
