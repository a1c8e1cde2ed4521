// Experiment start and end on the node with the Docker runner (or the local one):
//   start → first output: from POST /api/experiments/start to the script's first line in container_logs.txt
//   exit → completed:     from the script's last instruction (its own clock) to the `completed` state change
// next to the engine's own floor (create, start and wait for a container that does nothing). Without an engine and
// the experiment image the section is skipped with the reason in the report.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { buildApp, type NodeDeps } from '../../apps/node/src/app.js';
import { loadConfig } from '../../apps/node/src/config.js';
import type { ExperimentManager } from '../../apps/node/src/experiments/manager.js';
import type { Report } from './report.js';
import { summarize } from './stats.js';

const SCRIPT = `import time
print("first line", flush=True)
print("exit_at", repr(time.time()), flush=True)
`;

export async function benchExperimentStart(
  report: Report,
  runs: number,
  runner: 'docker' | 'local' = 'docker',
): Promise<void> {
  const section = `Experiment start and end on the node (${runner} runner)`;
  const dataDir = mkdtempSync(join(tmpdir(), 'bioreactor-bench-experiments-'));
  const config = loadConfig({
    DATA_DIR: dataDir,
    LOG_LEVEL: 'error',
    BIOREACTOR_RUNNER: runner,
    BIOREACTOR_HARDWARE_CONFIG: join(dataDir, 'no-hardware-file.json'),
  });
  const deps: NodeDeps = { logger: false };
  const app = await buildApp(config, deps);
  try {
    const manager = deps.experimentStatus as ExperimentManager;
    const info = manager.runnerInfo();
    if (!info.available) {
      report.note(`${section} skipped: ${info.detail}`);
      return;
    }
    report.note(`${section}: ${info.detail}`);
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
    const start = summarize(toFirstLine);
    const end = summarize(exitToCompleted);
    report.add(section, `start → first output line: p50 (${start.count} runs)`, start.p50, 'ms', 'target: < 1500 ms');
    report.add(section, 'start → first output line: max', start.max, 'ms');
    report.add(section, 'script exit → completed: p50', end.p50, 'ms', 'target: < 500 ms');
    report.add(section, 'script exit → completed: max', end.max, 'ms');
    if (runner === 'docker') {
      const docker = new Docker();
      const floor: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        const container = await docker.createContainer({
          Image: config.BIOREACTOR_EXPERIMENT_IMAGE,
          Entrypoint: ['/bin/true'],
          HostConfig: { NetworkMode: 'none' },
        });
        await container.start();
        await container.wait();
        floor.push(performance.now() - t0);
        await container.remove({ force: true });
      }
      report.add(section, 'engine floor: create + start + wait of /bin/true, p50', summarize(floor).p50, 'ms');
    }
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
