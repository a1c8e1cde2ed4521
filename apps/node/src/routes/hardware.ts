// The v3 and v2 hardware routes, on the node's own server or on an experiment's private one (`source` says whose
// commands these are in the command log). Thin: parse, call the hardware, let the error handler map errors.
import {
  ACTUATOR_NAMES,
  type ActuatorName,
  type AllStatesQuery,
  ApiError,
  COMPONENT_NAMES,
  COMPONENTS,
  type ComponentControls,
  type ComponentName,
  componentControlRoutes,
  componentStateRoutes,
  type HistoryQuery,
  type LegacyLedBody,
  type LegacyPeltierBody,
  type LegacyPumpBody,
  type LegacyRingLightBody,
  type LegacyStirrerBody,
  nodeRoutes,
  READING_KEYS,
  readingSpec,
  readingValue,
  SENSOR_NAMES,
  type SensorName,
  type SimulatedFaultRequest,
  type StreamQuery,
} from '@bioreactor/api';
import { openEventStream, type Service } from '@bioreactor/service-kit';
import type { FastifyInstance, RouteOptions } from 'fastify';
import type { Static } from 'typebox';
import type { AllStates, Hardware } from '../hardware/index.js';
import { NodeStream } from '../stream.js';

type AnyFastify = FastifyInstance | Service;

function notFound(hardware: Hardware, name: ComponentName): ApiError {
  const reason = hardware.whyUnavailable(name) ?? hardware.report().unavailable[name] ?? 'not configured';
  return new ApiError('COMPONENT_NOT_FOUND', `${name} is unavailable on this node: ${reason}`);
}

/** v2 answers 503 where v3 answers 404, as the original did. */
function legacyUnavailable(hardware: Hardware, name: ComponentName): ApiError {
  const reason = hardware.report().unavailable[name] ?? 'not configured';
  return new ApiError('COMPONENT_UNAVAILABLE', `${COMPONENTS[name].label} not available: ${reason}`);
}

/**
 * Every reading of the components this node reports, by its column name (readings.ts): the value from its
 * component's state, null while that component is unavailable. A component the hardware file leaves off that is not
 * one of the guide's nine is not reported, so neither are its readings.
 */
function reportedReadings(all: AllStates): Record<string, unknown> {
  const components = all.components as Record<string, Record<string, unknown>>;
  const out: Record<string, unknown> = {};
  for (const key of READING_KEYS) {
    const { component } = readingSpec(key);
    if (components[component]) out[key] = readingValue(key, components[component]);
    else if (Object.hasOwn(all.unavailable, component)) out[key] = null;
  }
  return out;
}

/** During start, a state read waits (at most FIRST_SAMPLE_WAIT_MS) for the first samples it shows. */
async function firstSamples(hardware: Hardware, names: readonly SensorName[]): Promise<void> {
  if (hardware.starting) await hardware.waitForFirstSamples(names);
}

export async function registerHardwareRoutes(
  server: AnyFastify,
  hardware: Hardware,
  opts: { source: string; faultInjection?: boolean; stream?: NodeStream },
): Promise<void> {
  const app = server as FastifyInstance;
  const route = (options: RouteOptions) => app.route(options);
  const source = opts.source;
  const isSensor = (name: ComponentName): name is SensorName => COMPONENTS[name].kind === 'sensor';
  // State bodies are built by typed code and checked against the contract in tests (strictResponses); here plain
  // JSON.stringify writes them about three times faster than the schema serialiser, for the hottest routes.
  const plainJson = { serializerCompiler: () => (data: unknown) => JSON.stringify(data) };

  route({ ...nodeRoutes.capabilities, handler: async () => hardware.capabilities() } as RouteOptions);
  route({
    ...nodeRoutes.allStates,
    ...plainJson,
    handler: async (request) => {
      await firstSamples(hardware, SENSOR_NAMES);
      const all = hardware.allStates();
      if (!(request.query as Static<typeof AllStatesQuery>).readings) return all;
      return { ...all, readings: reportedReadings(all) };
    },
  } as RouteOptions);
  route({
    ...nodeRoutes.history,
    handler: async (request) => {
      const q = request.query as Static<typeof HistoryQuery>;
      return hardware.history(q.component, q.since, q.limit ?? 3600);
    },
  } as RouteOptions);

  for (const name of COMPONENT_NAMES) {
    route({
      ...componentStateRoutes[name],
      ...plainJson,
      handler: async () => {
        if (isSensor(name)) await firstSamples(hardware, [name]);
        const state = hardware.componentState(name);
        if (!state) throw notFound(hardware, name);
        return state;
      },
    } as RouteOptions);
  }
  for (const name of ACTUATOR_NAMES) {
    route({
      ...componentControlRoutes[name],
      ...plainJson,
      handler: async (request) => {
        if (!hardware.componentState(name)) throw notFound(hardware, name);
        return hardware.control(name, request.body as ComponentControls[typeof name], source);
      },
    } as RouteOptions);
  }
  route({
    ...nodeRoutes.componentState,
    handler: async (request) => {
      const { component } = request.params as { component: string };
      throw new ApiError(
        'COMPONENT_NOT_FOUND',
        `No component "${component}": use one of ${COMPONENT_NAMES.join(', ')}`,
      );
    },
  } as RouteOptions);
  route({
    ...nodeRoutes.componentControl,
    handler: async (request) => {
      const { component } = request.params as { component: string };
      const what = (COMPONENT_NAMES as readonly string[]).includes(component)
        ? `${component} is a sensor and takes no commands`
        : `No component "${component}"`;
      throw new ApiError('COMPONENT_NOT_FOUND', `${what}: the actuators are ${ACTUATOR_NAMES.join(', ')}`);
    },
  } as RouteOptions);

  // The node's own server shares the node's stream (runs and rows too); an experiment's server has one of its own
  // with the hardware's events only, ended with that server.
  let feed = opts.stream;
  if (!feed) {
    const own = new NodeStream({ hardware });
    await own.start();
    app.addHook('onClose', async () => own.stop());
    feed = own;
  }
  const shared = feed;
  route({
    ...nodeRoutes.stream,
    handler: async (request, reply) => {
      const stream = openEventStream(request, reply);
      // The header wins: a browser's own reconnection sends the newest id there, while the URL keeps the one the
      // page re-created its EventSource with.
      const resumeFrom = stream.lastEventId ?? (request.query as Static<typeof StreamQuery>).last_event_id;
      const missed = resumeFrom ? shared.since(resumeFrom) : null;
      if (missed) for (const entry of missed) stream.send(entry.event, entry.data, entry.id);
      else {
        // Every current state, with the newest id: resuming from it gives exactly what came after.
        const id = shared.lastId();
        for (const event of shared.snapshot()) stream.send(event.event, event.data, id);
      }
      stream.onClose(shared.subscribe((entry) => stream.send(entry.event, entry.data, entry.id)));
    },
  } as RouteOptions);

  // ---- v2 (original-system.md §2.4) ----
  const legacyControl = async <K extends ActuatorName>(name: K, body: ComponentControls[K]) => {
    if (!hardware.componentState(name)) throw legacyUnavailable(hardware, name);
    return hardware.control(name, body, source);
  };
  route({
    ...nodeRoutes.legacyLed,
    handler: async (request) =>
      legacyControl('led', { power: (request.body as Static<typeof LegacyLedBody>).state ? 100 : 0 }),
  } as RouteOptions);
  route({
    ...nodeRoutes.legacyPeltier,
    handler: async (request) => {
      const body = request.body as Static<typeof LegacyPeltierBody>;
      return legacyControl('peltier_driver', {
        duty_cycle: body.power,
        direction: body.forward ? 'forward' : 'reverse',
      });
    },
  } as RouteOptions);
  route({
    ...nodeRoutes.legacyRingLight,
    handler: async (request) => legacyControl('ring_light', request.body as Static<typeof LegacyRingLightBody>),
  } as RouteOptions);
  route({
    ...nodeRoutes.legacyPump,
    handler: async (request) => {
      const body = request.body as Static<typeof LegacyPumpBody>;
      return legacyControl('pumps', { pump_name: body.name, velocity: body.velocity });
    },
  } as RouteOptions);
  route({
    ...nodeRoutes.legacyStirrer,
    handler: async (request) =>
      legacyControl('stirrer', { duty_cycle: (request.body as Static<typeof LegacyStirrerBody>).duty_cycle }),
  } as RouteOptions);
  route({
    ...nodeRoutes.legacySensorsAll,
    handler: async () => {
      await firstSamples(hardware, ['temp_sensor', 'optical_density', 'co2_sensor']);
      const out: Record<string, unknown> = { status: 'success' };
      const temp = hardware.componentState('temp_sensor');
      if (temp) out.temperature = temp.temperature;
      const od = hardware.componentState('optical_density');
      if (od) out.photodiodes = od.voltages;
      const co2 = hardware.componentState('co2_sensor');
      if (co2) out.co2_ppm = co2.co2_ppm;
      return out;
    },
  } as RouteOptions);
  route({
    ...nodeRoutes.legacyPhotodiodes,
    handler: async () => {
      await firstSamples(hardware, ['optical_density']);
      const od = hardware.componentState('optical_density');
      if (!od) throw legacyUnavailable(hardware, 'optical_density');
      return { status: 'success', readings: od.voltages };
    },
  } as RouteOptions);
  route({
    ...nodeRoutes.legacyTemperature,
    handler: async () => {
      await firstSamples(hardware, ['temp_sensor']);
      const temp = hardware.componentState('temp_sensor');
      if (!temp) throw legacyUnavailable(hardware, 'temp_sensor');
      // Never "success" without a temperature: the v2 body has no error status, so say why with a 503.
      if (temp.status === 'error' && temp.temperature === null)
        throw new ApiError('COMPONENT_UNAVAILABLE', `Temperature sensor not available: ${temp.message}`);
      return { status: 'success', temperature: temp.temperature };
    },
  } as RouteOptions);

  // ---- fault injection: the node's own API in simulation only, never an experiment's ----
  if (opts.faultInjection) {
    route({
      ...nodeRoutes.simulationFaults,
      handler: async () => ({ status: 'success', faults: hardware.faults() }),
    } as RouteOptions);
    route({
      ...nodeRoutes.simulationFaultInject,
      handler: async (request) => ({
        status: 'success',
        faults: hardware.injectFault(request.body as SimulatedFaultRequest),
      }),
    } as RouteOptions);
    route({
      ...nodeRoutes.simulationFaultsClear,
      handler: async () => {
        const cleared = hardware.clearFaults();
        return { status: 'success', faults: [], cleared };
      },
    } as RouteOptions);
  }
}
