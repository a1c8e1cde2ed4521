// A program run as a pre-flight on the twin: its limit counts the twin's time, so a twin that fell behind the wall
// clock (a busy machine) still lets the program reach its own end instead of timing the run out.
import type { PreflightReport } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp, type NodeDeps } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import type { ExperimentManager } from '../src/experiments/manager.js';
import { tempDataDir } from './experiments/helpers.js';

const apps: Service[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

const ONE_HOUR = {
  name: 'one hour on the twin',
  tracks: [
    {
      component: 'led',
      steps: [
        { duration: '30m', set: { power: 60 } },
        { duration: '30m', set: { power: 10 } },
      ],
    },
  ],
  automations: [{ kind: 'thermostat', setpoint_c: 30, interval: '1m' }],
  limits: { duration: '1h' },
};

describe('a program pre-flight', () => {
  it('ends with its program when the twin falls behind the wall clock, and its report passes', async () => {
    const config = loadConfig({
      DATA_DIR: tempDataDir('bioreactor-preflight-program-'),
      LOG_LEVEL: 'silent',
      BIOREACTOR_HARDWARE_CONFIG: 'bioreactor-node-v3/config_hardware.json',
      BIOREACTOR_RUNNER: 'local',
    });
    const deps: NodeDeps = { logger: false, strictResponses: true };
    const app = await buildApp(config, deps);
    apps.push(app);
    const manager = deps.experimentStatus as ExperimentManager;

    const started = await app.inject({
      method: 'POST',
      url: '/api/experiments/start',
      payload: { program: ONE_HOUR, experiment_id: 'twin-behind', time_scale: 3600, sample_interval_s: 60 },
    });
    expect(started.statusCode, started.body).toBe(200);
    // The event loop held for longer than the program's hour at 3600x (1 s) plus the run's grace (5 s): the twin's
    // paced clock waits meanwhile, so the program's end comes after the wall-clock instant of its limit.
    const busyUntil = performance.now() + 7_000;
    while (performance.now() < busyUntil) {
      // a stalled machine: nothing else runs
    }
    await manager.settled('twin-behind');

    const record = (await app.inject({ url: '/api/experiments/twin-behind/status' })).json().experiment;
    expect(record).toMatchObject({ status: 'completed', exit_code: 0 });
    const report = (await app.inject({ url: '/api/experiments/twin-behind/preflight' })).json()
      .preflight as PreflightReport;
    expect(report).toMatchObject({ passed: true, reasons: [], time_scale: 3600 });
    expect(report.simulated_duration_s).toBeGreaterThanOrEqual(3600);
    expect(report.wall_duration_s).toBeGreaterThan(7);
    expect(report.achieved_time_scale).toBeLessThan(3600);
  }, 60_000);
});
