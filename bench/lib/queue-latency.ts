// Submit → running on an idle node, and one experiment's end → the next one running, as a client of the hub sees it.
import { HubWatcher, submit } from './hub-client.js';
import type { Profile } from './profile.js';
import type { Report } from './report.js';
import { summarize } from './stats.js';
import type { BioreactorSystem } from './system.js';

/** Short enough to keep the run quick; prints so the node has output to stream. */
const SCRIPT = 'import time\nprint("bench experiment started", flush=True)\ntime.sleep(0.2)\nprint("done")\n';
const FINAL = ['completed', 'failed', 'cancelled', 'interrupted'];

export async function benchQueueLatency(
  report: Report,
  system: BioreactorSystem,
  profile: Profile,
  serviceHeaders: Record<string, string>,
): Promise<void> {
  const watcher = new HubWatcher(system.hub.url, serviceHeaders);
  await watcher.open();
  const user = { ...serviceHeaders, 'x-session-id': 'bench-user' };
  const toRunning: number[] = [];
  const handOver: number[] = [];
  try {
    for (let round = 0; round < profile.queueRounds; round++) {
      const t0 = process.hrtime.bigint();
      const first = await submit(system.hub.url, SCRIPT, user);
      const second = await submit(system.hub.url, SCRIPT, user);
      const running = await watcher.until(first, ['running', ...FINAL]);
      if (running.status !== 'running') throw new Error(`first experiment ended ${running.status} without running`);
      toRunning.push(Number(running.atNs - t0) / 1e6);
      const ended = await watcher.until(first, FINAL);
      if (ended.status !== 'completed') throw new Error(`bench experiment ended ${ended.status}`);
      const next = await watcher.until(second, ['running']);
      handOver.push(Number(next.atNs - ended.atNs) / 1e6);
      await watcher.until(second, FINAL);
    }
  } finally {
    watcher.close();
  }
  const a = summarize(toRunning);
  const b = summarize(handOver);
  const section = 'Queue latency (hub + node, local runner)';
  report.add(section, `submit → running, idle node: p50 (${a.count} rounds)`, a.p50, 'ms', 'target: < 300 ms');
  report.add(section, 'submit → running, idle node: max', a.max, 'ms');
  report.add(section, 'experiment end → next running: p50', b.p50, 'ms', 'target: < 500 ms');
  report.add(section, 'experiment end → next running: max', b.max, 'ms');
}
