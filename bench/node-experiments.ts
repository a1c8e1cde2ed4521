// Experiment start and end latency on the node: `npx tsx bench/node-experiments.ts [runs] [--local]`.
//   start → first output: from POST /api/experiments/start to the script's first line in container_logs.txt
//   exit → completed:     from the script's last instruction (its own clock) to the `completed` state change
// Targets (issue: node experiments): under 1.5 s and under 0.5 s (medians) with the Docker runner.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { buildApp, type NodeDeps } from '../apps/node/src/app.js';
import { loadConfig } from '../apps/node/src/config.js';
import type { ExperimentManager } from '../apps/node/src/experiments/manager.js';

const args = process.argv.slice(2);
const runs = Number(args.find((a) => /^\d+$/.test(a)) ?? 10);
const runner = args.includes('--local') ? 'local' : 'docker';

const SCRIPT = `import time
print("first line", flush=True)
print("exit_at", repr(time.time()), flush=True)
`;

function stats(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return `median ${at(0.5).toFixed(0)} ms · p90 ${at(0.9).toFixed(0)} ms · min ${at(0).toFixed(0)} ms · max ${(sorted.at(-1) ?? Number.NaN).toFixed(0)} ms`;
}

const dataDir = mkdtempSync(join(tmpdir(), 'bioreactor-bench-experiments-'));
const config = loadConfig({
  DATA_DIR: dataDir,
  LOG_LEVEL: 'error',
  BIOREACTOR_RUNNER: runner,
  BIOREACTOR_HARDWARE_CONFIG: join(dataDir, 'no-hardware-file.json'),
});
const deps: NodeDeps = { logger: false };
const app = await buildApp(config, deps);
const manager = deps.experimentStatus as ExperimentManager;
const info = manager.runnerInfo();
if (!info.available) {
  process.stderr.write(`The ${runner} runner is not available: ${info.detail}\n`);
  process.exit(1);
}
process.stdout.write(`Runner: ${info.detail}\nRuns: ${runs}\n`);

const toFirstLine: number[] = [];
const exitToCompleted: number[] = [];
for (let i = 0; i < runs; i++) {
  const id = `bench-${process.pid}-${i}`;
  let completedAt = 0;
  const onRun = (r: { experiment_id: string; status: string }) => {
    if (r.experiment_id === id && r.status === 'completed') completedAt = Date.now();
  };
  manager.on('run', onRun);
  const log = join(dataDir, 'experiments', id, 'output', 'container_logs.txt');
  const t0 = performance.now();
  const res = await app.inject({
    method: 'POST',
    url: '/api/experiments/start',
    payload: { script_content: SCRIPT, experiment_id: id },
  });
  if (res.statusCode !== 200) throw new Error(`start failed: ${res.body}`);
  // Polls the file every 2 ms: a measurement, so the poll interval bounds its resolution.
  while (!(existsSync(log) && readFileSync(log, 'utf8').includes('first line'))) {
    await new Promise((r) => setTimeout(r, 2));
  }
  toFirstLine.push(performance.now() - t0);
  const record = await manager.settled(id);
  manager.off('run', onRun);
  if (record.status !== 'completed') throw new Error(`run ${id} ended ${record.status}: ${record.error_message}`);
  const exitAt = Number(/exit_at (\d+\.\d+)/.exec(readFileSync(log, 'utf8'))?.[1]) * 1000;
  exitToCompleted.push(completedAt - exitAt);
}

// The engine's own floor on this machine: create, start and wait for a container that does nothing.
const engineFloor: number[] = [];
if (runner === 'docker') {
  const docker = new Docker();
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const container = await docker.createContainer({
      Image: config.BIOREACTOR_EXPERIMENT_IMAGE,
      Entrypoint: ['/bin/true'],
      HostConfig: { NetworkMode: 'none' },
    });
    await container.start();
    await container.wait();
    engineFloor.push(performance.now() - t0);
    await container.remove({ force: true });
  }
}

process.stdout.write(`start → first output line: ${stats(toFirstLine)} (target < 1500 ms)\n`);
process.stdout.write(`script exit → completed:   ${stats(exitToCompleted)} (target < 500 ms)\n`);
if (engineFloor.length > 0) {
  process.stdout.write(`engine floor (create + start + wait of /bin/true): ${stats(engineFloor)}\n`);
}
process.stdout.write(
  `load average: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} on ${cpus().length} CPUs\n`,
);
await app.close();
rmSync(dataDir, { recursive: true, force: true });
