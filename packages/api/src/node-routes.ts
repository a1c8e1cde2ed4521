// Route contracts of the node (port 9000): hardware v3 + v2, and experiment runs.
import { type Static, Type } from 'typebox';
import { Ack, defineRoute, IdParams, type RouteContract } from './common.js';
import {
  ACTUATOR_NAMES,
  type ActuatorName,
  AllStates,
  AllStatesQuery,
  Capabilities,
  COMPONENT_CONTROL_SCHEMAS,
  COMPONENT_NAMES,
  COMPONENT_STATE_SCHEMAS,
  type ComponentName,
  History,
  HistoryQuery,
  LegacyControlResult,
  LegacyLedBody,
  LegacyPeltierBody,
  LegacyPhotodiodes,
  LegacyPumpBody,
  LegacyRingLightBody,
  LegacySensorsAll,
  LegacyStirrerBody,
  LegacyTemperature,
} from './components.js';
import { ExperimentLimits, MAX_TIME_SCALE } from './durations.js';
import { errorResponses } from './errors.js';
import { ExperimentId, RunStateSchema, Timestamp } from './experiments.js';
import { camelCase, EVENT_STREAM, EXAMPLE_SCRIPT, type MediaExample, withOperationIds, ZIP } from './openapi.js';
import {
  EXAMPLE_PROGRAM,
  ProgramDocument,
  ProgramPatch,
  ProgramPreviewQuery,
  ProgramStatus,
  ProgramTimeline,
} from './programs.js';

const HardwareMode = Type.Union([Type.Literal('real'), Type.Literal('simulation')]);

/** Readiness: a node is `starting` until every enabled sensor has its first sample or its error. */
const Readiness = {
  ready: Type.Boolean({ description: 'Every enabled sensor has its first sample or its error' }),
  waiting_for: Type.Array(Type.String(), {
    description: 'Sensors whose first sample is still being taken (empty once ready)',
  }),
};

/** The node's disk (DATA_DIR), checked before each start and during a run. */
export const NodeStorage = Type.Object({
  free_bytes: Type.Union([Type.Integer(), Type.Null()], { description: 'Free bytes on the DATA_DIR filesystem' }),
  min_free_bytes: Type.Integer({ description: 'BIOREACTOR_MIN_FREE_DISK: starts are refused below it' }),
  problem: Type.Union([Type.String(), Type.Null()], {
    description: 'e.g. "disk full": why runs are refused, stopped or their end not yet written; null when fine',
  }),
});

export const NodeHealth = Type.Object({
  status: Type.Union([Type.Literal('healthy'), Type.Literal('starting')], {
    description: '`starting` until every enabled sensor has its first sample or its error (about 2 s)',
  }),
  version: Type.String(),
  hardware_mode: HardwareMode,
  hardware_available: Type.Boolean(),
  initialized_components: Type.Record(Type.String(), Type.Boolean()),
  component_count: Type.Integer(),
  storage: Type.Optional(NodeStorage),
  ...Readiness,
});

export const RunnerInfo = Type.Object({
  kind: Type.Union([Type.Literal('docker'), Type.Literal('local'), Type.Literal('none')]),
  available: Type.Boolean(),
  detail: Type.String({ description: 'Image, engine version, or why experiments cannot run' }),
});

export const NodeStatus = Type.Object({
  status: Type.Union([Type.Literal('operational'), Type.Literal('starting')], {
    description: '`starting` until every enabled sensor has its first sample or its error',
  }),
  version: Type.String(),
  api_version: Type.Literal('v3_with_v2_compat'),
  hardware_mode: HardwareMode,
  hardware_available: Type.Boolean(),
  initialized_components: Type.Record(Type.String(), Type.Boolean()),
  unavailable_components: Type.Record(Type.String(), Type.String(), {
    description: 'Component → reason it is disabled, missing or failing',
  }),
  runner: RunnerInfo,
  active_experiment: Type.Union([ExperimentId, Type.Null()]),
  experiment_limits: Type.Optional(ExperimentLimits),
  storage: Type.Optional(NodeStorage),
  ...Readiness,
});

/**
 * `GET /api/v3/clock`: the hardware's clock. On a simulation twin it runs faster during a pre-flight; a script at
 * accelerated time (bioreactor_client.accelerated) follows it, so that its sleeps last what the culture lives.
 */
export const NodeClock = Type.Object({
  now_ms: Type.Number({ description: "Milliseconds since the epoch on the hardware's clock (the twin's time)" }),
  time_scale: Type.Number({
    description: 'How many times faster than the wall clock it is asked to run (1: real time)',
  }),
  achieved_time_scale: Type.Number({
    description:
      'How many times faster it ran over about the last wall second: below time_scale when a busy node lets its simulated world wait',
  }),
});
export type NodeClock = Static<typeof NodeClock>;

/**
 * Every reply of an experiment's private hardware API carries the hardware's clock as the reply leaves, as
 * `<now_ms>; time_scale=<n>; achieved=<n>` (the fields of NodeClock), for a script at accelerated time.
 */
export const CLOCK_HEADER = 'x-bioreactor-clock';

/** `GET /api/v3/stream`: where a re-created EventSource resumes (it cannot send the Last-Event-ID header). */
export const StreamQuery = Type.Object({
  last_event_id: Type.Optional(
    Type.String({ maxLength: 64, description: 'The id of the last event received, as in the Last-Event-ID header' }),
  ),
});

// ---- fault injection (simulation only) ----

export const SimulatedFaultRequest = Type.Object(
  {
    component: Type.String({
      minLength: 1,
      description:
        'A simulated component that takes faults (the node answers 400 with the list): temp_sensor, pumps, and the I2C sensors (co2_sensor, optical_density, eyespy_adc, …)',
    }),
    fault: Type.String({
      minLength: 1,
      description:
        'temp_sensor: crc_error (w1-therm says crc NO), stuck (the same scratchpad forever), bus_error (EIO), ' +
        'power_on_reset (85 °C, never converted), all_zero (nine 0x00 bytes, CRC passes), missing (ENOENT), ' +
        'stall (the read never completes); pumps: stall (the Tic stops and reports a command timeout, needs ' +
        'pump_name); the I2C sensors: bus_error (the chip stops acknowledging)',
    }),
    pump_name: Type.Optional(Type.String({ minLength: 1, description: 'pumps: the pump that stalls' })),
    sensor: Type.Optional(
      Type.String({ minLength: 1, description: 'temp_sensor: one thermometer by 1-Wire id; omitted, all of them' }),
    ),
  },
  { additionalProperties: false },
);
export type SimulatedFaultRequest = Static<typeof SimulatedFaultRequest>;

export const SimulatedFault = Type.Object({
  component: Type.String(),
  fault: Type.String(),
  pump_name: Type.Optional(Type.String()),
  sensor: Type.Optional(Type.String()),
  since: Type.String({ format: 'date-time', description: 'When it was injected (the node clock)' }),
});
export type SimulatedFault = Static<typeof SimulatedFault>;

export const SimulatedFaults = Type.Object({
  status: Type.Literal('success'),
  faults: Type.Array(SimulatedFault, { description: 'The faults in force' }),
  cleared: Type.Optional(Type.Integer({ description: 'DELETE: how many faults were cleared' })),
});

/** Examples of each actuator's command body. */
const CONTROL_EXAMPLES: Partial<Record<ActuatorName, Record<string, MediaExample>>> = {
  pumps: { feed: { summary: 'Feed at 0.5 mL/s', value: { pump_name: 'inflow', velocity: 0.5 } } },
  stirrer: { stir: { summary: 'Stir at 30 %', value: { duty_cycle: 30 } } },
  peltier_driver: { heat: { summary: 'Heat at 40 %', value: { duty_cycle: 40, direction: 'heat' } } },
  led: { on: { summary: 'LED at half power', value: { power: 50 } } },
  ring_light: {
    ring: { summary: 'The whole ring orange', value: { red: 255, green: 80, blue: 0 } },
    pixel: { summary: 'One pixel blue', value: { red: 0, green: 0, blue: 255, pixel_index: 3 } },
  },
  gas_relays: {
    dose: { summary: 'A 2 s dose of CO2', value: { relay: 'co2_valve', dose_s: 2 } },
    close: { summary: 'Close the N2 valve', value: { relay: 'n2_valve', open: false } },
  },
};

const ComponentParams = Type.Object({ component: Type.String({ description: 'A component name' }) });
const hw = ['hardware'];
const sim = ['simulation'];

export const nodeRoutes = withOperationIds({
  health: defineRoute({
    method: 'GET',
    url: '/health',
    schema: {
      tags: ['service'],
      summary: 'Liveness and hardware summary',
      docs: { ok: 'The node answers; `starting` until every enabled sensor has its first sample' },
      response: { 200: NodeHealth },
    },
  }),
  status: defineRoute({
    method: 'GET',
    url: '/api/status',
    schema: {
      tags: hw,
      summary: 'Node status, components and runner',
      docs: { ok: 'Components, why any is unavailable, the runner, the active run, the disk' },
      response: { 200: NodeStatus },
    },
  }),
  capabilities: defineRoute({
    method: 'GET',
    url: '/api/v3/capabilities',
    schema: {
      tags: hw,
      summary: 'Available components with units, ranges and names',
      docs: { ok: 'Component name → what it is and can do' },
      response: { 200: Capabilities },
    },
  }),
  clock: defineRoute({
    method: 'GET',
    url: '/api/v3/clock',
    schema: {
      tags: hw,
      summary: "The hardware's clock: the twin's time and rate during a pre-flight",
      docs: { ok: 'Its time, the rate asked for and the rate it reached' },
      response: { 200: NodeClock },
    },
  }),
  allStates: defineRoute({
    method: 'GET',
    url: '/api/v3/state',
    schema: {
      tags: hw,
      summary: 'Every available component in one response',
      docs: { ok: 'The latest state of every available component' },
      querystring: AllStatesQuery,
      response: { 200: AllStates },
    },
  }),
  history: defineRoute({
    method: 'GET',
    url: '/api/v3/history',
    schema: {
      tags: hw,
      summary: 'Recent samples of one sensor (24 h at 1 Hz kept), for backfilling charts',
      docs: { ok: 'The samples, oldest first' },
      querystring: HistoryQuery,
      response: { 200: History, ...errorResponses('VALIDATION_FAILED', 'COMPONENT_NOT_FOUND') },
    },
  }),
  componentState: defineRoute({
    method: 'GET',
    url: '/api/v3/:component/state',
    schema: {
      tags: hw,
      summary: 'Any other name: answers 404 with the valid component names',
      docs: { ok: 'Never: every name without a route of its own is unknown' },
      params: ComponentParams,
      response: { 200: Type.Object({}, { additionalProperties: true }), ...errorResponses('COMPONENT_NOT_FOUND') },
    },
  }),
  componentControl: defineRoute({
    method: 'POST',
    url: '/api/v3/:component/control',
    schema: {
      tags: hw,
      summary: 'Any other name: answers 404 with the actuator names',
      docs: { ok: 'Never: every name without a route of its own is unknown or a sensor' },
      params: ComponentParams,
      body: Type.Object({}, { additionalProperties: true }),
      response: {
        200: Type.Object({}, { additionalProperties: true }),
        ...errorResponses('VALIDATION_FAILED', 'COMPONENT_NOT_FOUND', 'SAFETY_INTERLOCK', 'DEVICE_FAULT'),
      },
    },
  }),
  stream: defineRoute({
    method: 'GET',
    url: '/api/v3/stream',
    schema: {
      tags: hw,
      summary: 'Server-Sent Events: samples, actuator changes, the interlocks in force, the run and its new CSV rows',
      description:
        "Events (JSON data; `at_ms` is the node's wall clock in ms when the sample was taken, the change applied " +
        'or the rows read): `component.sample` {component, state, at_ms}; `component.changed` {component, state, ' +
        'source, at_ms}; `safety` {interlocks}; `run.updated` {experiment: RunRecord} (a run started, changed or ended); ' +
        '`run.rows` {experiment_id, file, offset, next_offset, text, header, at_ms}: new whole lines of the running ' +
        "run's top-level *.csv files in output/ (at most 4, experiment_data.csv first), `offset` 0 meaning `text` " +
        "starts with the header, `header` the file's header line. A new follower first gets the current state: every " +
        'component (actuators as component.changed with source "current"), safety, and run.updated with the live run ' +
        "(else the newest run; none on a node that never ran one); rows start at each file's current end (earlier " +
        'rows: GET /api/experiments/{id}/series or …/data). Every event has an id `<epoch>-<seq>`; a follower that ' +
        'sends the last id it got (the Last-Event-ID header, or `?last_event_id=` from a re-created EventSource, ' +
        'which cannot set headers; the header wins) gets exactly the events it missed while they are among the last ' +
        "2,000 kept, else the current state again. An experiment's own hardware API carries the hardware events only.",
      docs: {
        ok: 'An event stream: the current state (or the missed events), then every change',
        produces: EVENT_STREAM,
      },
      querystring: StreamQuery,
      response: { 200: Type.String() },
    },
  }),
  simulationFaults: defineRoute({
    method: 'GET',
    url: '/api/v3/simulation/faults',
    schema: {
      tags: sim,
      summary: 'The injected faults in force (simulation only: 404 on real hardware)',
      docs: { ok: 'The faults in force' },
      response: { 200: SimulatedFaults, ...errorResponses('NOT_FOUND') },
    },
  }),
  simulationFaultInject: defineRoute({
    method: 'POST',
    url: '/api/v3/simulation/faults',
    schema: {
      tags: sim,
      summary: 'Inject a fault into an emulated chip, e.g. {"component":"temp_sensor","fault":"crc_error"}',
      description:
        'The drivers and the node meet the fault as they would on real hardware (see docs/hardware.md, ' +
        '"Failures and what the node does"). It stays until DELETE. Simulation only: 404 on real hardware.',
      docs: {
        ok: 'Injected; the faults now in force',
        examples: {
          crc: {
            summary: 'A thermometer answers with a bad CRC',
            value: { component: 'temp_sensor', fault: 'crc_error' },
          },
          stall: { summary: 'A pump stalls', value: { component: 'pumps', fault: 'stall', pump_name: 'inflow' } },
        },
      },
      body: SimulatedFaultRequest,
      response: { 200: SimulatedFaults, ...errorResponses('VALIDATION_FAILED', 'NOT_FOUND') },
    },
  }),
  simulationFaultsClear: defineRoute({
    method: 'DELETE',
    url: '/api/v3/simulation/faults',
    schema: {
      tags: sim,
      summary: 'Clear every injected fault (simulation only: 404 on real hardware)',
      docs: { ok: 'Cleared; `cleared` counts them' },
      response: { 200: SimulatedFaults, ...errorResponses('NOT_FOUND') },
    },
  }),
  legacyLed: defineRoute({
    method: 'POST',
    url: '/api/led',
    schema: {
      tags: ['v2'],
      summary: 'Switch the LED on or off (v2)',
      docs: { ok: 'Done: success and the message', examples: { example: { value: { state: true } } } },
      body: LegacyLedBody,
      response: { 200: LegacyControlResult, ...errorResponses('COMPONENT_UNAVAILABLE') },
    },
  }),
  legacyPeltier: defineRoute({
    method: 'POST',
    url: '/api/peltier',
    schema: {
      tags: ['v2'],
      summary: 'Drive the Peltier (v2): power 0-100, forward heats',
      docs: { ok: 'Done: success and the message', examples: { example: { value: { power: 40, forward: true } } } },
      body: LegacyPeltierBody,
      response: { 200: LegacyControlResult, ...errorResponses('COMPONENT_UNAVAILABLE') },
    },
  }),
  legacyRingLight: defineRoute({
    method: 'POST',
    url: '/api/ring-light',
    schema: {
      tags: ['v2'],
      summary: 'Set the ring light colour (v2)',
      docs: { ok: 'Done: success and the message', examples: { example: { value: { red: 255, green: 80, blue: 0 } } } },
      body: LegacyRingLightBody,
      response: { 200: LegacyControlResult, ...errorResponses('COMPONENT_UNAVAILABLE') },
    },
  }),
  legacyPump: defineRoute({
    method: 'POST',
    url: '/api/pump',
    schema: {
      tags: ['v2'],
      summary: 'Run a pump (v2): velocity in mL/s, 0 stops',
      docs: {
        ok: 'Done: success and the message',
        examples: { example: { value: { name: 'inflow', velocity: 0.5 } } },
      },
      body: LegacyPumpBody,
      response: { 200: LegacyControlResult, ...errorResponses('COMPONENT_UNAVAILABLE') },
    },
  }),
  legacyStirrer: defineRoute({
    method: 'POST',
    url: '/api/stirrer',
    schema: {
      tags: ['v2'],
      summary: 'Set the stirrer duty (v2)',
      docs: { ok: 'Done: success and the message', examples: { example: { value: { duty_cycle: 30 } } } },
      body: LegacyStirrerBody,
      response: { 200: LegacyControlResult, ...errorResponses('COMPONENT_UNAVAILABLE') },
    },
  }),
  legacySensorsAll: defineRoute({
    method: 'GET',
    url: '/api/sensors/all',
    schema: {
      tags: ['v2'],
      summary: 'Temperature, photodiodes and CO2 in one response (v2)',
      docs: { ok: 'The readings of the available sensors' },
      response: { 200: LegacySensorsAll },
    },
  }),
  legacyPhotodiodes: defineRoute({
    method: 'GET',
    url: '/api/sensors/photodiodes',
    schema: {
      tags: ['v2'],
      summary: 'The photodiode voltages (v2)',
      docs: { ok: 'The readings' },
      response: { 200: LegacyPhotodiodes, ...errorResponses('COMPONENT_UNAVAILABLE') },
    },
  }),
  legacyTemperature: defineRoute({
    method: 'GET',
    url: '/api/sensors/temperature',
    schema: {
      tags: ['v2'],
      summary: 'The temperature (v2)',
      docs: { ok: 'The temperature in °C' },
      response: { 200: LegacyTemperature, ...errorResponses('COMPONENT_UNAVAILABLE') },
    },
  }),
} as const);

/** `GET /api/v3/{component}/state`, one route per component with its own state schema. */
export const componentStateRoutes = withOperationIds(
  Object.fromEntries(
    COMPONENT_NAMES.map((name) => [
      name,
      defineRoute({
        method: 'GET',
        url: `/api/v3/${name}/state`,
        schema: {
          tags: hw,
          summary: `Latest state of ${name}${(ACTUATOR_NAMES as readonly string[]).includes(name) ? ' (the last command)' : ' (its cached sample)'}`,
          docs: { ok: `The state of ${name}` },
          response: { 200: COMPONENT_STATE_SCHEMAS[name], ...errorResponses('COMPONENT_NOT_FOUND') },
        },
      }),
    ]),
  ) as unknown as { [K in ComponentName]: RouteContract },
  (name) => camelCase(name, 'state'),
);

/** `POST /api/v3/{actuator}/control`, one route per actuator; answers the new state. */
export const componentControlRoutes = withOperationIds(
  Object.fromEntries(
    ACTUATOR_NAMES.map((name) => [
      name,
      defineRoute({
        method: 'POST',
        url: `/api/v3/${name}/control`,
        schema: {
          tags: hw,
          summary: `Command ${name}`,
          docs: { ok: `Done: the new state of ${name}`, examples: CONTROL_EXAMPLES[name] },
          body: COMPONENT_CONTROL_SCHEMAS[name],
          response: {
            200: COMPONENT_STATE_SCHEMAS[name],
            ...errorResponses('VALIDATION_FAILED', 'COMPONENT_NOT_FOUND', 'SAFETY_INTERLOCK', 'DEVICE_FAULT'),
          },
        },
      }),
    ]),
  ) as unknown as { [K in ActuatorName]: RouteContract },
  (name) => camelCase(name, 'control'),
);

// ---- experiment runs on the node (original-system.md §2.7, fixed) ----

export const NodeStartRequest = Type.Object({
  script_content: Type.Optional(
    Type.String({ minLength: 1, description: 'The Python script to run (user_script.py); or give program' }),
  ),
  program: Type.Optional(
    Type.Unknown({
      description:
        'Instead of a script: a program document (docs/programs.md; JSON, or YAML text) the node runs as the run itself, with no container: it lasts the program’s limits.duration, a stop cancels the program, and the node writes output/program.json and a row of the guide’s CSV columns to output/experiment_data.csv every sample_interval_s',
    }),
  ),
  sample_interval_s: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 3600,
      description: 'A program run: seconds between the rows the node writes to experiment_data.csv (default 60)',
    }),
  ),
  experiment_id: Type.Optional(ExperimentId),
  max_duration_s: Type.Optional(Type.Integer({ minimum: 1, description: 'Stop the run after this many seconds' })),
  time_scale: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: MAX_TIME_SCALE,
      description:
        'Simulation only: a pre-flight on the twin, its simulated time (the vessel, the script’s clock and sleeps, max_duration_s) this many times faster than the wall clock; its report is at …/preflight',
    }),
  ),
});
export type NodeStartRequest = Static<typeof NodeStartRequest>;

export const NodeStartResponse = Type.Object({
  status: Type.Literal('success'),
  experiment_id: ExperimentId,
  message: Type.String(),
});

export const RunRecord = Type.Object({
  experiment_id: ExperimentId,
  status: RunStateSchema,
  start_time: Timestamp,
  end_time: Timestamp,
  exit_code: Type.Union([Type.Integer(), Type.Null()]),
  error_message: Type.Union([Type.String(), Type.Null()]),
  oom_killed: Type.Boolean(),
  max_duration_s: Type.Integer(),
  runner: Type.String({ description: 'docker or local' }),
  image: Type.Union([Type.String(), Type.Null()]),
  image_digest: Type.Union([Type.String(), Type.Null()]),
  script_sha256: Type.String({ description: 'SHA-256 of user_script.py (hex)' }),
});
export type RunRecord = Static<typeof RunRecord>;

/** What a run on the twin at accelerated time would have done to a culture (docs/preflight.md). */
export const PreflightReport = Type.Object({
  experiment_id: ExperimentId,
  passed: Type.Boolean({ description: 'Completed (exit 0) with no safety limit hit and no command refused' }),
  reasons: Type.Array(Type.String(), { description: 'Why it did not pass, each in words; empty when it passed' }),
  time_scale: Type.Integer({ description: 'The speed-up asked for' }),
  achieved_time_scale: Type.Number({
    description: 'Simulated time over wall time: below time_scale when the node could not keep up',
  }),
  simulated_start: Type.String({ description: 'The twin’s clock at the start (ISO 8601, UTC)' }),
  simulated_end: Type.String(),
  simulated_duration_s: Type.Number(),
  wall_duration_s: Type.Number(),
  temperature: Type.Union(
    [
      Type.Object({
        min_c: Type.Number(),
        max_c: Type.Number(),
        mean_c: Type.Number({ description: 'Time-weighted over the valid samples' }),
        samples: Type.Integer(),
        invalid_samples: Type.Integer({ description: 'Samples without a valid temperature (a failing thermometer)' }),
      }),
      Type.Null(),
    ],
    { description: 'The vessel’s temperature (temp_sensor, the first thermometer) over the run; null without samples' },
  ),
  pumped_ml: Type.Object({
    per_pump: Type.Record(Type.String(), Type.Number(), { description: 'Pump → mL it moved during the run' }),
    total: Type.Number(),
    source: Type.Union([Type.Literal('counters'), Type.Literal('actuator_log')], {
      description: 'counters: the node’s own volume accounting; actuator_log: velocities integrated over time',
    }),
  }),
  safety: Type.Object({
    interlocks: Type.Array(Type.String(), { description: 'Every safety interlock that was in force during the run' }),
    cut_offs: Type.Array(
      Type.Object({
        time: Type.String(),
        component: Type.String(),
        values: Type.Record(Type.String(), Type.Unknown()),
      }),
      { description: 'Actuator commands the node’s safety made during the run (the end-of-run safe state aside)' },
    ),
    refused: Type.Array(
      Type.Object({
        time: Type.String({ description: 'The twin’s clock' }),
        method: Type.String(),
        path: Type.String(),
        code: Type.String(),
        message: Type.String(),
      }),
      { description: 'Hardware requests of the script the node refused (at most 100 kept)' },
    ),
    refused_count: Type.Integer(),
  }),
  exit: Type.Object({
    status: RunStateSchema,
    exit_code: Type.Union([Type.Integer(), Type.Null()]),
    error_message: Type.Union([Type.String(), Type.Null()]),
    exception: Type.Union([Type.String(), Type.Null()], {
      description: 'The Python exception, when it failed with one',
    }),
    frame: Type.Union([Type.String(), Type.Null()], { description: 'Where it was raised (the last frame)' }),
  }),
  generated_time: Type.String(),
});
export type PreflightReport = Static<typeof PreflightReport>;

export const RunSummary = Type.Pick(RunRecord, ['experiment_id', 'status', 'start_time', 'end_time']);

const runs = ['experiments'];
export const TailQuery = Type.Object({
  tail: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, default: 100 })),
  follow: Type.Optional(Type.Boolean({ description: 'Stream new lines as Server-Sent Events' })),
});
export const NodeSeriesQuery = Type.Object({
  file: Type.Optional(
    Type.String({ description: 'CSV file under output/ (the same rule as …/data), default experiment_data.csv' }),
  ),
  points: Type.Optional(
    Type.Integer({
      minimum: 10,
      maximum: 5000,
      default: 1000,
      description: 'Most points returned (two per bucket: its minimum and its maximum)',
    }),
  ),
});

export const NodeRunSeries = Type.Object({
  experiment_id: ExperimentId,
  file: Type.String(),
  total_rows: Type.Integer({ minimum: 0, description: 'Data rows of the file (the header excluded)' }),
  bucket_rows: Type.Integer({ minimum: 1, description: 'Rows each bucket covers (the last one may cover fewer)' }),
  columns: Type.Array(Type.String(), {
    description: "Columns with numbers, in the file's order, without the time column (`timestamp`); at most 64",
  }),
  points: Type.Array(Type.Array(Type.Union([Type.Number(), Type.Null()])), {
    description:
      'Two points per bucket, in time order: `[t_first_ms, ...minimum of each column]` then `[t_last_ms, ...maximum ' +
      'of each column]`; t is ms since the epoch (an ISO 8601 time without an offset is UTC), null for a bucket ' +
      'without a readable time or a column without a number in it',
  }),
});
export type NodeRunSeries = Static<typeof NodeRunSeries>;

export const DataQuery = Type.Object({
  file: Type.Optional(Type.String({ description: 'CSV file under output/, default experiment_data.csv' })),
  offset: Type.Optional(Type.Integer({ minimum: 0, default: 0, description: 'Byte offset to read from' })),
  follow: Type.Optional(Type.Boolean({ description: 'Stream appended rows as Server-Sent Events' })),
});

export const nodeExperimentRoutes = withOperationIds(
  {
    start: defineRoute({
      method: 'POST',
      url: '/api/experiments/start',
      schema: {
        tags: runs,
        summary: 'Start an experiment (one at a time): a script in a container, or a program the node runs itself',
        docs: {
          ok: 'Started',
          examples: {
            script: {
              summary: 'A script with its id and a time limit',
              value: { script_content: EXAMPLE_SCRIPT, experiment_id: 'od-run-1', max_duration_s: 600 },
            },
            program: {
              summary: 'A program run: the node runs the program itself, no container',
              value: {
                experiment_id: 'light-cycle-1',
                sample_interval_s: 60,
                program: {
                  name: 'light cycle',
                  tracks: [
                    {
                      component: 'led',
                      steps: [
                        { duration: '12h', set: { power: 80 } },
                        { duration: '12h', set: { power: 0 } },
                      ],
                      repeat: 2,
                    },
                  ],
                  limits: { duration: '2d' },
                },
              },
            },
          },
        },
        body: NodeStartRequest,
        response: {
          200: NodeStartResponse,
          ...errorResponses(
            'VALIDATION_FAILED',
            'NODE_BUSY',
            'INVALID_STATE',
            'PAYLOAD_TOO_LARGE',
            'RUNNER_UNAVAILABLE',
            'INSUFFICIENT_STORAGE',
          ),
        },
      },
    }),
    events: defineRoute({
      method: 'GET',
      url: '/api/experiments/events',
      schema: {
        tags: runs,
        summary: 'Server-Sent Events: `run.updated` {experiment} at every state change, starting with the live run',
        docs: { ok: 'An event stream of run.updated', produces: EVENT_STREAM },
        response: { 200: Type.String() },
      },
    }),
    list: defineRoute({
      method: 'GET',
      url: '/api/experiments',
      schema: {
        tags: runs,
        summary: 'Every run this node keeps',
        docs: { ok: 'The runs' },
        response: { 200: Type.Object({ status: Type.Literal('success'), experiments: Type.Array(RunSummary) }) },
      },
    }),
    status: defineRoute({
      method: 'GET',
      url: '/api/experiments/:id/status',
      schema: {
        tags: runs,
        summary: 'One run: its state, times, exit and the image it ran in',
        docs: { ok: 'The run record' },
        params: IdParams,
        response: {
          200: Type.Object({ status: Type.Literal('success'), experiment: RunRecord }),
          ...errorResponses('EXPERIMENT_NOT_FOUND'),
        },
      },
    }),
    logs: defineRoute({
      method: 'GET',
      url: '/api/experiments/:id/logs',
      schema: {
        tags: runs,
        summary: 'Combined stdout/stderr (the last `tail` lines), or follow them over SSE',
        docs: {
          ok: 'The last `tail` lines, or with ?follow=true an event stream',
          produces: {
            'application/json': { schema: Type.Object({ status: Type.Literal('success'), logs: Type.String() }) },
            ...EVENT_STREAM,
          },
        },
        params: IdParams,
        querystring: TailQuery,
        response: {
          200: Type.Object({ status: Type.Literal('success'), logs: Type.String() }),
          ...errorResponses('EXPERIMENT_NOT_FOUND'),
        },
      },
    }),
    results: defineRoute({
      method: 'GET',
      url: '/api/experiments/:id/results',
      schema: {
        tags: runs,
        summary: 'The files the run wrote and its exit code',
        docs: { ok: 'The output files' },
        params: IdParams,
        response: {
          200: Type.Object({
            status: Type.Literal('success'),
            results: Type.Object({
              experiment_id: ExperimentId,
              output_files: Type.Array(Type.String()),
              exit_code: Type.Union([Type.Integer(), Type.Null()]),
            }),
          }),
          ...errorResponses('EXPERIMENT_NOT_FOUND'),
        },
      },
    }),
    data: defineRoute({
      method: 'GET',
      url: '/api/experiments/:id/data',
      schema: {
        tags: runs,
        summary: 'CSV bytes from an offset (text/csv, X-Next-Offset header), or follow new rows over SSE',
        docs: {
          ok: 'CSV from `offset` (X-Next-Offset says where to go on), or with ?follow=true an event stream',
          produces: { 'text/csv': { schema: Type.String() }, ...EVENT_STREAM },
          responseHeaders: {
            'x-next-offset': { description: 'The offset to ask for next', schema: Type.Integer({ minimum: 0 }) },
          },
        },
        params: IdParams,
        querystring: DataQuery,
        response: {
          200: Type.String(),
          ...errorResponses('EXPERIMENT_NOT_FOUND', 'FILE_NOT_FOUND', 'VALIDATION_FAILED'),
        },
      },
    }),
    series: defineRoute({
      method: 'GET',
      url: '/api/experiments/:id/series',
      schema: {
        tags: runs,
        summary: 'A CSV file of the run as a chart: the whole run downsampled to a minimum and a maximum per bucket',
        description:
          'Bounded work and memory for runs of millions of rows: the node keeps a summary of at most 4,096 buckets ' +
          '(neighbours merged pairwise as it fills), kept up to date while the run writes and computed by one pass ' +
          'over a finished file (then cached). Fewer points merge neighbouring buckets further. A single spike ' +
          'stays visible as the maximum (or minimum) of its bucket. Numeric columns only: a cell is a number when ' +
          'it reads as a finite one (lists and words are not).',
        docs: { ok: 'The downsampled series' },
        params: IdParams,
        querystring: NodeSeriesQuery,
        response: {
          200: NodeRunSeries,
          ...errorResponses('EXPERIMENT_NOT_FOUND', 'FILE_NOT_FOUND', 'VALIDATION_FAILED'),
        },
      },
    }),
    download: defineRoute({
      method: 'GET',
      url: '/api/experiments/:id/download',
      schema: {
        tags: runs,
        summary: 'Streamed zip: output/**, user_script.py and manifest.json',
        docs: { ok: 'The zip', produces: ZIP },
        params: IdParams,
        response: {
          200: Type.Unsafe<unknown>({ type: 'string', format: 'binary', description: 'application/zip' }),
          ...errorResponses('EXPERIMENT_NOT_FOUND'),
        },
      },
    }),
    preflight: defineRoute({
      method: 'GET',
      url: '/api/experiments/:id/preflight',
      schema: {
        tags: runs,
        summary: 'The pre-flight report of a run on the twin at accelerated time: what the culture would have seen',
        docs: { ok: 'The report (also preflight.json in the download)' },
        params: IdParams,
        response: {
          200: Type.Object({ status: Type.Literal('success'), preflight: PreflightReport }),
          ...errorResponses('EXPERIMENT_NOT_FOUND', 'FILE_NOT_FOUND', 'INVALID_STATE'),
        },
      },
    }),
    stop: defineRoute({
      method: 'POST',
      url: '/api/experiments/:id/stop',
      schema: {
        tags: runs,
        summary: 'Stop a run: SIGTERM, then SIGKILL after the grace period',
        docs: { ok: 'Stopping' },
        params: IdParams,
        response: { 200: Ack, ...errorResponses('EXPERIMENT_NOT_FOUND') },
      },
    }),
    remove: defineRoute({
      method: 'DELETE',
      url: '/api/experiments/:id',
      schema: {
        tags: runs,
        summary: 'Delete a finished run and its files',
        docs: { ok: 'Deleted' },
        params: IdParams,
        response: { 200: Ack, ...errorResponses('EXPERIMENT_NOT_FOUND', 'INVALID_STATE') },
      },
    }),
  } as const,
  (key) => camelCase('experiment', key),
);

/** Name of the header carrying the next byte offset on `GET …/data`. */
export const NEXT_OFFSET_HEADER = 'x-next-offset';

// ---- programs: tracks and automations the node runs itself (docs/programs.md) ----

const programTags = ['programs'];
/** A program document as a request body: JSON, or YAML text the node parses. */
const PROGRAM_BODY = {
  'application/json': { schema: ProgramDocument, examples: { cycle: { value: EXAMPLE_PROGRAM } } },
  'application/yaml': { schema: Type.String({ description: 'The same document in YAML' }) },
} as const;
const ProgramResult = Type.Object({ status: Type.Literal('success'), timeline: ProgramTimeline });

export const nodeProgramRoutes = withOperationIds(
  {
    preview: defineRoute({
      method: 'POST',
      url: '/api/v3/programs/preview',
      schema: {
        tags: programTags,
        summary: 'Validate a program and expand its timeline: what each component is set to when',
        docs: { ok: 'The timeline of the first `hours`', body: PROGRAM_BODY },
        querystring: ProgramPreviewQuery,
        response: { 200: ProgramResult, ...errorResponses('VALIDATION_FAILED') },
      },
    }),
    start: defineRoute({
      method: 'POST',
      url: '/api/v3/programs',
      schema: {
        tags: programTags,
        summary: 'Start a program (one at a time): the node applies its steps and runs its automations',
        docs: { ok: 'Started: its state', body: PROGRAM_BODY },
        response: { 200: ProgramStatus, ...errorResponses('VALIDATION_FAILED', 'INVALID_STATE') },
      },
    }),
    current: defineRoute({
      method: 'GET',
      url: '/api/v3/programs/current',
      schema: {
        tags: programTags,
        summary: 'The running program: the step of each track, the next change, the automations’ values',
        docs: { ok: 'Its state; running false when none runs' },
        response: { 200: ProgramStatus },
      },
    }),
    change: defineRoute({
      method: 'PATCH',
      url: '/api/v3/programs/current',
      schema: {
        tags: programTags,
        summary: 'Change the running program: an automation’s parameters (a setpoint) or a track’s steps',
        docs: {
          ok: 'Changed: its state',
          examples: {
            setpoint: { summary: 'Hold 30 °C', value: { automation: { index: 0, set: { setpoint_c: 30 } } } },
          },
        },
        body: ProgramPatch,
        response: { 200: ProgramStatus, ...errorResponses('VALIDATION_FAILED', 'INVALID_STATE') },
      },
    }),
    stop: defineRoute({
      method: 'DELETE',
      url: '/api/v3/programs/current',
      schema: {
        tags: programTags,
        summary: 'Stop the running program: every actuator it drove goes back to its safe state',
        docs: { ok: 'Stopped: its last state' },
        response: { 200: ProgramStatus, ...errorResponses('INVALID_STATE') },
      },
    }),
  } as const,
  (key) => camelCase('program', key),
);
