// Programs and pre-flights through the queue, against nodes speaking the node contract over HTTP: a program is
// queued and started as a program, a pre-flight waits for a twin and is sent with its speed-up, its report is relayed,
// the lab's BIOREACTOR_REQUIRE_PREFLIGHT policy, and a database from before programs still reads.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeNode } from './support/fake-node.js';
import { GOOD_SCRIPT, makeHub, type TestHub, waitFor, waitForStarted, waitForState } from './support/hub.js';

let h: TestHub | undefined;
const nodes: FakeNode[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await h?.close();
  h = undefined;
  for (const n of nodes.splice(0)) await n.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function fakeNode(opts: ConstructorParameters<typeof FakeNode>[0] = {}): Promise<FakeNode> {
  const n = new FakeNode(opts);
  await n.start();
  nodes.push(n);
  return n;
}

const TWIN = { timeScale: 1, maxTimeScale: 3600 };

const PROGRAM = {
  name: 'light cycle',
  tracks: [
    {
      component: 'led',
      steps: [
        { duration: '12h', set: { power: 80 } },
        { duration: '12h', set: { power: 0 } },
      ],
      repeat: 2,
    },
  ],
  limits: { duration: '2d' },
};

const PROGRAM_YAML = `name: light cycle
tracks:
  - component: led
    repeat: 2
    steps:
      - { duration: 12h, set: { power: 80 } }
      - { duration: 12h, set: { power: 0 } }
limits: { duration: 2d }
`;

function post(user: string, payload: Record<string, unknown>) {
  return (h as TestHub).app.inject({
    method: 'POST',
    url: '/api/experiments/start',
    headers: { 'x-session-id': user },
    payload,
  });
}

async function submit(user: string, payload: Record<string, unknown>): Promise<string> {
  const r = await post(user, payload);
  expect(r.statusCode, r.body).toBe(200);
  return r.json().experiment_id;
}

function report(id: string, passed: boolean): Record<string, unknown> {
  return {
    experiment_id: id,
    passed,
    reasons: passed ? [] : ['safety cut-off: peltier_driver'],
    time_scale: 600,
    achieved_time_scale: 598.2,
  };
}

describe('programs through the queue', () => {
  it('queues a program (the document or YAML text) and starts it on its node as a program, not a script', async () => {
    const node = await fakeNode();
    h = await makeHub({ nodes: [node.url] });
    const first = await submit('alice', { script_content: GOOD_SCRIPT });
    const asJson = await submit('alice', { program: PROGRAM, max_duration_s: 3 * 86_400 });
    const asYaml = await submit('alice', { program: PROGRAM_YAML });
    await waitForStarted(h.hub, first);

    const status = await h.app.inject({
      url: `/api/experiments/${asJson}/status`,
      headers: { 'x-session-id': 'alice' },
    });
    expect(status.json().experiment).toMatchObject({
      kind: 'program',
      status: 'queued',
      queue_position: 1,
      name: 'light cycle',
      preflight: null,
    });
    const mine = await h.app.inject({ url: '/api/experiments/user', headers: { 'x-session-id': 'alice' } });
    expect(mine.json().experiments.map((e: { kind: string }) => e.kind)).toEqual(['program', 'program', 'script']);
    // The same document written in YAML or JSON is the same program.
    expect(h.hub.queue.mustGet(asYaml).script_sha256).toBe(h.hub.queue.mustGet(asJson).script_sha256);

    node.finish(first, 'completed', 0);
    await waitForStarted(h.hub, asJson);
    const body = node.startBodies.get(asJson);
    expect(body).toEqual({ program: PROGRAM, experiment_id: asJson, max_duration_s: 3 * 86_400 });

    node.finish(asJson, 'completed', 0);
    await waitForState(h.hub, asJson, 'completed');
    await waitForStarted(h.hub, asYaml);
    expect(node.startBodies.get(asYaml)?.program).toEqual(PROGRAM);

    const script = await h.app.inject({
      url: `/api/experiments/${asJson}/script`,
      headers: { 'x-session-id': 'alice' },
    });
    expect(script.json()).toMatchObject({ kind: 'program', script_content: '', program: PROGRAM });

    // Cancelled as any run: stopped on its node.
    const cancel = await h.app.inject({
      method: 'POST',
      url: `/api/experiments/${asYaml}/cancel`,
      headers: { 'x-session-id': 'alice' },
    });
    expect(cancel.statusCode, cancel.body).toBe(200);
    await node.stopRequested(asYaml);
  });

  it('refuses a program of the wrong shape with every problem at its path, and a script and a program at once', async () => {
    h = await makeHub({ noDispatch: true });
    const bad = await post('alice', {
      program: { name: 'x', tracks: [{ component: 'led', steps: [{ duration: 'soon', set: {} }] }], extra: 1 },
    });
    expect(bad.statusCode).toBe(400);
    const fields = bad.json().problems.map((p: { field: string }) => p.field);
    expect(fields).toContain('program.tracks[0].steps[0].duration');
    expect(fields).toContain('program');
    expect(bad.json().message).toMatch(/docs\/programs\.md/);

    const yaml = await post('alice', { program: 'name: [unclosed' });
    expect(yaml.statusCode).toBe(400);
    expect(yaml.json().message).toMatch(/cannot be read as YAML or JSON at line 1, column 16: Flow sequence/);

    const empty = await post('alice', { program: { name: 'nothing' } });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().message).toMatch(/no track and no automation/);

    const both = await post('alice', { script_content: GOOD_SCRIPT, program: PROGRAM });
    expect(both.statusCode).toBe(400);
    expect(both.json().message).toMatch(/a script or a program, not both/);
    expect(h.hub.queue.all()).toHaveLength(0);
  });

  it('takes a program as a raw YAML body', async () => {
    h = await makeHub({ noDispatch: true });
    const r = await h.app.inject({
      method: 'POST',
      url: '/api/experiments/start?preflight=true&time_scale=120',
      headers: { 'x-session-id': 'alice', 'content-type': 'application/yaml' },
      payload: PROGRAM_YAML,
    });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().message).toMatch(/^Pre-flight \(on a simulation twin at 120×/);
    const row = h.hub.queue.mustGet(r.json().experiment_id);
    expect(row).toMatchObject({ kind: 'program', time_scale: 120, name: 'light cycle' });
    expect(JSON.parse(row.program as string)).toEqual(PROGRAM);
  });
});

describe('pre-flights through the queue', () => {
  it('waits for a twin, runs there with its time_scale, and relays its report to its owner only', async () => {
    const real = await fakeNode();
    h = await makeHub({ nodes: [real.url] });
    const preflight = await submit('alice', { script_content: GOOD_SCRIPT, preflight: { time_scale: 600 } });
    const run = await submit('bob', { script_content: GOOD_SCRIPT });
    // The pre-flight is first in line, but real hardware does not take it: the run after it starts.
    await waitForStarted(h.hub, run);
    expect(real.starts).toEqual([run]);
    const queued = await h.app.inject({
      url: `/api/experiments/${preflight}/status`,
      headers: { 'x-session-id': 'alice' },
    });
    expect(queued.json().experiment).toMatchObject({
      status: 'queued',
      preflight: { time_scale: 600, passed: null },
    });
    expect(queued.json().experiment.note).toMatch(/runs only on a simulation twin/);

    const twin = await fakeNode({ twin: TWIN });
    h.hub.registry.add('twin', twin.url);
    await waitForStarted(h.hub, preflight);
    expect(twin.startBodies.get(preflight)).toMatchObject({ script_content: GOOD_SCRIPT, time_scale: 600 });
    const nodes = await h.app.inject({ url: '/api/nodes' });
    expect(nodes.json().nodes.find((n: { name: string }) => n.name === 'twin').twin).toEqual({
      time_scale: 1,
      max_time_scale: 3600,
    });

    twin.preflights.set(preflight, report(preflight, true));
    twin.finish(preflight, 'completed', 0);
    await waitFor(h.hub, () => h?.hub.queue.get(preflight)?.preflight_passed === 1, 'the verdict to be recorded');

    const got = await h.app.inject({
      url: `/api/experiments/${preflight}/preflight`,
      headers: { 'x-session-id': 'alice' },
    });
    expect(got.statusCode, got.body).toBe(200);
    expect(got.json()).toEqual({ status: 'success', preflight: report(preflight, true) });
    const other = await h.app.inject({
      url: `/api/experiments/${preflight}/preflight`,
      headers: { 'x-session-id': 'mallory' },
    });
    expect(other.statusCode).toBe(403);
    const ofRun = await h.app.inject({ url: `/api/experiments/${run}/preflight` });
    expect(ofRun.statusCode).toBe(409);
    expect(ofRun.json().message).toMatch(/is a run, not a pre-flight/);
  });

  it('refuses a time_scale out of range, and one without preflight', async () => {
    h = await makeHub({ noDispatch: true });
    const high = await post('alice', { script_content: GOOD_SCRIPT, preflight: { time_scale: 3601 } });
    expect(high.statusCode).toBe(400);
    expect(high.json().message).toMatch(/preflight\.time_scale must be a whole number from 1 to 3600/);
    const stray = await post('alice', { script_content: GOOD_SCRIPT, time_scale: 60 });
    expect(stray.statusCode).toBe(400);
    expect(stray.json().message).toMatch(/add preflight=true/);
    const byDefault = await submit('alice', { script_content: GOOD_SCRIPT, preflight: {} });
    expect(h.hub.queue.mustGet(byDefault).time_scale).toBe(60);
  });
});

describe('BIOREACTOR_REQUIRE_PREFLIGHT=1', () => {
  it('refuses a run on real hardware until the same user passed a pre-flight of the same script', async () => {
    const real = await fakeNode();
    const twin = await fakeNode({ twin: TWIN });
    h = await makeHub({ nodes: [real.url, twin.url], env: { BIOREACTOR_REQUIRE_PREFLIGHT: '1' } });

    const refused = await post('alice', { script_content: GOOD_SCRIPT });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().message).toMatch(/run it as a pre-flight first: submit the same script with "preflight"/);

    // A pre-flight whose report did not pass does not count.
    const failing = await submit('alice', { script_content: GOOD_SCRIPT, preflight: { time_scale: 600 } });
    await waitForStarted(h.hub, failing);
    expect(twin.starts).toEqual([failing]);
    twin.preflights.set(failing, report(failing, false));
    twin.finish(failing, 'completed', 0);
    await waitFor(h.hub, () => h?.hub.queue.get(failing)?.preflight_passed === 0, 'the failing verdict');
    const still = await post('alice', { script_content: GOOD_SCRIPT });
    expect(still.statusCode).toBe(403);
    expect(still.json().message).toContain(`Your last pre-flight of it, ${failing}, did not pass`);

    // The report was not there yet when the run ended: the verdict is asked for at the next submission.
    const passing = await submit('alice', { script_content: GOOD_SCRIPT, preflight: { time_scale: 600 } });
    await waitForStarted(h.hub, passing);
    twin.finish(passing, 'completed', 0);
    await waitForState(h.hub, passing, 'completed');
    await twin.preflightAsked(passing);
    expect(h.hub.queue.mustGet(passing).preflight_passed).toBeNull();
    twin.preflights.set(passing, report(passing, true));

    const accepted = await submit('alice', { script_content: GOOD_SCRIPT });
    expect(h.hub.queue.mustGet(passing).preflight_passed).toBe(1);
    // Another user, or another script, has no passed pre-flight.
    expect((await post('bob', { script_content: GOOD_SCRIPT })).statusCode).toBe(403);
    expect((await post('alice', { script_content: `${GOOD_SCRIPT}print(2)\n` })).statusCode).toBe(403);
    // A run pinned to a twin is no run on real hardware.
    await submit('bob', { script_content: GOOD_SCRIPT, node: h.hub.registry.list()[1]?.name });

    await waitForStarted(h.hub, accepted);
  });

  it('applies to programs by their canonical JSON', async () => {
    const twin = await fakeNode({ twin: TWIN });
    h = await makeHub({ nodes: [twin.url], env: { BIOREACTOR_REQUIRE_PREFLIGHT: 'true' } });
    const refused = await post('alice', { program: PROGRAM });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().message).toMatch(/run it as a pre-flight first: submit the same program/);
    const pre = await submit('alice', { program: PROGRAM_YAML, preflight: { time_scale: 3600 } });
    await waitForStarted(h.hub, pre);
    expect(twin.startBodies.get(pre)).toMatchObject({ program: PROGRAM, time_scale: 3600 });
    twin.preflights.set(pre, report(pre, true));
    twin.finish(pre, 'completed', 0);
    await waitFor(h.hub, () => h?.hub.queue.get(pre)?.preflight_passed === 1, 'the verdict');
    // The same program with its keys in another order.
    const { limits, tracks, name } = PROGRAM;
    await submit('alice', { program: { limits, tracks, name } });
  });
});

describe('a database from before programs', () => {
  it('reads its rows as scripts that were no pre-flight', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hub-old-db-'));
    dirs.push(dir);
    const migrations = join(dirname(fileURLToPath(import.meta.url)), '../src/queue/migrations');
    const db = new Database(join(dir, 'hub.sqlite'));
    for (const file of readdirSync(migrations).sort()) {
      const version = Number.parseInt(file.slice(0, 3), 10);
      if (version > 6) continue;
      db.exec(readFileSync(join(migrations, file), 'utf8'));
      db.pragma(`user_version = ${version}`);
    }
    const at = '2026-03-01T12:00:00.000Z';
    db.prepare(
      `INSERT INTO experiments (id, user_id, script_content, status, order_key, max_duration_s, created_at, updated_at, completed_at, exit_code, script_sha256)
       VALUES ('old-run', 'alice', ?, 'completed', 1, 600, ?, ?, ?, 0, 'abc')`,
    ).run(GOOD_SCRIPT, at, at, at);
    db.close();

    h = await makeHub({ dir, noDispatch: true });
    const status = await h.app.inject({ url: '/api/experiments/old-run/status', headers: { 'x-session-id': 'alice' } });
    expect(status.statusCode, status.body).toBe(200);
    expect(status.json().experiment).toMatchObject({ status: 'completed', kind: 'script', preflight: null });
    const script = await h.app.inject({ url: '/api/experiments/old-run/script', headers: { 'x-session-id': 'alice' } });
    expect(script.json()).toMatchObject({ script_content: GOOD_SCRIPT, kind: 'script', program: null });
  });
});
