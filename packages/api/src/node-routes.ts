// Route contracts of the node (port 9000): hardware v3 + v2, and experiment runs.
import { type Static, Type } from 'typebox';
import { Ack, defineRoute, IdParams, type RouteContract } from './common.js';
import {
  ACTUATOR_NAMES,
  type ActuatorName,
  AllStates,
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
import { ExperimentLimits } from './durations.js';
import { errorResponses } from './errors.js';
import { ExperimentId, RunStateSchema, Timestamp } from './experiments.js';

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

// ---- fault injection (simulation only) ----

/** Faults the simulation can put on each component (`POST /api/v3/simulation/faults`). */
export const SIMULATED_FAULTS = {
  temp_sensor: ['crc_error', 'stuck', 'bus_error', 'power_on_reset', 'all_zero', 'missing', 'stall'],
  pumps: ['stall'],
  co2_sensor: ['bus_error'],
  optical_density: ['bus_error'],
  eyespy_adc: ['bus_error'],
} as const satisfies Partial<Record<ComponentName, readonly string[]>>;
export type FaultComponent = keyof typeof SIMULATED_FAULTS;
export const FAULT_COMPONENTS = Object.keys(SIMULATED_FAULTS) as FaultComponent[];
const FAULT_NAMES = [...new Set(Object.values(SIMULATED_FAULTS).flat())];

export const SimulatedFaultRequest = Type.Object(
  {
    component: Type.Union(
      FAULT_COMPONENTS.map((c) => Type.Literal(c)),
      { description: FAULT_COMPONENTS.join(' | ') },
    ),
    fault: Type.Union(
      FAULT_NAMES.map((f) => Type.Literal(f)),
      {
        description:
          'temp_sensor: crc_error (w1-therm says crc NO), stuck (the same scratchpad forever), bus_error (EIO), ' +
          'power_on_reset (85 °C, never converted), all_zero (nine 0x00 bytes, CRC passes), missing (ENOENT), ' +
          'stall (the read never completes); pumps: stall (the Tic stops and reports a command timeout, needs ' +
          'pump_name); co2_sensor, optical_density, eyespy_adc: bus_error (the chip stops acknowledging)',
      },
    ),
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

const ComponentParams = Type.Object({ component: Type.String({ description: 'A component name' }) });
const hw = ['hardware'];
const sim = ['simulation'];

export const nodeRoutes = {
  health: defineRoute({
    method: 'GET',
    url: '/health',
    schema: { tags: ['service'], summary: 'Liveness and hardware summary', response: { 200: NodeHealth } },
  }),
  status: defineRoute({
    method: 'GET',
    url: '/api/status',
    schema: { tags: hw, summary: 'Node status, components and runner', response: { 200: NodeStatus } },
  }),
  capabilities: defineRoute({
    method: 'GET',
    url: '/api/v3/capabilities',
    schema: { tags: hw, summary: 'Available components with units, ranges and names', response: { 200: Capabilities } },
  }),
  allStates: defineRoute({
    method: 'GET',
    url: '/api/v3/state',
    schema: { tags: hw, summary: 'Every available component in one response', response: { 200: AllStates } },
  }),
  history: defineRoute({
    method: 'GET',
    url: '/api/v3/history',
    schema: {
      tags: hw,
      summary: 'Recent samples of one sensor (24 h at 1 Hz kept), for backfilling charts',
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
      summary: 'Server-Sent Events: samples, actuator changes and the safety interlocks in force',
      response: { 200: Type.String() },
    },
  }),
  simulationFaults: defineRoute({
    method: 'GET',
    url: '/api/v3/simulation/faults',
    schema: {
      tags: sim,
      summary: 'The injected faults in force (simulation only: 404 on real hardware)',
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
      response: { 200: SimulatedFaults, ...errorResponses('NOT_FOUND') },
    },
  }),
  legacyLed: defineRoute({
    method: 'POST',
    url: '/api/led',
    schema: {
      tags: ['v2'],
      body: LegacyLedBody,
      response: { 200: LegacyControlResult, ...errorResponses('COMPONENT_UNAVAILABLE') },
    },
  }),
  legacyPeltier: defineRoute({
    method: 'POST',
    url: '/api/peltier',
    schema: {
      tags: ['v2'],
      body: LegacyPeltierBody,
      response: { 200: LegacyControlResult, ...errorResponses('COMPONENT_UNAVAILABLE') },
    },
  }),
  legacyRingLight: defineRoute({
    method: 'POST',
    url: '/api/ring-light',
    schema: {
      tags: ['v2'],
      body: LegacyRingLightBody,
      response: { 200: LegacyControlResult, ...errorResponses('COMPONENT_UNAVAILABLE') },
    },
  }),
  legacyPump: defineRoute({
    method: 'POST',
    url: '/api/pump',
    schema: {
      tags: ['v2'],
      body: LegacyPumpBody,
      response: { 200: LegacyControlResult, ...errorResponses('COMPONENT_UNAVAILABLE') },
    },
  }),
  legacyStirrer: defineRoute({
    method: 'POST',
    url: '/api/stirrer',
    schema: {
      tags: ['v2'],
      body: LegacyStirrerBody,
      response: { 200: LegacyControlResult, ...errorResponses('COMPONENT_UNAVAILABLE') },
    },
  }),
  legacySensorsAll: defineRoute({
    method: 'GET',
    url: '/api/sensors/all',
    schema: { tags: ['v2'], response: { 200: LegacySensorsAll } },
  }),
  legacyPhotodiodes: defineRoute({
    method: 'GET',
    url: '/api/sensors/photodiodes',
    schema: { tags: ['v2'], response: { 200: LegacyPhotodiodes, ...errorResponses('COMPONENT_UNAVAILABLE') } },
  }),
  legacyTemperature: defineRoute({
    method: 'GET',
    url: '/api/sensors/temperature',
    schema: { tags: ['v2'], response: { 200: LegacyTemperature, ...errorResponses('COMPONENT_UNAVAILABLE') } },
  }),
} as const;

/** `GET /api/v3/{component}/state`, one route per component with its own state schema. */
export const componentStateRoutes = Object.fromEntries(
  COMPONENT_NAMES.map((name) => [
    name,
    defineRoute({
      method: 'GET',
      url: `/api/v3/${name}/state`,
      schema: {
        tags: hw,
        summary: `Latest state of ${name}${(ACTUATOR_NAMES as readonly string[]).includes(name) ? ' (the last command)' : ' (its cached sample)'}`,
        response: { 200: COMPONENT_STATE_SCHEMAS[name], ...errorResponses('COMPONENT_NOT_FOUND') },
      },
    }),
  ]),
) as unknown as { [K in ComponentName]: RouteContract };

/** `POST /api/v3/{actuator}/control`, one route per actuator; answers the new state. */
export const componentControlRoutes = Object.fromEntries(
  ACTUATOR_NAMES.map((name) => [
    name,
    defineRoute({
      method: 'POST',
      url: `/api/v3/${name}/control`,
      schema: {
        tags: hw,
        summary: `Command ${name}`,
        body: COMPONENT_CONTROL_SCHEMAS[name],
        response: {
          200: COMPONENT_STATE_SCHEMAS[name],
          ...errorResponses('VALIDATION_FAILED', 'COMPONENT_NOT_FOUND', 'SAFETY_INTERLOCK', 'DEVICE_FAULT'),
        },
      },
    }),
  ]),
) as unknown as { [K in ActuatorName]: RouteContract };

// ---- experiment runs on the node (original-system.md §2.7, fixed) ----

export const NodeStartRequest = Type.Object({
  script_content: Type.String({ minLength: 1 }),
  experiment_id: Type.Optional(ExperimentId),
  max_duration_s: Type.Optional(Type.Integer({ minimum: 1, description: 'Stop the run after this many seconds' })),
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

export const RunSummary = Type.Pick(RunRecord, ['experiment_id', 'status', 'start_time', 'end_time']);

const runs = ['experiments'];
const TailQuery = Type.Object({
  tail: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, default: 100 })),
  follow: Type.Optional(Type.Boolean({ description: 'Stream new lines as Server-Sent Events' })),
});
const DataQuery = Type.Object({
  file: Type.Optional(Type.String({ description: 'CSV file under output/, default experiment_data.csv' })),
  offset: Type.Optional(Type.Integer({ minimum: 0, default: 0, description: 'Byte offset to read from' })),
  follow: Type.Optional(Type.Boolean({ description: 'Stream appended rows as Server-Sent Events' })),
});

export const nodeExperimentRoutes = {
  start: defineRoute({
    method: 'POST',
    url: '/api/experiments/start',
    schema: {
      tags: runs,
      summary: 'Start an experiment container (one at a time)',
      body: NodeStartRequest,
      response: {
        200: NodeStartResponse,
        ...errorResponses('VALIDATION_FAILED', 'NODE_BUSY', 'PAYLOAD_TOO_LARGE', 'RUNNER_UNAVAILABLE'),
        // 409 also answers a start whose experiment_id already exists (INVALID_STATE).
      },
    },
  }),
  events: defineRoute({
    method: 'GET',
    url: '/api/experiments/events',
    schema: {
      tags: runs,
      summary: 'Server-Sent Events: `run.updated` {experiment} at every state change, starting with the live run',
      response: { 200: Type.String() },
    },
  }),
  list: defineRoute({
    method: 'GET',
    url: '/api/experiments',
    schema: {
      tags: runs,
      response: { 200: Type.Object({ status: Type.Literal('success'), experiments: Type.Array(RunSummary) }) },
    },
  }),
  status: defineRoute({
    method: 'GET',
    url: '/api/experiments/:id/status',
    schema: {
      tags: runs,
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
      params: IdParams,
      querystring: DataQuery,
      response: {
        200: Type.String(),
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
      params: IdParams,
      response: {
        200: Type.Unsafe<unknown>({ type: 'string', format: 'binary', description: 'application/zip' }),
        ...errorResponses('EXPERIMENT_NOT_FOUND'),
      },
    },
  }),
  stop: defineRoute({
    method: 'POST',
    url: '/api/experiments/:id/stop',
    schema: { tags: runs, params: IdParams, response: { 200: Ack, ...errorResponses('EXPERIMENT_NOT_FOUND') } },
  }),
  remove: defineRoute({
    method: 'DELETE',
    url: '/api/experiments/:id',
    schema: { tags: runs, params: IdParams, response: { 200: Ack, ...errorResponses('EXPERIMENT_NOT_FOUND') } },
  }),
} as const;

/** Name of the header carrying the next byte offset on `GET …/data`. */
export const NEXT_OFFSET_HEADER = 'x-next-offset';
