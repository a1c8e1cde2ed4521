// The node's components: names, kinds, capabilities, state bodies and control bodies (v3 and v2). The guide's nine
// have hand-written bodies (their wire format is the guide's); a sensor added since is one row of readings.ts, and
// its state body (the reading, its unit) is derived from that row here.
import { type Static, type TSchema, Type } from 'typebox';
import { READINGS, type ReadingKey, type ReadingSpec } from './readings.js';

/**
 * `type: [x, "null"]` and `enum` rather than anyOf: the same contract, but the response serialiser writes them
 * directly instead of running a validator per field to pick a branch (state reads are the hot path).
 */
const nullable = <T>(type: 'number' | 'string', extra: Record<string, unknown> = {}) =>
  Type.Unsafe<T | null>({ ...extra, type: [type, 'null'] });
const oneOf = <const T extends string>(values: readonly T[], extra: Record<string, unknown> = {}) =>
  Type.Unsafe<T>({ ...extra, type: 'string', enum: [...values] });

export const PELTIER_DIRECTIONS = ['heat', 'cool', 'forward', 'reverse'] as const;
export type PeltierDirection = (typeof PELTIER_DIRECTIONS)[number];
export const PeltierDirectionSchema = oneOf(PELTIER_DIRECTIONS, {
  description: 'heat and reverse heat; cool and forward cool',
});

const Reading = nullable<number>('number', { description: 'null when unavailable' });

/** Fields every state body carries. */
const StateBase = {
  status: oneOf(['success', 'error'] as const),
  message: nullable<string>('string'),
  timestamp: nullable<string>('string', {
    format: 'date-time',
    description: 'When the cached sample was taken (sensors) or the last command applied (actuators)',
  }),
};

function state<P extends Record<string, TSchema>>(name: string, props: P) {
  return Type.Object({ ...StateBase, ...props }, { $id: `${name}State` });
}

export const Co2State = state('Co2', {
  co2_ppm: Reading,
  unit: Type.Literal('ppm'),
});
export const TemperatureState = state('Temperature', {
  temperature: nullable<number>('number', { description: 'The first sensor, °C' }),
  temperatures: Type.Array(Reading, { description: 'Every DS18B20 in configured order, °C' }),
  unit: Type.Literal('celsius'),
});
export const VoltagesState = (name: string) =>
  state(name, {
    voltages: Type.Array(Reading, { description: 'One per channel, in `channels` order' }),
    channels: Type.Array(Type.String()),
    unit: Type.Literal('volts'),
  });
export const OpticalDensityState = VoltagesState('OpticalDensity');
export const EyespyState = VoltagesState('Eyespy');

export const PumpState = Type.Object({
  pump_name: Type.String(),
  velocity: Type.Number({ description: 'mL/s; negative runs against the configured direction' }),
  direction: oneOf(['forward', 'reverse'] as const),
  active: Type.Boolean(),
  total_volume_ml: Type.Number({
    description: 'Liquid moved since the node started, counted only while the Tic was running as commanded',
  }),
  state: Type.Optional(
    oneOf(['idle', 'running', 'restarting', 'faulted'] as const, {
      description:
        'running as commanded (read back from its controller); restarting: its controller stopped by itself and the node is restarting it; faulted: restarts did not take, it is stopped until commanded again',
    }),
  ),
  fault: Type.Optional(
    nullable<string>('string', { description: 'Why the pump is restarting or faulted (its controller’s errors)' }),
  ),
  max_velocity: Type.Optional(
    Type.Number({ description: 'The calibrated fastest rate, mL/s; faster commands are refused with 400' }),
  ),
});
export const PumpsState = state('Pumps', {
  pump_name: Type.String({ description: 'Last commanded pump, or "all"' }),
  velocity: Type.Number(),
  active: Type.Boolean({ description: 'Any pump running' }),
  pumps: Type.Array(PumpState),
  overflow_guard: Type.Optional(
    Type.Object(
      {
        excess_inflow_ml: Type.Number({ description: 'Liquid added by the inflow beyond what the outflow removed' }),
        limit_ml: Type.Number({ description: 'overflow_guard.max_excess_inflow_ml of the hardware file' }),
        tripped: nullable<string>('string', { description: 'Why adding liquid is refused, while it is' }),
      },
      { description: 'Present when the hardware file sets overflow_guard.max_excess_inflow_ml' },
    ),
  ),
  run_inflow: Type.Optional(
    Type.Object(
      {
        experiment_id: nullable<string>('string', {
          description: 'The run counted: the last one that commanded a pump',
        }),
        inflow_ml: Type.Number({ description: 'Liquid the inflow pumps added on that run’s own commands' }),
        limit_ml: Type.Number({ description: 'overflow_guard.max_run_inflow_ml of the hardware file' }),
        tripped: nullable<string>('string', { description: 'Why that run may add no more liquid, while it runs' }),
      },
      { description: 'Present when the hardware file sets overflow_guard.max_run_inflow_ml' },
    ),
  ),
});
export const StirrerState = state('Stirrer', {
  duty_cycle: Type.Number({ minimum: 0, maximum: 100 }),
  active: Type.Boolean(),
});
export const PeltierState = state('Peltier', {
  duty_cycle: Type.Number({ minimum: 0, maximum: 100 }),
  direction: PeltierDirectionSchema,
  mode: oneOf(['heat', 'cool', 'off'] as const, {
    description: 'What the peltier does, whatever word commanded it',
  }),
  active: Type.Boolean(),
  cutoff: nullable<string>('string', {
    description:
      'Why heating is refused and a heating peltier was switched off, if it is: no valid temperature (missing, ' +
      'failing, stale or stuck thermometer), the over-temperature limit, or the critical stage above it',
  }),
  heat_limit: nullable<string>('string', {
    description: 'Why heating runs at half the commanded duty (within 3 °C of the over-temperature limit), if it does',
  }),
  safety_stage: oneOf(['normal', 'limited', 'cutoff', 'critical'] as const, {
    description:
      'normal; limited (heating duty halved); cutoff (heating off and refused); critical (limit + 5 °C: ' +
      'everything that heats off: peltier heating, LED, ring light)',
  }),
});
export const LedState = state('Led', {
  power: Type.Number({ minimum: 0, maximum: 100 }),
  active: Type.Boolean(),
});
export const RingLightState = state('RingLight', {
  red: Type.Integer({ minimum: 0, maximum: 255 }),
  green: Type.Integer({ minimum: 0, maximum: 255 }),
  blue: Type.Integer({ minimum: 0, maximum: 255 }),
  active: Type.Boolean(),
  pixel_count: Type.Integer(),
  pixels: Type.Array(Type.Array(Type.Integer({ minimum: 0, maximum: 255 }), { minItems: 3, maxItems: 3 }), {
    description: 'Every pixel as [red, green, blue], index order',
  }),
});

const Duty = Type.Number({ minimum: 0, maximum: 100, description: 'Percent, 0-100' });
const Colour = Type.Integer({ minimum: 0, maximum: 255 });

/** Control body per actuator, for `POST /api/v3/{component}/control`. */
export const PeltierControl = Type.Object({ duty_cycle: Duty, direction: PeltierDirectionSchema });
export const StirrerControl = Type.Object({ duty_cycle: Duty });
export const LedControl = Type.Object({ power: Duty });
export const RingLightControl = Type.Object({
  red: Colour,
  green: Colour,
  blue: Colour,
  pixel_index: Type.Optional(
    Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
      description: 'One pixel (0..pixel_count-1); omit for the whole ring',
    }),
  ),
});
export const PumpControl = Type.Object({
  pump_name: Type.String({ minLength: 1, description: 'A configured pump name, e.g. inflow' }),
  velocity: Type.Number({ description: 'mL/s; 0 stops; negative runs in reverse' }),
});
/** One gas relay (a solenoid valve on a GPIO line): open or closed, and what it has done. */
export const GasRelayState = Type.Object({
  relay: Type.String(),
  gas: Type.String({ description: 'What it lets in: co2, n2, air, o2' }),
  open: Type.Boolean(),
  closes_at: nullable<string>('string', {
    format: 'date-time',
    description: 'When the node closes it (the end of a dose, or max_dose_s after an open)',
  }),
  open_s_total: Type.Number({ description: 'Seconds it has been open since the node started' }),
  doses_total: Type.Integer({ description: 'Openings (doses and opens) since the node started' }),
  doses_last_hour: Type.Integer({ description: 'Openings in the last hour, against max_doses_per_hour' }),
  max_dose_s: Type.Number({ description: 'The longest one opening may last' }),
  max_doses_per_hour: Type.Integer({ description: 'Openings allowed in any hour' }),
});
export const GasRelaysState = state('GasRelays', {
  relay: Type.String({ description: 'Last commanded relay, or "all"' }),
  active: Type.Boolean({ description: 'Any relay open' }),
  relays: Type.Array(GasRelayState),
});
export const GasRelaysControl = Type.Object({
  relay: Type.String({ minLength: 1, description: 'A configured relay, e.g. co2_valve' }),
  open: Type.Optional(
    Type.Boolean({ description: 'true opens (closed again by the node after max_dose_s), false closes' }),
  ),
  dose_s: Type.Optional(
    Type.Number({
      exclusiveMinimum: 0,
      maximum: 3600,
      description: 'Open for this many seconds, then closed by the node; give open or dose_s',
    }),
  ),
});

/** The guide's nine components, in the order the API lists them, with their bodies. */
const GUIDE_COMPONENTS = {
  co2_sensor: { kind: 'sensor', label: 'CO2 sensor', state: Co2State },
  temp_sensor: { kind: 'sensor', label: 'Temperature sensor', state: TemperatureState },
  optical_density: { kind: 'sensor', label: 'Optical density sensor', state: OpticalDensityState },
  eyespy_adc: { kind: 'sensor', label: 'Eyespy ADC', state: EyespyState },
  pumps: { kind: 'actuator', label: 'Pumps', state: PumpsState, control: PumpControl },
  stirrer: { kind: 'actuator', label: 'Stirrer', state: StirrerState, control: StirrerControl },
  peltier_driver: { kind: 'actuator', label: 'Peltier', state: PeltierState, control: PeltierControl },
  led: { kind: 'actuator', label: 'LED', state: LedState, control: LedControl },
  ring_light: { kind: 'actuator', label: 'Ring light', state: RingLightState, control: RingLightControl },
} as const;

/** Components with hand-written bodies: the guide's nine, then the actuators added since. */
const WRITTEN_COMPONENTS = {
  ...GUIDE_COMPONENTS,
  gas_relays: { kind: 'actuator', label: 'Gas relays', state: GasRelaysState, control: GasRelaysControl },
} as const;
type WrittenName = keyof typeof WRITTEN_COMPONENTS;
type ReadingRow = (typeof READINGS)[ReadingKey];
/** Sensors known only by their row in readings.ts. */
type DerivedSensorName = Exclude<ReadingRow['component'], WrittenName>;

export type ComponentName = WrittenName | DerivedSensorName;
type ComponentKind<K extends ComponentName> = K extends WrittenName ? (typeof WRITTEN_COMPONENTS)[K]['kind'] : 'sensor';
export type SensorName = { [K in ComponentName]: ComponentKind<K> extends 'sensor' ? K : never }[ComponentName];
export type ActuatorName = Exclude<ComponentName, SensorName>;

const pascal = (name: string) =>
  name
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');

/** The state body of a sensor known by its readings.ts row: the reading under its field, and its unit. */
function derivedSensorState(component: string, spec: ReadingSpec) {
  const value: Record<string, TSchema> =
    spec.kind === 'list'
      ? {
          [spec.field]: Type.Array(Reading, { description: `One per channel, in \`channels\` order, ${spec.symbol}` }),
          channels: Type.Array(Type.String()),
        }
      : {
          [spec.field]: nullable<number>('number', {
            description: `${spec.label}, ${spec.symbol}; null when unavailable`,
          }),
        };
  return state(pascal(component), { ...value, unit: Type.Literal(spec.unit) });
}

const derived: Record<string, { kind: 'sensor'; label: string; state: TSchema }> = {};
for (const spec of Object.values(READINGS) as ReadingSpec[])
  if (!Object.hasOwn(WRITTEN_COMPONENTS, spec.component) && !derived[spec.component])
    derived[spec.component] = { kind: 'sensor', label: spec.label, state: derivedSensorState(spec.component, spec) };

/** Every component's contract: kind, the name its v2 messages use, state body and (actuators) control body. */
export const COMPONENTS: Readonly<
  Record<ComponentName, { kind: 'sensor' | 'actuator'; label: string; state: TSchema; control?: TSchema }>
> = { ...WRITTEN_COMPONENTS, ...derived } as never;

/** Every component name, in the order the API lists them. */
export const COMPONENT_NAMES = Object.keys(COMPONENTS) as ComponentName[];
/** The deployment guide's nine: always reported in /api/status; the others only when the hardware file enables them. */
export const GUIDE_COMPONENT_NAMES = Object.keys(GUIDE_COMPONENTS) as (keyof typeof GUIDE_COMPONENTS)[];
export const SENSOR_NAMES = COMPONENT_NAMES.filter((n) => COMPONENTS[n].kind === 'sensor') as SensorName[];
export const ACTUATOR_NAMES = COMPONENT_NAMES.filter((n) => COMPONENTS[n].kind === 'actuator') as ActuatorName[];

export const isComponentName = (v: string): v is ComponentName => Object.hasOwn(COMPONENTS, v);
export const isActuatorName = (v: string): v is ActuatorName => isComponentName(v) && COMPONENTS[v].kind === 'actuator';

export const ComponentNameSchema = Type.Union(
  COMPONENT_NAMES.map((n) => Type.Literal(n)),
  { description: COMPONENT_NAMES.join(' | ') },
);

/** State body per component, for `GET /api/v3/{component}/state`. */
export const COMPONENT_STATE_SCHEMAS = Object.fromEntries(COMPONENT_NAMES.map((n) => [n, COMPONENTS[n].state])) as {
  [K in ComponentName]: K extends WrittenName ? (typeof WRITTEN_COMPONENTS)[K]['state'] : TSchema;
};

type StateBaseStatic = { status: 'success' | 'error'; message: string | null; timestamp: string | null };
type RowOf<C> = Extract<ReadingRow, { component: C }>;
/** The body of a sensor known by its row: its field (a number, or a list with its channels) and its unit. */
type DerivedState<C> = StateBaseStatic & {
  [F in RowOf<C>['field']]: RowOf<C> extends { kind: 'list' } ? (number | null)[] : number | null;
} & { unit: RowOf<C>['unit']; channels?: string[] };

export type ComponentStates = {
  [K in ComponentName]: K extends WrittenName ? Static<(typeof WRITTEN_COMPONENTS)[K]['state']> : DerivedState<K>;
};

/** Control body per actuator, for `POST /api/v3/{component}/control`. */
export const COMPONENT_CONTROL_SCHEMAS = Object.fromEntries(
  ACTUATOR_NAMES.map((n) => [n, COMPONENTS[n].control as TSchema]),
) as { [K in ActuatorName]: (typeof WRITTEN_COMPONENTS)[K] extends { control: infer C } ? C : TSchema };
export type ComponentControls = {
  [K in ActuatorName]: (typeof WRITTEN_COMPONENTS)[K] extends { control: infer C extends TSchema } ? Static<C> : never;
};

/** What one component can do: kind, units, ranges and names, as the hardware is configured. */
export const Capability = Type.Object(
  {
    type: Type.Union([Type.Literal('sensor'), Type.Literal('actuator')]),
    driver: Type.String({ description: 'The driver id behind it, e.g. atlas-ezo-co2' }),
    unit: Type.Optional(Type.String()),
    sensor_type: Type.Optional(Type.String()),
    control_type: Type.Optional(Type.String()),
    parameters: Type.Optional(Type.Array(Type.String())),
    count: Type.Optional(Type.Integer()),
    channels: Type.Optional(Type.Array(Type.String())),
    sample_interval_s: Type.Optional(Type.Number()),
  },
  { additionalProperties: true },
);
export const Capabilities = Type.Record(Type.String(), Capability);

/** The batched state of every available component: one request for `measure_all_data`. */
/** Query of `GET /api/v3/history`: one sensor's cached samples, oldest first. */
export const HistoryQuery = Type.Object({
  component: Type.String({ description: 'A sensor: co2_sensor, temp_sensor, optical_density or eyespy_adc' }),
  since: Type.Optional(Type.String({ format: 'date-time', description: 'Only samples taken after this instant' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400, default: 3600, description: 'Newest N samples' })),
});
export const History = Type.Object({
  component: Type.String(),
  unit: Type.String(),
  channels: Type.Array(Type.String(), { description: 'What each entry of `values` is' }),
  samples: Type.Array(
    Type.Object({
      timestamp: Type.String({ format: 'date-time' }),
      values: Type.Array(Reading),
    }),
  ),
});

export const AllStates = Type.Object({
  timestamp: Type.String({ format: 'date-time' }),
  hardware_mode: oneOf(['real', 'simulation'] as const),
  components: Type.Partial(Type.Object(COMPONENT_STATE_SCHEMAS)),
  unavailable: Type.Record(Type.String(), Type.String(), {
    description: 'Component → why it is unavailable',
  }),
  readings: Type.Optional(
    Type.Record(
      Type.String(),
      Type.Union([Type.Number(), Type.String(), Type.Null(), Type.Array(Type.Union([Type.Number(), Type.Null()]))]),
      {
        description:
          'With ?readings=true: every reading this node reports (readings.ts: co2_ppm, temperature, od_voltages, …, o2_percent, pump_volumes_ml), null when its component is unavailable',
      },
    ),
  ),
});

/** Query of `GET /api/v3/state`. */
export const AllStatesQuery = Type.Object({
  readings: Type.Optional(
    Type.Boolean({ description: 'Add `readings`: every reading by its column name, as measure_all_data writes them' }),
  ),
});

// ---- v2 (legacy) bodies, original-system.md §2.4 ----
export const LegacyLedBody = Type.Object({ state: Type.Boolean() });
export const LegacyPeltierBody = Type.Object({ power: Duty, forward: Type.Boolean() });
export const LegacyRingLightBody = RingLightControl;
export const LegacyPumpBody = Type.Object({ name: Type.String({ minLength: 1 }), velocity: Type.Number() });
export const LegacyStirrerBody = Type.Object({ duty_cycle: Duty });
export const LegacySensorsAll = Type.Object({
  status: Type.Literal('success'),
  temperature: Type.Optional(Type.Union([Type.Number(), Type.Null()])),
  photodiodes: Type.Optional(Type.Array(Reading)),
  co2_ppm: Type.Optional(Reading),
});
export const LegacyPhotodiodes = Type.Object({
  status: Type.Literal('success'),
  readings: Type.Array(Reading),
});
export const LegacyTemperature = Type.Object({
  status: Type.Literal('success'),
  temperature: Type.Union([Type.Number(), Type.Null()]),
});
export const LegacyControlResult = Type.Object(
  {
    status: Type.Union([Type.Literal('success'), Type.Literal('error')]),
    message: Type.Union([Type.String(), Type.Null()]),
  },
  { additionalProperties: true },
);
