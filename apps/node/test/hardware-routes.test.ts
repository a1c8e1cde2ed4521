// The hardware API as scientists and the Python client use it: every component through v3 and v2 in simulation,
// with the contract's shapes enforced on every response (strictResponses), clear refusals and the command log.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMPONENT_NAMES, GUIDE_COMPONENT_NAMES } from '@bioreactor/api';
import { readEventStream } from '@bioreactor/service-kit';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createManualClock } from '../src/hardware/clock.js';
import { DEFAULT_HARDWARE, parseHardwareFile } from '../src/hardware/hardware-file.js';
import { createHardware } from '../src/hardware/index.js';
import { createSimulation } from '../src/hardware/simulation.js';
import { hardwareNode, tempDir } from './hardware/support.js';

type Node = Awaited<ReturnType<typeof hardwareNode>>;
const nodes: Node[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.app.close();
});

async function node(opts: Parameters<typeof hardwareNode>[0] = {}): Promise<Node> {
  const n = await hardwareNode(opts);
  nodes.push(n);
  // Every sensor has taken its first sample (the CO2 read alone takes 1.5 s).
  await n.clock.advance(3000);
  return n;
}

const post = (n: Node, url: string, payload: unknown) =>
  n.app.inject({ method: 'POST', url, payload: payload as object });
const get = (n: Node, url: string) => n.app.inject({ method: 'GET', url });

/** The default pumps rated up to 1 mL/s (max_ml_per_s), for tests that move liquid fast. */
const FAST_PUMPS = {
  pumps: {
    inflow: { ...DEFAULT_HARDWARE.pumps.inflow, max_ml_per_s: 1 },
    outflow: { ...DEFAULT_HARDWARE.pumps.outflow, max_ml_per_s: 1 },
  },
};

describe('discovery', () => {
  it('reports all nine components, their counts, names and ranges', async () => {
    const n = await node();
    const status = (await get(n, '/api/status')).json();
    expect(status.api_version).toBe('v3_with_v2_compat');
    expect(status.hardware_mode).toBe('simulation');
    expect(Object.values(status.initialized_components).every(Boolean)).toBe(true);
    expect(status.runner.kind).toBe('local');
    const caps = (await get(n, '/api/v3/capabilities')).json();
    expect(Object.keys(caps).sort()).toEqual([...GUIDE_COMPONENT_NAMES].sort());
    expect(caps.optical_density.channels).toEqual(['135', 'Ref', '90']);
    expect(caps.optical_density.count).toBe(3);
    expect(caps.eyespy_adc.channels).toEqual(['eyespy1', 'eyespy2']);
    expect(caps.temp_sensor.count).toBe(2);
    expect(caps.pumps.available_pumps).toEqual(['inflow', 'outflow']);
    expect(caps.ring_light.pixel_count).toBe(32);
    expect(caps.peltier_driver.directions).toEqual(['heat', 'cool', 'forward', 'reverse']);
    const health = (await get(n, '/health')).json();
    expect(health.component_count).toBe(9);
  });

  it('names why a disabled component is unavailable and answers 404 (v3) or 503 (v2) for it', async () => {
    const n = await node({ file: { init_components: { temp_sensor: true, stirrer: true } } });
    const status = (await get(n, '/api/status')).json();
    expect(status.initialized_components.co2_sensor).toBe(false);
    expect(status.unavailable_components.co2_sensor).toMatch(/init_components\.co2_sensor is false/);
    const v3 = await get(n, '/api/v3/co2_sensor/state');
    expect(v3.statusCode).toBe(404);
    expect(v3.json().code).toBe('COMPONENT_NOT_FOUND');
    const v2 = await get(n, '/api/sensors/photodiodes');
    expect(v2.statusCode).toBe(503);
    expect(v2.json().message).toMatch(/Optical density sensor not available/);
    expect(Object.keys((await get(n, '/api/v3/capabilities')).json()).sort()).toEqual(['stirrer', 'temp_sensor']);
    const all = (await get(n, '/api/sensors/all')).json();
    expect(all).toHaveProperty('temperature');
    expect(all).not.toHaveProperty('co2_ppm');
  });

  it('keeps running with the rest when a pump is missing, and says which', async () => {
    const n = await node();
    expect((await get(n, '/api/v3/pumps/state')).json().pumps).toHaveLength(2);
  });
});

describe('v3 state and control', () => {
  it('serves cached sensor samples with their timestamps and units', async () => {
    const n = await node();
    const co2 = (await get(n, '/api/v3/co2_sensor/state')).json();
    expect(co2).toMatchObject({ status: 'success', unit: 'ppm' });
    expect(co2.co2_ppm).toBeGreaterThan(350);
    expect(co2.co2_ppm).toBeLessThan(500);
    const temp = (await get(n, '/api/v3/temp_sensor/state')).json();
    expect(temp.temperatures).toHaveLength(2);
    expect(temp.temperature).toBe(temp.temperatures[0]);
    expect(temp.temperature).toBeGreaterThan(20);
    expect(temp.temperature).toBeLessThan(24);
    const od = (await get(n, '/api/v3/optical_density/state')).json();
    expect(od.voltages).toHaveLength(3);
    expect(od.channels).toEqual(['135', 'Ref', '90']);
    const eyespy = (await get(n, '/api/v3/eyespy_adc/state')).json();
    expect(eyespy.voltages).toHaveLength(2);
    expect(Date.parse(co2.timestamp)).toBeLessThanOrEqual(n.clock.now());
  });

  it('applies every actuator command with the original field names and reflects it in the state', async () => {
    const n = await node();
    expect((await post(n, '/api/v3/stirrer/control', { duty_cycle: 55 })).json()).toMatchObject({
      duty_cycle: 55,
      active: true,
    });
    expect((await post(n, '/api/v3/led/control', { power: 20 })).json()).toMatchObject({ power: 20, active: true });
    expect(
      (await post(n, '/api/v3/peltier_driver/control', { duty_cycle: 40, direction: 'heat' })).json(),
    ).toMatchObject({
      duty_cycle: 40,
      direction: 'heat',
      mode: 'heat',
      active: true,
    });
    const ring = (await post(n, '/api/v3/ring_light/control', { red: 10, green: 20, blue: 30, pixel_index: 5 })).json();
    expect(ring.pixels[5]).toEqual([10, 20, 30]);
    expect(ring.pixels[4]).toEqual([0, 0, 0]);
    expect(n.hardware.simulation?.ring.pixels[5]).toEqual([10, 20, 30]);
    const pumps = (await post(n, '/api/v3/pumps/control', { pump_name: 'inflow', velocity: 0.2 })).json();
    expect(pumps).toMatchObject({ pump_name: 'inflow', velocity: 0.2, active: true });
    expect((await get(n, '/api/v3/stirrer/state')).json().duty_cycle).toBe(55);
    const all = (await get(n, '/api/v3/state')).json();
    expect(Object.keys(all.components)).toHaveLength(9);
    expect(all.components.led.power).toBe(20);
  });

  it('accounts pumped volume per pump, negative velocity pumping backwards', async () => {
    const n = await node();
    await post(n, '/api/v3/pumps/control', { pump_name: 'inflow', velocity: 0.2 });
    await n.clock.advance(20_000);
    await post(n, '/api/v3/pumps/control', { pump_name: 'inflow', velocity: -0.2 });
    await n.clock.advance(4_000);
    await post(n, '/api/v3/pumps/control', { pump_name: 'inflow', velocity: 0 });
    const inflow = (await get(n, '/api/v3/pumps/state'))
      .json()
      .pumps.find((p: { pump_name: string }) => p.pump_name === 'inflow');
    expect(inflow.total_volume_ml).toBeCloseTo(4.8, 6);
    expect(inflow.active).toBe(false);
  });

  it('refuses bad input with 400 and a message that says what to fix, never a 500', async () => {
    const n = await node();
    const cases: [string, unknown, RegExp][] = [
      ['/api/v3/stirrer/control', { duty_cycle: 101 }, /duty_cycle/],
      ['/api/v3/stirrer/control', { duty: 10 }, /duty_cycle/],
      ['/api/v3/peltier_driver/control', { duty_cycle: 10, direction: 'up' }, /direction/],
      ['/api/v3/ring_light/control', { red: 256, green: 0, blue: 0 }, /red/],
      ['/api/v3/ring_light/control', { red: 1, green: 0, blue: 0, pixel_index: 32 }, /0-31/],
      ['/api/v3/pumps/control', { pump_name: 'pump1', velocity: 1 }, /inflow, outflow/],
      ['/api/v3/pumps/control', { pump_name: 'inflow', velocity: 1000 }, /-0\.2 to 0\.2 mL\/s/],
      ['/api/v3/led/control', 'not json', /./],
    ];
    for (const [url, body, message] of cases) {
      const res = await n.app.inject({
        method: 'POST',
        url,
        payload: typeof body === 'string' ? body : JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      });
      expect(res.statusCode, `${url} ${JSON.stringify(body)}`).toBe(400);
      expect(res.json().message, url).toMatch(message);
    }
    const unknown = await get(n, '/api/v3/oxygen/state');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().message).toMatch(/co2_sensor, temp_sensor/);
    const sensorControl = await post(n, '/api/v3/co2_sensor/control', {});
    expect(sensorControl.statusCode).toBe(404);
    expect(sensorControl.json().message).toMatch(/is a sensor/);
  });
});

describe('readings', () => {
  it('the batched state adds every reading by its column name with ?readings=true, and is unchanged without', async () => {
    const n = await node();
    const plain = (await get(n, '/api/v3/state')).json();
    expect(plain).not.toHaveProperty('readings');
    const all = (await get(n, '/api/v3/state?readings=true')).json();
    expect(Object.keys(all.readings).slice(0, 7)).toEqual([
      'co2_ppm',
      'temperature',
      'od_voltages',
      'eyespy_voltages',
      'stirrer_duty',
      'peltier_duty',
      'peltier_direction',
    ]);
    expect(all.readings.co2_ppm).toBe(all.components.co2_sensor.co2_ppm);
    expect(all.readings.od_voltages).toEqual(all.components.optical_density.voltages);
    expect(all.readings.pump_volumes_ml).toEqual([0, 0]);
    const some = await node({ file: { init_components: { temp_sensor: true } } });
    const partial = (await get(some, '/api/v3/state?readings=true')).json().readings;
    expect(partial.co2_ppm).toBeNull();
    expect(typeof partial.temperature).toBe('number');
  });
});

describe('v2 routes', () => {
  it('drive the same hardware with the original bodies', async () => {
    const n = await node();
    expect((await post(n, '/api/led', { state: true })).json()).toMatchObject({ status: 'success', power: 100 });
    expect((await post(n, '/api/peltier', { power: 30, forward: false })).json()).toMatchObject({ mode: 'heat' });
    expect((await post(n, '/api/peltier', { power: 30, forward: true })).json()).toMatchObject({ mode: 'cool' });
    expect((await post(n, '/api/stirrer', { duty_cycle: 70 })).json()).toMatchObject({ duty_cycle: 70 });
    expect((await post(n, '/api/ring-light', { red: 1, green: 2, blue: 3 })).json()).toMatchObject({
      red: 1,
      active: true,
    });
    expect((await post(n, '/api/pump', { name: 'outflow', velocity: 0.1 })).json()).toMatchObject({
      pump_name: 'outflow',
    });
    const badPump = await post(n, '/api/pump', { name: 'nope', velocity: 0.1 });
    expect(badPump.statusCode).toBe(400);
    expect(badPump.json().message).toMatch(/inflow, outflow/);
    const all = (await get(n, '/api/sensors/all')).json();
    expect(all.status).toBe('success');
    expect(all.photodiodes).toHaveLength(3);
    expect(typeof all.co2_ppm).toBe('number');
    expect(typeof all.temperature).toBe('number');
    expect((await get(n, '/api/sensors/photodiodes')).json().readings).toHaveLength(3);
    expect(typeof (await get(n, '/api/sensors/temperature')).json().temperature).toBe('number');
  });
});

describe('safety', () => {
  it('applies the safe state at start and on request: peltier off, pumps stopped, stirrer idle, lights off', async () => {
    const n = await node();
    const initial = (await get(n, '/api/v3/state')).json().components;
    expect(initial.stirrer.duty_cycle).toBe(30);
    expect(initial.peltier_driver.active).toBe(false);
    await post(n, '/api/v3/peltier_driver/control', { duty_cycle: 80, direction: 'heat' });
    await post(n, '/api/v3/pumps/control', { pump_name: 'inflow', velocity: 0.15 });
    await post(n, '/api/v3/led/control', { power: 50 });
    await post(n, '/api/v3/ring_light/control', { red: 255, green: 255, blue: 255 });
    await post(n, '/api/v3/stirrer/control', { duty_cycle: 90 });
    await n.hardware.applySafeState('experiment ended');
    const after = (await get(n, '/api/v3/state')).json().components;
    expect(after.peltier_driver.duty_cycle).toBe(0);
    expect(after.pumps.active).toBe(false);
    expect(after.stirrer.duty_cycle).toBe(30);
    expect(after.led.power).toBe(0);
    expect(after.ring_light.active).toBe(false);
    const sim = n.hardware.simulation;
    expect([...(sim?.tics.values() ?? [])].every((t) => t.velocity === 0)).toBe(true);
    const log = n.hardware.commandLog();
    expect(log.some((e) => e.source === 'safety:experiment ended' && e.component === 'pumps')).toBe(true);
  });

  it('stops the inflow when it has added more than the overflow guard allows over the outflow, until outflow catches up', async () => {
    const n = await node({ file: { ...FAST_PUMPS, overflow_guard: { max_excess_inflow_ml: 5 } } });
    const pumps = () => get(n, '/api/v3/pumps/state').then((r) => r.json());
    const inflow = (velocity: number) => post(n, '/api/v3/pumps/control', { pump_name: 'inflow', velocity });
    // Outflow alone first: pumping air at the needle earns the inflow no extra allowance.
    await post(n, '/api/v3/pumps/control', { pump_name: 'outflow', velocity: 0.5 });
    await n.clock.advance(20_000);
    await post(n, '/api/v3/pumps/control', { pump_name: 'outflow', velocity: 0 });
    expect((await pumps()).overflow_guard).toEqual({ excess_inflow_ml: 0, limit_ml: 5, tripped: null });

    expect((await inflow(0.5)).statusCode).toBe(200);
    await n.clock.advance(9_000);
    expect((await pumps()).overflow_guard.tripped).toBeNull();
    await n.clock.advance(2_000);
    const tripped = await pumps();
    expect(tripped.pumps.find((p: { pump_name: string }) => p.pump_name === 'inflow').velocity).toBe(0);
    expect(tripped.overflow_guard.excess_inflow_ml).toBeGreaterThanOrEqual(5);
    expect(tripped.overflow_guard.tripped).toMatch(/overflow_guard\.max_excess_inflow_ml \(5 mL\)/);
    expect([...(n.hardware.simulation?.tics.values() ?? [])].every((t) => t.velocity === 0)).toBe(true);
    expect(
      n.hardware
        .commandLog()
        .some((e) => e.source === 'safety' && e.component === 'pumps' && e.values.pump_name === 'inflow'),
    ).toBe(true);

    const refused = await inflow(0.5);
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ code: 'SAFETY_INTERLOCK' });
    expect(refused.json().message).toMatch(/^Adding liquid refused: /);
    // Taking liquid out is always allowed, and once the outflow has removed the excess, inflow is allowed again.
    expect((await inflow(-0.1)).statusCode).toBe(200);
    await post(n, '/api/v3/pumps/control', { pump_name: 'inflow', velocity: 0 });
    await post(n, '/api/v3/pumps/control', { pump_name: 'outflow', velocity: 1 });
    await n.clock.advance(8_000);
    expect((await pumps()).overflow_guard).toMatchObject({ excess_inflow_ml: 0, tripped: null });
    expect((await inflow(0.5)).statusCode).toBe(200);
  });

  it('keeps the overflow count and its hold across a node restart', async () => {
    const dataDir = tempDir();
    const file = { ...FAST_PUMPS, overflow_guard: { max_excess_inflow_ml: 2 } };
    const first = await node({ dataDir, file });
    await post(first, '/api/v3/pumps/control', { pump_name: 'inflow', velocity: 0.5 });
    await first.clock.advance(6_000);
    expect((await get(first, '/api/v3/pumps/state')).json().overflow_guard.tripped).not.toBeNull();
    await first.app.close();
    nodes.splice(nodes.indexOf(first), 1);

    const second = await node({ dataDir, file });
    const guard = (await get(second, '/api/v3/pumps/state')).json().overflow_guard;
    expect(guard.excess_inflow_ml).toBeGreaterThanOrEqual(2);
    expect(guard.tripped).toMatch(/max_excess_inflow_ml \(2 mL\)/);
    const refused = await post(second, '/api/v3/pumps/control', { pump_name: 'inflow', velocity: 0.5 });
    expect(refused.statusCode).toBe(409);
  });

  it('refuses an overflow guard that names pumps the node does not have', async () => {
    await expect(
      node({ file: { overflow_guard: { max_excess_inflow_ml: 5, inflow_pumps: ['media'] } } }),
    ).rejects.toThrow(/overflow_guard\.inflow_pumps: no pump is named media/);
  });

  it('cuts the peltier off above the over-temperature limit, records why and refuses heating until it cools', async () => {
    const n = await node();
    await post(n, '/api/v3/peltier_driver/control', { duty_cycle: 50, direction: 'heat' });
    const model = n.hardware.simulation?.model;
    if (!model) throw new Error('no model');
    model.temperatureC = 46;
    await n.clock.advance(1500);
    const state = (await get(n, '/api/v3/peltier_driver/state')).json();
    expect(state.active).toBe(false);
    expect(state.cutoff).toMatch(/45 °C over-temperature cutoff/);
    const refused = await post(n, '/api/v3/peltier_driver/control', { duty_cycle: 10, direction: 'heat' });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().code).toBe('SAFETY_INTERLOCK');
    expect((await post(n, '/api/v3/peltier_driver/control', { duty_cycle: 60, direction: 'cool' })).statusCode).toBe(
      200,
    );
    expect(
      n.hardware.commandLog().some((e) => e.source === 'safety:over-temperature' && e.component === 'peltier_driver'),
    ).toBe(true);
    model.temperatureC = 30;
    await n.clock.advance(1500);
    expect((await get(n, '/api/v3/peltier_driver/state')).json().cutoff).toBeNull();
  });

  it('never moves liquid at start-up (no pump self-test)', async () => {
    const n = await node();
    for (const tic of n.hardware.simulation?.tics.values() ?? []) {
      // Set target velocity (0xE3) with anything but 0 in wValue/wIndex would move liquid.
      expect(tic.log.some((t) => t.bRequest === 0xe3 && (t.wValue !== 0 || t.wIndex !== 0))).toBe(false);
    }
  });

  it('logs every command with its source to an append-only file that survives a restart', async () => {
    const dataDir = tempDir();
    const first = await node({ dataDir });
    const logFile = join(dataDir, 'hardware', 'command-log.jsonl');
    // Answered only once on record: concurrent commands share one write, each is in the file when it is answered.
    await Promise.all([10, 20, 30].map((duty) => post(first, '/api/v3/stirrer/control', { duty_cycle: duty })));
    const answered = readFileSync(logFile, 'utf8');
    for (const duty of [10, 20, 30]) expect(answered).toContain(`"duty_cycle":${duty}}`);
    await post(first, '/api/v3/stirrer/control', { duty_cycle: 42 });
    expect(readFileSync(logFile, 'utf8')).toContain('"duty_cycle":42}');
    await first.app.close();
    nodes.splice(nodes.indexOf(first), 1);
    const lines = readFileSync(logFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.find((l) => l.values.duty_cycle === 42)).toMatchObject({ source: 'api', component: 'stirrer' });
    expect(lines.at(-1).source).toBe('safety:shutdown');
    const second = await node({ dataDir });
    expect(second.hardware.commandLog().some((e) => e.values.duty_cycle === 42)).toBe(true);
  });
});

describe('history and stream', () => {
  it('backfills a sensor’s samples since a moment', async () => {
    const n = await node();
    const from = new Date(n.clock.now()).toISOString();
    await n.clock.advance(10_000);
    const res = (await get(n, `/api/v3/history?component=optical_density&since=${encodeURIComponent(from)}`)).json();
    expect(res.channels).toEqual(['135', 'Ref', '90']);
    expect(res.samples[0].values).toHaveLength(3);
    expect(res.samples.length).toBeGreaterThanOrEqual(9);
    expect(res.samples.length).toBeLessThanOrEqual(11);
    expect(res.samples.every((s: { timestamp: string }) => s.timestamp > from)).toBe(true);
    expect((await get(n, '/api/v3/history?component=stirrer')).statusCode).toBe(404);
    expect((await get(n, '/api/v3/history?component=temp_sensor&since=yesterday')).statusCode).toBe(400);
  });

  it('streams current states, then samples and actuator changes as Server-Sent Events', async () => {
    const n = await node();
    await n.app.listen({ host: '127.0.0.1', port: 0 });
    const address = n.app.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const controller = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/api/v3/stream`, { signal: controller.signal });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const events = readEventStream(res.body as ReadableStream<Uint8Array>);
    const seen: { event: string; data: string }[] = [];
    for (let i = 0; i < 9; i++) seen.push((await events.next()).value as { event: string; data: string });
    expect(new Set(seen.map((e) => JSON.parse(e.data).component)).size).toBe(9);
    await post(n, '/api/v3/stirrer/control', { duty_cycle: 77 });
    let changed: { component: string; state: { duty_cycle: number }; source: string } | undefined;
    while (!changed) {
      const next = (await events.next()).value as { event: string; data: string };
      if (next.event === 'component.changed') changed = JSON.parse(next.data);
    }
    expect(changed).toMatchObject({ component: 'stirrer', source: 'api', state: { duty_cycle: 77 } });
    await n.clock.advance(1000);
    let sample: { component: string } | undefined;
    while (!sample) {
      const next = (await events.next()).value as { event: string; data: string };
      if (next.event === 'component.sample') sample = JSON.parse(next.data);
    }
    expect(COMPONENT_NAMES).toContain(sample.component);
    controller.abort();
  });
});

describe('one hardware mode', () => {
  it('the hardware file’s hardware_mode "real" without HARDWARE_MODE: the runner guard and /api/status read real', async () => {
    const dataDir = tempDir();
    const clock = createManualClock();
    const file = parseHardwareFile({ hardware_mode: 'real', init_components: { stirrer: true } });
    // Emulated transports stand in for the Pi's: the mode is what is under test, not the buses.
    const hardware = await createHardware(
      { BIOREACTOR_HARDWARE_CONFIG: '/nonexistent', DATA_DIR: dataDir },
      {
        log: { info() {}, warn() {}, error() {} },
        clock,
        file,
        transports: createSimulation(file, clock, 1).transports,
      },
    );
    expect(hardware.mode).toBe('real');
    const app = await buildApp(loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent', BIOREACTOR_RUNNER: 'local' }), {
      logger: false,
      hardware,
    });
    try {
      const status = (await app.inject({ method: 'GET', url: '/api/status' })).json();
      expect(status.hardware_mode).toBe('real');
      expect(status.runner).toMatchObject({ kind: 'local', available: false });
      expect(status.runner.detail).toMatch(/no isolation and the hardware is real/);
    } finally {
      await app.close();
    }
  });
});
