// Programs: a declarative document the node itself runs (docs/programs.md). Parallel tracks of timed steps over the
// actuators' control bodies, plus closed-loop automations (thermostat, turbidostat, chemostat). This file is the
// document, its validation against what a node has, and the shapes of the program routes; the node expands and
// executes it (apps/node/src/programs).
import { type Static, type TSchema, Type } from 'typebox';
import { Value } from 'typebox/value';
import { ACTUATOR_NAMES, type ActuatorName, COMPONENT_CONTROL_SCHEMAS, isActuatorName } from './components.js';
import { ApiError, type Problem } from './errors.js';

// ---- durations ----

const UNIT_S = { s: 1, m: 60, h: 3600, d: 86400 } as const;
const DURATION_RE = /^(?:\d+(?:\.\d+)?[smhd])+$/;

/**
 * Seconds of a program duration: a number of seconds, or text of numbers with the units s, m, h, d ("12h", "90m",
 * "1d12h", "1.5h"). Null when it is neither, or not above zero.
 */
export function parseDuration(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 ? value : null;
  if (typeof value !== 'string') return null;
  const text = value.trim().toLowerCase();
  if (!DURATION_RE.test(text)) return null;
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)([smhd])/g))
    total += Number(m[1]) * UNIT_S[m[2] as keyof typeof UNIT_S];
  return total > 0 ? total : null;
}

/** 129600 → "1d12h", 90 → "1m30s": the shortest text parseDuration reads back to the same seconds. */
export function formatDuration(seconds: number): string {
  let left = Math.round(seconds * 1000) / 1000;
  let out = '';
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    const n = Math.floor(left / size);
    if (n > 0) out += `${n}${unit}`;
    left -= n * size;
  }
  left = Math.round(left * 1000) / 1000;
  return left > 0 || out === '' ? `${out}${left}s` : out;
}

// ---- the document as written ----

const Duration = Type.Union([Type.Number({ exclusiveMinimum: 0 }), Type.String({ pattern: DURATION_RE.source })], {
  description: 'Seconds, or text with the units s, m, h, d: "30s", "12h", "1d12h"',
});

export const ProgramStepInput = Type.Object(
  {
    duration: Duration,
    set: Type.Record(Type.String(), Type.Unknown(), {
      description: "The component's control body, as POST /api/v3/{component}/control takes it",
    }),
  },
  { additionalProperties: false },
);

export const ProgramTrackInput = Type.Object(
  {
    component: Type.String({ description: `An actuator: ${ACTUATOR_NAMES.join(', ')}` }),
    steps: Type.Array(ProgramStepInput, { minItems: 1, maxItems: 1000 }),
    repeat: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1 }), Type.Literal('forever')], {
        description: 'How many times the steps run, one after the other (default 1), or "forever"',
      }),
    ),
  },
  { additionalProperties: false },
);

export const ThermostatInput = Type.Object(
  {
    kind: Type.Literal('thermostat'),
    setpoint_c: Type.Number({ minimum: 0, maximum: 80, description: 'The temperature to hold, °C' }),
    kp: Type.Optional(Type.Number({ minimum: 0, description: 'Proportional gain, % duty per °C (default 25)' })),
    ki: Type.Optional(Type.Number({ minimum: 0, description: 'Integral gain, % duty per °C·s (default 0.05)' })),
    kd: Type.Optional(Type.Number({ minimum: 0, description: 'Derivative gain, % duty per °C/s (default 0)' })),
    interval: Type.Optional(Duration),
    max_duty: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 100, description: 'Default 100' })),
    schedule: Type.Optional(
      Type.Array(
        Type.Object(
          { at: Duration, setpoint_c: Type.Number({ minimum: 0, maximum: 80 }) },
          { additionalProperties: false },
        ),
        { maxItems: 1000, description: 'Temperature steps: from `at` after the start, hold setpoint_c instead' },
      ),
    ),
  },
  { additionalProperties: false },
);
export const TurbidostatInput = Type.Object(
  {
    kind: Type.Literal('turbidostat'),
    od_target: Type.Number({ description: 'Dose when the OD reading is above this (volts, as the sensor reports)' }),
    od_reading: Type.Optional(
      Type.String({ minLength: 1, description: 'The optical_density channel read (default its first)' }),
    ),
    pump: Type.String({ minLength: 1, description: 'The pump that adds fresh medium, e.g. inflow' }),
    pump_out: Type.Optional(
      Type.String({ minLength: 1, description: 'A pump that takes the same volume out after each dose' }),
    ),
    dose_ml: Type.Number({ exclusiveMinimum: 0, maximum: 1000 }),
    velocity_ml_s: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, description: 'Pump rate during a dose (default the pump’s fastest)' }),
    ),
    interval: Type.Optional(Duration),
  },
  { additionalProperties: false },
);
export const ChemostatInput = Type.Object(
  {
    kind: Type.Literal('chemostat'),
    dilution_rate_per_h: Type.Number({ exclusiveMinimum: 0, maximum: 10, description: 'D, volumes per hour' }),
    volume_ml: Type.Number({ exclusiveMinimum: 0, description: 'The culture volume the rate applies to' }),
    pump_in: Type.String({ minLength: 1 }),
    pump_out: Type.String({ minLength: 1 }),
    velocity_ml_s: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, description: 'Pump rate during a dose (default the pump’s fastest)' }),
    ),
    interval: Type.Optional(Duration),
  },
  { additionalProperties: false },
);
export const AutomationInput = Type.Union([ThermostatInput, TurbidostatInput, ChemostatInput]);

export const ProgramLimitsInput = Type.Object(
  {
    duration: Type.Optional(Duration),
    max_inflow_ml: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    min_temperature_c: Type.Optional(Type.Number()),
    max_temperature_c: Type.Optional(Type.Number()),
  },
  { additionalProperties: false },
);

/** A program as a user writes it (JSON, or YAML the node parses). */
export const ProgramDocument = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    tracks: Type.Optional(Type.Array(ProgramTrackInput, { maxItems: 64 })),
    automations: Type.Optional(Type.Array(AutomationInput, { maxItems: 16 })),
    limits: Type.Optional(ProgramLimitsInput),
  },
  { additionalProperties: false, $id: 'ProgramDocument' },
);
export type ProgramDocument = Static<typeof ProgramDocument>;

// ---- the program as the node runs it (durations in seconds, defaults filled) ----

export interface ProgramStep {
  duration_s: number;
  set: Record<string, unknown>;
}
export interface ProgramTrack {
  component: ActuatorName;
  steps: ProgramStep[];
  repeat: number | 'forever';
  /** Program time at which the track's first step starts (a track changed while running starts over then). */
  start_s: number;
}
export interface Thermostat {
  kind: 'thermostat';
  setpoint_c: number;
  kp: number;
  ki: number;
  kd: number;
  interval_s: number;
  max_duty: number;
  /** Setpoint changes, in program time order. */
  schedule: { at_s: number; setpoint_c: number }[];
}

/** The setpoint a thermostat holds at program second `t`. */
export function setpointAt(a: Thermostat, t: number): number {
  let setpoint = a.setpoint_c;
  for (const step of a.schedule) if (step.at_s <= t) setpoint = step.setpoint_c;
  return setpoint;
}
export interface Turbidostat {
  kind: 'turbidostat';
  od_target: number;
  od_reading: string | null;
  pump: string;
  pump_out: string | null;
  dose_ml: number;
  velocity_ml_s: number | null;
  interval_s: number;
}
export interface Chemostat {
  kind: 'chemostat';
  dilution_rate_per_h: number;
  volume_ml: number;
  pump_in: string;
  pump_out: string;
  velocity_ml_s: number | null;
  interval_s: number;
}
export type Automation = Thermostat | Turbidostat | Chemostat;
export interface ProgramLimits {
  duration_s: number | null;
  max_inflow_ml: number | null;
  min_temperature_c: number | null;
  max_temperature_c: number | null;
}
export interface Program {
  name: string;
  tracks: ProgramTrack[];
  automations: Automation[];
  limits: ProgramLimits;
}

export const THERMOSTAT_DEFAULTS = { kp: 25, ki: 0.05, kd: 0, interval_s: 10, max_duty: 100 } as const;
export const TURBIDOSTAT_DEFAULT_INTERVAL_S = 60;
export const CHEMOSTAT_DEFAULT_INTERVAL_S = 300;

/** What the node has, as its capabilities and hardware file say; the document is checked against it. */
export interface ProgramContext {
  /** GET /api/v3/capabilities: the available components with their ranges and names. */
  capabilities: Record<string, Record<string, unknown>>;
  /** overflow_guard.inflow_pumps of the hardware file. */
  inflowPumps: readonly string[];
  /** overflow_guard.max_run_inflow_ml: the most one run may add; null when the node sets none. */
  maxRunInflowMl: number | null;
}

/** What a track or an automation drives: one actuator, or one pump or gas relay of those components. */
export function actuatorKey(component: string, set: Record<string, unknown>): string {
  if (component === 'pumps') return `pumps:${String(set.pump_name)}`;
  if (component === 'gas_relays') return `gas_relays:${String(set.relay)}`;
  return component;
}

/** The actuators an automation drives (keys as actuatorKey). */
export function automationActuators(a: Automation): string[] {
  switch (a.kind) {
    case 'thermostat':
      return ['peltier_driver'];
    case 'turbidostat':
      return [`pumps:${a.pump}`, ...(a.pump_out ? [`pumps:${a.pump_out}`] : [])];
    case 'chemostat':
      return [`pumps:${a.pump_in}`, `pumps:${a.pump_out}`];
  }
}

/** Seconds one run of a track's steps takes. */
export const cycleSeconds = (track: Pick<ProgramTrack, 'steps'>): number =>
  track.steps.reduce((sum, s) => sum + s.duration_s, 0);

/** Program time at which a track's last step ends; null for a track that repeats forever. */
export function trackEnd(track: ProgramTrack): number | null {
  return track.repeat === 'forever' ? null : track.start_s + cycleSeconds(track) * track.repeat;
}

/**
 * When the program ends, in program seconds: limits.duration when given; else when its last track ends, if it has
 * no automation and no track that repeats forever; else never (null: it runs until stopped).
 */
export function programEnd(program: Program): number | null {
  if (program.limits.duration_s !== null) return program.limits.duration_s;
  if (program.automations.length > 0 || program.tracks.length === 0) return null;
  let end = 0;
  for (const track of program.tracks) {
    const e = trackEnd(track);
    if (e === null) return null;
    end = Math.max(end, e);
  }
  return end;
}

const path = (parts: (string | number)[]): string =>
  parts.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');

function schemaProblems(schema: TSchema, value: unknown, at: (string | number)[]): Problem[] {
  const seen = new Set<string>();
  const out: Problem[] = [];
  for (const e of Value.Errors(schema, value)) {
    // A union reports each branch and then that none matched: the branches' own messages say more.
    if (e.keyword === 'anyOf' && out.some((p) => p.field?.startsWith(path([...at, ...pointer(e.instancePath)]))))
      continue;
    const field = path([...at, ...pointer(e.instancePath)]);
    const missing = (e.params as { requiredProperties?: string[] }).requiredProperties;
    const message = `${field || '(document)'} ${e.message}${missing ? ` (${missing.join(', ')})` : ''}`;
    if (seen.has(message)) continue;
    seen.add(message);
    out.push({ field, message });
  }
  return out;
}

/**
 * The document's own shape, without a node to check it against (what the hub checks before it queues a program; the
 * node checks the rest at the start). Every problem with its JSON path; empty when the shape is right.
 */
export function programShapeProblems(doc: unknown): Problem[] {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    return [{ field: '', message: 'a program is an object with name, tracks and automations' }];
  const problems = schemaProblems(ProgramDocument, doc, []);
  const { tracks, automations } = doc as Record<string, unknown>;
  if ((!Array.isArray(tracks) || tracks.length === 0) && (!Array.isArray(automations) || automations.length === 0))
    problems.push({
      field: 'tracks',
      message: 'tracks: the program has no track and no automation: give at least one',
    });
  return problems;
}

function pointer(instancePath: string): (string | number)[] {
  return instancePath
    .split('/')
    .slice(1)
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p.replaceAll('~1', '/').replaceAll('~0', '~')));
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x) => typeof x === 'string') : []);

/**
 * Checks a document against the contract and against what the node has, and answers the program as the node runs
 * it. Every problem is listed with its JSON path (`tracks[0].steps[1].set.duty_cycle`); any problem throws
 * VALIDATION_FAILED with all of them.
 */
export function validateProgram(doc: unknown, ctx: ProgramContext): Program {
  const problems: Problem[] = [];
  const add = (at: (string | number)[], message: string) => {
    const field = path(at);
    problems.push({ field, message: `${field}: ${message}` });
  };
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new ApiError('VALIDATION_FAILED', 'A program is a JSON (or YAML) object with name, tracks and automations', [
      { field: '', message: 'a program is an object' },
    ]);
  const raw = doc as Record<string, unknown>;
  // The document's own shape first; per track and automation so that one broken part hides nothing of the others.
  const { tracks: rawTracks, automations: rawAutomations, ...rest } = raw;
  problems.push(
    ...schemaProblems(Type.Omit(ProgramDocument, ['tracks', 'automations']), rest, []).filter(
      (p) => !/^tracks|^automations/.test(p.field ?? ''),
    ),
  );
  const tracksIn = Array.isArray(rawTracks) ? rawTracks : [];
  const automationsIn = Array.isArray(rawAutomations) ? rawAutomations : [];
  if (rawTracks !== undefined && !Array.isArray(rawTracks)) add(['tracks'], 'must be a list of tracks');
  if (rawAutomations !== undefined && !Array.isArray(rawAutomations))
    add(['automations'], 'must be a list of automations');
  if (tracksIn.length === 0 && automationsIn.length === 0)
    add(['tracks'], 'the program has no track and no automation: give at least one');

  const caps = ctx.capabilities;
  const pumpNames = strings(caps.pumps?.available_pumps);
  const maxVelocity = (caps.pumps?.max_velocity ?? {}) as Record<string, number>;
  const relays = strings(caps.gas_relays?.relays ?? caps.gas_relays?.channels);
  const checkPump = (at: (string | number)[], name: string): boolean => {
    if (!caps.pumps) {
      add(at, 'this node has no pumps');
      return false;
    }
    if (!pumpNames.includes(name)) {
      add(at, `no pump "${name}" on this node: use one of ${pumpNames.join(', ') || '(none configured)'}`);
      return false;
    }
    return true;
  };
  const checkVelocity = (at: (string | number)[], pump: string, velocity: number | null) => {
    const max = maxVelocity[pump];
    if (velocity !== null && max !== undefined && Math.abs(velocity) > max)
      add(at, `${velocity} mL/s is faster than pump ${pump}'s calibrated fastest rate, ${max} mL/s`);
  };

  const driven = new Map<string, string>();
  const claim = (key: string, at: (string | number)[], what: string) => {
    const other = driven.get(key);
    if (other) add(at, `${what} drives ${key.replace(':', ' ')}, which ${other} already drives: one driver each`);
    else driven.set(key, what);
  };

  const tracks: ProgramTrack[] = [];
  tracksIn.forEach((t, i) => {
    const at = ['tracks', i];
    const shape = schemaProblems(ProgramTrackInput, t, at).filter((p) => !/\]\.set\./.test(p.field ?? ''));
    problems.push(...shape);
    if (typeof t !== 'object' || t === null) return;
    const track = t as Record<string, unknown>;
    const component = String(track.component ?? '');
    if (!isActuatorName(component)) {
      if (typeof track.component === 'string')
        add([...at, 'component'], `"${component}" is not an actuator: use one of ${ACTUATOR_NAMES.join(', ')}`);
      return;
    }
    if (!caps[component]) {
      add([...at, 'component'], `${component} is unavailable on this node (GET /api/status says why)`);
      return;
    }
    const control = COMPONENT_CONTROL_SCHEMAS[component] as TSchema & { properties?: Record<string, unknown> };
    const known = Object.keys(control.properties ?? {});
    const steps: ProgramStep[] = [];
    const keys = new Set<string>();
    (Array.isArray(track.steps) ? track.steps : []).forEach((s, j) => {
      const stepAt = [...at, 'steps', j];
      if (typeof s !== 'object' || s === null) return;
      const step = s as Record<string, unknown>;
      const duration = parseDuration(step.duration);
      const set = step.set;
      if (typeof set !== 'object' || set === null || Array.isArray(set)) return;
      const body = set as Record<string, unknown>;
      problems.push(...schemaProblems(control, body, [...stepAt, 'set']));
      for (const key of Object.keys(body))
        if (!known.includes(key))
          add([...stepAt, 'set', key], `${component} takes no "${key}": its control body has ${known.join(', ')}`);
      if (component === 'pumps' && typeof body.pump_name === 'string') {
        if (checkPump([...stepAt, 'set', 'pump_name'], body.pump_name))
          checkVelocity([...stepAt, 'set', 'velocity'], body.pump_name, num(body.velocity));
      }
      if (
        component === 'gas_relays' &&
        typeof body.relay === 'string' &&
        relays.length > 0 &&
        !relays.includes(body.relay)
      )
        add([...stepAt, 'set', 'relay'], `no relay "${body.relay}" on this node: use one of ${relays.join(', ')}`);
      const pixels = num(caps.ring_light?.pixel_count);
      const pixel = num(body.pixel_index);
      if (component === 'ring_light' && pixels !== null && pixel !== null && pixel >= pixels)
        add([...stepAt, 'set', 'pixel_index'], `the ring has ${pixels} pixels: 0..${pixels - 1}`);
      keys.add(actuatorKey(component, body));
      if (duration !== null) steps.push({ duration_s: duration, set: body });
    });
    if (keys.size > 1)
      add(
        [...at, 'steps'],
        `a ${component} track drives one ${component === 'pumps' ? 'pump' : 'relay'}; these steps name ${[...keys].map((k) => k.split(':')[1]).join(', ')}: one track each`,
      );
    const key = [...keys][0];
    if (key) claim(key, at, `track ${i}`);
    const repeat = track.repeat === 'forever' ? 'forever' : (num(track.repeat) ?? 1);
    if (shape.length === 0) tracks.push({ component, steps, repeat, start_s: 0 });
  });

  const limitsIn = (typeof raw.limits === 'object' && raw.limits !== null ? raw.limits : {}) as Record<string, unknown>;
  const limits: ProgramLimits = {
    duration_s: parseDuration(limitsIn.duration),
    max_inflow_ml: num(limitsIn.max_inflow_ml),
    min_temperature_c: num(limitsIn.min_temperature_c),
    max_temperature_c: num(limitsIn.max_temperature_c),
  };

  const automations: Automation[] = [];
  const automationSchemas = { thermostat: ThermostatInput, turbidostat: TurbidostatInput, chemostat: ChemostatInput };
  automationsIn.forEach((a, i) => {
    const at = ['automations', i];
    const kind = (a as { kind?: unknown } | null)?.kind;
    if (typeof kind !== 'string' || !Object.hasOwn(automationSchemas, kind)) {
      add([...at, 'kind'], 'must be thermostat, turbidostat or chemostat');
      return;
    }
    const shape = schemaProblems(automationSchemas[kind as keyof typeof automationSchemas], a, at);
    problems.push(...shape);
    if (shape.length > 0) return;
    const interval = (fallback: number) => parseDuration((a as { interval?: unknown }).interval) ?? fallback;
    let automation: Automation;
    if (kind === 'thermostat') {
      const t = a as Static<typeof ThermostatInput>;
      automation = {
        kind,
        setpoint_c: t.setpoint_c,
        kp: t.kp ?? THERMOSTAT_DEFAULTS.kp,
        ki: t.ki ?? THERMOSTAT_DEFAULTS.ki,
        kd: t.kd ?? THERMOSTAT_DEFAULTS.kd,
        interval_s: interval(THERMOSTAT_DEFAULTS.interval_s),
        max_duty: t.max_duty ?? THERMOSTAT_DEFAULTS.max_duty,
        schedule: (t.schedule ?? [])
          .map((step) => ({ at_s: parseDuration(step.at) ?? 0, setpoint_c: step.setpoint_c }))
          .sort((x, y) => x.at_s - y.at_s),
      };
      if (!caps.peltier_driver) add(at, 'a thermostat drives peltier_driver, which is unavailable on this node');
      if (!caps.temp_sensor) add(at, 'a thermostat reads temp_sensor, which is unavailable on this node');
      const over = num(caps.peltier_driver?.over_temperature_c);
      const setpoints: [(string | number)[], number][] = [
        [[...at, 'setpoint_c'], t.setpoint_c],
        ...(t.schedule ?? []).map((step, j): [(string | number)[], number] => [
          [...at, 'schedule', j, 'setpoint_c'],
          step.setpoint_c,
        ]),
      ];
      for (const [where, setpoint] of setpoints) {
        if (over !== null && setpoint >= over)
          add(where, `${setpoint} °C is at or above this node's over-temperature limit, ${over} °C`);
        if (limits.min_temperature_c !== null && setpoint < limits.min_temperature_c)
          add(where, `below limits.min_temperature_c (${limits.min_temperature_c} °C)`);
        if (limits.max_temperature_c !== null && setpoint > limits.max_temperature_c)
          add(where, `above limits.max_temperature_c (${limits.max_temperature_c} °C)`);
      }
    } else if (kind === 'turbidostat') {
      const t = a as Static<typeof TurbidostatInput>;
      automation = {
        kind,
        od_target: t.od_target,
        od_reading: t.od_reading ?? null,
        pump: t.pump,
        pump_out: t.pump_out ?? null,
        dose_ml: t.dose_ml,
        velocity_ml_s: t.velocity_ml_s ?? null,
        interval_s: interval(TURBIDOSTAT_DEFAULT_INTERVAL_S),
      };
      if (!caps.optical_density) add(at, 'a turbidostat reads optical_density, which is unavailable on this node');
      const channels = strings(caps.optical_density?.channels);
      if (t.od_reading !== undefined && caps.optical_density && !channels.includes(t.od_reading))
        add(
          [...at, 'od_reading'],
          `optical_density has no channel "${t.od_reading}": use one of ${channels.join(', ')}`,
        );
      for (const [field, pump] of [
        ['pump', t.pump],
        ['pump_out', t.pump_out],
      ] as const)
        if (pump !== undefined && checkPump([...at, field], pump))
          checkVelocity([...at, 'velocity_ml_s'], pump, t.velocity_ml_s ?? null);
    } else {
      const t = a as Static<typeof ChemostatInput>;
      automation = {
        kind: 'chemostat',
        dilution_rate_per_h: t.dilution_rate_per_h,
        volume_ml: t.volume_ml,
        pump_in: t.pump_in,
        pump_out: t.pump_out,
        velocity_ml_s: t.velocity_ml_s ?? null,
        interval_s: interval(CHEMOSTAT_DEFAULT_INTERVAL_S),
      };
      for (const [field, pump] of [
        ['pump_in', t.pump_in],
        ['pump_out', t.pump_out],
      ] as const)
        if (checkPump([...at, field], pump)) checkVelocity([...at, 'velocity_ml_s'], pump, t.velocity_ml_s ?? null);
      const velocity = t.velocity_ml_s ?? maxVelocity[t.pump_in] ?? null;
      const dose = chemostatDoseMl(automation);
      if (velocity !== null && dose / velocity >= automation.interval_s)
        add(
          [...at, 'dilution_rate_per_h'],
          `each dose (${round3(dose)} mL every ${formatDuration(automation.interval_s)}) takes longer than the interval at ${velocity} mL/s: lower the rate or raise velocity_ml_s`,
        );
    }
    for (const key of automationActuators(automation)) claim(key, at, `automation ${i} (${kind})`);
    automations.push(automation);
  });

  const program: Program = { name: String(raw.name ?? ''), tracks, automations, limits };
  if (problems.length === 0) problems.push(...inflowProblems(program, ctx));
  if (problems.length > 0)
    throw new ApiError(
      'VALIDATION_FAILED',
      `The program has ${problems.length} problem${problems.length === 1 ? '' : 's'}: ${problems.map((p) => p.message).join('; ')}`,
      problems,
    );
  return program;
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;

/** mL a chemostat moves in and out per interval: D × V × interval. */
export const chemostatDoseMl = (c: Chemostat): number => (c.dilution_rate_per_h * c.volume_ml * c.interval_s) / 3600;

/**
 * The most liquid the program can add through the inflow pumps over its whole length, in mL (Infinity for one that
 * adds liquid and never ends): its pump steps as planned, a chemostat's rate, and a turbidostat dosing at every
 * interval (its worst case).
 */
export function plannedInflowMl(program: Program, inflowPumps: readonly string[]): number {
  const end = programEnd(program);
  const span = (from: number) => (end === null ? Number.POSITIVE_INFINITY : Math.max(0, end - from));
  let total = 0;
  for (const track of program.tracks) {
    if (track.component !== 'pumps') continue;
    const cycle = cycleSeconds(track);
    const perCycle = track.steps.reduce((sum, s) => {
      const v = num(s.set.velocity) ?? 0;
      return sum + (inflowPumps.includes(String(s.set.pump_name)) && v > 0 ? v * s.duration_s : 0);
    }, 0);
    if (perCycle === 0) continue;
    const own = track.repeat === 'forever' ? Number.POSITIVE_INFINITY : track.repeat;
    total += perCycle * Math.min(own, Math.ceil(span(track.start_s) / cycle));
  }
  for (const a of program.automations) {
    if (a.kind === 'chemostat' && inflowPumps.includes(a.pump_in))
      total += chemostatDoseMl(a) * Math.ceil(span(0) / a.interval_s);
    if (a.kind === 'turbidostat' && inflowPumps.includes(a.pump))
      total += a.dose_ml * Math.ceil(span(0) / a.interval_s);
  }
  return total;
}

function inflowProblems(program: Program, ctx: ProgramContext): Problem[] {
  const caps = [
    { limit: program.limits.max_inflow_ml, what: 'limits.max_inflow_ml' },
    { limit: ctx.maxRunInflowMl, what: "this node's overflow_guard.max_run_inflow_ml" },
  ].filter((c): c is { limit: number; what: string } => c.limit !== null);
  if (caps.length === 0) return [];
  const planned = plannedInflowMl(program, ctx.inflowPumps);
  const cap = caps.reduce((a, b) => (b.limit < a.limit ? b : a));
  if (planned <= cap.limit) return [];
  const message = Number.isFinite(planned)
    ? `the program can add up to ${round3(planned)} mL through the inflow pumps (${ctx.inflowPumps.join(', ')}), above ${cap.what} (${cap.limit} mL): shorten it, lower the rates or doses, or set limits.duration`
    : `the program adds liquid through the inflow pumps without end, but ${cap.what} is ${cap.limit} mL: set limits.duration so the total stays below it`;
  return [{ field: 'limits', message: `limits: ${message}` }];
}

// ---- the routes' shapes ----

export const ProgramChange = Type.Object(
  {
    component: ActuatorNameField(),
    at_s: Type.Number({ description: 'Seconds after the program started' }),
    at: Type.Optional(Type.String({ format: 'date-time', description: 'When, for a running program' })),
    set: Type.Record(Type.String(), Type.Unknown(), { description: 'The control body applied' }),
    track: Type.Integer({ description: 'Index of the track' }),
    step: Type.Integer({ description: 'Index of the step in its track' }),
    cycle: Type.Integer({ description: 'Which run of the steps (0 first)' }),
  },
  { $id: 'ProgramChange' },
);
function ActuatorNameField() {
  return Type.String({ description: 'The actuator' });
}

export const AutomationSpan = Type.Object({
  index: Type.Integer(),
  kind: Type.String(),
  from_s: Type.Number(),
  to_s: Type.Union([Type.Number(), Type.Null()], { description: 'null: until the program is stopped' }),
  drives: Type.Array(Type.String(), { description: 'The actuators it drives, e.g. pumps:inflow' }),
  params: Type.Record(Type.String(), Type.Unknown()),
  setpoints: Type.Optional(
    Type.Array(Type.Object({ at_s: Type.Number(), setpoint_c: Type.Number() }), {
      description: 'Thermostat: the setpoint held from each moment on, within the preview',
    }),
  ),
});

export const ProgramTimeline = Type.Object({
  name: Type.String(),
  from_s: Type.Number(),
  to_s: Type.Number(),
  end_s: Type.Union([Type.Number(), Type.Null()], { description: 'When the program ends; null: when stopped' }),
  changes: Type.Array(ProgramChange, {
    description: 'What each component is set to when: the setting in force at from_s first, then every change',
  }),
  automations: Type.Array(AutomationSpan),
  truncated: Type.Boolean({ description: 'More changes than one preview lists: ask for fewer hours' }),
  planned_inflow_ml: Type.Union([Type.Number(), Type.Null()], {
    description: 'The most it can add through the inflow pumps; null: without end',
  }),
});
export type ProgramTimeline = Static<typeof ProgramTimeline>;

export const ProgramPreviewQuery = Type.Object({
  hours: Type.Optional(
    Type.Number({ exclusiveMinimum: 0, maximum: 24 * 400, default: 240, description: 'How far to expand' }),
  ),
});

export const TrackStatus = Type.Object({
  track: Type.Integer(),
  component: Type.String(),
  step: Type.Union([Type.Integer(), Type.Null()], { description: 'The step in force; null once the track is done' }),
  cycle: Type.Union([Type.Integer(), Type.Null()]),
  set: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  next_change_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()], { description: 'Why the last step was not applied' }),
});

export const AutomationStatus = Type.Object({
  index: Type.Integer(),
  kind: Type.String(),
  params: Type.Record(Type.String(), Type.Unknown()),
  values: Type.Record(Type.String(), Type.Unknown(), {
    description:
      'What it sees and does: thermostat temperature_c, output (−100..100 % duty, + heats), integral; turbidostat od, doses, dosed_ml; chemostat doses, pumped_ml',
  }),
  error: Type.Union([Type.String(), Type.Null()]),
});

export const ProgramStatus = Type.Object({
  status: Type.Literal('success'),
  running: Type.Boolean(),
  name: Type.Union([Type.String(), Type.Null()]),
  experiment_id: Type.Union([Type.String(), Type.Null()], { description: 'The run that owns it, if one does' }),
  started_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  elapsed_s: Type.Union([Type.Number(), Type.Null()]),
  ends_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  next_change_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  tracks: Type.Array(TrackStatus),
  automations: Type.Array(AutomationStatus),
  inflow_ml: Type.Number({ description: 'Liquid its automations added through the inflow pumps' }),
  program: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], {
    description: 'The program as the node runs it (durations in seconds, defaults filled)',
  }),
});
export type ProgramStatus = Static<typeof ProgramStatus>;

/** Body of PATCH /api/v3/programs/current: change one automation's parameters, or replace one track's steps. */
export const ProgramPatch = Type.Object(
  {
    automation: Type.Optional(
      Type.Object(
        {
          index: Type.Integer({ minimum: 0, description: 'Which automation (0 first)' }),
          set: Type.Record(Type.String(), Type.Unknown(), {
            description: 'Its parameters to change, e.g. {"setpoint_c": 30}',
          }),
        },
        { additionalProperties: false },
      ),
    ),
    track: Type.Optional(
      Type.Object(
        {
          index: Type.Integer({ minimum: 0, description: 'Which track (0 first)' }),
          steps: Type.Array(ProgramStepInput, { minItems: 1, maxItems: 1000 }),
          repeat: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Literal('forever')])),
        },
        { additionalProperties: false, description: 'Its new steps, starting now' },
      ),
    ),
  },
  { additionalProperties: false },
);
export type ProgramPatch = Static<typeof ProgramPatch>;

/** The program as written back from the form the node runs (for a change validated like a new document). */
export function programAsDocument(program: Program): Record<string, unknown> {
  const limits: Record<string, unknown> = {};
  if (program.limits.duration_s !== null) limits.duration = program.limits.duration_s;
  if (program.limits.max_inflow_ml !== null) limits.max_inflow_ml = program.limits.max_inflow_ml;
  if (program.limits.min_temperature_c !== null) limits.min_temperature_c = program.limits.min_temperature_c;
  if (program.limits.max_temperature_c !== null) limits.max_temperature_c = program.limits.max_temperature_c;
  return {
    name: program.name,
    tracks: program.tracks.map((t) => ({
      component: t.component,
      steps: t.steps.map((s) => ({ duration: s.duration_s, set: s.set })),
      repeat: t.repeat,
    })),
    automations: program.automations.map((a) => {
      const { interval_s, ...rest } = a;
      const written: Record<string, unknown> = { ...rest, interval: interval_s };
      if (a.kind === 'thermostat')
        written.schedule = a.schedule.map((step) => ({ at: step.at_s, setpoint_c: step.setpoint_c }));
      return Object.fromEntries(Object.entries(written).filter(([, v]) => v !== null && v !== undefined));
    }),
    limits,
  };
}

/** The documents' example: ten days of 12 h light and 12 h dark, 30 °C then 37 °C from day 5, a turbidostat. */
export const EXAMPLE_PROGRAM = {
  name: 'ten-day light cycle',
  tracks: [
    {
      component: 'ring_light',
      steps: [
        { duration: '12h', set: { red: 255, green: 180, blue: 120 } },
        { duration: '12h', set: { red: 0, green: 0, blue: 0 } },
      ],
      repeat: 10,
    },
    { component: 'stirrer', steps: [{ duration: '10d', set: { duty_cycle: 40 } }] },
  ],
  automations: [
    { kind: 'thermostat', setpoint_c: 30, schedule: [{ at: '5d', setpoint_c: 37 }] },
    { kind: 'turbidostat', od_target: 2.5, pump: 'inflow', pump_out: 'outflow', dose_ml: 1, interval: '5m' },
  ],
  limits: { duration: '10d', max_temperature_c: 40 },
} as const;
