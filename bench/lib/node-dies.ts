// When the node dies: the node as deployed (apps/node/dist/server.mjs) in real mode over a fake Pi 5 /sys, the
// peltier heating at 60 %. Each round starts a node, kills it with SIGKILL and times, from the signal, until the
// peltier's duty_cycle file reads 0 (the output supervisor's write). One more round stops the node with SIGSTOP
// (a hung event loop) and times the same with the default heartbeat bound. Also the supervisor's memory.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fakeSys } from '../../apps/node/test/hardware/fake-sys.js';
import type { Profile } from './profile.js';
import type { Report } from './report.js';
import { summarize } from './stats.js';
import { freePort, ServiceProcess, tempDir, waitFor } from './system.js';

/** GPIO 13, the peltier's default pin, is channel 1 of RP1 PWM0. */
const PELTIER_CHANNEL = 1;
const HEARTBEAT_BOUND_MS = 3000;

interface Round {
  node: ServiceProcess;
  duty: () => string;
  supervisorPid: number;
  cleanup: () => void;
}

/** A real-mode node over a fresh fake /sys with the peltier heating; resolves once the duty is in the file. */
async function heatingNode(): Promise<Round> {
  const sys = fakeSys('6.12');
  const dataDir = tempDir('bench-node-dies-');
  const config = join(dataDir, 'config_hardware.json');
  writeFileSync(
    config,
    JSON.stringify({
      init_components: { peltier_driver: true, temp_sensor: true },
      sysfs_root: sys.root,
      dev_root: sys.dev,
    }),
  );
  const node = new ServiceProcess('node', await freePort(), {
    LOG_LEVEL: 'WARNING',
    HARDWARE_MODE: 'real',
    DATA_DIR: dataDir,
    BIOREACTOR_HARDWARE_CONFIG: config,
    BIOREACTOR_RUNNER: 'local',
    BIOREACTOR_HEARTBEAT_TIMEOUT_MS: String(HEARTBEAT_BOUND_MS),
  });
  await node.start();
  // Heating waits for the first temperature sample.
  await waitFor(
    'the peltier to heat',
    async () => {
      const res = await fetch(`${node.url}/api/v3/peltier_driver/control`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ duty_cycle: 60, direction: 'heat' }),
      });
      await res.arrayBuffer();
      return res.ok;
    },
    10_000,
    50,
  );
  const duty = () => sys.readPwm(PELTIER_CHANNEL, 'duty_cycle');
  if (duty() !== '600000') throw new Error(`the peltier duty_cycle reads ${duty()}, not 600000`);
  const pidFile = join(dataDir, 'hardware', 'supervisor.pid');
  await waitFor('the supervisor pid file', () => existsSync(pidFile), 10_000, 10);
  const supervisorPid = Number(readFileSync(pidFile, 'utf8').trim());
  return {
    node,
    duty,
    supervisorPid,
    cleanup: () => {
      for (const pid of [node.child?.pid, supervisorPid])
        try {
          if (pid) process.kill(pid, 'SIGKILL');
        } catch {}
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(sys.root, { recursive: true, force: true });
      rmSync(sys.dev, { recursive: true, force: true });
    },
  };
}

/** Milliseconds from `signal` sent to the node until the duty file reads 0, polled every millisecond. */
async function untilOff(round: Round, signal: NodeJS.Signals, deadlineMs: number): Promise<number> {
  const child = round.node.child;
  if (!child) throw new Error('the node is not running');
  const start = performance.now();
  child.kill(signal);
  while (round.duty() !== '0') {
    if (performance.now() - start > deadlineMs)
      throw new Error(`duty_cycle still ${round.duty()} ${deadlineMs} ms after ${signal}`);
    await new Promise((r) => setTimeout(r, 1));
  }
  return performance.now() - start;
}

/** RSS, and the memory that is the supervisor's own (the rest is the node binary's pages, shared with the node). */
function memoryMib(pid: number): { rss: number; private: number } {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? Number.NaN);
  return { rss: kb('Rss') / 1024, private: (kb('Private_Clean') + kb('Private_Dirty')) / 1024 };
}

export async function benchNodeDies(report: Report, profile: Profile): Promise<void> {
  const section = 'When the node dies (real mode over a fake Pi 5 /sys, the node as deployed)';
  const killed: number[] = [];
  let supervisor = { rss: Number.NaN, private: Number.NaN };
  for (let i = 0; i < profile.nodeKillRounds; i++) {
    const round = await heatingNode();
    try {
      if (i === 0) supervisor = memoryMib(round.supervisorPid);
      killed.push(await untilOff(round, 'SIGKILL', 5000));
    } finally {
      round.cleanup();
    }
  }
  const k = summarize(killed);
  report.add(section, `kill -9 of the node → PWM duty_cycle 0: p50 (${k.count} rounds)`, k.p50, 'ms');
  report.add(section, 'kill -9 of the node → PWM duty_cycle 0: max', k.max, 'ms');

  const hung = await heatingNode();
  try {
    const ms = await untilOff(hung, 'SIGSTOP', HEARTBEAT_BOUND_MS + 5000);
    report.add(
      section,
      `SIGSTOP of the node → PWM duty_cycle 0 (heartbeat bound ${HEARTBEAT_BOUND_MS} ms)`,
      ms,
      'ms',
      `${HEARTBEAT_BOUND_MS - 500}-${HEARTBEAT_BOUND_MS + 250} ms: the bound less one beat, plus one check`,
    );
  } finally {
    hung.node.child?.kill('SIGCONT');
    hung.cleanup();
  }
  report.add(section, 'output supervisor: RSS', supervisor.rss, 'MiB');
  report.add(
    section,
    'output supervisor: private memory (RSS less pages shared with the node)',
    supervisor.private,
    'MiB',
  );
}
