// Pre-flight on a twin that cannot keep up: the script's clock follows the twin's (the X-Bioreactor-Clock header of
// its private API's replies, GET /api/v3/clock while it makes no call), so what the script measures is what the
// culture lived, not the wall clock times the asked rate.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PreflightReport } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import type { ExperimentManager } from '../src/experiments/manager.js';
import { createScalableClock, type ScalableClock } from '../src/hardware/clock.js';
import { createHardware } from '../src/hardware/index.js';
import { tempDataDir } from './experiments/helpers.js';

// A day and a half: eighteen simulated hours with a read every hour, then eighteen without a single call. At its start and end it
// also asks the node for the twin's time itself, past its own clock.
const DAY_AND_A_HALF = `
import json, time, urllib.request
from bioreactor_client import Bioreactor, accelerated

def twin_now():
    with urllib.request.urlopen(accelerated._installed.clock_url) as reply:
        return json.loads(reply.read())["now_ms"] / 1000

with Bioreactor() as b:
    t0, twin0 = time.time(), twin_now()
    for hour in range(18):
        b.get_temperature()
        time.sleep(3600)
    time.sleep(18 * 3600)
    t1, twin1 = time.time(), twin_now()
    print(json.dumps({"start": t0, "end": t1, "twin_span": twin1 - twin0}), flush=True)
`;

const quiet = { info() {}, warn() {}, error() {}, debug() {}, trace() {}, fatal() {}, child: () => quiet };

/**
 * The twin of a machine too slow for the rate asked: its clock says it runs `factor` times faster, and reaches only
 * `reached` of that (a busy node's paced clock waits for its work the same way, less predictably).
 */
function slowTwinClock(reached: number): ScalableClock {
  const inner = createScalableClock(1);
  let asked = 1;
  return {
    now: () => inner.now(),
    sleep: (ms, signal) => inner.sleep(ms, signal),
    get scale() {
      return asked;
    },
    setScale(factor) {
      asked = factor;
      return inner.setScale(factor === 1 ? 1 : factor * reached);
    },
    takeMaxLagMs: () => inner.takeMaxLagMs(),
  };
}

/** Blocks the event loop for `ms`: the twin's paced clock holds its world meanwhile, the script must wait for it. */
function blockFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy: nothing else runs on the node
  }
}

const apps: Service[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

describe('pre-flight on a twin that lags', () => {
  it("gives the script the twin's time: its measured span is the report's simulated duration", async () => {
    const dataDir = tempDataDir('bioreactor-preflight-clock-');
    const file = join(dataDir, 'config_hardware.json');
    writeFileSync(
      file,
      JSON.stringify({
        hardware_mode: 'simulation',
        init_components: { temp_sensor: true, peltier_driver: true, stirrer: true },
        eyespy_adc: { boards: {} },
      }),
    );
    const config = loadConfig({
      DATA_DIR: dataDir,
      LOG_LEVEL: 'silent',
      BIOREACTOR_HARDWARE_CONFIG: file,
      BIOREACTOR_RUNNER: 'local',
      BIOREACTOR_EXPERIMENT_STOP_GRACE_S: '2',
      BIOREACTOR_EXPERIMENT_MAX_DURATION_S: String(2 * 86400),
    });
    const hardware = await createHardware(config, { log: quiet as never, clock: slowTwinClock(0.75) });
    const deps = { logger: false as const, strictResponses: true, hardware };
    const app = await buildApp(config, deps);
    apps.push(app);
    const manager = (deps as { experimentStatus?: unknown }).experimentStatus as ExperimentManager;

    const started = await app.inject({
      method: 'POST',
      url: '/api/experiments/start',
      payload: {
        script_content: DAY_AND_A_HALF,
        experiment_id: 'preflight-lag',
        time_scale: 3600,
        max_duration_s: 2 * 86400,
      },
    });
    expect(started.statusCode, started.body).toBe(200);

    // A few stalls of the node on top, while the script sleeps.
    let stalls = 0;
    const staller = setInterval(() => {
      if (stalls++ < 4) blockFor(250);
    }, 2000);
    try {
      await manager.settled('preflight-lag');
    } finally {
      clearInterval(staller);
    }

    const logs = (await app.inject({ method: 'GET', url: '/api/experiments/preflight-lag/logs?tail=50' })).json()
      .logs as string;
    const report = (await app.inject({ method: 'GET', url: '/api/experiments/preflight-lag/preflight' })).json()
      .preflight as PreflightReport;
    expect(report.exit.status, logs).toBe('completed');
    const seen = JSON.parse(logs.trim().split('\n').at(-1) ?? '{}') as {
      start: number;
      end: number;
      twin_span: number;
    };
    const span = seen.end - seen.start;
    expect(span, logs).toBeGreaterThanOrEqual(36 * 3600);
    // The twin reached about 75 % of the asked 3600x: a script on the wall clock times 3600 would have measured 36 h
    // while the twin lived 27.
    expect(report.achieved_time_scale).toBeLessThan(3600 * 0.8);
    // What the script measured is what the twin lived meanwhile, and the whole run the report covers but for the
    // interpreter's start (about half a wall second, which the twin lives at its rate: 20 minutes at 2700x).
    expect(Math.abs(span - seen.twin_span) / seen.twin_span).toBeLessThan(0.01);
    expect(Math.abs(span - report.simulated_duration_s) / report.simulated_duration_s).toBeLessThan(0.02);
    expect(seen.start).toBeGreaterThanOrEqual(Date.parse(report.simulated_start) / 1000);
    expect(seen.end).toBeLessThanOrEqual(Date.parse(report.simulated_end) / 1000);
  }, 180_000);
});
