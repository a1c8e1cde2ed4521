// Shared by the hardware tests: a simulated hardware on a manual clock, a node app around it, and a way to run a
// driver operation while time moves.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunnerInfo } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import type { Static } from 'typebox';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createManualClock, type ManualClock } from '../../src/hardware/clock.js';
import type { HardwareController, HardwareLog } from '../../src/hardware/hardware.js';
import { DEFAULT_HARDWARE, parseHardwareFile } from '../../src/hardware/hardware-file.js';
import { createHardware, type Hardware } from '../../src/hardware/index.js';
import type { ExperimentRunner } from '../../src/runner/runner.js';

export const quietLog = { info: () => {}, warn: () => {}, error: () => {} };

/** Collects log lines so a test can check what the node said once. */
export function recordingLog() {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (_obj: object, msg: string) => lines.push({ level, msg });
  return { lines, log: { info: at('info'), warn: at('warn'), error: at('error') } };
}

export function tempDir(prefix = 'bioreactor-hw-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface SimOptions {
  file?: Record<string, unknown>;
  seed?: number;
  clock?: ManualClock;
  dataDir?: string | null;
  log?: HardwareLog;
}

export async function simulatedHardware(
  opts: SimOptions = {},
): Promise<{ hardware: Hardware & HardwareController; clock: ManualClock; dataDir: string }> {
  const clock = opts.clock ?? createManualClock();
  const dataDir = opts.dataDir === undefined ? tempDir() : (opts.dataDir ?? tempDir());
  const file = parseHardwareFile({ ...DEFAULT_HARDWARE, ...opts.file });
  const hardware = await createHardware(
    { HARDWARE_MODE: 'simulation', BIOREACTOR_HARDWARE_CONFIG: '/nonexistent', DATA_DIR: dataDir },
    { log: opts.log ?? quietLog, clock, seed: opts.seed ?? 7, file },
  );
  return { hardware, clock, dataDir };
}

/** A runner that runs nothing: these tests are about hardware. */
export const idleRunner: ExperimentRunner = {
  kind: 'local',
  endpoint: 'tcp',
  probe: async () => idleInfo,
  info: () => idleInfo,
  image: async () => ({ image: null, digest: null }),
  start: async () => {
    throw new Error('no experiments in hardware tests');
  },
  reattach: async () => null,
};
const idleInfo: Static<typeof RunnerInfo> = {
  kind: 'local',
  available: false,
  detail: 'hardware tests run no experiments',
};

export async function hardwareNode(opts: SimOptions = {}): Promise<{
  app: Service;
  hardware: Hardware & HardwareController;
  clock: ManualClock;
}> {
  const sim = await simulatedHardware(opts);
  const config = loadConfig({ DATA_DIR: sim.dataDir, LOG_LEVEL: 'silent', HARDWARE_MODE: 'simulation' });
  // Started here while time moves (probing chips takes chip time); buildApp's own start() then finds it running.
  await whileTimePasses(sim.clock, sim.hardware.start(), 50);
  const app = await buildApp(config, {
    logger: false,
    strictResponses: true,
    hardware: sim.hardware,
    runner: idleRunner,
  });
  return { app, hardware: sim.hardware, clock: sim.clock };
}

/** Awaits `work` while advancing the clock in steps, so delays inside it elapse; fails if it never settles. */
export async function whileTimePasses<T>(
  clock: ManualClock,
  work: Promise<T>,
  stepMs = 25,
  maxMs = 10_000,
): Promise<T> {
  let settled = false;
  const tracked = work.finally(() => {
    settled = true;
  });
  tracked.catch(() => {});
  for (let spent = 0; !settled && spent <= maxMs; spent += stepMs) await clock.advance(stepMs);
  if (!settled) throw new Error(`still waiting after ${maxMs} ms of clock time`);
  return tracked;
}
