// The dispatcher against nodes speaking the node contract over HTTP: starts, ends, many nodes, nodes that go
// away and come back, cancellation and run-now on running experiments, streams passed through, and SSE.
import type { AddressInfo } from 'node:net';
import { readEventStream } from '@bioreactor/service-kit';
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

async function fakeNode(opts: ConstructorParameters<typeof FakeNode>[0] = {}): Promise<FakeNode> {
  const n = new FakeNode(opts);
  await n.start();
  nodes.push(n);
  return n;
}

async function submit(user: string, body: Record<string, unknown> = {}): Promise<string> {
  const r = await (h as TestHub).app.inject({
    method: 'POST',
    url: '/api/experiments/start',
    headers: { 'x-session-id': user },
    payload: { script_content: GOOD_SCRIPT, ...body },
  });
  expect(r.statusCode, r.body).toBe(200);
  return r.json().experiment_id;
}

describe('one node', () => {
  it('runs experiments one at a time in FIFO order, starting the next as soon as one ends', async () => {
    const node = await fakeNode();
    h = await makeHub({ nodes: [node.url] });
    const [a, b, c] = [await submit('alice'), await submit('bob'), await submit('carol')];
    await waitForStarted(h.hub, a);
    expect(node.active()?.experiment_id).toBe(a);
    expect(h.hub.queue.mustGet(b).status).toBe('queued');
    expect(node.runs.get(a)?.script).toBe(GOOD_SCRIPT);

    node.finish(a, 'completed', 0);
    await waitForState(h.hub, a, 'completed');
    await waitForStarted(h.hub, b);
    node.finish(b, 'failed', 1, { error_message: 'Traceback: ZeroDivisionError' });
    await waitForStarted(h.hub, c);
    expect(h.hub.queue.mustGet(b)).toMatchObject({
      status: 'failed',
      exit_code: 1,
      error_message: 'Traceback: ZeroDivisionError',
    });
    expect(node.starts).toEqual([a, b, c]);
  });

  it('cuts a default duration to what the node takes, but never a declared one', async () => {
    const node = await fakeNode({ maxDurationS: 3600 });
    h = await makeHub({ nodes: [node.url] });
    // Queued while the node's limit was not known yet: the hub's own limit became its default.
    const byDefault = h.hub.queue.submit({
      userId: 'alice',
      script: GOOD_SCRIPT,
      maxDurationS: 366 * 86_400,
      maxDurationSource: 'limit',
    });
    await waitForStarted(h.hub, byDefault.id);
    expect(h.hub.queue.mustGet(byDefault.id).max_duration_s).toBe(3600);
    expect(node.starts).toEqual([byDefault.id]);
    node.finish(byDefault.id, 'completed', 0);
    await waitForState(h.hub, byDefault.id, 'completed');
    const declared = h.hub.queue.submit({
      userId: 'bob',
      script: GOOD_SCRIPT,
      maxDurationS: 7200,
      maxDurationSource: 'declared',
    });
    const after = h.hub.queue.submit({ userId: 'carol', script: GOOD_SCRIPT, maxDurationS: 60 });
    await waitForStarted(h.hub, after.id);
    expect(h.hub.queue.mustGet(declared.id).status).toBe('queued');
  });

  it('reports a node whose disk is full in /health and /api/nodes, until it is resolved', async () => {
    const node = await fakeNode();
    h = await makeHub({ nodes: [node.url] });
    const hub = h;
    const entry = () => hub.hub.registry.list()[0];
    const health = async () => (await hub.app.inject({ method: 'GET', url: '/health' })).json();
    await waitFor(hub.hub, () => entry()?.online === true, 'the node online');
    expect((await health()).status).toBe('healthy');
    node.storageProblem = 'disk full: 12.0 MB free, below BIOREACTOR_MIN_FREE_DISK (256.0 MB); new runs are refused';
    await waitFor(hub.hub, () => entry()?.storageProblem !== null, 'the disk problem reported');
    const degraded = await health();
    expect(degraded.status).toBe('degraded');
    expect(degraded.checks.node_storage.message).toMatch(/^node [\w-]+: disk full: 12\.0 MB free/);
    const listed = (await hub.app.inject({ method: 'GET', url: '/api/nodes' })).json().nodes[0];
    expect(listed.storage_problem).toBe(node.storageProblem);
    node.storageProblem = null;
    await waitFor(hub.hub, () => entry()?.storageProblem === null, 'the disk problem resolved');
    expect((await health()).status).toBe('healthy');
  });

  it('maps the node’s ends: timed out, out of memory, interrupted, stopped elsewhere', async () => {
    const node = await fakeNode();
    h = await makeHub({ nodes: [node.url] });
    const cases: [Parameters<FakeNode['finish']>, string, RegExp][] = [
      [['', 'timed_out', 137], 'failed', /maximum duration of 3600 s/],
      [
        ['', 'failed', 137, { oom_killed: true, error_message: 'Out of memory: … its 128 MB limit …' }],
        'failed',
        /Out of memory: … its 128 MB limit/,
      ],
      [['', 'failed', 137, { oom_killed: true }], 'failed', /^Out of memory$/],
      [['', 'interrupted', null], 'interrupted', /.+/],
      [['', 'stopped', 143], 'failed', /Stopped on the node/],
    ];
    for (const [args, status, message] of cases) {
      const id = await submit('alice', { max_duration_s: 3600 });
      await waitForStarted(h.hub, id);
      node.finish(id, args[1], args[2], args[3]);
      const row = await waitForState(h.hub, id, status);
      expect(row.error_message).toMatch(message);
    }
  });

  it('cancels a running experiment at once, stops it on the node, and keeps it cancelled', async () => {
    const node = await fakeNode();
    node.stopEndsRun = false; // a slow stop: the reply must not wait for it
    h = await makeHub({ nodes: [node.url] });
    const a = await submit('alice');
    const b = await submit('bob');
    await waitForStarted(h.hub, a);
    const r = await h.app.inject({
      method: 'POST',
      url: `/api/experiments/${a}/cancel`,
      headers: { 'x-session-id': 'alice' },
    });
    expect(r.statusCode).toBe(200);
    expect(r.json().experiment.status).toBe('cancelled');
    await node.stopRequested(a);
    // The node is still busy with the stopping run: nothing new starts until it reports the end.
    expect(h.hub.queue.mustGet(b).status).toBe('queued');
    node.finish(a, 'failed', 137);
    await waitForStarted(h.hub, b);
    expect(h.hub.queue.mustGet(a)).toMatchObject({ status: 'cancelled', exit_code: null });
  });

  it('follows runs by polling when the node has no event stream', async () => {
    const node = await fakeNode({ events: false });
    h = await makeHub({ nodes: [node.url] });
    const a = await submit('alice');
    const b = await submit('alice');
    await waitForStarted(h.hub, a);
    node.finish(a, 'completed', 0);
    await waitForState(h.hub, a, 'completed');
    await waitForStarted(h.hub, b);
  });

  it('run-now pre-empts the running experiment (admin only) and says so in its reply and in that run’s record', async () => {
    const node = await fakeNode();
    h = await makeHub({ nodes: [node.url] });
    const a = await submit('alice');
    const b = await submit('bob');
    const c = await submit('carol');
    await waitForStarted(h.hub, a);
    const denied = await h.app.inject({
      method: 'POST',
      url: `/api/experiments/${c}/run-now`,
      headers: { 'x-session-id': 'carol' },
    });
    expect(denied.statusCode).toBe(403);
    const r = await h.app.inject({ method: 'POST', url: `/api/experiments/${c}/run-now` });
    expect(r.statusCode, r.body).toBe(200);
    const reply = r.json();
    expect(reply.preempted).toMatchObject({
      experiment_id: a,
      node: h.hub.registry.list()[0]?.name,
      status: 'cancelled',
    });
    expect(reply.message).toContain(`experiment ${a}`);
    expect(reply.message).toContain('was cancelled');
    await waitForStarted(h.hub, c);
    await node.stopRequested(a);
    expect(h.hub.queue.mustGet(a)).toMatchObject({ status: 'cancelled', preempted_by: c });
    expect(h.hub.queue.mustGet(a).error_message).toMatch(
      /^Cancelled by run-now after running .* to make way for experiment /,
    );
    expect(h.hub.queue.mustGet(a).error_message).toContain(c.slice(0, 8));
    const seen = await h.app.inject({ url: `/api/experiments/${a}/status`, headers: { 'x-session-id': 'alice' } });
    expect(seen.json().experiment.preempted_by).toBe(c.slice(0, 8));
    expect(h.hub.queue.mustGet(b).status).toBe('queued');

    // With a node free, run-now cancels nothing and says so.
    await h.app.inject({ method: 'POST', url: `/api/experiments/${b}/cancel` });
    const d = await submit('dave');
    expect((await h.app.inject({ method: 'POST', url: `/api/experiments/${d}/pause` })).statusCode).toBe(200);
    node.finish(c, 'completed', 0);
    await waitFor(h.hub, () => h?.hub.registry.list()[0]?.busyWith === null, 'the node to be free');
    const free = await h.app.inject({ method: 'POST', url: `/api/experiments/${d}/run-now` });
    expect(free.statusCode, free.body).toBe(200);
    expect(free.json().preempted).toBeNull();
    expect(free.json().message).toContain('no running experiment was affected');
    await waitForStarted(h.hub, d);
  });

  it('streams logs, data (with X-Next-Offset) and the results zip through from the node', async () => {
    const node = await fakeNode();
    h = await makeHub({ nodes: [node.url] });
    const a = await submit('alice');
    const queuedOnly = await submit('alice');
    await waitForStarted(h.hub, a);
    const headers = { 'x-session-id': 'alice' };
    const logs = await h.app.inject({ url: `/api/experiments/${a}/logs?tail=10`, headers });
    expect(logs.json().logs).toBe(`log of ${a}\n`);
    const data = await h.app.inject({ url: `/api/experiments/${a}/data?offset=10`, headers });
    expect(data.headers['content-type']).toContain('text/csv');
    expect(data.body).toBe(node.runs.get(a)?.csv.slice(10));
    expect(Number(data.headers['x-next-offset'])).toBe(node.runs.get(a)?.csv.length);
    const zip = await h.app.inject({ url: `/api/experiments/${a}/download`, headers });
    expect(zip.headers['content-disposition']).toContain(`experiment_${a}_results.zip`);
    expect(zip.body).toBe(`PK-fake-zip:${a}:${GOOD_SCRIPT}`);
    const other = await h.app.inject({ url: `/api/experiments/${a}/download`, headers: { 'x-session-id': 'eve' } });
    expect(other.statusCode).toBe(403);
    const early = await h.app.inject({ url: `/api/experiments/${queuedOnly}/download`, headers });
    expect(early.statusCode).toBe(409);
  });

  it('publishes experiment, queue and node changes on GET /api/events', async () => {
    const node = await fakeNode();
    h = await makeHub({ nodes: [node.url] });
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    const port = (h.app.server.address() as AddressInfo).port;
    const abort = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/api/events`, { signal: abort.signal });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const seen: { event: string; data: string }[] = [];
    const reader = (async () => {
      try {
        for await (const ev of readEventStream(res.body as ReadableStream<Uint8Array>)) {
          seen.push(ev);
          if (ev.event === 'experiment.updated' && JSON.parse(ev.data).experiment.status === 'completed') break;
        }
      } catch {
        // aborted
      }
    })();
    const a = await submit('alice');
    await waitForStarted(h.hub, a);
    node.finish(a, 'completed', 0);
    await reader;
    abort.abort();
    const types = new Set(seen.map((e) => e.event));
    expect(types).toContain('queue.updated');
    expect(types).toContain('node.updated');
    const statuses = seen
      .filter((e) => e.event === 'experiment.updated')
      .map((e) => JSON.parse(e.data).experiment.status);
    expect(statuses[0]).toBe('queued');
    expect(statuses).toContain('running');
    expect(statuses.at(-1)).toBe('completed');
  });
});

describe('many nodes', () => {
  it('runs one experiment per node at once, honours a named node, and takes the first free one', async () => {
    const n1 = await fakeNode();
    const n2 = await fakeNode();
    h = await makeHub({ nodes: [n1.url, n2.url] });
    await waitFor(h.hub, () => h?.hub.registry.onlineNames().length === 2, 'both nodes online');
    const [name1, name2] = h.hub.registry.list().map((n) => n.name) as [string, string];
    const pinned = await submit('alice', { node: name2 });
    const a = await submit('bob');
    const b = await submit('carol');
    await waitForStarted(h.hub, pinned);
    await waitForStarted(h.hub, a);
    expect(n2.active()?.experiment_id).toBe(pinned);
    expect(n1.active()?.experiment_id).toBe(a);
    expect(h.hub.queue.mustGet(b).status).toBe('queued');
    const status = (await h.app.inject('/api/queue/status')).json();
    expect(status.total_running).toBe(2);
    expect(
      status.queue
        .slice(0, 2)
        .map((e: { node: string }) => e.node)
        .sort(),
    ).toEqual([name1, name2].sort());

    n2.finish(pinned, 'completed', 0);
    await waitForStarted(h.hub, b);
    expect(n2.active()?.experiment_id).toBe(b);
  });

  it('adds and removes nodes at runtime (admin), and refuses to remove a busy one', async () => {
    const n1 = await fakeNode();
    const n2 = await fakeNode();
    h = await makeHub({ nodes: [n1.url] });
    const a = await submit('alice');
    await waitForStarted(h.hub, a);
    const b = await submit('bob');
    const denied = await h.app.inject({
      method: 'POST',
      url: '/api/nodes',
      headers: { 'x-session-id': 'bob' },
      payload: { name: 'pi-2', url: n2.url },
    });
    expect(denied.statusCode).toBe(403);
    const added = await h.app.inject({ method: 'POST', url: '/api/nodes', payload: { name: 'pi-2', url: n2.url } });
    expect(added.statusCode, added.body).toBe(200);
    await waitForStarted(h.hub, b);
    expect(n2.active()?.experiment_id).toBe(b);
    const busy = await h.app.inject({ method: 'DELETE', url: '/api/nodes/pi-2' });
    expect(busy.statusCode).toBe(409);
    n2.finish(b, 'completed', 0);
    await waitFor(h.hub, () => h?.hub.registry.get('pi-2')?.busyWith === null, 'pi-2 to be free');
    const y1 = await submit('carol', { node: 'pi-2' });
    await waitForStarted(h.hub, y1);
    const y2 = await submit('carol', { node: 'pi-2' });
    const stuck = await h.app.inject({ method: 'DELETE', url: '/api/nodes/pi-2' });
    expect(stuck.statusCode).toBe(409);
    expect(stuck.json().message).toContain('wait forever');
    await h.app.inject({ method: 'POST', url: `/api/experiments/${y2}/cancel` });
    n2.finish(y1, 'completed', 0);
    await waitForState(h.hub, y1, 'completed');
    await waitFor(h.hub, () => h?.hub.registry.get('pi-2')?.busyWith === null, 'pi-2 to be free again');
    const removed = await h.app.inject({ method: 'DELETE', url: '/api/nodes/pi-2' });
    expect(removed.statusCode, removed.body).toBe(200);
    const list = (await h.app.inject('/api/nodes')).json().nodes;
    expect(list.map((n: { name: string }) => n.name)).not.toContain('pi-2');
  });
});

describe('nodes that go away', () => {
  it('marks a silent node offline, gives it nothing new, and settles its run from its own record on return', async () => {
    const node = await fakeNode();
    h = await makeHub({ nodes: [node.url] });
    const a = await submit('alice');
    await waitForStarted(h.hub, a);
    const b = await submit('bob');
    await node.stop();
    const entry = h.hub.registry.list()[0];
    await waitFor(h.hub, () => entry?.online === false, 'the node to be marked offline');
    expect((await h.app.inject('/api/nodes')).json().nodes[0]).toMatchObject({ online: false, running_experiment: a });
    // The run ended while the hub could not see it; the node kept its record.
    node.finish(a, 'completed', 0);
    await node.start(); // same port
    await waitForState(h.hub, a, 'completed');
    await waitForStarted(h.hub, b);
  });

  it('marks a run interrupted when the returning node has no record of it', async () => {
    const node = await fakeNode();
    h = await makeHub({ nodes: [node.url] });
    const a = await submit('alice');
    await waitForStarted(h.hub, a);
    await node.stop();
    await waitFor(h.hub, () => h?.hub.registry.list()[0]?.online === false, 'offline');
    node.runs.clear();
    await node.start();
    const row = await waitForState(h.hub, a, 'interrupted');
    expect(row.error_message).toContain('no record');
  });
});
