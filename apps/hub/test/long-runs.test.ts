// Experiments that run for weeks: the duration policy at submission, monotonic run times and retention under
// wall-clock steps, a node out of sight past the lost timeout, a 30-day run, reorder within one's own places,
// run-now's account of what it cancelled, and estimates from the same script's history.
import { MAX_TIMER_MS } from '@bioreactor/api';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Clock, Timeline } from '../src/clock.js';
import { FakeNode } from './support/fake-node.js';
import { GOOD_SCRIPT, makeHub, TestClock, type TestHub, waitFor, waitForStarted, waitForState } from './support/hub.js';

const DAY_MS = 86_400_000;

let h: TestHub | undefined;
const nodes: FakeNode[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
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

function hub(): TestHub {
  if (!h) throw new Error('no hub');
  return h;
}

async function submit(user: string, body: Record<string, unknown> = {}) {
  return hub().app.inject({
    method: 'POST',
    url: '/api/experiments/start',
    headers: { 'x-session-id': user },
    payload: { script_content: GOOD_SCRIPT, ...body },
  });
}

async function submitted(user: string, body: Record<string, unknown> = {}): Promise<string> {
  const r = await submit(user, body);
  expect(r.statusCode, r.body).toBe(200);
  return r.json().experiment_id;
}

async function view(id: string, user?: string) {
  const r = await hub().app.inject({
    url: `/api/experiments/${id}/status`,
    headers: user ? { 'x-session-id': user } : {},
  });
  expect(r.statusCode, r.body).toBe(200);
  return r.json().experiment;
}

/** Waits until the hub has read the node's advertised limit. */
function limitsKnown(t: TestHub) {
  return waitFor(
    t.hub,
    () => t.hub.registry.list().every((n) => n.maxDurationS !== null),
    'the nodes to advertise their limits',
  );
}

describe('the duration policy at submission', () => {
  it('refuses a duration no node runs, naming the limit, and says what an undeclared one gets', async () => {
    const node = await fakeNode({ maxDurationS: 86_400 });
    h = await makeHub({ nodes: [node.url] });
    await limitsKnown(h);
    const tooLong = await submit('alice', { max_duration_s: 90_000 });
    expect(tooLong.statusCode).toBe(400);
    expect(tooLong.json().code).toBe('VALIDATION_FAILED');
    expect(tooLong.json().message).toContain('at most 86400 s (24 h)');
    expect(tooLong.json().message).toContain('BIOREACTOR_EXPERIMENT_MAX_DURATION_S');
    expect(hub().hub.queue.all()).toHaveLength(0);

    const undeclared = await submit('alice');
    expect(undeclared.statusCode, undeclared.body).toBe(200);
    expect(undeclared.json()).toMatchObject({ max_duration_s: 86_400, max_duration_source: 'limit' });
    expect(undeclared.json().message).toContain('no max_duration_s was declared, so it may run up to 24 h');
    const status = (await hub().app.inject('/api/queue/status')).json();
    expect(status.duration_policy).toMatchObject({
      max_duration_s: 86_400,
      default_max_duration_s: 86_400,
      node_limits_known: true,
    });
    await h.close();

    // The lab's default, capped by what the node runs.
    h = await makeHub({ nodes: [node.url], env: { BIOREACTOR_DEFAULT_MAX_DURATION_S: '7200' } });
    await limitsKnown(h);
    expect((await submit('bob')).json()).toMatchObject({ max_duration_s: 7200, max_duration_source: 'lab_default' });
    await h.close();
    h = await makeHub({ nodes: [node.url], env: { BIOREACTOR_DEFAULT_MAX_DURATION_S: '200000' } });
    await limitsKnown(h);
    const capped = (await submit('carol')).json();
    expect(capped).toMatchObject({ max_duration_s: 86_400, max_duration_source: 'lab_default' });
    expect(capped.message).toContain('capped by node');
  });

  it('accepts what one of several nodes runs, and starts it only there', async () => {
    const short = await fakeNode({ maxDurationS: DAY_MS / 1000 });
    const long = await fakeNode({ maxDurationS: 40 * 86_400 });
    h = await makeHub({ nodes: [short.url, long.url] });
    await limitsKnown(h);
    const [shortName, longName] = hub()
      .hub.registry.list()
      .map((n) => n.name) as [string, string];
    const month = await submitted('alice', { max_duration_s: 30 * 86_400 });
    await waitForStarted(h.hub, month);
    expect(long.active()?.experiment_id).toBe(month);
    expect(short.active()).toBeUndefined();
    // Pinned to the node that runs a day at most, a month is refused with that node's limit.
    const pinned = await submit('bob', { max_duration_s: 30 * 86_400, node: shortName });
    expect(pinned.statusCode).toBe(400);
    expect(pinned.json().message).toContain(`node ${shortName}`);
    expect((await submit('bob', { max_duration_s: 30 * 86_400, node: longName })).statusCode).toBe(200);
  });
});

describe('a queued experiment no node takes any more', () => {
  it('waits, and says why and what to do', async () => {
    h = await makeHub({ noDispatch: true });
    const id = await submitted('alice', { max_duration_s: 50_000 });
    // The lab lowers the node's limit after the submission.
    const entry = h.hub.registry.list()[0];
    if (entry) Object.assign(entry, { online: true, maxDurationS: 3600 });
    expect(h.hub.queue.claimNext(entry?.name as string, 3600)).toBeUndefined();
    const waiting = await view(id, 'alice');
    expect(waiting).toMatchObject({ status: 'queued', estimated_start: null });
    expect(waiting.note).toContain('longer than any node it may use takes now (the longest: 3600 s)');
  });
});

describe('a 30-day run', () => {
  it('is accepted, is not stopped early, and no timer is ever set past 2^31-1 ms', async () => {
    const delays: number[] = [];
    const realSetTimeout = globalThis.setTimeout as (...args: unknown[]) => NodeJS.Timeout;
    vi.spyOn(globalThis, 'setTimeout').mockImplementation(((...args: unknown[]) => {
      delays.push(typeof args[1] === 'number' ? args[1] : 0);
      return realSetTimeout(...args);
    }) as typeof setTimeout);
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const clock = new TestClock();
      const node = await fakeNode({ maxDurationS: 40 * 86_400 });
      h = await makeHub({ nodes: [node.url], clock });
      await limitsKnown(h);
      const month = 30 * 86_400;
      const id = await submitted('alice', { max_duration_s: month });
      await waitForStarted(h.hub, id);
      expect(node.runs.get(id)?.max_duration_s).toBe(month);

      clock.advance(29.9 * DAY_MS);
      h.hub.dispatcher.checkLimits();
      const during = await view(id, 'alice');
      expect(during.status).toBe('running');
      expect(during.elapsed_s).toBeCloseTo(29.9 * 86_400, 0);
      expect(node.stops).toEqual([]);

      // Past its maximum and the hub's minute of grace, the hub stops it (the node should have already).
      clock.advance(0.1 * DAY_MS + 61_000);
      h.hub.dispatcher.checkLimits();
      await node.stopRequested(id);
      const row = await waitForState(h.hub, id, 'failed');
      expect(row.error_message).toContain(`maximum duration of ${month} s`);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).not.toContain('TimeoutOverflowWarning');
    expect(Math.max(...delays)).toBeLessThanOrEqual(MAX_TIMER_MS);
  });
});

describe('clocks', () => {
  it('a +48 h wall-clock step during a run stops nothing and deletes nothing, and is logged', async () => {
    const clock = new TestClock();
    const node = await fakeNode({ maxDurationS: 86_400 });
    h = await makeHub({
      nodes: [node.url],
      clock,
      env: { BIOREACTOR_RETENTION_DAYS: '1', BIOREACTOR_RETENTION_ACTION: 'delete' },
    });
    const done = await submitted('alice', { max_duration_s: 600 });
    await waitForStarted(h.hub, done);
    node.finish(done, 'completed', 0);
    await waitForState(h.hub, done, 'completed');
    const run = await submitted('alice', { max_duration_s: 3600 });
    await waitForStarted(h.hub, run);

    clock.advance(10_000);
    clock.stepWall(48 * 3600_000);
    h.hub.tick();
    expect(h.hub.timeline.lastStep?.step_ms).toBe(48 * 3600_000);
    h.hub.dispatcher.checkLimits();
    expect(h.hub.queue.sweep()).toEqual([]);
    const running = await view(run, 'alice');
    expect(running.status).toBe('running');
    expect(running.elapsed_s).toBe(10);
    expect(node.stops).toEqual([]);
    expect((await view(done, 'alice')).status).toBe('completed');
    const health = (await h.app.inject('/health')).json();
    expect(health.checks.clock.message).toContain('stepped by 172800 s');

    // Back again: still nothing moves.
    clock.stepWall(-48 * 3600_000);
    h.hub.tick();
    expect(h.hub.timeline.lastStep?.step_ms).toBe(-48 * 3600_000);
    h.hub.dispatcher.checkLimits();
    expect(h.hub.queue.sweep()).toEqual([]);
    node.finish(run, 'completed', 0);
    await waitForState(h.hub, run, 'completed');
    // Real time does count: a day after its end, the lab's policy applies.
    clock.advance(DAY_MS + 1000);
    expect(h.hub.queue.sweep().sort()).toEqual([done, run].sort());
  });

  it('keeps monotonic time across a restart: exactly on the same boot, by the wall clock after a reboot', () => {
    const saved = new Map<string, string>();
    const store = { get: () => saved.get('t'), set: (v: string) => void saved.set('t', v) };
    const warned: string[] = [];
    const log = { info: () => {}, warn: (_o: object, m: string) => void warned.push(m) };
    const clock = new TestClock();
    const first = new Timeline(clock, store, log);
    const start = first.now();
    clock.advance(5000);
    first.checkpoint();
    // Down for an hour, during which the wall clock is set back two days.
    clock.advance(3600_000);
    clock.stepWall(-2 * DAY_MS);
    const second = new Timeline(clock, store, log);
    expect(second.now() - start).toBe(3605_000);
    expect(warned.at(-1)).toContain('stepped back by 172800 s while the hub was stopped');

    const rebooted: Clock = { wall: () => clock.wall() + 60_000, mono: () => 12, boot: 'another-boot' };
    const third = new Timeline(rebooted, store, log);
    expect(third.now() - second.now()).toBe(60_000);
  });
});

describe('a node out of sight', () => {
  it('keeps its run running past the lost timeout, and takes the node’s record when it answers', async () => {
    const clock = new TestClock();
    const node = await fakeNode({ maxDurationS: 86_400 });
    h = await makeHub({ nodes: [node.url], clock, env: { BIOREACTOR_NODE_LOST_TIMEOUT_S: '60' } });
    const id = await submitted('alice', { max_duration_s: 7200 });
    await waitForStarted(h.hub, id);
    const entry = h.hub.registry.list()[0];

    await node.stop();
    await waitFor(h.hub, () => entry?.online === false, 'the node to be unreachable');
    clock.advance(600_000);
    h.hub.dispatcher.checkLimits();
    expect(entry?.lost).toBe(true);
    const away = await view(id, 'alice');
    expect(away.status).toBe('running');
    expect(away.node_unreachable_since).not.toBeNull();
    expect(away.note).toContain('presumed to go on');
    const listed = (await h.app.inject('/api/nodes')).json().nodes[0];
    expect(listed.unreachable_since).toBe(away.node_unreachable_since);
    expect(listed.detail).toContain('BIOREACTOR_NODE_LOST_TIMEOUT_S');

    // It comes back with the run still going: nothing is stopped.
    await node.start();
    await waitFor(h.hub, () => entry?.online === true, 'the node to answer again');
    expect((await view(id, 'alice')).status).toBe('running');
    expect((await view(id, 'alice')).node_unreachable_since).toBeNull();

    // Away again, longer; the run ends meanwhile, and the hub takes the node's record of it.
    await node.stop();
    await waitFor(h.hub, () => entry?.online === false, 'the node to be unreachable again');
    clock.advance(3 * 3600_000);
    h.hub.dispatcher.checkLimits();
    expect(h.hub.queue.mustGet(id).status).toBe('running');
    node.finish(id, 'completed', 0);
    await node.start();
    const row = await waitForState(h.hub, id, 'completed');
    const record = node.runs.get(id);
    expect(row).toMatchObject({ exit_code: 0, started_at: record?.start_time, completed_at: record?.end_time });
    expect(node.stops).toEqual([]);
  });
});

describe('reorder', () => {
  it('lets a user move their experiments among their own places; others’ places are 403; an admin anywhere', async () => {
    h = await makeHub({ noDispatch: true });
    const a1 = await submitted('alice');
    const b1 = await submitted('bob');
    const a2 = await submitted('alice');
    const c1 = await submitted('carol');
    const a3 = await submitted('alice');
    const reorder = (id: string, to: number, user?: string) =>
      hub().app.inject({
        method: 'POST',
        url: `/api/experiments/${id}/reorder?new_position=${to}`,
        headers: user ? { 'x-session-id': user } : {},
      });
    const line = () =>
      hub()
        .hub.queue.waiting()
        .map((r) => r.id);

    const moved = await reorder(a3, 0, 'alice');
    expect(moved.statusCode, moved.body).toBe(200);
    expect(moved.json().experiment.queue_position).toBe(1);
    expect(line()).toEqual([a3, b1, a1, c1, a2]);

    const intoBobs = await reorder(a3, 1, 'alice');
    expect(intoBobs.statusCode).toBe(403);
    expect(intoBobs.json().message).toContain('new_position 0, 2, 4');
    expect((await reorder(b1, 0, 'alice')).statusCode).toBe(403);

    // A paused experiment keeps its place; the end of the line is clamped to the last place.
    await hub().app.inject({
      method: 'POST',
      url: `/api/experiments/${a2}/pause`,
      headers: { 'x-session-id': 'alice' },
    });
    expect((await reorder(a1, 99, 'alice')).statusCode).toBe(200);
    expect(line()).toEqual([a3, b1, a2, c1, a1]);

    const admin = await hub().app.inject({
      method: 'POST',
      url: `/api/experiments/${c1}/reorder?new_position=0`,
      headers: { 'x-session-id': 'dave', 'x-user-role': 'admin' },
    });
    expect(admin.statusCode).toBe(200);
    expect(line()).toEqual([c1, a3, b1, a2, a1]);
  });
});

describe('estimates', () => {
  it('come from the same script’s runs with their spread, and from the running one’s elapsed time', async () => {
    const clock = new TestClock();
    h = await makeHub({ noDispatch: true, clock });
    const queue = h.hub.queue;
    const nodeName = h.hub.registry.list()[0]?.name as string;
    const entry = h.hub.registry.list()[0];
    if (entry) entry.online = true;
    const LONG = 'import time\ntime.sleep(300)\n';
    const SHORT = 'print("quick")\n';
    const run = async (user: string, script: string, seconds: number) => {
      const id = await submitted(user, { script_content: script });
      queue.claimNext(nodeName);
      queue.markDispatched(id);
      clock.advance(seconds * 1000);
      queue.settle(id, 'completed', 0, null);
    };
    // The lab's history is mostly quick runs; this script takes about five minutes.
    for (let i = 0; i < 10; i++) await run('bob', SHORT, 10);
    for (const s of [300, 300, 360]) await run('alice', LONG, s);

    const x = await submitted('carol', { script_content: LONG });
    const y = await submitted('carol', { script_content: LONG });
    const z = await submitted('dave', { script_content: 'print("new")\n' });
    expect(await view(x)).toMatchObject({
      estimate_basis: 'same_script',
      expected_duration_s: 300,
      expected_duration_p90_s: 360,
    });
    expect(await view(z)).toMatchObject({ estimate_basis: 'all_runs', expected_duration_s: 10 });
    const now = clock.wall();
    const yView = await view(y);
    expect(Date.parse(yView.estimated_start)).toBe(now + 300_000);
    expect(Date.parse(yView.estimated_start_p90)).toBe(now + 360_000);
    const status = (await h.app.inject('/api/queue/status')).json();
    expect(status.estimated_wait_minutes).toBe(10.2);
    expect(status.estimated_wait_p90_minutes).toBe(17);

    // Running for 100 s of its typical 300.
    queue.claimNext(nodeName);
    queue.markDispatched(x);
    clock.advance(100_000);
    const running = await view(x);
    expect(running.elapsed_s).toBe(100);
    expect(Date.parse(running.estimated_end)).toBe(clock.wall() + 200_000);
    expect(Date.parse(running.estimated_end_p90)).toBe(clock.wall() + 260_000);
    expect(Date.parse((await view(y)).estimated_start)).toBe(clock.wall() + 200_000);
  });
});
