// Whether each node can run experiments, and why not: its runner, its disk, its sensors starting, an admin's drain;
// the queue says so instead of promising a start; and checking a script or reading it back without queueing.
import { afterEach, describe, expect, it } from 'vitest';
import { FakeNode } from './support/fake-node.js';
import { GOOD_SCRIPT, makeHub, type TestHub, waitFor, waitForStarted, waitForState } from './support/hub.js';

let h: TestHub | undefined;
const nodes: FakeNode[] = [];
afterEach(async () => {
  await h?.close();
  h = undefined;
  for (const n of nodes.splice(0)) await n.stop();
});

async function fakeNode(): Promise<FakeNode> {
  const n = new FakeNode();
  await n.start();
  nodes.push(n);
  return n;
}

const admin = { 'x-session-id': 'lab-manager', 'x-user-role': 'admin' };

async function listed(t: TestHub) {
  return (await t.app.inject({ method: 'GET', url: '/api/nodes' })).json().nodes[0];
}

async function queueStatus(t: TestHub) {
  return (await t.app.inject({ method: 'GET', url: '/api/queue/status', headers: { 'x-session-id': 'alice' } })).json();
}

describe('node readiness', () => {
  it('says a node without its experiment runner cannot run experiments, and starts nothing there until it can', async () => {
    const node = await fakeNode();
    node.runner = { kind: 'docker', available: false, detail: 'the image bioreactor-experiment:3 is missing' };
    h = await makeHub({ nodes: [node.url] });
    const t = h;
    await waitFor(t.hub, () => t.hub.registry.list()[0]?.runner?.available === false, 'the runner read');
    const info = await listed(t);
    expect(info).toMatchObject({
      online: true,
      ready: false,
      readiness: 'runner_unavailable',
      readiness_detail: 'the image bioreactor-experiment:3 is missing',
    });
    const submitted = await t.app.inject({
      method: 'POST',
      url: '/api/experiments/start',
      headers: { 'x-session-id': 'alice' },
      payload: { script_content: GOOD_SCRIPT },
    });
    const id = submitted.json().experiment_id;
    const q = await queueStatus(t);
    expect(q.nodes_ready).toBe(0);
    expect(q.not_ready_reason).toMatch(/: the image bioreactor-experiment:3 is missing$/);
    expect(q.queue[0].note).toMatch(/No node it may use can run experiments now/);
    await new Promise((r) => setTimeout(r, 300));
    expect(node.starts).toEqual([]);
    // The image is back: the next probe sees it and the experiment starts.
    node.runner = { kind: 'docker', available: true, detail: 'bioreactor-experiment:3' };
    await waitForStarted(t.hub, id);
    expect((await listed(t)).readiness).toBe('busy');
    expect((await queueStatus(t)).not_ready_reason).toBeNull();
  });

  it('reports a starting node and a full disk as not ready, and ready again after', async () => {
    const node = await fakeNode();
    node.waitingFor = ['temp_sensor'];
    h = await makeHub({ nodes: [node.url] });
    const t = h;
    await waitFor(t.hub, () => t.hub.registry.list()[0]?.online === true, 'online');
    await waitFor(t.hub, () => t.hub.registry.list()[0]?.waitingFor.length === 1, 'starting');
    expect(await listed(t)).toMatchObject({
      ready: false,
      readiness: 'starting',
      readiness_detail: 'starting: waiting for the first readings of temp_sensor',
    });
    node.waitingFor = [];
    node.storageProblem = 'disk full: 12.0 MB free';
    await waitFor(t.hub, () => t.hub.registry.list()[0]?.storageProblem !== null, 'disk');
    expect(await listed(t)).toMatchObject({
      readiness: 'storage_problem',
      readiness_detail: 'disk full: 12.0 MB free',
    });
    node.storageProblem = null;
    await waitFor(t.hub, () => t.hub.registry.list()[0]?.storageProblem === null, 'disk fine');
    expect(await listed(t)).toMatchObject({ ready: true, readiness: 'ready', readiness_detail: null, drained: false });
  });

  it('lets an admin drain a node: its run ends normally, nothing new starts, and enabling it lets work flow', async () => {
    const node = await fakeNode();
    h = await makeHub({ nodes: [node.url] });
    const t = h;
    const submit = async () =>
      (
        await t.app.inject({
          method: 'POST',
          url: '/api/experiments/start',
          headers: { 'x-session-id': 'alice' },
          payload: { script_content: GOOD_SCRIPT },
        })
      ).json().experiment_id as string;
    const first = await submit();
    await waitForStarted(t.hub, first);
    const name = (await listed(t)).name as string;
    const refused = await t.app.inject({
      method: 'POST',
      url: `/api/nodes/${name}/drain`,
      headers: { 'x-session-id': 'alice' },
      payload: { drained: true },
    });
    expect(refused.statusCode).toBe(403);
    const drained = await t.app.inject({
      method: 'POST',
      url: `/api/nodes/${name}/drain`,
      headers: admin,
      payload: { drained: true },
    });
    expect(drained.statusCode, drained.body).toBe(200);
    expect(drained.json()).toMatchObject({ drained: true, readiness: 'drained', ready: false });
    const second = await submit();
    node.finish(first, 'completed', 0);
    await waitForState(t.hub, first, 'completed');
    await new Promise((r) => setTimeout(r, 300));
    expect(t.hub.queue.mustGet(second).status).toBe('queued');
    expect((await queueStatus(t)).not_ready_reason).toMatch(/drained by an admin/);
    // Kept across a restart of the registry's view: the flag is in the database.
    expect(t.hub.registry.list()[0]?.drained).toBe(true);
    await t.app.inject({
      method: 'POST',
      url: `/api/nodes/${name}/drain`,
      headers: admin,
      payload: { drained: false },
    });
    await waitForStarted(t.hub, second);
  });
});

describe('checking a script and reading it back', () => {
  it('checks without queueing: every problem with its line, and the duration it would get', async () => {
    h = await makeHub({ noDispatch: true });
    const t = h;
    const check = async (payload: Record<string, unknown>) => {
      const r = await t.app.inject({
        method: 'POST',
        url: '/api/experiments/validate',
        headers: { 'x-session-id': 'alice' },
        payload,
      });
      expect(r.statusCode, r.body).toBe(200);
      return r.json();
    };
    const good = await check({ script_content: GOOD_SCRIPT, max_duration_s: 600 });
    expect(good).toMatchObject({ valid: true, problems: [], max_duration_s: 600, max_duration_source: 'declared' });
    const bad = await check({ script_content: 'import time\nprint(1\n' });
    expect(bad.valid).toBe(false);
    expect(bad.problems[0].line).toBeGreaterThanOrEqual(2);
    const tooLong = await check({ script_content: GOOD_SCRIPT, max_duration_s: 10 ** 9 });
    expect(tooLong.valid).toBe(false);
    expect(tooLong.problems[0].field).toBe('max_duration_s');
    expect(t.hub.queue.all()).toHaveLength(0);
  });

  it('gives the submitted script to its owner and an admin, and no one else', async () => {
    h = await makeHub({ noDispatch: true });
    const t = h;
    const row = t.hub.queue.submit({ userId: 'alice', script: GOOD_SCRIPT, name: 'od run', maxDurationS: 600 });
    const read = (headers: Record<string, string>) =>
      t.app.inject({ method: 'GET', url: `/api/experiments/${row.id}/script`, headers });
    const own = await read({ 'x-session-id': 'alice' });
    expect(own.statusCode).toBe(200);
    expect(own.json()).toMatchObject({
      experiment_id: row.id,
      name: 'od run',
      script_content: GOOD_SCRIPT,
      max_duration_s: 600,
    });
    expect((await read({ 'x-session-id': 'bob' })).statusCode).toBe(403);
    expect((await read(admin)).statusCode).toBe(200);
  });
});

describe('the retention policy in the queue status', () => {
  it('says what happens to finished experiments and when, or null when they are kept', async () => {
    h = await makeHub({ noDispatch: true, env: { BIOREACTOR_RETENTION_DAYS: '2' } });
    expect((await queueStatus(h)).retention).toEqual({ action: 'archive', after_s: 172_800 });
    await h.close();
    h = await makeHub({ noDispatch: true });
    expect((await queueStatus(h)).retention).toBeNull();
  });
});
