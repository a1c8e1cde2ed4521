// Hub benchmark: submit → running on an idle node, a node's run end → the next experiment running (an in-process
// hub and a fake node, so only the hub's own cost is measured), and GET /api/queue/status throughput with 1,000
// queued (also the `queue-status` section of `npm run bench`). Loopback only; bounded counts. Run: npx tsx bench/hub.ts
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../apps/hub/src/app.js';
import { loadConfig } from '../apps/hub/src/config.js';
import type { Hub } from '../apps/hub/src/hub.js';
import { FakeNode } from '../apps/hub/test/support/fake-node.js';
import { PROFILES } from './lib/profile.js';
import { benchQueueStatus } from './lib/queue-status.js';
import { Report } from './lib/report.js';

const ROUNDS = 40;
const SCRIPT = 'import time\nprint("benchmark")\n';

function stats(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => (s[Math.min(s.length - 1, Math.floor(q * s.length))] as number).toFixed(1);
  return `median ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${at(1)} ms (n=${s.length})`;
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

async function makeHub(nodeUrl: string, noDispatch: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'hub-bench-'));
  const config = loadConfig({ DATA_DIR: dir, BIOREACTOR_NODE_API_URL: nodeUrl, LOG_LEVEL: 'silent' });
  const app = await buildApp(config, { logger: false, noDispatch });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  return {
    app,
    hub: app.hub,
    url,
    close: async () => {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
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
  const h = await makeHub(node.url, false);
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
