// Programs: the document's validation (every problem with its path), the timeline of a 10-day program, the executor
// on an injected clock (steps at their times, a restart 30 h later in the state of now, stop leaving everything
// safe), a thermostat holding the simulated vessel, and the routes (JSON and YAML).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiError, COMPONENT_NAMES, type ProgramContext, validateProgram } from '@bioreactor/api';
import { afterEach, describe, expect, it } from 'vitest';
import { createManualClock, type ManualClock } from '../src/hardware/clock.js';
import { PROGRAM_STATE_FILE, ProgramExecutor, type ProgramHardware } from '../src/programs/executor.js';
import { expand } from '../src/programs/expand.js';
import { hardwareNode, quietLog, simulatedHardware, tempDir, whileTimePasses } from './hardware/support.js';

const H = 3600;

const CAPABILITIES = {
  pumps: { available_pumps: ['inflow', 'outflow'], max_velocity: { inflow: 1, outflow: 1 } },
  stirrer: { idle_duty: 20 },
  peltier_driver: { over_temperature_c: 45 },
  led: {},
  ring_light: { pixel_count: 16 },
  temp_sensor: {},
  optical_density: { channels: ['od_135', 'od_180'] },
};
const context = (over: Partial<ProgramContext> = {}): ProgramContext => ({
  capabilities: CAPABILITIES,
  inflowPumps: ['inflow'],
  maxRunInflowMl: null,
  ...over,
});

/** Ten days of 12 h light / 12 h dark, the stirrer on, 30 °C then 37 °C from day 5. */
const TEN_DAYS = {
  name: 'ten days',
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
  automations: [{ kind: 'thermostat', setpoint_c: 30, schedule: [{ at: '5d', setpoint_c: 37 }] }],
  limits: { duration: '10d' },
};

function problemsOf(fn: () => unknown): { field?: string; message: string }[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('VALIDATION_FAILED');
    return (err as ApiError).problems ?? [];
  }
  throw new Error('expected VALIDATION_FAILED');
}

describe('program validation', () => {
  it('lists every problem with its JSON path', () => {
    const problems = problemsOf(() =>
      validateProgram(
        {
          name: 'bad',
          tracks: [
            { component: 'heater', steps: [{ duration: '1h', set: {} }] },
            { component: 'stirrer', steps: [{ duration: '1x', set: { duty_cycle: 150 } }] },
            { component: 'stirrer', steps: [{ duration: 60, set: { duty: 10, duty_cycle: 10 } }] },
            { component: 'pumps', steps: [{ duration: '1m', set: { pump_name: 'inflow', velocity: 5 } }] },
          ],
          automations: [
            { kind: 'chemostat', dilution_rate_per_h: 0.2, volume_ml: 30, pump_in: 'inflow', pump_out: 'drain' },
            { kind: 'thermostat', setpoint_c: 50 },
          ],
        },
        context(),
      ),
    );
    const fields = problems.map((p) => p.field);
    expect(fields).toContain('tracks[0].component');
    expect(fields).toContain('tracks[1].steps[0].duration');
    expect(fields).toContain('tracks[1].steps[0].set.duty_cycle');
    expect(fields).toContain('tracks[2].steps[0].set.duty');
    // Two tracks on the stirrer; a track and the chemostat on the inflow pump.
    expect(problems.find((p) => p.field === 'tracks[2]')?.message).toMatch(/stirrer.*track 1 already drives/);
    expect(fields).toContain('tracks[3].steps[0].set.velocity');
    expect(problems.find((p) => p.field === 'automations[0]')?.message).toMatch(/pumps inflow.*track 3/);
    expect(problems.find((p) => p.field === 'automations[0].pump_out')?.message).toMatch(/no pump "drain"/);
    expect(problems.find((p) => p.field === 'automations[1].setpoint_c')?.message).toMatch(/over-temperature/);
  });

  it('refuses a total inflow above the node’s cap, and an endless one', () => {
    const feed = {
      name: 'feed',
      tracks: [
        {
          component: 'pumps',
          steps: [
            { duration: '1m', set: { pump_name: 'inflow', velocity: 0.5 } },
            { duration: '59m', set: { pump_name: 'inflow', velocity: 0 } },
          ],
          repeat: 24,
        },
      ],
    };
    // 30 mL an hour for a day: 720 mL.
    expect(() => validateProgram(feed, context({ maxRunInflowMl: 1000 }))).not.toThrow();
    const over = problemsOf(() => validateProgram(feed, context({ maxRunInflowMl: 500 })));
    expect(over[0]?.field).toBe('limits');
    expect(over[0]?.message).toMatch(/720 mL.*max_run_inflow_ml \(500 mL\)/);
    const endless = problemsOf(() =>
      validateProgram(
        { ...feed, tracks: [{ ...feed.tracks[0], repeat: 'forever' }] },
        context({ maxRunInflowMl: 500 }),
      ),
    );
    expect(endless[0]?.message).toMatch(/without end.*limits.duration/);
  });
});

describe('program timeline', () => {
  it('expands a 10-day light cycle with a temperature step into the right change times', () => {
    const program = validateProgram(TEN_DAYS, context());
    const timeline = expand(program, 0, 240 * H);
    const ring = timeline.changes.filter((c) => c.component === 'ring_light');
    expect(ring).toHaveLength(20);
    expect(ring.map((c) => c.at_s)).toEqual(Array.from({ length: 20 }, (_, i) => i * 12 * H));
    expect(ring.map((c) => c.set.red)).toEqual(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 255 : 0)));
    expect(timeline.changes.filter((c) => c.component === 'stirrer').map((c) => c.at_s)).toEqual([0]);
    expect(timeline.end_s).toBe(240 * H);
    expect(timeline.automations[0]?.setpoints).toEqual([
      { at_s: 0, setpoint_c: 30 },
      { at_s: 120 * H, setpoint_c: 37 },
    ]);
    // From hour 30: the setting in force then (light, since hour 24) first, then dark from hour 36.
    const later = expand(program, 30 * H, 48 * H);
    expect(later.changes.filter((c) => c.component === 'ring_light').map((c) => [c.at_s, c.set.red])).toEqual([
      [30 * H, 255],
      [36 * H, 0],
    ]);
  });
});

/** Hardware that records what it is told, at the clock's time. */
function fakeHardware(clock: ManualClock, temperature: () => number | null = () => 25) {
  const commands: { at: number; component: string; body: Record<string, unknown> }[] = [];
  const now: Record<string, Record<string, unknown>> = {};
  const hardware: ProgramHardware = {
    capabilities: () => CAPABILITIES,
    componentState: ((name: string) =>
      name === 'temp_sensor'
        ? { status: 'success', temperature: temperature() }
        : name === 'optical_density'
          ? { status: 'success', voltages: [3, 3], channels: ['od_135', 'od_180'] }
          : (now[name] ?? null)) as never,
    control: (async (component: string, body: Record<string, unknown>) => {
      commands.push({ at: clock.now(), component, body });
      now[component === 'pumps' ? `pumps:${body.pump_name}` : component] = body;
      return body;
    }) as never,
    hardwareConfig: () => ({ overflow_guard: { inflow_pumps: ['inflow'], max_run_inflow_ml: null } }),
  };
  return { hardware, commands, now };
}

const executors: ProgramExecutor[] = [];
afterEach(async () => {
  for (const e of executors.splice(0)) await e.detach();
});

function executor(hardware: ProgramHardware, clock: ManualClock, dataDir: string): ProgramExecutor {
  const e = new ProgramExecutor({
    hardware,
    clock,
    dataDir,
    log: quietLog,
    monotonic: () => ({ boot_id: 'boot-1', ns: BigInt(clock.now()) * 1_000_000n }),
  });
  executors.push(e);
  return e;
}

const LIGHTS = {
  name: 'lights',
  tracks: [
    {
      component: 'led',
      steps: [
        { duration: '12h', set: { power: 80 } },
        { duration: '12h', set: { power: 0 } },
      ],
      repeat: 'forever',
    },
    {
      component: 'ring_light',
      steps: [
        { duration: '6h', set: { red: 10, green: 0, blue: 0 } },
        { duration: '2h', set: { red: 0, green: 10, blue: 0 } },
      ],
      repeat: 'forever',
    },
  ],
};

describe('program executor', () => {
  it('applies each step at its time, through the hardware control path', async () => {
    const clock = createManualClock();
    const { hardware, commands } = fakeHardware(clock);
    const t0 = clock.now();
    const e = executor(hardware, clock, tempDir());
    await e.start(LIGHTS);
    await clock.advance(25 * H * 1000);
    const led = commands.filter((c) => c.component === 'led').map((c) => [(c.at - t0) / 1000 / H, c.body.power]);
    expect(led).toEqual([
      [0, 80],
      [12, 0],
      [24, 80],
    ]);
    const ring = commands.filter((c) => c.component === 'ring_light').map((c) => (c.at - t0) / 1000 / H);
    expect(ring).toEqual([0, 6, 8, 14, 16, 22, 24]);
    const status = e.status();
    expect(status.tracks[0]).toMatchObject({ component: 'led', step: 0, cycle: 1 });
    expect(status.next_change_at).toBe(new Date(t0 + 30 * H * 1000).toISOString());
  });

  it('resumes from its state file after a restart, in the step of now, without replaying the missed ones', async () => {
    const clock = createManualClock();
    const dataDir = tempDir();
    const first = fakeHardware(clock);
    const t0 = clock.now();
    const before = executor(first.hardware, clock, dataDir);
    await before.start({
      ...LIGHTS,
      automations: [
        { kind: 'chemostat', dilution_rate_per_h: 0.1, volume_ml: 30, pump_in: 'inflow', pump_out: 'outflow' },
      ],
    });
    await clock.advance(H * 1000);
    const saved = JSON.parse(readFileSync(join(dataDir, PROGRAM_STATE_FILE), 'utf8'));
    expect(saved.program.name).toBe('lights');
    // The process dies (nothing runs any more) and the node comes back 30 h later.
    await before.detach();
    await clock.stall(30 * H * 1000);
    const second = fakeHardware(clock);
    const after = executor(second.hardware, clock, dataDir);
    expect(await after.resume()).toBe(true);
    await clock.advance(1000);
    // Hour 31: the LED 7 h into its second day (on); the ring's 8 h cycles put hour 31 in the green 30-32 h step.
    const firstOf = (component: string) => second.commands.find((c) => c.component === component);
    expect(firstOf('led')?.body).toEqual({ power: 80 });
    expect(firstOf('ring_light')?.body).toEqual({ red: 0, green: 10, blue: 0 });
    expect(second.commands.filter((c) => c.component === 'led')).toHaveLength(1);
    expect(second.commands.filter((c) => c.component === 'ring_light')).toHaveLength(1);
    // The chemostat goes on from its kept count, one dose now, not the 360 missed ones.
    await clock.advance(60 * 1000);
    const status = after.status();
    expect(status.elapsed_s).toBeCloseTo(31 * H + 61, 0);
    expect(status.automations[0]?.values.doses).toBe(13);
    expect(clock.now() - t0).toBe((31 * H + 61) * 1000);
  });

  it('stop puts every actuator it drove in its safe state and forgets the program', async () => {
    const clock = createManualClock();
    const dataDir = tempDir();
    const { hardware, now } = fakeHardware(clock);
    const e = executor(hardware, clock, dataDir);
    await e.start({
      name: 'mixed',
      tracks: [
        { component: 'stirrer', steps: [{ duration: '1h', set: { duty_cycle: 70 } }] },
        { component: 'pumps', steps: [{ duration: '1h', set: { pump_name: 'outflow', velocity: 0.2 } }] },
      ],
      automations: [{ kind: 'thermostat', setpoint_c: 37 }],
    });
    await clock.advance(60_000);
    expect(now['peltier_driver']?.duty_cycle).toBeGreaterThan(0);
    expect(now['pumps:outflow']?.velocity).toBe(0.2);
    await expect(e.start(LIGHTS)).rejects.toMatchObject({ code: 'INVALID_STATE' });
    await e.stop();
    expect(now['peltier_driver']?.duty_cycle).toBe(0);
    expect(now['pumps:outflow']).toEqual({ pump_name: 'outflow', velocity: 0 });
    expect(now['stirrer']).toEqual({ duty_cycle: 20 });
    expect(e.status().running).toBe(false);
    expect(() => readFileSync(join(dataDir, PROGRAM_STATE_FILE))).toThrow();
    expect(await executor(hardware, clock, dataDir).resume()).toBe(false);
  });

  it('a thermostat without a temperature yet (the first samples after a restart) heats as soon as there is one', async () => {
    const clock = createManualClock();
    let temperature: number | null = null;
    const { hardware, commands } = fakeHardware(clock, () => temperature);
    const e = executor(hardware, clock, tempDir());
    await e.start({ name: 'warm', tracks: [], automations: [{ kind: 'thermostat', setpoint_c: 30, interval: '1m' }] });
    await clock.advance(100);
    expect(e.status().automations[0]?.error).toContain('no valid temperature');
    temperature = 22;
    await clock.advance(2000);
    const heating = commands.filter((c) => c.component === 'peltier_driver' && c.body.direction === 'heat');
    expect(heating.at(-1)?.body.duty_cycle).toBeGreaterThan(0);
    // Once it has readings, it keeps to its interval.
    const sent = commands.length;
    await clock.advance(30_000);
    expect(commands.length).toBe(sent);
  });

  it('a resumed thermostat commands the peltier again at once, which the restart left off', async () => {
    const clock = createManualClock();
    const dataDir = tempDir();
    const first = fakeHardware(clock, () => 22);
    const before = executor(first.hardware, clock, dataDir);
    await before.start({
      name: 'warm',
      tracks: [],
      automations: [{ kind: 'thermostat', setpoint_c: 30, interval: '10m' }],
    });
    await clock.advance(61_000);
    expect(before.status().automations[0]?.values.output).toBe(100);
    await before.detach();
    await clock.stall(5000);
    const second = fakeHardware(clock, () => 22);
    const after = executor(second.hardware, clock, dataDir);
    expect(await after.resume()).toBe(true);
    // At once, not at its next tick ten minutes after its start.
    await clock.advance(1000);
    expect(second.now['peltier_driver']).toEqual({ duty_cycle: 100, direction: 'heat' });
  });

  it('a change of setpoint acts at once; a changed track starts its steps now', async () => {
    const clock = createManualClock();
    const { hardware, commands } = fakeHardware(clock);
    const e = executor(hardware, clock, tempDir());
    await e.start({ ...LIGHTS, automations: [{ kind: 'thermostat', setpoint_c: 20, interval: '1h' }] });
    await clock.advance(60_000);
    expect(commands.filter((c) => c.component === 'peltier_driver').at(-1)?.body.direction).toBe('cool');
    await e.change({ automation: { index: 0, set: { setpoint_c: 40 } } });
    await clock.advance(1000);
    expect(commands.filter((c) => c.component === 'peltier_driver').at(-1)?.body.direction).toBe('heat');
    await e.change({ track: { index: 0, steps: [{ duration: '1h', set: { power: 5 } }] } });
    await clock.advance(1000);
    expect(commands.filter((c) => c.component === 'led').at(-1)?.body).toEqual({ power: 5 });
    await expect(e.change({ automation: { index: 0, set: { setpoint_c: 60 } } })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
  });
});

describe('program executor on the simulated vessel', () => {
  it('a thermostat holds the vessel near its setpoint', async () => {
    const only = ['temp_sensor', 'peltier_driver', 'stirrer'];
    const sim = await simulatedHardware({
      file: { init_components: Object.fromEntries(COMPONENT_NAMES.map((n) => [n, only.includes(n)])) },
      dataDir: null,
    });
    await whileTimePasses(sim.clock, sim.hardware.start(), 50);
    await whileTimePasses(sim.clock, sim.hardware.waitForFirstSamples(), 50);
    const e = new ProgramExecutor({
      hardware: sim.hardware as never,
      clock: sim.clock,
      dataDir: tempDir(),
      log: quietLog,
      monotonic: null,
    });
    executors.push(e);
    try {
      await e.start({ name: 'hold', automations: [{ kind: 'thermostat', setpoint_c: 37, interval: '5s' }] });
      const trace: number[] = [];
      for (let t = 0; t < 3 * H; t += 60) {
        await sim.clock.advance(60_000);
        const temperature = sim.hardware.componentState('temp_sensor')?.temperature;
        if (typeof temperature === 'number') trace.push(temperature);
      }
      const lastHalfHour = trace.slice(-30);
      expect(trace[0]).toBeLessThan(26);
      expect(Math.max(...lastHalfHour.map((v) => Math.abs(v - 37)))).toBeLessThan(0.5);
      expect(e.status().automations[0]?.values.temperature_c).toBeCloseTo(37, 0);
      await e.stop();
      expect(sim.hardware.componentState('peltier_driver')?.duty_cycle).toBe(0);
      expect(sim.hardware.commandLog().some((c) => c.source === 'program')).toBe(true);
    } finally {
      await e.detach();
      await sim.hardware.stop();
    }
  }, 60_000);
});

describe('program routes', () => {
  it('preview (JSON and YAML), start, 409, state, change, stop', async () => {
    const { app, clock } = await hardwareNode();
    try {
      const preview = await app.inject({ method: 'POST', url: '/api/v3/programs/preview?hours=48', payload: LIGHTS });
      expect(preview.statusCode).toBe(200);
      expect(preview.json().timeline.changes.filter((c: { component: string }) => c.component === 'led')).toHaveLength(
        4,
      );
      const yaml = [
        'name: lights',
        'tracks:',
        '  - component: led',
        '    repeat: forever',
        '    steps:',
        '      - {duration: 12h, set: {power: 80}}',
        '      - {duration: 12h, set: {power: 0}}',
      ].join('\n');
      const fromYaml = await app.inject({
        method: 'POST',
        url: '/api/v3/programs/preview?hours=24',
        headers: { 'content-type': 'application/yaml' },
        payload: yaml,
      });
      expect(fromYaml.statusCode).toBe(200);
      expect(fromYaml.json().timeline.changes.map((c: { at_s: number }) => c.at_s)).toEqual([0, 12 * H]);
      const badYaml = await app.inject({
        method: 'POST',
        url: '/api/v3/programs/preview',
        headers: { 'content-type': 'application/yaml' },
        payload: 'name: [unclosed',
      });
      expect(badYaml.statusCode).toBe(400);
      const invalid = await app.inject({
        method: 'POST',
        url: '/api/v3/programs',
        payload: { name: 'x', tracks: [{ component: 'led', steps: [{ duration: '1h', set: { power: 101 } }] }] },
      });
      expect(invalid.statusCode).toBe(400);
      expect(invalid.json().problems[0].field).toBe('tracks[0].steps[0].set.power');

      const start = await app.inject({ method: 'POST', url: '/api/v3/programs', payload: LIGHTS });
      expect(start.statusCode).toBe(200);
      await clock.advance(100);
      expect((await app.inject({ url: '/api/v3/led/state' })).json().power).toBe(80);
      const again = await app.inject({ method: 'POST', url: '/api/v3/programs', payload: LIGHTS });
      expect(again.statusCode).toBe(409);
      expect(again.json().code).toBe('INVALID_STATE');
      const current = (await app.inject({ url: '/api/v3/programs/current' })).json();
      expect(current).toMatchObject({ running: true, name: 'lights' });
      expect(current.tracks[0]).toMatchObject({ component: 'led', step: 0 });
      const patched = await app.inject({
        method: 'PATCH',
        url: '/api/v3/programs/current',
        payload: { track: { index: 0, steps: [{ duration: '1h', set: { power: 30 } }] } },
      });
      expect(patched.statusCode).toBe(200);
      await clock.advance(100);
      expect((await app.inject({ url: '/api/v3/led/state' })).json().power).toBe(30);
      const stopped = await app.inject({ method: 'DELETE', url: '/api/v3/programs/current' });
      expect(stopped.statusCode).toBe(200);
      expect((await app.inject({ url: '/api/v3/led/state' })).json().power).toBe(0);
      expect((await app.inject({ url: '/api/v3/ring_light/state' })).json().active).toBe(false);
      expect((await app.inject({ method: 'DELETE', url: '/api/v3/programs/current' })).statusCode).toBe(409);
    } finally {
      await app.close();
    }
  }, 30_000);
});
