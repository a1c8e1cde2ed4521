// Hub benchmark: submit → running on an idle node, a node's run end → the next experiment running (an in-process
// hub and a fake node, so only the hub's own cost is measured), and GET /api/queue/status throughput with 1,000
// queued (also the `queue-status` section of `npm run bench`). Loopback only; bounded counts. Run: npx tsx bench/hub.ts
import type { Hub } from '../apps/hub/src/hub.js';
import { FakeNode } from '../apps/hub/test/support/fake-node.js';
import { startInProcessHub } from './lib/hub-in-process.js';
import { PROFILES } from './lib/profile.js';
import { benchQueueStatus } from './lib/queue-status.js';
import { Report } from './lib/report.js';
import { percentile } from './lib/stats.js';

const ROUNDS = 40;
const SCRIPT = 'import time\nprint("benchmark")\n';

function stats(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const at = (p: number) => percentile(s, p).toFixed(1);
  return `median ${at(50)} ms, p90 ${at(90)} ms, max ${at(100)} ms (n=${s.length})`;
}

/** Resolves when the experiment is running and its node has accepted it. */
function started(hub: Hub, id: string): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      const row = hub.queue.get(id);
      if (row?.status === 'running' && row.dispatched === 1) {
        hub.queue.off('experiment', check);
        resolve();
      }
    };
    hub.queue.on('experiment', check);
    check();
  });
}

function ended(hub: Hub, id: string): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      const row = hub.queue.get(id);
      if (row && row.status !== 'running' && row.status !== 'queued') {
        hub.queue.off('experiment', check);
        resolve();
      }
    };
    hub.queue.on('experiment', check);
    check();
  });
}

async function submit(url: string, user: string): Promise<string> {
  const r = await fetch(`${url}/api/experiments/start`, {
    method: 'POST',
    headers: { 'content-type': 'text/x-python', 'x-session-id': user },
    body: SCRIPT,
  });
  if (r.status !== 200) throw new Error(`submit failed: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { experiment_id: string }).experiment_id;
}

async function dispatchLatencies(): Promise<void> {
  const node = new FakeNode();
  await node.start();
  const h = await startInProcessHub(node.url, { noDispatch: false });
  await new Promise<void>((resolve) => {
    const check = () => h.hub.registry.onlineNames().length > 0 && resolve();
    h.hub.registry.on('node', check);
    check();
  });
  // Warm-up: the first upload starts the Python checker's imports and compiles the routes.
  const warm = await submit(h.url, 'warm');
  await started(h.hub, warm);
  node.finish(warm, 'completed', 0);
  await ended(h.hub, warm);

  const submitToRunning: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = performance.now();
    const id = await submit(h.url, `user-${i % 4}`);
    await started(h.hub, id);
    submitToRunning.push(performance.now() - t0);
    node.finish(id, 'completed', 0);
    await ended(h.hub, id);
  }

  const endToNext: number[] = [];
  let current = await submit(h.url, 'a');
  await started(h.hub, current);
  for (let i = 0; i < ROUNDS; i++) {
    const next = await submit(h.url, i % 2 === 0 ? 'b' : 'a');
    const t0 = performance.now();
    node.finish(current, 'completed', 0);
    await started(h.hub, next);
    endToNext.push(performance.now() - t0);
    current = next;
  }
  console.log(
    `submit → running on an idle node (HTTP submit, validation, SQLite, node start): ${stats(submitToRunning)}`,
  );
  console.log(`node run end (SSE event) → next experiment running on that node:            ${stats(endToNext)}`);
  await h.close();
  await node.stop();
}

await dispatchLatencies();
await benchQueueStatus(new Report(), { ...PROFILES.full });
