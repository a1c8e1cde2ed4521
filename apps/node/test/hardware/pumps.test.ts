// Pumps that stop by themselves, rates bounded by calibration, the overflow guards: the simulated node over emulated
// Tics on the manual clock. A Tic that stops (an injected stall, a node stalled past the Tic's command timeout, a
// Tic gone from USB) is found within one keep-alive tick, reported in the state, the log, the command log (so the
// run's actuator log) and on the stream, restarted or faulted, and its volume is counted only while it ran.
import { getEventListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TIC_DEFAULT_MAX_SPEED } from '../../src/hardware/drivers/tic.js';
import { PUMP_RESTART_ATTEMPTS, TIC_KEEPALIVE_MS } from '../../src/hardware/hardware.js';
import { DEFAULT_HARDWARE, parseHardwareFile } from '../../src/hardware/hardware-file.js';
import { DEFAULT_VESSEL } from '../../src/hardware/vessel-model.js';
import { hardwareNode, recordingLog } from './support.js';

type Node = Awaited<ReturnType<typeof hardwareNode>>;
const nodes: Node[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.app.close();
});

async function node(opts: Parameters<typeof hardwareNode>[0] = {}): Promise<Node> {
  const n = await hardwareNode(opts);
  nodes.push(n);
  await n.clock.advance(3000);
  return n;
}

const post = (n: Node, url: string, payload: unknown) =>
  n.app.inject({ method: 'POST', url, payload: payload as object });
const get = (n: Node, url: string) => n.app.inject({ method: 'GET', url });
const pumpsState = async (n: Node) => (await get(n, '/api/v3/pumps/state')).json();
const pump = async (n: Node, name: string) =>
  (await pumpsState(n)).pumps.find((p: { pump_name: string }) => p.pump_name === name);
const run = (n: Node, pump_name: string, velocity: number) => post(n, '/api/v3/pumps/control', { pump_name, velocity });
const tic = (n: Node, name: string) => {
  const t = n.hardware.simulation?.tics.get(n.hardware.file.pumps[name]?.serial ?? '');
  if (!t) throw new Error(`no emulated Tic for ${name}`);
  return t;
};

/** Advances the clock in 50 ms steps until `done()` or `boundMs` pass; answers the clock time it took. */
async function until(n: Node, done: () => boolean | Promise<boolean>, boundMs: number): Promise<number> {
  const from = n.clock.now();
  while (!(await done())) {
    if (n.clock.now() - from > boundMs) throw new Error(`not within ${boundMs} ms of clock time`);
    await n.clock.advance(50);
  }
  return n.clock.now() - from;
}

/** What the node sends on the stream: component.changed and safety events, as the hardware emits them. */
function watch(n: Node) {
  const changed: { source: string; state: { pumps?: { state?: string }[] } }[] = [];
  const safety: string[][] = [];
  n.hardware.events.on('changed', (e) => {
    if (e.component === 'pumps') changed.push(e as never);
  });
  n.hardware.events.on('safety', (e) => safety.push(e.interlocks));
  return { changed, safety };
}

describe('a pump whose Tic stops by itself', () => {
  it('is found within one keep-alive tick, reported everywhere once, and restarted when the Tic lets it; the stop is not counted', async () => {
    const { lines, log } = recordingLog();
    const n = await node({ log });
    const seen = watch(n);
    expect((await run(n, 'inflow', 0.1)).statusCode).toBe(200);
    await n.clock.advance(10_000);
    expect((await pump(n, 'inflow')).total_volume_ml).toBeCloseTo(1, 6);

    await post(n, '/api/v3/simulation/faults', { component: 'pumps', fault: 'stall', pump_name: 'inflow' });
    const stalledAt = n.clock.now();
    expect(tic(n, 'inflow').velocity).toBe(0);
    const tookMs = await until(n, async () => (await pump(n, 'inflow')).state === 'restarting', TIC_KEEPALIVE_MS);
    expect(tookMs).toBeLessThanOrEqual(TIC_KEEPALIVE_MS);

    const state = await pumpsState(n);
    expect(state.status).toBe('error');
    expect(state.message).toMatch(/pump inflow stopped by itself, restarting: the Tic reports command timeout/);
    const inflow = state.pumps.find((p: { pump_name: string }) => p.pump_name === 'inflow');
    expect(inflow).toMatchObject({ state: 'restarting', active: false, velocity: 0.1 });
    expect(inflow.fault).toMatch(/command timeout/);
    // Counted up to the stop at most: the Tic stopped at the injection, the node cannot know it before its read.
    const frozen = inflow.total_volume_ml;
    expect(frozen).toBeLessThanOrEqual(0.1 * ((n.clock.now() - stalledAt + 10_000) / 1000) + 1e-9);
    await n.clock.advance(TIC_KEEPALIVE_MS);
    expect((await pump(n, 'inflow')).total_volume_ml).toBe(frozen);

    const stopped = n.hardware.commandLog().filter((e) => e.source === 'safety' && e.values.stopped !== undefined);
    expect(stopped).toHaveLength(1);
    expect(stopped[0]?.values).toMatchObject({ pump_name: 'inflow', velocity: 0.1 });
    expect(lines.filter((l) => l.level === 'error' && /pump inflow stopped by itself/.test(l.msg))).toHaveLength(1);
    expect(
      seen.changed.some((e) => e.source === 'safety' && e.state.pumps?.some((p) => p.state === 'restarting')),
    ).toBe(true);
    expect(seen.safety.at(-1)?.some((t) => /^Pump inflow stopped by itself: .*command timeout/.test(t))).toBe(true);

    // The stall clears: a restart takes within the restart attempts, and counting resumes from it.
    await n.app.inject({ method: 'DELETE', url: '/api/v3/simulation/faults' });
    await until(n, async () => (await pump(n, 'inflow')).state === 'running', PUMP_RESTART_ATTEMPTS * TIC_KEEPALIVE_MS);
    expect(tic(n, 'inflow').velocity).not.toBe(0);
    const restarted = n.hardware.commandLog().find((e) => e.source === 'safety' && e.values.restarted === true);
    expect(restarted?.values).toMatchObject({ pump_name: 'inflow', velocity: 0.1 });
    expect(lines.some((l) => l.level === 'info' && /pump inflow runs again at 0\.1 mL\/s/.test(l.msg))).toBe(true);
    expect(seen.safety.at(-1)).toEqual([]);
    const again = (await pump(n, 'inflow')).total_volume_ml;
    await n.clock.advance(5000);
    expect((await pump(n, 'inflow')).total_volume_ml).toBeCloseTo(again + 0.5, 6);
  });

  it('a node stalled 1.6 s lets both Tics time out: found at the first tick after, both restarted, the time they stood still not counted', async () => {
    const n = await node();
    const t0 = n.clock.now();
    await run(n, 'inflow', 0.1);
    await run(n, 'outflow', 0.1);
    // Keep-alive ticks every 500 ms, the last one at t0 + 10 s; then nothing runs for 1.6 s.
    await n.clock.advance(10_000);
    await n.clock.stall(1600);
    await until(
      n,
      async () => (await pump(n, 'outflow')).state === 'running' && (await pump(n, 'inflow')).state === 'running',
      2 * TIC_KEEPALIVE_MS,
    );
    const log = n.hardware.commandLog();
    for (const name of ['inflow', 'outflow']) {
      const stop = log.find((e) => e.values.pump_name === name && e.values.stopped !== undefined);
      expect(stop?.values.stopped).toMatch(/command timeout/);
      // Its own timeout: 1000 ms after the last keep-alive it received.
      expect(stop?.values.stopped_at).toBe(new Date(t0 + 11_000).toISOString());
    }
    await n.clock.advance(15_000 - (n.clock.now() - t0));
    // Pumping t0 .. t0 + 11 s, stopped until the restart at t0 + 11.6 s, pumping again until t0 + 15 s.
    for (const name of ['inflow', 'outflow']) expect((await pump(n, name)).total_volume_ml).toBeCloseTo(1.44, 6);
  });

  it('faulted when restarts do not take: halted and de-energised, volume stopped, a run command answers 502 until the Tic runs again', async () => {
    const { lines, log } = recordingLog();
    const n = await node({ log });
    await run(n, 'inflow', 0.1);
    await n.clock.advance(2000);
    await post(n, '/api/v3/simulation/faults', { component: 'pumps', fault: 'stall', pump_name: 'inflow' });
    const tookMs = await until(
      n,
      async () => (await pump(n, 'inflow')).state === 'faulted',
      (PUMP_RESTART_ATTEMPTS + 1) * TIC_KEEPALIVE_MS,
    );
    expect(tookMs).toBeLessThanOrEqual((PUMP_RESTART_ATTEMPTS + 1) * TIC_KEEPALIVE_MS);
    const faulted = await pump(n, 'inflow');
    expect(faulted).toMatchObject({ state: 'faulted', velocity: 0, active: false });
    expect(faulted.fault).toMatch(/command timeout/);
    expect(tic(n, 'inflow').energized).toBe(false);
    const volume = faulted.total_volume_ml;
    await n.clock.advance(5000);
    expect((await pump(n, 'inflow')).total_volume_ml).toBe(volume);
    expect(n.hardware.interlocks().some((t) => /^Pump inflow is faulted: .*command timeout/.test(t))).toBe(true);
    const entry = n.hardware.commandLog().find((e) => e.source === 'safety' && e.values.fault !== undefined);
    expect(entry?.values).toMatchObject({ pump_name: 'inflow', velocity: 0 });
    expect(lines.filter((l) => l.level === 'error' && /pump inflow is faulted/.test(l.msg))).toHaveLength(1);
    // The other pump is not affected.
    expect((await run(n, 'outflow', 0.1)).statusCode).toBe(200);

    const refused = await run(n, 'inflow', 0.1);
    expect(refused.statusCode).toBe(502);
    expect(refused.json()).toMatchObject({ code: 'DEVICE_FAULT' });
    expect(refused.json().message).toMatch(/^Pump inflow did not start: the Tic reports command timeout/);
    // The node's own safe state (a run's end) does not clear the fault; the Tic running again does.
    await n.hardware.applySafeState('experiment x completed');
    expect((await pump(n, 'inflow')).state).toBe('faulted');
    await n.app.inject({ method: 'DELETE', url: '/api/v3/simulation/faults' });
    expect((await run(n, 'inflow', 0.1)).statusCode).toBe(200);
    expect(await pump(n, 'inflow')).toMatchObject({ state: 'running', fault: null, active: true });
    expect(n.hardware.interlocks()).toEqual([]);
  });

  it('a Tic gone from USB is faulted the same way, saying it did not answer', async () => {
    const n = await node();
    await run(n, 'outflow', 0.1);
    await n.clock.advance(1000);
    tic(n, 'outflow').unplugged = true;
    await until(
      n,
      async () => (await pump(n, 'outflow')).state === 'faulted',
      (PUMP_RESTART_ATTEMPTS + 1) * TIC_KEEPALIVE_MS,
    );
    expect((await pump(n, 'outflow')).fault).toMatch(/the Tic did not answer: LIBUSB_ERROR_NO_DEVICE/);
  });

  it('stopped by the node’s safe state while being restarted, it stays faulted (nothing restarts it)', async () => {
    const n = await node();
    await run(n, 'inflow', 0.1);
    await n.clock.advance(1000);
    await post(n, '/api/v3/simulation/faults', { component: 'pumps', fault: 'stall', pump_name: 'inflow' });
    await until(n, async () => (await pump(n, 'inflow')).state === 'restarting', TIC_KEEPALIVE_MS);
    await n.hardware.applySafeState('shutdown');
    expect(await pump(n, 'inflow')).toMatchObject({ state: 'faulted', velocity: 0 });
    expect(n.hardware.interlocks().some((t) => /^Pump inflow is faulted/.test(t))).toBe(true);
  });
});

describe('rates bounded by each pump’s calibration', () => {
  it('refuses a rate past the calibrated maximum with 400 and the range; the Tic’s own max speed is set to match', async () => {
    const n = await node();
    // Default: a Tic's default max speed, 200 microsteps/s; at steps_per_ml 1e7 (1000 microsteps per mL), 0.2 mL/s.
    expect(tic(n, 'inflow').maxSpeed).toBe(TIC_DEFAULT_MAX_SPEED);
    const caps = (await get(n, '/api/v3/capabilities')).json().pumps;
    expect(caps.max_velocity).toEqual({ inflow: 0.2, outflow: 0.2 });
    expect(caps.max_speed_steps_per_s).toEqual({ inflow: 200, outflow: 200 });
    for (const velocity of [0.2, -0.2]) expect((await run(n, 'inflow', velocity)).statusCode).toBe(200);
    for (const velocity of [0.21, -0.5, 50]) {
      const res = await run(n, 'inflow', velocity);
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toMatch(/calibrated maximum: use -0\.2 to 0\.2 mL\/s/);
    }
    expect((await pump(n, 'inflow')).velocity).toBe(-0.2);
    expect((await pump(n, 'inflow')).max_velocity).toBe(0.2);
  });

  it('takes max_speed (microsteps/s) or max_ml_per_s, and ml_per_step instead of steps_per_ml', async () => {
    const n = await node({
      file: {
        pumps: {
          inflow: { serial: '00473498', ml_per_step: 0.001, max_ml_per_s: 0.5 },
          outflow: { serial: '00473497', steps_per_ml: 1e7, max_speed: 1000 },
        },
      },
    });
    expect(tic(n, 'inflow').maxSpeed).toBe(5_000_000);
    expect(tic(n, 'outflow').maxSpeed).toBe(10_000_000);
    expect((await run(n, 'inflow', 0.5)).statusCode).toBe(200);
    // ml_per_step 0.001 is steps_per_ml 1e7: 0.5 mL/s is 500 microsteps/s.
    expect(tic(n, 'inflow').velocity).toBe(5_000_000);
    expect((await run(n, 'inflow', 0.6)).statusCode).toBe(400);
    expect((await run(n, 'outflow', 1)).statusCode).toBe(200);
    expect((await run(n, 'outflow', 1.01)).statusCode).toBe(400);
    await n.clock.advance(2000);
    expect((await pump(n, 'inflow')).total_volume_ml).toBeCloseTo(1, 6);
  });

  it('refuses a calibration that is missing, doubled or beyond the Tic', () => {
    const pumps = (inflow: Record<string, unknown>) => ({
      ...DEFAULT_HARDWARE,
      pumps: { inflow: { serial: '00000001', ...inflow } },
    });
    expect(() => parseHardwareFile(pumps({}))).toThrow(
      /pumps\.inflow: give one calibration, steps_per_ml or ml_per_step/,
    );
    expect(() => parseHardwareFile(pumps({ steps_per_ml: 1e7, ml_per_step: 0.001 }))).toThrow(/give one calibration/);
    expect(() => parseHardwareFile(pumps({ steps_per_ml: 1e7, max_speed: 100, max_ml_per_s: 0.1 }))).toThrow(
      /max_speed or max_ml_per_s, not both/,
    );
    expect(() => parseHardwareFile(pumps({ steps_per_ml: 1e7, max_ml_per_s: 100 }))).toThrow(
      /past the Tic's 50000: at most 50 mL\/s/,
    );
    expect(() => parseHardwareFile(pumps({ steps_per_ml: 1e7, max_speed: 60_000 }))).toThrow(/max_speed/);
  });
});

describe('overflow guards', () => {
  it('ships on: the repository’s hardware file guards the vessel’s headroom and caps a run’s inflow', () => {
    const path = join(__dirname, '..', '..', '..', '..', 'bioreactor-node-v3', 'config_hardware.json');
    const file = parseHardwareFile(JSON.parse(readFileSync(path, 'utf8')), path);
    const guard = file.overflow_guard;
    expect(guard.max_excess_inflow_ml).not.toBeNull();
    // Below the simulated vessel's headroom: from the effluent needle to the brim.
    expect(guard.max_excess_inflow_ml).toBeLessThan(DEFAULT_VESSEL.maxVolumeMl - DEFAULT_VESSEL.needleMl);
    expect(guard.max_run_inflow_ml).toBeGreaterThan(0);
    expect(guard.inflow_pumps.every((p) => p in file.pumps)).toBe(true);
    expect(guard.outflow_pumps.every((p) => p in file.pumps)).toBe(true);
  });

  it('stops a run’s inflow at overflow_guard.max_run_inflow_ml and refuses that run more, until it ends', async () => {
    const n = await node({ file: { overflow_guard: { max_run_inflow_ml: 1, max_excess_inflow_ml: null } } });
    const control = (velocity: number, source: string) =>
      n.hardware.control('pumps', { pump_name: 'inflow', velocity }, source);
    await control(0.2, 'experiment:run-a');
    await n.clock.advance(4000);
    expect((await pumpsState(n)).run_inflow).toMatchObject({ experiment_id: 'run-a', limit_ml: 1, tripped: null });
    await until(n, async () => (await pump(n, 'inflow')).velocity === 0, 1500);
    const state = await pumpsState(n);
    expect(state.run_inflow.inflow_ml).toBeGreaterThanOrEqual(1);
    expect(state.run_inflow.tripped).toMatch(/experiment run-a has added .*max_run_inflow_ml \(1 mL\)/);
    expect(tic(n, 'inflow').velocity).toBe(0);
    await expect(control(0.1, 'experiment:run-a')).rejects.toMatchObject({ code: 'SAFETY_INTERLOCK' });
    // Taking liquid out stays allowed, and the operator is not that run.
    await control(-0.1, 'experiment:run-a');
    await control(0.1, 'api');
    await control(0, 'api');
    expect(n.hardware.interlocks().some((t) => /experiment run-a has added/.test(t))).toBe(true);
    // The run ends (the experiment manager's safe state): the cap no longer holds; the next run starts from zero.
    await n.hardware.applySafeState('experiment run-a completed');
    expect(n.hardware.interlocks()).toEqual([]);
    await control(0.2, 'experiment:run-b');
    expect((await pumpsState(n)).run_inflow).toMatchObject({ experiment_id: 'run-b', inflow_ml: 0, tripped: null });
  });
});

describe('a node dosing for weeks', () => {
  it('lets go of its stop signal after every dose, so listeners do not pile up dose after dose', async () => {
    const n = await node();
    const signal = (n.hardware as unknown as { stopping: AbortController }).stopping.signal;
    const name = Object.keys(n.hardware.file.pumps)[0] as string;
    const listeners = () => getEventListeners(signal, 'abort').length;
    const before = listeners();
    for (let dose = 0; dose < 40; dose++) {
      expect((await run(n, name, 0.1)).statusCode).toBe(200);
      await n.clock.advance(TIC_KEEPALIVE_MS * 2);
      expect((await run(n, name, 0)).statusCode).toBe(200);
      await n.clock.advance(TIC_KEEPALIVE_MS * 2);
    }
    // One sleeper per sampler and watchdog, as before the doses: not one more per dose.
    expect(listeners()).toBeLessThanOrEqual(before + 1);
  });
});
