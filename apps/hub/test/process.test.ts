// The hub as a real process: killed with SIGKILL during a run and started again on the same data directory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeNode } from './support/fake-node.js';
import { GOOD_SCRIPT } from './support/hub.js';
import { freePort, type HubProcess, startHubProcess, waitForHubStatus } from './support/hub-process.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function kill9(hub: HubProcess): Promise<void> {
  hub.proc.kill('SIGKILL');
  await hub.exited;
}

describe('hub process', () => {
  it('loses nothing to kill -9 during a run, and follows the run to its end after a restart', {
    timeout: 120_000,
  }, async () => {
    const node = new FakeNode();
    await node.start();
    cleanups.push(() => node.stop());
    const dir = mkdtempSync(join(tmpdir(), 'hub-proc-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const port = await freePort();
    const env = {
      DATA_DIR: dir,
      BIOREACTOR_NODE_API_URL: node.url,
      BIOREACTOR_NODE_HEALTH_INTERVAL_MS: '200',
      BIOREACTOR_NODE_POLL_MS: '200',
    };
    let hub = await startHubProcess(env, port);
    cleanups.push(() => {
      hub.proc.kill('SIGKILL');
    });

    const ids: string[] = [];
    for (const user of ['alice', 'bob', 'carol']) {
      const r = await fetch(`${hub.url}/api/experiments/start`, {
        method: 'POST',
        headers: { 'content-type': 'text/x-python', 'x-session-id': user },
        body: GOOD_SCRIPT,
      });
      expect(r.status, await r.clone().text()).toBe(200);
      ids.push(((await r.json()) as { experiment_id: string }).experiment_id);
    }
    const [a, b, c] = ids as [string, string, string];
    await node.started(a);

    // Killed while a runs; a ends while no hub is watching.
    await kill9(hub);
    node.finish(a, 'completed', 0);
    hub = await startHubProcess(env, port);
    await node.started(b);
    await waitForHubStatus(hub.url, a, 'completed');

    // Killed again while b runs; b is still running when the hub comes back, and is followed to its end.
    await kill9(hub);
    hub = await startHubProcess(env, port);
    await waitForHubStatus(hub.url, b, 'running');
    node.finish(b, 'failed', 2, { error_message: 'ValueError: bad setpoint' });
    await waitForHubStatus(hub.url, b, 'failed');
    await node.started(c);

    const all = await Promise.all(
      ids.map(async (id) => {
        const body = (await (await fetch(`${hub.url}/api/experiments/${id}/status`)).json()) as {
          experiment: { status: string; exit_code: number | null; error_message: string | null };
        };
        return body.experiment;
      }),
    );
    expect(all.map((e) => e.status)).toEqual(['completed', 'failed', 'running']);
    expect(all[1]).toMatchObject({ exit_code: 2, error_message: 'ValueError: bad setpoint' });
    expect(node.starts).toEqual([a, b, c]); // nothing started twice
  });
});
