// The hub process driving real node processes (simulated hardware, scripts run with python3 by the local runner):
// two nodes at once, results streamed through, and a node killed with SIGKILL mid-run and started again.
import { existsSync, mkdtempSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  freePort,
  type HubProcess,
  startHubProcess,
  startNodeProcess,
  waitForHubEvent,
  waitForHubStatus,
} from './support/hub-process.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function track(p: HubProcess): HubProcess {
  cleanups.push(async () => {
    if (p.proc.exitCode === null && p.proc.signalCode === null) {
      p.proc.kill('SIGTERM');
      await p.exited;
    }
  });
  return p;
}

/** Resolves once `path` exists (fs.watch on its folder, checked after subscribing). */
function fileAppears(path: string, timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const dir = path.slice(0, path.lastIndexOf('/'));
    const watcher = watch(dir, () => {
      if (existsSync(path)) finish();
    });
    const timer = setTimeout(() => {
      watcher.close();
      reject(new Error(`timed out waiting for ${path}`));
    }, timeoutMs);
    function finish() {
      clearTimeout(timer);
      watcher.close();
      resolve();
    }
    if (existsSync(path)) finish();
  });
}

/** A script that runs until the test creates its release file, so the test decides when it ends. */
function heldScript(release: string, tag: string): string {
  return [
    'import os, time',
    `print("started ${tag}", flush=True)`,
    `open(${JSON.stringify(`${release}.started`)}, "w").close()`,
    `while not os.path.exists(${JSON.stringify(release)}):`,
    '    time.sleep(0.05)',
    'with open(os.path.join(os.environ["OUTPUT_DIR"], "result.txt"), "w") as f:',
    `    f.write("done ${tag}")`,
    `print("finished ${tag}")`,
    '',
  ].join('\n');
}

async function submit(url: string, user: string, script: string): Promise<string> {
  const r = await fetch(`${url}/api/experiments/start`, {
    method: 'POST',
    headers: { 'content-type': 'text/x-python', 'x-session-id': user },
    body: script,
  });
  const body = (await r.json()) as { experiment_id: string };
  expect(r.status, JSON.stringify(body)).toBe(200);
  return body.experiment_id;
}

async function status(
  url: string,
  id: string,
): Promise<{ status: string; node: string | null; error_message: string | null }> {
  const r = await fetch(`${url}/api/experiments/${id}/status`);
  return ((await r.json()) as { experiment: { status: string; node: string | null; error_message: string | null } })
    .experiment;
}

describe('hub with real nodes', () => {
  it('runs on two nodes at once and streams each run’s logs and results through', { timeout: 180_000 }, async () => {
    const work = tempDir('hub-real-');
    const [p1, p2, hp] = [await freePort(), await freePort(), await freePort()];
    track(await startNodeProcess(tempDir('node1-'), p1));
    track(await startNodeProcess(tempDir('node2-'), p2));
    const hub = track(
      await startHubProcess(
        {
          DATA_DIR: tempDir('hub-data-'),
          BIOREACTOR_NODE_API_URL: `http://127.0.0.1:${p1},http://127.0.0.1:${p2}`,
          BIOREACTOR_NODE_HEALTH_INTERVAL_MS: '500',
        },
        hp,
      ),
    );
    const release = (tag: string) => writeFileSync(join(work, tag), '');
    cleanups.push(() => {
      for (const tag of ['a', 'b', 'c']) if (!existsSync(join(work, tag))) release(tag);
    });
    const a = await submit(hub.url, 'alice', heldScript(join(work, 'a'), 'a'));
    const b = await submit(hub.url, 'bob', heldScript(join(work, 'b'), 'b'));
    const c = await submit(hub.url, 'carol', heldScript(join(work, 'c'), 'c'));
    await waitForHubStatus(hub.url, a, 'running', 60_000);
    await waitForHubStatus(hub.url, b, 'running', 60_000);
    const [sa, sb, sc] = [await status(hub.url, a), await status(hub.url, b), await status(hub.url, c)];
    expect(sa.node).not.toBe(sb.node);
    expect(sc.status).toBe('queued');

    release('a');
    await waitForHubStatus(hub.url, a, 'completed', 60_000);
    await waitForHubStatus(hub.url, c, 'running', 60_000);
    expect((await status(hub.url, c)).node).toBe(sa.node);

    const logs = await fetch(`${hub.url}/api/experiments/${a}/logs?tail=50`, { headers: { 'x-session-id': 'alice' } });
    expect(((await logs.json()) as { logs: string }).logs).toContain('finished a');
    const zip = await fetch(`${hub.url}/api/experiments/${a}/download`, { headers: { 'x-session-id': 'alice' } });
    expect(zip.status).toBe(200);
    expect(zip.headers.get('content-type')).toContain('application/zip');
    const bytes = Buffer.from(await zip.arrayBuffer());
    expect(bytes.subarray(0, 2).toString()).toBe('PK');
    expect(bytes.includes(Buffer.from('result.txt'))).toBe(true);

    release('b');
    release('c');
    await waitForHubStatus(hub.url, b, 'completed', 60_000);
    await waitForHubStatus(hub.url, c, 'completed', 60_000);
  });

  it('settles the run of a node killed with SIGKILL once the node is back, and uses the node again', {
    timeout: 180_000,
  }, async () => {
    const work = tempDir('hub-real-');
    const nodeData = tempDir('node-');
    const [np, hp] = [await freePort(), await freePort()];
    let node = track(await startNodeProcess(nodeData, np));
    const hub = track(
      await startHubProcess(
        {
          DATA_DIR: tempDir('hub-data-'),
          BIOREACTOR_NODE_API_URL: `http://127.0.0.1:${np}`,
          BIOREACTOR_NODE_HEALTH_INTERVAL_MS: '300',
        },
        hp,
      ),
    );
    cleanups.push(() => writeFileSync(join(work, 'a'), ''));
    const a = await submit(hub.url, 'alice', heldScript(join(work, 'a'), 'a'));
    // Killed only once the script runs: a node killed before it accepted the start gets the experiment again.
    await fileAppears(join(work, 'a.started'));
    expect((await status(hub.url, a)).status).toBe('running');

    const offline = waitForHubEvent(
      hub.url,
      (event, data) => event === 'node.updated' && (data as { online: boolean }).online === false,
      async () => false,
      'the node to be marked offline',
    );
    node.proc.kill('SIGKILL');
    await node.exited;
    await offline;
    expect((await status(hub.url, a)).status).toBe('running');

    node = track(await startNodeProcess(nodeData, np));
    await waitForHubStatus(hub.url, a, 'interrupted', 60_000);
    expect((await status(hub.url, a)).error_message).toMatch(/restart/);

    const b = await submit(hub.url, 'alice', 'print("after the restart")\n');
    await waitForHubStatus(hub.url, b, 'completed', 60_000);
  });
});
