// The queue through the hub's API: uploads in every form, validation, the per-user limit, FIFO positions,
// every transition (legal and not), permissions, estimates, the sweep, and the original JSON file.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GOOD_SCRIPT, makeHub, TestClock, type TestHub } from './support/hub.js';

let h: TestHub;
afterEach(async () => {
  await h?.close();
});

const submit = (
  user: string | null,
  payload: unknown = { script_content: GOOD_SCRIPT },
  extra: Record<string, string> = {},
) =>
  h.app.inject({
    method: 'POST',
    url: '/api/experiments/start',
    headers: { ...(user ? { 'x-session-id': user } : {}), ...extra },
    payload: payload as string,
  });

const act = (id: string, verb: string, user: string | null, role?: string) =>
  h.app.inject({
    method: 'POST',
    url: `/api/experiments/${id}/${verb}`,
    headers: { ...(user ? { 'x-session-id': user } : {}), ...(role ? { 'x-user-role': role } : {}) },
  });

async function queued(user: string, n = 1): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await submit(user);
    expect(r.statusCode, r.body).toBe(200);
    ids.push(r.json().experiment_id);
  }
  return ids;
}

describe('uploads', () => {
  it('accepts JSON, a raw text/x-python body and a multipart file, and queues each in FIFO order', async () => {
    h = await makeHub({ noDispatch: true });
    const json = await submit('alice', { script_content: GOOD_SCRIPT, name: 'json one', max_duration_s: 120 });
    expect(json.statusCode, json.body).toBe(200);
    expect(json.json()).toMatchObject({ status: 'queued', queue_position: 1 });
    expect(json.json().message).toMatch(/^Experiment added to queue/);

    const script = 'print("it\'s got \\"quotes\\"")\nprint("and lines")\n';
    const raw = await h.app.inject({
      method: 'POST',
      url: '/api/experiments/start?name=raw&max_duration_s=60',
      headers: { 'x-session-id': 'alice', 'content-type': 'text/x-python' },
      payload: script,
    });
    expect(raw.statusCode, raw.body).toBe(200);
    expect(raw.json().queue_position).toBe(2);

    const boundary = '----bioreactor';
    const form = [
      `--${boundary}`,
      'Content-Disposition: form-data; name="file"; filename="../../my experiment.py"',
      'Content-Type: text/x-python',
      '',
      script,
      `--${boundary}`,
      'Content-Disposition: form-data; name="max_duration_s"',
      '',
      '90',
      // Fields left blank, as Swagger UI's "Try it out" sends them: no program, no second script.
      `--${boundary}`,
      'Content-Disposition: form-data; name="program"',
      '',
      '',
      `--${boundary}`,
      'Content-Disposition: form-data; name="script_content"',
      '',
      '',
      `--${boundary}--`,
      '',
    ].join('\r\n');
    const multi = await h.app.inject({
      method: 'POST',
      url: '/api/experiments/start',
      headers: { 'x-session-id': 'alice', 'content-type': `multipart/form-data; boundary=${boundary}` },
      payload: form,
    });
    expect(multi.statusCode, multi.body).toBe(200);
    expect(multi.json().queue_position).toBe(3);

    const rawRow = h.hub.queue.mustGet(raw.json().experiment_id);
    expect(rawRow.script_content).toBe(script);
    expect(rawRow.name).toBe('raw');
    expect(rawRow.max_duration_s).toBe(60);
    const multiRow = h.hub.queue.mustGet(multi.json().experiment_id);
    expect(multiRow.script_content).toBe(script);
    expect(multiRow.name).toBe('my experiment.py');
    expect(multiRow.max_duration_s).toBe(90);

    const status = await h.app.inject('/api/queue/status');
    expect(status.json().queue.map((e: { experiment_id: string }) => e.experiment_id)).toEqual([
      json.json().experiment_id,
      raw.json().experiment_id,
      multi.json().experiment_id,
    ]);
  });

  it('answers the guide’s broken JSON command with a 400 that shows a command that works', async () => {
    h = await makeHub({ noDispatch: true });
    // What the shell makes of -d '{"script_content": "'"$(cat test_experiment.py)"'"}' for a script with quotes.
    const broken = `{"script_content": "from bioreactor_client import Bioreactor\nprint(f"CO2: {data.get('co2_ppm')} ppm")"}`;
    const r = await submit('alice', broken, { 'content-type': 'application/json' });
    expect(r.statusCode).toBe(400);
    expect(r.json().code).toBe('INVALID_JSON');
    expect(r.json().message).toContain('--data-binary @test_experiment.py');
    expect(r.json().message).toContain('Content-Type: text/x-python');
  });

  it('refuses a JSON body without script_content, bad fields and an unknown node with clear 4xx', async () => {
    h = await makeHub({ noDispatch: true });
    const missing = await submit('alice', { script: GOOD_SCRIPT });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().message).toContain('script_content');
    const badDuration = await submit('alice', { script_content: GOOD_SCRIPT, max_duration_s: -3 });
    expect(badDuration.statusCode).toBe(400);
    expect(badDuration.json().problems[0].field).toBe('max_duration_s');
    const node = await submit('alice', { script_content: GOOD_SCRIPT, node: 'nope' });
    expect(node.statusCode).toBe(404);
    expect(node.json().code).toBe('NODE_NOT_FOUND');
    expect(h.hub.queue.all()).toHaveLength(0);
  });
});

describe('idempotent submission', () => {
  it('answers a retried POST with the same Idempotency-Key with the first experiment, queueing it once', async () => {
    h = await makeHub({ noDispatch: true });
    const key = { 'idempotency-key': '0b6f8e1c-5f1a-4c1e-9f6e-3d2b7a4e9c10' };
    const first = await submit('alice', { script_content: GOOD_SCRIPT, name: 'once' }, key);
    expect(first.statusCode, first.body).toBe(200);
    expect(first.headers['idempotency-replayed']).toBeUndefined();
    const retry = await submit('alice', { script_content: GOOD_SCRIPT, name: 'once' }, key);
    expect(retry.statusCode, retry.body).toBe(200);
    expect(retry.headers['idempotency-replayed']).toBe('true');
    expect(retry.json()).toMatchObject({
      experiment_id: first.json().experiment_id,
      status: 'queued',
      queue_position: 1,
    });
    expect(retry.json().message).toMatch(/^Already submitted with this Idempotency-Key/);
    expect(h.hub.queue.all().filter((r) => r.user_id === 'alice')).toHaveLength(1);

    // The key is the user's: another user's same key queues their own experiment.
    const bob = await submit('bob', { script_content: GOOD_SCRIPT, name: 'once' }, key);
    expect(bob.json().experiment_id).not.toBe(first.json().experiment_id);
    // A cancelled experiment is still the answer to its key, as it is now.
    expect((await act(first.json().experiment_id, 'cancel', 'alice')).statusCode).toBe(200);
    const late = await submit('alice', { script_content: GOOD_SCRIPT, name: 'once' }, key);
    expect(late.json()).toMatchObject({
      experiment_id: first.json().experiment_id,
      status: 'cancelled',
      queue_position: 0,
    });
  });

  it('refuses the same key with another script, and a malformed key, with what to do', async () => {
    h = await makeHub({ noDispatch: true });
    const key = { 'idempotency-key': 'retry-1' };
    expect((await submit('alice', { script_content: GOOD_SCRIPT }, key)).statusCode).toBe(200);
    const other = await submit('alice', { script_content: `${GOOD_SCRIPT}\nprint(2)\n` }, key);
    expect(other.statusCode).toBe(400);
    expect(other.json().message).toMatch(/was used for another submission .*use a new key/);
    const bad = await submit('alice', { script_content: GOOD_SCRIPT }, { 'idempotency-key': 'has space' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(h.hub.queue.all()).toHaveLength(1);
  });
});

describe('validation', () => {
  it('reports a syntax error at the line and column Python reports', async () => {
    h = await makeHub({ noDispatch: true });
    const r = await submit('alice', { script_content: 'import time\n\ndef f(:\n    pass\n' });
    expect(r.statusCode).toBe(422);
    expect(r.json().code).toBe('SCRIPT_REJECTED');
    expect(r.json().problems).toEqual([{ line: 3, column: 7, message: 'SyntaxError: invalid syntax' }]);
    expect(r.json().message).toContain('line 3, column 7');
  });

  it('lists every import outside the allowed set, with its line, and accepts the allowed ones', async () => {
    h = await makeHub({ noDispatch: true });
    const script = [
      'import os, json',
      'import numpy as np',
      'import torch',
      'from sklearn.linear_model import LinearRegression',
      'from PIL import Image',
      'import pillow',
      'from bioreactor_client import Bioreactor',
      'from . import helpers',
      '',
    ].join('\n');
    const r = await submit('alice', { script_content: script });
    expect(r.statusCode).toBe(422);
    const problems = r.json().problems as { line: number; message: string }[];
    expect(problems.map((p) => p.line)).toEqual([3, 6, 8]);
    expect(problems[0]?.message).toContain("'torch'");
    expect(problems[1]?.message).toContain('imported as PIL');
    expect(problems[2]?.message).toContain('Relative imports');
  });

  it('refuses scripts that are not UTF-8, empty or over the size limit', async () => {
    h = await makeHub({ noDispatch: true, env: { BIOREACTOR_MAX_SCRIPT_BYTES: '2048' } });
    const latin1 = Buffer.concat([Buffer.from('print("ok")\n# caf'), Buffer.from([0xe9]), Buffer.from('\n')]);
    const notUtf8 = await submit('alice', latin1, { 'content-type': 'text/x-python' });
    expect(notUtf8.statusCode).toBe(422);
    expect(notUtf8.json().message).toContain('UTF-8');
    expect(notUtf8.json().problems[0].line).toBe(2);

    const empty = await submit('alice', { script_content: '   \n' });
    expect(empty.statusCode).toBe(422);

    const big = await submit('alice', `# ${'x'.repeat(3000)}\n`, { 'content-type': 'text/plain' });
    expect(big.statusCode).toBe(413);
    expect(big.json().message).toContain('2048');
    expect(h.hub.queue.all()).toHaveLength(0);
  });
});

describe('queue model', () => {
  it('limits each user to 5 active experiments (paused and running count), others unaffected', async () => {
    h = await makeHub({ noDispatch: true });
    const ids = await queued('alice', 5);
    await act(ids[0] as string, 'pause', 'alice');
    const sixth = await submit('alice');
    expect(sixth.statusCode).toBe(429);
    expect(sixth.json().code).toBe('QUEUE_LIMIT_REACHED');
    expect(sixth.json().message).toContain('Maximum 5 experiments allowed per user');
    expect((await submit('bob')).statusCode).toBe(200);
    await act(ids[1] as string, 'cancel', 'alice');
    expect((await submit('alice')).statusCode).toBe(200);
  });

  it('allows exactly the guide’s transitions and refuses the rest with 409 naming the state', async () => {
    h = await makeHub({ noDispatch: true });
    const [a, b, c] = await queued('alice', 3);
    const pass = async (id: string, verb: string, status: string) => {
      const r = await act(id, verb, 'alice');
      expect(r.statusCode, `${verb}: ${r.body}`).toBe(200);
      expect(r.json().experiment.status).toBe(status);
    };
    const fail = async (id: string, verb: string, state: string) => {
      const r = await act(id, verb, 'alice');
      expect(r.statusCode, `${verb} on ${state}: ${r.body}`).toBe(409);
      expect(r.json().code).toBe('INVALID_STATE');
      expect(r.json().message).toContain(`is ${state}`);
    };
    await fail(a as string, 'resume', 'queued');
    await pass(a as string, 'pause', 'paused');
    await fail(a as string, 'pause', 'paused');
    await pass(a as string, 'resume', 'queued');
    await pass(a as string, 'pause', 'paused');
    await pass(a as string, 'cancel', 'cancelled'); // paused experiments can be cancelled (the original's bug)
    for (const verb of ['cancel', 'pause', 'resume']) await fail(a as string, verb, 'cancelled');

    // running: cancel only; a late report from the node cannot overwrite the cancellation
    const claimed = h.hub.queue.claimNext(h.hub.registry.list()[0]?.name as string);
    expect(claimed?.id).toBe(b);
    await fail(b as string, 'pause', 'running');
    await fail(b as string, 'resume', 'running');
    await pass(b as string, 'cancel', 'cancelled');
    expect(h.hub.queue.settle(b as string, 'failed', 137, 'Experiment stopped')).toBeUndefined();
    expect(h.hub.queue.mustGet(b as string)).toMatchObject({ status: 'cancelled', exit_code: null });

    // finished states are final
    h.hub.queue.claimNext(h.hub.registry.list()[0]?.name as string);
    h.hub.queue.markDispatched(c as string);
    expect(h.hub.queue.settle(c as string, 'completed', 0, null)?.status).toBe('completed');
    expect(h.hub.queue.settle(c as string, 'failed', 1, 'late')).toBeUndefined();
    for (const verb of ['cancel', 'pause', 'resume']) await fail(c as string, verb, 'completed');

    const unknown = await act('no-such-id', 'cancel', 'alice');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().code).toBe('EXPERIMENT_NOT_FOUND');
  });

  it('counts positions over waiting experiments only, and reorders with 0-based positions (admin)', async () => {
    h = await makeHub({ noDispatch: true });
    const [a, b, c, d] = await queued('alice', 4);
    h.hub.queue.claimNext(h.hub.registry.list()[0]?.name as string); // a runs
    await act(b as string, 'pause', 'alice');
    const position = async (id: string) =>
      (await h.app.inject({ url: `/api/experiments/${id}/status` })).json().experiment.queue_position;
    expect(await position(a as string)).toBeNull();
    expect([await position(b as string), await position(c as string), await position(d as string)]).toEqual([1, 2, 3]);

    const denied = await h.app.inject({
      method: 'POST',
      url: `/api/experiments/${d}/reorder?new_position=0`,
      headers: { 'x-session-id': 'bob' },
    });
    expect(denied.statusCode).toBe(403);

    const moved = await h.app.inject({ method: 'POST', url: `/api/experiments/${d}/reorder?new_position=0` });
    expect(moved.statusCode, moved.body).toBe(200);
    expect(moved.json().experiment.queue_position).toBe(1);
    const order = (await h.app.inject('/api/queue/status'))
      .json()
      .queue.map((e: { experiment_id: string }) => e.experiment_id);
    expect(order).toEqual([a, d, b, c]);

    const clamped = await h.app.inject({ method: 'POST', url: `/api/experiments/${d}/reorder?new_position=99` });
    expect(clamped.json().experiment.queue_position).toBe(3);
    const running = await h.app.inject({ method: 'POST', url: `/api/experiments/${a}/reorder?new_position=0` });
    expect(running.statusCode).toBe(409);
    const missing = await h.app.inject({ method: 'POST', url: `/api/experiments/${d}/reorder` });
    expect(missing.statusCode).toBe(400);
  });

  it('lets a user act only on their own experiments; admins and operators act on any', async () => {
    h = await makeHub({ noDispatch: true });
    const [mine] = await queued('alice');
    const other = await act(mine as string, 'cancel', 'bob');
    expect(other.statusCode).toBe(403);
    expect(other.json().code).toBe('FORBIDDEN');
    const runNow = await act(mine as string, 'run-now', 'alice');
    expect(runNow.statusCode).toBe(403);
    expect((await act(mine as string, 'pause', 'bob', 'admin')).statusCode).toBe(200);
    expect((await act(mine as string, 'resume', null)).statusCode).toBe(200);

    // Others' ids are not shown to a user; their own are.
    await queued('bob');
    const view = (await h.app.inject({ url: '/api/queue/status', headers: { 'x-session-id': 'bob' } })).json();
    expect(view.queue.map((e: { user_session_id: string }) => e.user_session_id)).toEqual(['another user', 'bob']);
    const mineOnly = (
      await h.app.inject({ url: '/api/experiments/user', headers: { 'x-session-id': 'alice' } })
    ).json();
    expect(mineOnly.experiments).toHaveLength(1);
    const badRole = await h.app.inject({
      url: '/api/queue/status',
      headers: { 'x-session-id': 'x', 'x-user-role': 'root' },
    });
    expect(badRole.statusCode).toBe(400);
  });

  it('moves every experiment of one user id to another (admin only), keeping their places in line', async () => {
    h = await makeHub({ noDispatch: true });
    const [first, second] = await queued('browser-1234', 2);
    const [bobs] = await queued('bob');
    const transfer = (headers: Record<string, string>, payload: unknown) =>
      h.app.inject({ method: 'POST', url: '/api/users/transfer', headers, payload: payload as string });
    const body = { from_user: 'browser-1234', to_user: 'account-alice' };
    const refused = await transfer({ 'x-session-id': 'browser-1234' }, body);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().code).toBe('FORBIDDEN');
    expect((await transfer({}, { from_user: 'x', to_user: 'x' })).statusCode).toBe(400);
    expect((await transfer({}, { from_user: 'x' })).statusCode).toBe(400);

    const moved = await transfer({}, body);
    expect(moved.statusCode, moved.body).toBe(200);
    expect(moved.json()).toMatchObject({ success: true, moved: 2 });
    const list = (u: string) =>
      h.app
        .inject({ url: '/api/experiments/user', headers: { 'x-session-id': u } })
        .then((r) => r.json().experiments.map((e: { experiment_id: string }) => e.experiment_id));
    expect(await list('browser-1234')).toEqual([]);
    expect((await list('account-alice')).sort()).toEqual([first, second].sort());
    expect(await list('bob')).toEqual([bobs]);
    // The new owner may act on them; their places in line did not change.
    expect((await act(first as string, 'pause', 'account-alice')).statusCode).toBe(200);
    const status = (await h.app.inject({ url: '/api/queue/status' })).json();
    expect(status.queue.map((e: { experiment_id: string }) => e.experiment_id)).toEqual([first, second, bobs]);
    expect((await transfer({}, body)).json().moved).toBe(0);
  });

  it('keeps finished experiments until deleted; the lab may archive or delete them after BIOREACTOR_RETENTION_DAYS', async () => {
    const clock = new TestClock();
    h = await makeHub({ noDispatch: true, clock });
    const [done, waiting] = await queued('alice', 2);
    await act(done as string, 'cancel', 'alice');
    clock.advance(400 * 86_400_000);
    expect(h.hub.queue.sweep()).toEqual([]);
    const kept = await h.app.inject({ url: `/api/experiments/${done}/status`, headers: { 'x-session-id': 'alice' } });
    expect(kept.statusCode).toBe(200);
    expect(kept.json().experiment.archived_at).toBeNull();

    // Deleting: the owner or an admin, finished experiments only.
    expect(
      (await h.app.inject({ method: 'DELETE', url: `/api/experiments/${done}`, headers: { 'x-session-id': 'bob' } }))
        .statusCode,
    ).toBe(403);
    const active = await h.app.inject({
      method: 'DELETE',
      url: `/api/experiments/${waiting}`,
      headers: { 'x-session-id': 'alice' },
    });
    expect(active.statusCode).toBe(409);
    expect(active.json().message).toContain('cancel it first');
    const deleted = await h.app.inject({
      method: 'DELETE',
      url: `/api/experiments/${done}`,
      headers: { 'x-session-id': 'alice' },
    });
    expect(deleted.statusCode, deleted.body).toBe(200);
    expect(deleted.json()).toMatchObject({ success: true, node_files_removed: false });
    expect((await h.app.inject(`/api/experiments/${done}/status`)).statusCode).toBe(404);
    await h.close();

    // Archive after a day: out of the lists, still readable by id; active ones never.
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'hub-retention-'));
    h = await makeHub({ noDispatch: true, clock, dir, env: { BIOREACTOR_RETENTION_DAYS: '1' } });
    const [old, fresh, line] = await queued('alice', 3);
    await act(old as string, 'cancel', 'alice');
    clock.advance(23 * 3600_000);
    await act(fresh as string, 'cancel', 'alice');
    expect(h.hub.queue.sweep()).toEqual([]);
    clock.advance(2 * 3600_000);
    expect(h.hub.queue.sweep()).toEqual([old]);
    const listed = (await h.app.inject({ url: '/api/experiments/user', headers: { 'x-session-id': 'alice' } }))
      .json()
      .experiments.map((e: { experiment_id: string }) => e.experiment_id);
    expect(listed.sort()).toEqual([fresh, line].sort());
    const all = (
      await h.app.inject({ url: '/api/experiments/user?include_archived=true', headers: { 'x-session-id': 'alice' } })
    ).json().experiments;
    expect(all).toHaveLength(3);
    const archived = (await h.app.inject(`/api/experiments/${old}/status`)).json().experiment;
    expect(archived.archived_at).not.toBeNull();
    clock.advance(30 * 86_400_000);
    expect(h.hub.queue.sweep()).toEqual([fresh]);
    expect(h.hub.queue.get(line as string)?.status).toBe('queued');
    await h.close();

    // Delete after a day, when the lab says so.
    h = await makeHub({
      noDispatch: true,
      clock,
      dir,
      env: { BIOREACTOR_RETENTION_DAYS: '1', BIOREACTOR_RETENTION_ACTION: 'delete' },
    });
    expect(h.hub.queue.sweep().sort()).toEqual([old, fresh].sort());
    expect(h.hub.queue.get(old as string)).toBeUndefined();
  });

  it('estimates from what is known: declared durations, and nothing when nothing is', async () => {
    const clock = new TestClock();
    h = await makeHub({ noDispatch: true, clock });
    const now = clock.wall();
    const entry = h.hub.registry.list()[0];
    if (entry) entry.online = true;
    const none = (await submit('alice', { script_content: 'print("one second")\n' })).json();
    // No history and no declared duration: it may end at once or run to its limit.
    const noneView = (await h.app.inject(`/api/experiments/${none.experiment_id}/status`)).json().experiment;
    expect(noneView).toMatchObject({ expected_duration_s: null, estimate_basis: 'none', max_duration_source: 'limit' });
    expect(noneView.expected_duration_p90_s).toBe(noneView.max_duration_s);
    await act(none.experiment_id, 'cancel', 'alice');

    const a = (await submit('alice', { script_content: GOOD_SCRIPT, max_duration_s: 600 })).json();
    const b = (await submit('alice', { script_content: GOOD_SCRIPT, max_duration_s: 1200 })).json();
    expect(Date.parse(a.estimated_start)).toBe(now);
    expect(Date.parse(b.estimated_start)).toBe(now + 600_000);
    const status = (await h.app.inject('/api/queue/status')).json();
    expect(status.estimated_wait_minutes).toBe(30);
    expect(status.estimated_wait_p90_minutes).toBe(30);
    expect(status.duration_policy).toMatchObject({ default_source: 'limit', node_limits_known: false });
  });
});

describe('the original experiment_queue.json', () => {
  it('is imported once on first start, and exported in the same shape', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'hub-import-'));
    const original = {
      experiments: {
        'a1b2c3d4-0000-4000-8000-000000000001': {
          experiment_id: 'a1b2c3d4-0000-4000-8000-000000000001',
          user_session_id: 'u1',
          script_content: 'print(1)\n',
          status: 'running',
          created_at: '2025-06-01T10:00:00.123456',
          started_at: '2025-06-01T10:01:00',
          completed_at: null,
          exit_code: null,
          error_message: null,
          priority: 0,
        },
        'a1b2c3d4-0000-4000-8000-000000000002': {
          experiment_id: 'a1b2c3d4-0000-4000-8000-000000000002',
          user_session_id: 'u2',
          script_content: 'print(2)\n',
          status: 'queued',
          created_at: '2025-06-01T10:02:00',
          started_at: null,
          completed_at: null,
          exit_code: null,
          error_message: null,
          priority: 0,
        },
      },
      queue_order: ['a1b2c3d4-0000-4000-8000-000000000001', 'a1b2c3d4-0000-4000-8000-000000000002'],
    };
    writeFileSync(join(dir, 'experiment_queue.json'), JSON.stringify(original));
    h = await makeHub({ noDispatch: true, dir });
    expect(h.hub.queue.mustGet('a1b2c3d4-0000-4000-8000-000000000001').status).toBe('interrupted');
    expect(h.hub.queue.mustGet('a1b2c3d4-0000-4000-8000-000000000002')).toMatchObject({
      status: 'queued',
      user_id: 'u2',
      created_at: '2025-06-01T10:02:00.000Z',
    });
    const exported = (await h.app.inject('/api/queue/export')).json();
    expect(Object.keys(exported.experiments)).toHaveLength(2);
    expect(exported.queue_order).toEqual(original.queue_order);
    expect(exported.experiments['a1b2c3d4-0000-4000-8000-000000000002'].script_content).toBe('print(2)\n');
    const asUser = await h.app.inject({ url: '/api/queue/export', headers: { 'x-session-id': 'u2' } });
    expect(asUser.statusCode).toBe(403);
    await h.close();

    // A restart does not import it again (the cancelled one stays cancelled).
    h = await makeHub({ noDispatch: true, dir });
    await act('a1b2c3d4-0000-4000-8000-000000000002', 'cancel', null);
    await h.close();
    h = await makeHub({ noDispatch: true, dir });
    expect(h.hub.queue.all()).toHaveLength(2);
    expect(h.hub.queue.mustGet('a1b2c3d4-0000-4000-8000-000000000002').status).toBe('cancelled');
  });
});

describe('with BIOREACTOR_API_TOKEN set', () => {
  it('accepts only token holders, who vouch for the user and role they pass', async () => {
    const token = 'a-long-service-token-0123456789';
    h = await makeHub({ noDispatch: true, env: { BIOREACTOR_API_TOKEN: token } });
    const auth = { authorization: `Bearer ${token}` };
    const anonymous = await submit('alice');
    expect(anonymous.statusCode).toBe(401);
    expect((await h.app.inject('/api/queue/status')).statusCode).toBe(401);
    expect((await h.app.inject('/health')).statusCode).toBe(200);

    const ok = await submit('alice', { script_content: GOOD_SCRIPT }, auth);
    expect(ok.statusCode, ok.body).toBe(200);
    const id = ok.json().experiment_id;
    const asBob = await h.app.inject({
      method: 'POST',
      url: `/api/experiments/${id}/cancel`,
      headers: { ...auth, 'x-session-id': 'bob' },
    });
    expect(asBob.statusCode).toBe(403);
    const asAdmin = await h.app.inject({
      method: 'POST',
      url: `/api/experiments/${id}/cancel`,
      headers: { ...auth, 'x-session-id': 'bob', 'x-user-role': 'admin' },
    });
    expect(asAdmin.statusCode).toBe(200);
    expect(h.hub.queue.mustGet(id).user_id).toBe('alice');
  });
});
