// Pre-flight: a Python script run on the twin (the node's own simulated hardware) at accelerated time with the local
// runner, and its report; a run at accelerated time on real hardware is refused.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PreflightReport } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp, type NodeDeps } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import type { ExperimentManager } from '../src/experiments/manager.js';
import { createHardware, type Hardware } from '../src/hardware/index.js';
import { tempDataDir, unzip } from './experiments/helpers.js';

// Sets 37 °C with a PID step every simulated minute, reads the temperature, pumps 0.1 mL/s into the vessel for 10 s
// every 10 minutes, for two simulated hours, and writes the CSV with the client's own timestamps.
const TWO_HOURS_AT_37 = `
import time
from bioreactor_client import Bioreactor, measure_all_data, pid_controller, write_data_to_csv

with Bioreactor() as b:
    start = time.time()
    minute = 0
    while time.time() - start < 2 * 3600:
        pid_controller(b, setpoint=37.0, kp=20.0, ki=0.05, dt=60.0)
        if minute % 10 == 0:
            b.change_pump("inflow", 0.1)
            time.sleep(10)
            b.change_pump("inflow", 0)
            time.sleep(50)
        else:
            time.sleep(60)
        if minute % 5 == 0:
            write_data_to_csv(measure_all_data(b))
        minute += 1
    print("simulated", round(time.time() - start), "s")
`;

const quiet = { info() {}, warn() {}, error() {}, debug() {}, trace() {}, fatal() {}, child: () => quiet };

const apps: Service[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

async function startNode(mode: 'simulation' | 'real'): Promise<{ app: Service; manager: ExperimentManager }> {
  const dataDir = tempDataDir('bioreactor-preflight-');
  const file = join(dataDir, 'config_hardware.json');
  writeFileSync(
    file,
    JSON.stringify({
      hardware_mode: 'simulation',
      init_components: { temp_sensor: true, peltier_driver: true, stirrer: true, pumps: true },
      eyespy_adc: { boards: {} },
      pumps: {
        inflow: { serial: '00000001', steps_per_ml: 1e7 },
        outflow: { serial: '00000002', steps_per_ml: 1e7 },
      },
    }),
  );
  const config = loadConfig({
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    BIOREACTOR_HARDWARE_CONFIG: file,
    BIOREACTOR_RUNNER: 'local',
    BIOREACTOR_EXPERIMENT_STOP_GRACE_S: '2',
  });
  const deps: NodeDeps = { logger: false, strictResponses: true };
  if (mode === 'real') {
    // Real mode with the emulated chips under it: the node believes it drives a culture.
    const sim = await createHardware(config, { log: quiet as never });
    const transports = sim.simulation?.transports;
    await sim.stop();
    deps.hardware = (await createHardware(
      { ...config, HARDWARE_MODE: 'real' },
      { log: quiet as never, transports },
    )) as Hardware;
    config.BIOREACTOR_ALLOW_LOCAL_RUNNER_IN_REAL = true;
  }
  const app = await buildApp(config, deps);
  apps.push(app);
  return { app, manager: deps.experimentStatus as ExperimentManager };
}

describe('pre-flight on the twin', () => {
  it('runs two simulated hours of a Python script at 600x in seconds, and reports what the culture saw', async () => {
    const { app, manager } = await startNode('simulation');
    const status = (await app.inject({ method: 'GET', url: '/api/status' })).json();
    expect(status.experiment_limits.twin).toEqual({ time_scale: 1, max_time_scale: 3600 });

    const wallStart = performance.now();
    const started = await app.inject({
      method: 'POST',
      url: '/api/experiments/start',
      payload: {
        script_content: TWO_HOURS_AT_37,
        experiment_id: 'preflight-37',
        time_scale: 600,
        max_duration_s: 3 * 3600,
      },
    });
    expect(started.statusCode, started.body).toBe(200);
    const early = await app.inject({ method: 'GET', url: '/api/experiments/preflight-37/preflight' });
    expect(early.statusCode).toBe(409);
    expect(early.json().message).toContain('written when it ends');

    await manager.settled('preflight-37');
    const wallS = (performance.now() - wallStart) / 1000;
    const logs = (await app.inject({ method: 'GET', url: '/api/experiments/preflight-37/logs?tail=50' })).json().logs;
    const record = (await app.inject({ method: 'GET', url: '/api/experiments/preflight-37/status' })).json().experiment;
    expect(record.status, logs).toBe('completed');
    // 7200 simulated seconds at 600x are 12 s of wall time; well under a minute whatever the machine's load.
    expect(wallS).toBeLessThan(45);
    expect(logs).toMatch(/simulated 72\d\d s/);

    const res = await app.inject({ method: 'GET', url: '/api/experiments/preflight-37/preflight' });
    expect(res.statusCode, res.body).toBe(200);
    const report = res.json().preflight as PreflightReport;
    expect(report).toMatchObject({ experiment_id: 'preflight-37', time_scale: 600, passed: true, reasons: [] });
    expect(report.simulated_duration_s).toBeGreaterThanOrEqual(7200);
    expect(report.simulated_duration_s).toBeLessThan(7200 + 600);
    expect(report.achieved_time_scale).toBeGreaterThan(100);
    // The vessel started at room temperature and was heated towards 37 °C.
    const t = report.temperature;
    expect(t).not.toBeNull();
    expect(t?.min_c).toBeLessThan(30);
    expect(t?.max_c).toBeGreaterThan(35);
    expect(t?.max_c).toBeLessThan(40);
    expect(t?.mean_c).toBeGreaterThan(t?.min_c ?? 0);
    // Twelve doses of 10 s at 0.1 mL/s, each a little longer: a request's wall-clock latency is 600 times longer
    // on the twin's clock (docs/preflight.md).
    expect(report.pumped_ml.per_pump.inflow).toBeGreaterThanOrEqual(12);
    expect(report.pumped_ml.per_pump.inflow).toBeLessThan(20);
    expect(report.pumped_ml.total).toBeCloseTo(report.pumped_ml.per_pump.inflow ?? 0, 3);
    expect(report.exit).toMatchObject({ status: 'completed', exit_code: 0, exception: null });
    expect(report.safety.refused_count).toBe(0);

    // The CSV's timestamps are the twin's: two simulated hours apart, not 12 wall seconds.
    const csv = (await app.inject({ method: 'GET', url: '/api/experiments/preflight-37/data?offset=0' })).body;
    const stamps = csv
      .trim()
      .split('\n')
      .slice(1)
      .map((row) => Date.parse(row.split(',')[0] ?? ''));
    expect(((stamps.at(-1) ?? 0) - (stamps[0] ?? 0)) / 1000).toBeGreaterThan(6000);

    // The report is in the download and its manifest, like the run's other node-owned files.
    const zip = await app.inject({ method: 'GET', url: '/api/experiments/preflight-37/download' });
    const files = unzip(zip.rawPayload);
    expect(JSON.parse(files['preflight.json'] ?? '{}')).toEqual(report);
    const manifest = JSON.parse(files['manifest.json'] ?? '{}');
    expect(manifest.preflight).toMatchObject({ time_scale: 600, report: { passed: true } });
    expect(manifest.files.map((f: { path: string }) => f.path)).toContain('preflight.json');

    // Back to real time once the run has ended.
    const before = Date.parse((await app.inject({ method: 'GET', url: '/api/v3/temp_sensor/state' })).json().timestamp);
    expect(Number.isFinite(before)).toBe(true);
  }, 90_000);

  it('reports a failed pre-flight with its exception and line, and why it did not pass', async () => {
    const { app, manager } = await startNode('simulation');
    const script = 'import time\ntime.sleep(3600)\nraise RuntimeError("the feed ran dry")\n';
    const started = await app.inject({
      method: 'POST',
      url: '/api/experiments/start',
      payload: { script_content: script, experiment_id: 'preflight-fail', time_scale: 3600 },
    });
    expect(started.statusCode, started.body).toBe(200);
    await manager.settled('preflight-fail');
    const report = (await app.inject({ method: 'GET', url: '/api/experiments/preflight-fail/preflight' })).json()
      .preflight as PreflightReport;
    expect(report.passed).toBe(false);
    expect(report.exit.exception).toBe('RuntimeError: the feed ran dry');
    expect(report.exit.frame).toMatch(/user_script\.py", line 3/);
    expect(report.reasons[0]).toContain('RuntimeError: the feed ran dry');
    expect(report.simulated_duration_s).toBeGreaterThanOrEqual(3600);
  }, 60_000);

  it('times a run at accelerated time by the twin’s clock', async () => {
    const { app, manager } = await startNode('simulation');
    const started = await app.inject({
      method: 'POST',
      url: '/api/experiments/start',
      payload: { script_content: 'import time\ntime.sleep(86400)\n', time_scale: 3600, max_duration_s: 600 },
    });
    expect(started.statusCode, started.body).toBe(200);
    const id = started.json().experiment_id as string;
    const wallStart = performance.now();
    await manager.settled(id);
    // 600 simulated seconds at 3600x: a fraction of a second plus the stop, not ten minutes.
    expect(performance.now() - wallStart).toBeLessThan(20_000);
    const record = (await app.inject({ method: 'GET', url: `/api/experiments/${id}/status` })).json().experiment;
    expect(record.status).toBe('timed_out');
  }, 60_000);

  it('refuses a run at accelerated time on real hardware, and time_scale out of range', async () => {
    const real = await startNode('real');
    const status = (await real.app.inject({ method: 'GET', url: '/api/status' })).json();
    expect(status.experiment_limits.twin).toBeUndefined();
    const refused = await real.app.inject({
      method: 'POST',
      url: '/api/experiments/start',
      payload: { script_content: 'print(1)\n', time_scale: 60 },
    });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ code: 'INVALID_STATE' });
    expect(refused.json().message).toContain('real hardware');
    expect((await real.app.inject({ method: 'GET', url: '/api/experiments' })).json().experiments).toEqual([]);

    const sim = await startNode('simulation');
    const tooFast = await sim.app.inject({
      method: 'POST',
      url: '/api/experiments/start',
      payload: { script_content: 'print(1)\n', time_scale: 3601 },
    });
    expect(tooFast.statusCode).toBe(400);
    expect(tooFast.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
  }, 60_000);

  it('a plain run has no pre-flight report', async () => {
    const { app, manager } = await startNode('simulation');
    const started = await app.inject({
      method: 'POST',
      url: '/api/experiments/start',
      payload: { script_content: 'print(1)\n', experiment_id: 'plain' },
    });
    expect(started.statusCode, started.body).toBe(200);
    await manager.settled('plain');
    const res = await app.inject({ method: 'GET', url: '/api/experiments/plain/preflight' });
    expect(res.statusCode).toBe(404);
    expect(res.json().message).toContain('not a pre-flight');
  }, 30_000);
});
