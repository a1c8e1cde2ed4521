// Shared by the experiment tests: a node app on a fresh data folder, a hardware double that records what the
// lifecycle asks of it, and small readers for zips and Server-Sent Events.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Service } from '@bioreactor/service-kit';
import Docker from 'dockerode';
import type { FastifyInstance } from 'fastify';
import { buildApp, type NodeDeps } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { ExperimentHardware } from '../../src/experiments/hardware-gateway.js';
import type { ExperimentManager } from '../../src/experiments/manager.js';
import { createHardware } from '../../src/hardware/index.js';
import type { ExperimentRunner } from '../../src/runner/runner.js';

export interface RecordedCommand {
  at: string;
  component: string;
  body: unknown;
  source: string;
}

/** Hardware double: a temperature sensor and a stirrer, the safe state and the command log. */
export class RecordingHardware implements ExperimentHardware {
  safeStates: string[] = [];
  commands: RecordedCommand[] = [];
  stirrerDuty = 0;

  applySafeState(reason: string): void {
    this.safeStates.push(reason);
    this.stirrerDuty = 0;
  }
  capabilities(): unknown {
    return { temp_sensor: { type: 'sensor', unit: 'celsius' }, stirrer: { type: 'actuator', duty_range: [0, 100] } };
  }
  hardwareConfig(): unknown {
    return { hardware_mode: 'simulation', init_components: { temp_sensor: true, stirrer: true } };
  }
  /** What "was pumped" moves with each safe state, so a manifest shows when its counters were taken. */
  counters(): unknown {
    return { pumps: { inflow: { total_volume_ml: this.safeStates.length } } };
  }
  commandLog(sinceIso?: string): RecordedCommand[] {
    return this.commands.filter((c) => !sinceIso || c.at >= sinceIso);
  }
  register = (app: FastifyInstance, _hardware: ExperimentHardware, opts: { source: string }): void => {
    app.get('/api/status', async () => ({ status: 'operational', hardware_mode: 'simulation' }));
    app.get('/api/v3/temp_sensor/state', async () => ({ status: 'success', temperature: 37.25, unit: 'celsius' }));
    app.post('/api/v3/stirrer/control', async (request) => {
      const body = request.body as { duty_cycle?: number };
      this.stirrerDuty = Number(body.duty_cycle ?? 0);
      this.commands.push({
        at: new Date().toISOString(),
        component: 'stirrer',
        body,
        source: opts.source,
      });
      return { status: 'success', duty_cycle: this.stirrerDuty, active: this.stirrerDuty > 0 };
    });
  };
}

export interface TestNode {
  app: Service;
  manager: ExperimentManager;
  hardware: RecordingHardware;
  dataDir: string;
}

export function tempDataDir(prefix = 'bioreactor-exp-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Records the safe states asked of the node's real (simulated) hardware, and passes everything on. */
export function recordingProxy(real: ExperimentHardware): ExperimentHardware & { safeStates: string[] } {
  const safeStates: string[] = [];
  return {
    safeStates,
    applySafeState: (reason: string, keep?: readonly string[]) => {
      safeStates.push(reason);
      return real.applySafeState(reason, keep);
    },
    capabilities: () => real.capabilities(),
    hardwareConfig: () => real.hardwareConfig(),
    ...(real.counters ? { counters: real.counters.bind(real) } : {}),
    commandLog: (since?: string) => real.commandLog(since),
    ...(real.onCommand ? { onCommand: real.onCommand.bind(real) } : {}),
    ...(real.control ? { control: real.control.bind(real) } : {}),
  };
}

const quiet = { info() {}, warn() {}, error() {}, debug() {}, trace() {}, fatal() {}, child: () => quiet };

export async function startNode(
  env: Record<string, string>,
  opts: { dataDir?: string; runner?: ExperimentRunner; hardware?: RecordingHardware; realHardware?: boolean } = {},
): Promise<TestNode> {
  const dataDir = opts.dataDir ?? tempDataDir();
  const hardware = opts.hardware ?? new RecordingHardware();
  // A small simulated node of its own, whatever hardware file lies in the working directory.
  const hardwareFile = join(dataDir, 'config_hardware.json');
  writeFileSync(
    hardwareFile,
    JSON.stringify({
      hardware_mode: 'simulation',
      init_components: { temp_sensor: true, stirrer: true, peltier_driver: true, optical_density: true },
      eyespy_adc: { boards: {} },
      pumps: {},
    }),
  );
  const config = loadConfig({
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    BIOREACTOR_HARDWARE_CONFIG: hardwareFile,
    ...env,
  });
  const deps: NodeDeps = {
    logger: false,
    strictResponses: true,
    experimentHardware: hardware,
    registerHardwareRoutes: hardware.register,
  };
  if (opts.realHardware) {
    // The node's own simulated hardware and routes, as bioreactor_client meets them on a real node.
    const real = await createHardware(config, { log: quiet as never });
    const proxy = recordingProxy(real);
    deps.hardware = real;
    deps.experimentHardware = proxy;
    delete deps.registerHardwareRoutes;
    hardware.safeStates = proxy.safeStates;
  }
  if (opts.runner) deps.runner = opts.runner;
  const app = await buildApp(config, deps);
  return { app, manager: deps.experimentStatus as ExperimentManager, hardware, dataDir };
}

export async function startRun(
  node: TestNode,
  script: string,
  extra: Record<string, unknown> = {},
): Promise<{ id: string; statusCode: number; body: Record<string, unknown> }> {
  const res = await node.app.inject({
    method: 'POST',
    url: '/api/experiments/start',
    payload: { script_content: script, ...extra },
  });
  const body = res.json() as Record<string, unknown>;
  return { id: String(body.experiment_id ?? ''), statusCode: res.statusCode, body };
}

export async function runStatus(node: TestNode, id: string): Promise<Record<string, unknown>> {
  const res = await node.app.inject({ method: 'GET', url: `/api/experiments/${id}/status` });
  return (res.json() as { experiment: Record<string, unknown> }).experiment;
}

/** Waits for the run's end through the lifecycle itself (no polling, no sleeps). */
export async function runToEnd(node: TestNode, id: string): Promise<Record<string, unknown>> {
  await node.manager.settled(id);
  return runStatus(node, id);
}

/** Resolves when the run reaches `status` (already there, or by a later state change). */
export function untilStatus(node: TestNode, id: string, status: string): Promise<void> {
  return new Promise((resolve) => {
    const check = (record: { experiment_id: string; status: string }) => {
      if (record.experiment_id === id && record.status === status) {
        node.manager.off('run', check);
        resolve();
      }
    };
    node.manager.on('run', check);
    void runStatus(node, id).then((r) => {
      if (r.status === status) check({ experiment_id: id, status });
    });
  });
}

/** Entries of a zip (name → text), read with Python's zipfile so the test does not trust our own zip code. */
export function unzip(zip: Buffer): Record<string, string> {
  const dir = tempDataDir('bioreactor-zip-');
  const path = join(dir, 'download.zip');
  writeFileSync(path, zip);
  const out = spawnSync(
    'python3',
    [
      '-c',
      'import json,sys,zipfile\nz=zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nprint(json.dumps({n: z.read(n).decode("utf-8","replace") for n in z.namelist()}))',
      path,
    ],
    { encoding: 'utf8' },
  );
  if (out.status !== 0) throw new Error(`not a valid zip: ${out.stderr}`);
  return JSON.parse(out.stdout) as Record<string, string>;
}

/** Reads a whole SSE response (the stream ends by itself) into events. */
export function parseEvents(text: string): { event: string; data: unknown }[] {
  const events: { event: string; data: unknown }[] = [];
  for (const block of text.split('\n\n')) {
    const lines = block.split('\n');
    const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
    const data = lines
      .filter((l) => l.startsWith('data: '))
      .map((l) => l.slice(6))
      .join('\n');
    if (event) events.push({ event, data: JSON.parse(data) });
  }
  return events;
}

/** Why the Docker tests cannot run here (no engine, or no experiment image), or null when they can. */
export async function whyNoDocker(image: string): Promise<string | null> {
  const docker = new Docker();
  try {
    await Promise.race([
      docker.ping(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no answer in 3 s')), 3000)),
    ]);
  } catch (err) {
    return `no Docker engine answers (${(err as Error).message}); start one with scripts/docker-engine.sh`;
  }
  try {
    await docker.getImage(image).inspect();
  } catch {
    return `the image ${image} is missing; build it with runtime/build-image.sh`;
  }
  return null;
}
