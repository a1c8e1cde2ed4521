// Programs as runs, and programs started by runs: a program run on the node (no container) with its program.json,
// actuator log, CSV rows of the guide's columns, its end at the program's, a stop that cancels it, its pumps counted
// towards the run's inflow cap; a script that starts a program through its private hardware API (in its actuator log
// and manifest); and a program run resumed, still running, after the node is killed with SIGKILL.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { GUIDE_CSV_COLUMNS } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import { afterEach, describe, expect, it } from 'vitest';
import type { ManualClock } from '../src/hardware/clock.js';
import { runToEnd, startNode, type TestNode, tempDataDir, unzip } from './experiments/helpers.js';
import { hardwareNode } from './hardware/support.js';

const H = 3600;

/** Waits for `condition` (checked every 50 ms), failing after `ms`. */
async function until(condition: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met in ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50)); // polling interval while waiting for the condition
  }
}

const LIGHT_HOUR = {
  name: 'light hour',
  tracks: [
    {
      component: 'led',
      steps: [
        { duration: '10m', set: { power: 80 } },
        { duration: '50m', set: { power: 20 } },
      ],
    },
  ],
  limits: { duration: '1h' },
};

const apps: Service[] = [];
const nodes: TestNode[] = [];
const processes: ChildProcess[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
  for (const n of nodes.splice(0)) await n.app.close();
  for (const p of processes.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

async function simNode(file?: Record<string, unknown>): Promise<{ app: Service; clock: ManualClock }> {
  const n = await hardwareNode(file ? { file } : {});
  apps.push(n.app);
  return { app: n.app, clock: n.clock };
}

async function status(app: Service, id: string): Promise<Record<string, unknown>> {
  return (await app.inject({ url: `/api/experiments/${id}/status` })).json().experiment;
}

async function csvLines(app: Service, id: string): Promise<string[]> {
  const res = await app.inject({ url: `/api/experiments/${id}/data?offset=0` });
  return res.statusCode === 200 ? res.body.trim().split('\n').filter(Boolean) : [];
}

describe('a program run', () => {
  it('runs with no container: program.json, CSV rows of the guide, its actuator log, and it ends with the program', async () => {
    const { app, clock } = await simNode();
    const start = await app.inject({
      method: 'POST',
      url: '/api/experiments/start',
      payload: { program: LIGHT_HOUR, experiment_id: 'prog-1', sample_interval_s: 1 },
    });
    expect(start.statusCode).toBe(200);
    expect(await status(app, 'prog-1')).toMatchObject({ status: 'running', runner: 'program', max_duration_s: H });
    await clock.advance(100);
    expect((await app.inject({ url: '/api/v3/led/state' })).json().power).toBe(80);
    expect((await app.inject({ url: '/api/v3/programs/current' })).json()).toMatchObject({
      running: true,
      name: 'light hour',
      experiment_id: 'prog-1',
    });
    // One run at a time, and one program.
    const busy = await app.inject({
      method: 'POST',
      url: '/api/experiments/start',
      payload: { program: LIGHT_HOUR, experiment_id: 'prog-2' },
    });
    expect(busy.json().code).toBe('NODE_BUSY');

    await until(async () => (await csvLines(app, 'prog-1')).length >= 3);
    const lines = await csvLines(app, 'prog-1');
    expect(lines[0]).toBe(GUIDE_CSV_COLUMNS.join(','));
    expect(lines[1]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00,/);

    await clock.advance(11 * 60 * 1000);
    // A row after the sensors' samples carries them (the twin's temperature, the OD channels).
    const temperatureOf = (line: string) => line.split(',')[GUIDE_CSV_COLUMNS.indexOf('temperature')];
    await until(async () => Number(temperatureOf((await csvLines(app, 'prog-1')).at(-1) ?? '')) > 0);
    expect((await app.inject({ url: '/api/v3/led/state' })).json().power).toBe(20);
    await clock.advance(H * 1000);
    await until(async () => (await status(app, 'prog-1')).status === 'completed');
    expect(await status(app, 'prog-1')).toMatchObject({ exit_code: 0, error_message: null });
    expect((await app.inject({ url: '/api/v3/led/state' })).json().power).toBe(0);
    expect((await app.inject({ url: '/api/v3/programs/current' })).json().running).toBe(false);

    const results = (await app.inject({ url: '/api/experiments/prog-1/results' })).json().results;
    expect(results.output_files).toEqual(expect.arrayContaining(['program.json', 'experiment_data.csv']));
    const zip = unzip((await app.inject({ url: '/api/experiments/prog-1/download' })).rawPayload);
    expect(JSON.parse(zip['output/program.json'] as string)).toEqual(LIGHT_HOUR);
    const manifest = JSON.parse(zip['manifest.json'] as string);
    expect(manifest.programs).toEqual([{ name: 'light hour', started_at: expect.any(String) }]);
    const sources = (manifest.actuator_commands as { source: string; component: string }[]).map((c) => c.source);
    expect(sources).toContain('program:experiment:prog-1');
  }, 60_000);

  it('a stop cancels the program, and stopping the program ends the run', async () => {
    const { app, clock } = await simNode();
    const forever = {
      name: 'forever',
      tracks: [{ component: 'stirrer', steps: [{ duration: '1h', set: { duty_cycle: 55 } }], repeat: 'forever' }],
    };
    await app.inject({
      method: 'POST',
      url: '/api/experiments/start',
      payload: { program: forever, experiment_id: 'prog-stop', max_duration_s: 600 },
    });
    expect(await status(app, 'prog-stop')).toMatchObject({ status: 'running', max_duration_s: 600 });
    await clock.advance(100);
    expect((await app.inject({ url: '/api/v3/stirrer/state' })).json().duty_cycle).toBe(55);
    const stopped = await app.inject({ method: 'POST', url: '/api/experiments/prog-stop/stop' });
    expect(stopped.statusCode).toBe(200);
    expect(await status(app, 'prog-stop')).toMatchObject({ status: 'stopped' });
    expect((await app.inject({ url: '/api/v3/programs/current' })).json().running).toBe(false);
    expect((await app.inject({ url: '/api/v3/stirrer/state' })).json().duty_cycle).not.toBe(55);

    // YAML text, and the program's own DELETE ends its run.
    const yaml =
      'name: lights\ntracks:\n  - component: led\n    repeat: forever\n    steps:\n      - {duration: 1h, set: {power: 40}}\n';
    const started = await app.inject({
      method: 'POST',
      url: '/api/experiments/start',
      payload: { program: yaml, experiment_id: 'prog-delete' },
    });
    expect(started.statusCode).toBe(200);
    await app.inject({ method: 'DELETE', url: '/api/v3/programs/current' });
    await until(async () => (await status(app, 'prog-delete')).status === 'stopped');

    const invalid = await app.inject({
      method: 'POST',
      url: '/api/experiments/start',
      payload: {
        program: { name: 'x', tracks: [{ component: 'led', steps: [{ duration: '1h', set: { power: 101 } }] }] },
      },
    });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().problems[0].field).toBe('tracks[0].steps[0].set.power');
    const neither = await app.inject({ method: 'POST', url: '/api/experiments/start', payload: {} });
    expect(neither.statusCode).toBe(400);
  }, 60_000);

  it('counts its pumps towards the run’s inflow cap (overflow_guard.max_run_inflow_ml)', async () => {
    const { app, clock } = await simNode({ overflow_guard: { max_run_inflow_ml: 5, max_excess_inflow_ml: null } });
    const dosing = {
      name: 'dosing',
      tracks: [
        {
          component: 'pumps',
          steps: [
            { duration: '60s', set: { pump_name: 'inflow', velocity: 0.05 } },
            { duration: '1h', set: { pump_name: 'inflow', velocity: 0 } },
          ],
        },
      ],
      limits: { duration: '2h' },
    };
    const start = await app.inject({
      method: 'POST',
      url: '/api/experiments/start',
      payload: { program: dosing, experiment_id: 'prog-pump' },
    });
    expect(start.statusCode).toBe(200);
    for (let i = 0; i < 70; i += 1) await clock.advance(1000);
    const pumps = (await app.inject({ url: '/api/v3/pumps/state' })).json();
    expect(pumps.run_inflow).toMatchObject({ experiment_id: 'prog-pump', limit_ml: 5 });
    expect(pumps.run_inflow.inflow_ml).toBeCloseTo(3, 1);
    await app.inject({ method: 'POST', url: '/api/experiments/prog-pump/stop' });
  }, 60_000);
});

describe('a program a script starts', () => {
  it('is in the run’s actuator log and manifest, and keeps its actuators after the run', async () => {
    const n = await startNode(
      { BIOREACTOR_RUNNER: 'local', BIOREACTOR_EXPERIMENT_STOP_GRACE_S: '2' },
      { realHardware: true },
    );
    nodes.push(n);
    const script = `
import json, os, urllib.request
program = {"name": "kept", "tracks": [{"component": "stirrer", "steps": [{"duration": "1h", "set": {"duty_cycle": 65}}], "repeat": "forever"}]}
req = urllib.request.Request(os.environ["BIOREACTOR_NODE_API_URL"] + "/api/v3/programs", data=json.dumps(program).encode(),
                             headers={"Content-Type": "application/json"}, method="POST")
print(json.load(urllib.request.urlopen(req))["experiment_id"])
`;
    const res = await n.app.inject({
      method: 'POST',
      url: '/api/experiments/start',
      payload: { script_content: script, experiment_id: 'starts-kept' },
    });
    expect(res.statusCode).toBe(200);
    expect(await runToEnd(n, 'starts-kept')).toMatchObject({ status: 'completed' });
    expect((await n.app.inject({ url: '/api/v3/stirrer/state' })).json().duty_cycle).toBe(65);
    const log = readFileSync(join(n.dataDir, 'experiments/starts-kept/container_logs.txt'), 'utf8');
    expect(log).toContain('program "kept" (this run started) goes on and keeps stirrer');
    const actuatorLog = readFileSync(join(n.dataDir, 'experiments/starts-kept/actuator_log.jsonl'), 'utf8');
    expect(actuatorLog).toContain('"component":"program"');
    expect(actuatorLog).toContain('"source":"program:experiment:starts-kept"');
    const zip = unzip((await n.app.inject({ url: '/api/experiments/starts-kept/download' })).rawPayload);
    expect(JSON.parse(zip['manifest.json'] as string).programs).toEqual([
      { name: 'kept', started_at: expect.any(String) },
    ]);
    await n.app.inject({ method: 'DELETE', url: '/api/v3/programs/current' });
    expect((await n.app.inject({ url: '/api/v3/stirrer/state' })).json().duty_cycle).not.toBe(65);
  }, 60_000);
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
    server.on('error', reject);
  });
}

describe('a program run and a node killed with SIGKILL', () => {
  it('resumes the program and keeps the run running, its CSV going on', async () => {
    const dataDir = tempDataDir('bioreactor-program-run-');
    const hardwareFile = join(dataDir, 'config_hardware.json');
    writeFileSync(hardwareFile, readFileSync('bioreactor-node-v3/config_hardware.json'));
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    let stderr = '';
    const startProcess = async () => {
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BIOREACTOR_')));
      const child = spawn(process.execPath, ['--import', 'tsx', 'apps/node/src/server.ts'], {
        env: {
          ...env,
          PORT: String(port),
          HOST: '127.0.0.1',
          HARDWARE_MODE: 'simulation',
          DATA_DIR: dataDir,
          BIOREACTOR_HARDWARE_CONFIG: hardwareFile,
          BIOREACTOR_RUNNER: 'local',
          LOG_LEVEL: 'error',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      processes.push(child);
      await until(
        () =>
          fetch(`${base}/health`).then(
            (r) => r.ok,
            () => false,
          ),
        60_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}: the node did not answer /health; its stderr: ${stderr}`);
      });
      return child;
    };
    // biome-ignore lint/suspicious/noExplicitAny: replies checked by the assertions below
    const json = async (path: string, init?: RequestInit): Promise<any> => (await fetch(base + path, init)).json();
    const rows = async () => {
      const res = await fetch(`${base}/api/experiments/prog-kill/data?offset=0`);
      return res.ok ? (await res.text()).trim().split('\n').length - 1 : 0;
    };

    const first = await startProcess();
    const started = await json('/api/experiments/start', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ program: LIGHT_HOUR, experiment_id: 'prog-kill', sample_interval_s: 1 }),
    });
    expect(started).toMatchObject({ status: 'success', experiment_id: 'prog-kill' });
    await until(async () => (await rows()) >= 2);
    const before = await json('/api/v3/programs/current');
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));

    await startProcess();
    expect((await json('/api/experiments/prog-kill/status')).experiment).toMatchObject({ status: 'running' });
    const after = await json('/api/v3/programs/current');
    expect(after).toMatchObject({ running: true, experiment_id: 'prog-kill', started_at: before.started_at });
    expect((await json('/api/v3/led/state')).power).toBe(80);
    const kept = await rows();
    await until(async () => (await rows()) > kept);

    await fetch(`${base}/api/experiments/prog-kill/stop`, { method: 'POST' });
    expect((await json('/api/experiments/prog-kill/status')).experiment).toMatchObject({ status: 'stopped' });
    expect((await json('/api/v3/led/state')).power).toBe(0);
  }, 120_000);
});
