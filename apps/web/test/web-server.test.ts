// The web server against a contract-faithful hub and node: sessions, CSRF, uploads, privacy, accounts, sign-in
// limits, revocation, admin, downloads, settings, live data, the accounts file at start and the UI's page routes.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Service } from '@bioreactor/service-kit';
import { readEventStream } from '@bioreactor/service-kit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { StartupRefused } from '../src/startup-refused.js';
import { Browser, multipart } from './browser-session.js';
import { type FakeHub, type FakeNode, startFakeHub, startFakeNode } from './fake-services.js';

let hub: FakeHub;
let node: FakeNode;
let configDir: string;
let uiDir: string;
const apps: Service[] = [];

const ADMIN_PASSWORD = 'correct horse battery';

async function web(extra: Record<string, string> = {}, now?: () => number): Promise<Service> {
  const app = await buildApp(
    loadConfig({
      BIOREACTOR_HUB_API_URL: hub.url,
      BIOREACTOR_NODE_API_URL: node.url,
      BIOREACTOR_CONFIG_DIR: configDir,
      BIOREACTOR_UI_DIR: uiDir,
      BIOREACTOR_ADMIN_PASSWORD: ADMIN_PASSWORD,
      ...extra,
    }),
    { logger: false, strictResponses: true, ...(now ? { now } : {}) },
  );
  apps.push(app);
  return app;
}

/** A browser signed in as the admin. */
async function adminBrowser(app: Service): Promise<Browser> {
  const admin = await new Browser(app).open();
  const res = await admin.post('/api/account/login', { username: 'admin', password: ADMIN_PASSWORD });
  expect(res.statusCode, res.body).toBe(200);
  return admin;
}

const user = async (b: Browser) => (await b.get('/api/session')).json<{ user: { username: string } | null }>().user;

beforeEach(async () => {
  hub = await startFakeHub();
  node = await startFakeNode();
  configDir = mkdtempSync(join(tmpdir(), 'web-config-'));
  uiDir = mkdtempSync(join(tmpdir(), 'web-ui-'));
  writeFileSync(join(uiDir, 'index.html'), '<!doctype html><div id="root"></div>');
});

afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
  await hub.app.close();
  await node.app.close();
  rmSync(configDir, { recursive: true, force: true });
  rmSync(uiDir, { recursive: true, force: true });
});

describe('sessions', () => {
  it('gives a browser a signed HttpOnly SameSite cookie that outlives a web-server restart', async () => {
    const first = new Browser(await web());
    const res = await first.get('/api/session');
    const cookie = String((res.headers['set-cookie'] as string[]).find((c) => c.startsWith('session_id=')));
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).toMatch(/Max-Age=\d{7,}/);
    const id = res.json<{ session_id: string }>().session_id;

    const restarted = await web();
    const again = new Browser(restarted);
    again.cookies.set('session_id', first.cookies.get('session_id') ?? '');
    const res2 = await again.get('/api/session');
    expect(res2.json<{ session_id: string }>().session_id).toBe(id);
    expect(String(res2.headers['set-cookie'] ?? '')).not.toMatch(/session_id=/);
  });

  it('replaces a forged cookie with a fresh session', async () => {
    const browser = new Browser(await web());
    browser.cookies.set('session_id', 'someone-elses-id.forgedsignature');
    const res = await browser.get('/api/session');
    expect(res.json<{ session_id: string }>().session_id).not.toBe('someone-');
    expect(browser.cookies.get('session_id')).not.toContain('forged');
  });

  it('refuses a state change without the CSRF token, or from another site', async () => {
    const browser = await new Browser(await web()).open();
    const body = { script_content: 'print(1)' };
    const missing = await browser.request('POST', '/api/experiments/upload', { json: body, csrf: false });
    expect(missing.statusCode).toBe(403);
    expect(missing.json<{ code: string }>().code).toBe('CSRF_FAILED');
    const crossSite = await browser.post('/api/experiments/upload', body, { origin: 'https://evil.example' });
    expect(crossSite.statusCode).toBe(403);
    const ok = await browser.post('/api/experiments/upload', body, { origin: 'http://lab.example:3000' });
    expect(ok.statusCode).toBe(200);
    expect(hub.requests.filter((r) => r.url === '/api/experiments/start')).toHaveLength(1);
  });
});

describe('upload', () => {
  it('queues a .py file under the browser session, with name and maximum duration', async () => {
    const browser = await new Browser(await web()).open();
    const form = multipart(
      { name: 'growth', max_duration_s: '120' },
      { name: 'test_experiment.py', content: 'print("hi")\n' },
    );
    const res = await browser.request('POST', '/api/experiments/upload', form);
    expect(res.statusCode).toBe(200);
    const reply = res.json<{ experiment_id: string; queue_position: number }>();
    expect(reply.queue_position).toBe(1);
    const sent = hub.requests.find((r) => r.url === '/api/experiments/start');
    expect(sent?.body).toEqual({ script_content: 'print("hi")\n', name: 'growth', max_duration_s: 120 });
    const session = (await browser.get('/api/session')).json<{ session_id: string }>().session_id;
    expect(String(sent?.headers['x-session-id'])).toMatch(new RegExp(`^${session}`));
    expect(sent?.headers['x-user-role']).toBe('user');
  });

  it('passes the hub’s line-by-line problems through, and refuses non-Python and non-UTF-8 files', async () => {
    const browser = await new Browser(await web()).open();
    const rejected = await browser.post('/api/experiments/upload', { script_content: 'x = 1\nimport os.system_bad\n' });
    expect(rejected.statusCode).toBe(422);
    expect(rejected.json<{ problems: { line: number }[] }>().problems[0]?.line).toBe(2);

    const txt = await browser.request(
      'POST',
      '/api/experiments/upload',
      multipart({}, { name: 'notes.txt', content: 'x' }),
    );
    expect(txt.statusCode).toBe(400);
    expect(txt.json<{ message: string }>().message).toMatch(/\.py/);

    const latin1 = await browser.request(
      'POST',
      '/api/experiments/upload',
      multipart({}, { name: 'a.py', content: Buffer.from([0x70, 0x72, 0xe9, 0x0a]) }),
    );
    expect(latin1.statusCode).toBe(422);
    expect(latin1.json<{ message: string }>().message).toMatch(/UTF-8/);

    const badDuration = await browser.request(
      'POST',
      '/api/experiments/upload',
      multipart({ max_duration_s: 'soon' }, { name: 'a.py', content: 'print(1)' }),
    );
    expect(badDuration.statusCode).toBe(400);
    expect(hub.requests.filter((r) => r.url === '/api/experiments/start')).toHaveLength(1);
  });
});

describe('privacy', () => {
  it('masks other users’ experiments in the queue and answers 404 for their details, logs, data and zip', async () => {
    const app = await web();
    const alice = await new Browser(app).open();
    const bob = await new Browser(app).open();
    const aliceId = (await alice.post('/api/experiments/upload', { script_content: 'print(1)' })).json<{
      experiment_id: string;
    }>().experiment_id;

    const seenByBob = (await bob.get('/api/queue')).json<{
      queue: { experiment_id: string; masked: boolean; name: unknown }[];
    }>();
    expect(seenByBob.queue[0]?.experiment_id).toBe(aliceId.slice(0, 8));
    expect(seenByBob.queue[0]?.masked).toBe(true);
    expect(seenByBob.queue[0]?.name).toBeNull();
    expect(JSON.stringify(seenByBob)).not.toContain(aliceId);

    const seenByAlice = (await alice.get('/api/queue')).json<{ queue: { experiment_id: string; mine: boolean }[] }>();
    expect(seenByAlice.queue[0]).toMatchObject({ experiment_id: aliceId, mine: true });

    for (const url of [
      `/api/experiments/${aliceId}`,
      `/api/experiments/${aliceId}/logs`,
      `/api/experiments/${aliceId}/logs?follow=true`,
      `/api/experiments/${aliceId}/series`,
      `/experiment/${aliceId}/download`,
    ]) {
      const res = await bob.get(url);
      expect(res.statusCode, url).toBe(404);
      expect(res.json<{ code: string }>().code, url).toBe('EXPERIMENT_NOT_FOUND');
    }
    const cancel = await bob.post(`/api/experiments/${aliceId}/cancel`);
    expect(cancel.statusCode).toBe(404);
    expect(hub.experiments.get(aliceId)?.status).toBe('queued');
    expect((await alice.post(`/api/experiments/${aliceId}/cancel`)).statusCode).toBe(200);
    expect(hub.experiments.get(aliceId)?.status).toBe('cancelled');
  });

  it('streams a running experiment’s log as Server-Sent Events from the hub, for its owner', async () => {
    const app = await web();
    const browser = await new Browser(app).open();
    const id = (await browser.post('/api/experiments/upload', { script_content: 'print(1)' })).json<{
      experiment_id: string;
    }>().experiment_id;
    const res = await browser.get(`/api/experiments/${id}/logs?follow=true&tail=50`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(res.body).toContain('event: run.log');
    expect(res.body).toContain('"text":"CO2: 400 ppm\\n"');
    expect(res.body).toContain('event: run.updated');
    const asked = hub.requests.find((r) => r.url.startsWith(`/api/experiments/${id}/logs`));
    expect(asked?.url).toBe(`/api/experiments/${id}/logs?follow=true&tail=50`);
    expect(asked?.headers['x-session-id']).toBeTruthy();
  });

  it('relays the hub’s events to browsers, masked per user', async () => {
    const app = await web();
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const other = hub.add('someone-else', 'running');
    const res = await fetch(`${base}/api/events`, { headers: { accept: 'text/event-stream' } });
    const events = readEventStream(res.body as ReadableStream<Uint8Array>);
    const seen: { event: string; data: string }[] = [];
    for await (const e of events) {
      seen.push(e);
      if (e.event === 'queue.updated') break;
    }
    const queue = JSON.parse(seen.at(-1)?.data ?? '{}') as { queue: { experiment_id: string; owner: string }[] };
    expect(queue.queue[0]).toMatchObject({ experiment_id: other.experiment_id.slice(0, 8), owner: 'another user' });
    hub.emit('experiment.updated', { experiment: { ...other, status: 'completed' } });
    for await (const e of events) {
      if (e.event !== 'experiment.updated') continue;
      const { experiment } = JSON.parse(e.data) as { experiment: { experiment_id: string; status: string } };
      expect(experiment).toMatchObject({ experiment_id: other.experiment_id.slice(0, 8), status: 'completed' });
      break;
    }
    await res.body?.cancel();
  });
});

describe('accounts', () => {
  it('creates an account whose experiments follow it to another browser; passwords are stored as scrypt hashes', async () => {
    const app = await web();
    const laptop = await new Browser(app).open();
    const created = await laptop.post('/api/account/register', { username: 'ada', password: 'analytical engine' });
    expect(created.statusCode).toBe(200);
    expect(created.json<{ user: unknown }>().user).toEqual({ username: 'ada', role: 'user' });
    const id = (await laptop.post('/api/experiments/upload', { script_content: 'print(1)' })).json<{
      experiment_id: string;
    }>().experiment_id;
    expect(hub.experiments.get(id)?.user_session_id).toBe('account-ada');

    const stored = readFileSync(join(configDir, 'accounts.json'), 'utf8');
    expect(stored).not.toContain('analytical engine');
    expect(stored).toMatch(/"password_hash": "scrypt\$32768\$8\$1\$/);

    const phone = await new Browser(app).open();
    expect((await phone.get('/api/experiments/mine')).json<{ experiments: unknown[] }>().experiments).toHaveLength(0);
    const wrong = await phone.post('/api/account/login', { username: 'ada', password: 'difference engine' });
    expect(wrong.statusCode).toBe(401);
    expect(
      (await phone.post('/api/account/login', { username: 'ada', password: 'analytical engine' })).statusCode,
    ).toBe(200);
    const mine = (await phone.get('/api/experiments/mine')).json<{ experiments: { experiment_id: string }[] }>();
    expect(mine.experiments.map((e) => e.experiment_id)).toEqual([id]);

    await phone.post('/api/account/logout');
    expect((await phone.get('/api/session')).json<{ user: unknown }>().user).toBeNull();
  });

  it('files what a browser submitted anonymously under the account it creates or signs in to', async () => {
    const app = await web();
    const browser = await new Browser(app).open();
    const upload = async () =>
      (await browser.post('/api/experiments/upload', { script_content: 'print(1)' })).json<{ experiment_id: string }>()
        .experiment_id;
    const before = await upload();
    expect(
      (await browser.post('/api/account/register', { username: 'grace', password: 'cobol-1959' })).statusCode,
    ).toBe(200);
    expect(hub.experiments.get(before)?.user_session_id).toBe('account-grace');
    const mine = async () =>
      (await browser.get('/api/experiments/mine'))
        .json<{ experiments: { experiment_id: string }[] }>()
        .experiments.map((e) => e.experiment_id);
    expect(await mine()).toEqual([before]);

    // Signed out, the browser is anonymous again; what it submits then follows it into the account at sign-in.
    await browser.post('/api/account/logout');
    const between = await upload();
    expect(await mine()).toEqual([between]);
    expect((await browser.post('/api/account/login', { username: 'grace', password: 'cobol-1959' })).statusCode).toBe(
      200,
    );
    expect((await mine()).sort()).toEqual([before, between].sort());
    // Another browser's anonymous experiments stay its own.
    const other = await new Browser(app).open();
    const theirs = (await other.post('/api/experiments/upload', { script_content: 'print(2)' })).json<{
      experiment_id: string;
    }>().experiment_id;
    expect(hub.experiments.get(theirs)?.user_session_id).not.toBe('account-grace');
  });

  it('refuses a taken name, the admin’s name, a short password and a malformed name', async () => {
    const browser = await new Browser(await web()).open();
    expect((await browser.post('/api/account/register', { username: 'ada', password: 'longenough' })).statusCode).toBe(
      200,
    );
    await browser.post('/api/account/logout');
    const taken = await browser.post('/api/account/register', { username: 'ADA', password: 'longenough' });
    expect(taken.statusCode).toBe(409);
    expect(
      (await browser.post('/api/account/register', { username: 'admin', password: 'longenough' })).statusCode,
    ).toBe(409);
    expect((await browser.post('/api/account/register', { username: 'bob', password: 'short' })).statusCode).toBe(400);
    expect(
      (await browser.post('/api/account/register', { username: 'a b/c', password: 'longenough' })).statusCode,
    ).toBe(400);
  });

  it('lets only the configured admin reorder the queue or run an experiment next, and shows them every id', async () => {
    const app = await web();
    const owner = hub.add('someone', 'queued');
    const user = await new Browser(app).open();
    const refused = await user.post(`/api/experiments/${owner.experiment_id}/reorder?new_position=0`);
    expect(refused.statusCode).toBe(403);
    expect(refused.json<{ message: string }>().message).toMatch(/admin/);
    expect((await user.post(`/api/experiments/${owner.experiment_id}/run-now`)).statusCode).toBe(403);

    const admin = await new Browser(app).open();
    expect((await admin.post('/api/account/login', { username: 'admin', password: 'wrong password' })).statusCode).toBe(
      401,
    );
    const signedIn = await admin.post('/api/account/login', { username: 'admin', password: 'correct horse battery' });
    expect(signedIn.json<{ user: unknown }>().user).toEqual({ username: 'admin', role: 'admin' });
    const moved = await admin.post(`/api/experiments/${owner.experiment_id}/reorder?new_position=0`);
    expect(moved.statusCode).toBe(200);
    const sent = hub.requests.find((r) => r.url.includes('/reorder'));
    expect(sent?.url).toBe(`/api/experiments/${owner.experiment_id}/reorder?new_position=0`);
    expect(sent?.headers['x-user-role']).toBe('admin');
    const queue = (await admin.get('/api/queue')).json<{ queue: { experiment_id: string; masked: boolean }[] }>();
    expect(queue.queue[0]).toMatchObject({ experiment_id: owner.experiment_id, masked: false });
  });
});

describe('sign-in limits', () => {
  const login = (b: Browser, username: string, password: string) =>
    b.post('/api/account/login', { username, password });

  it('does not let failures for "admin" from one client delay the admin signing in from another', async () => {
    const clock = { now: Date.now() };
    const app = await web({}, () => clock.now);
    const attacker = await new Browser(app, { ip: '198.51.100.7' }).open();
    for (const name of ['admin', 'Admin', 'ADMIN'])
      expect((await login(attacker, name, `guess for ${name}`)).statusCode).toBe(401);
    const held = await login(attacker, 'admin', ADMIN_PASSWORD);
    expect(held.statusCode).toBe(429);
    expect(held.json<{ code: string; message: string }>()).toMatchObject({
      code: 'TOO_MANY_ATTEMPTS',
      message: expect.stringMatching(/wait 1 second and try again/),
    });
    expect(held.headers['retry-after']).toBe('1');

    const admin = await new Browser(app, { ip: '203.0.113.9' }).open();
    const signedIn = await login(admin, 'admin', ADMIN_PASSWORD);
    expect(signedIn.statusCode, signedIn.body).toBe(200);
    expect(signedIn.json<{ user: unknown }>().user).toEqual({ username: 'admin', role: 'admin' });

    // Many clients guessing the name (a botnet) meet the name's soft limit: a short delay, at most 30 s...
    for (let i = 0; i < 10; i++)
      expect(
        (await login(await new Browser(app, { ip: `198.51.100.${100 + i}` }).open(), 'admin', `guess ${i}`)).statusCode,
      ).toBe(401);
    const stranger = await login(await new Browser(app, { ip: '192.0.2.55' }).open(), 'admin', ADMIN_PASSWORD);
    expect(stranger.statusCode).toBe(429);
    const wait = Number(stranger.headers['retry-after']);
    expect(wait).toBeGreaterThanOrEqual(1);
    expect(wait).toBeLessThanOrEqual(30);
    // ... which does not hold the admin's own client, where the admin signed in before.
    await admin.post('/api/account/logout');
    expect((await login(admin, 'admin', ADMIN_PASSWORD)).statusCode).toBe(200);
    clock.now += wait * 1000;
    expect((await login(await new Browser(app, { ip: '192.0.2.55' }).open(), 'admin', ADMIN_PASSWORD)).statusCode).toBe(
      200,
    );
  }, 60_000);

  it('answers one client guessing many names with 429 and a growing Retry-After', async () => {
    const clock = { now: Date.now() };
    const app = await web({}, () => clock.now);
    const guesser = await new Browser(app, { ip: '198.51.100.7' }).open();
    for (let i = 0; i < 10; i++) expect((await login(guesser, `user${i}`, 'password1')).statusCode).toBe(401);
    const retryAfter: number[] = [];
    for (let i = 10; i < 14; i++) {
      const held = await login(guesser, `user${i}`, 'password1');
      expect(held.statusCode).toBe(429);
      expect(held.json<{ code: string }>().code).toBe('TOO_MANY_ATTEMPTS');
      expect(held.json<{ message: string }>().message).toMatch(/from your address; wait \d+ seconds? and try again/);
      const wait = Number(held.headers['retry-after']);
      retryAfter.push(wait);
      clock.now += wait * 1000;
      expect((await login(guesser, `user${i}`, 'password1')).statusCode).toBe(401);
    }
    expect(retryAfter).toEqual([1, 2, 4, 8]);
    // Another client is answered at once.
    expect((await login(await new Browser(app, { ip: '203.0.113.9' }).open(), 'user20', 'password1')).statusCode).toBe(
      401,
    );
  }, 60_000);
});

describe('session ids and revocation', () => {
  it('gives the browser a new session id when it creates an account or signs in; the id known before stays anonymous', async () => {
    const app = await web();
    const victim = await new Browser(app).open();
    // Someone who knows (or planted) the browser's session id before it signs in.
    const planted = victim.copy();
    const before = victim.cookies.get('session_id');
    const created = await victim.post('/api/account/register', { username: 'grace', password: 'cobol-1959' });
    expect(created.statusCode).toBe(200);
    expect(victim.cookies.get('session_id')).not.toBe(before);
    expect(created.json<{ session_id: string }>().session_id).not.toBe(before?.slice(0, 8));
    expect(await user(victim)).toEqual({ username: 'grace', role: 'user' });
    expect(await user(planted)).toBeNull();
    // The new CSRF token came with the new session.
    expect(created.json<{ csrf_token: string }>().csrf_token).toBe(victim.cookies.get('csrf_token'));
    expect((await victim.post('/api/experiments/upload', { script_content: 'print(1)' })).statusCode).toBe(200);

    await victim.post('/api/account/logout');
    const anonymous = victim.cookies.get('session_id');
    expect((await victim.post('/api/account/login', { username: 'grace', password: 'cobol-1959' })).statusCode).toBe(
      200,
    );
    expect(victim.cookies.get('session_id')).not.toBe(anonymous);
    expect(await user(victim)).toEqual({ username: 'grace', role: 'user' });
  });

  it('revokes a session on sign-out: its cookies replayed are anonymous, also after a restart', async () => {
    const app = await web();
    const browser = await new Browser(app).open();
    await browser.post('/api/account/register', { username: 'ada', password: 'analytical engine' });
    const stolen = browser.copy();
    expect(await user(stolen.copy())).toEqual({ username: 'ada', role: 'user' });

    expect((await browser.post('/api/account/logout')).json<{ user: unknown }>().user).toBeNull();
    expect(await user(browser)).toBeNull();
    const replayed = stolen.copy();
    expect(await user(replayed)).toBeNull();
    // What the replayed cookies submit is not the account's.
    await replayed.post('/api/experiments/upload', { script_content: 'print(1)' });
    expect(hub.requests.at(-1)?.headers['x-session-id']).not.toBe('account-ada');

    expect(statSync(join(configDir, 'revoked_sessions.json')).mode & 0o777).toBe(0o600);
    const restarted = await web();
    expect(await user(stolen.copy(restarted))).toBeNull();
    // The account itself still signs in.
    const again = await new Browser(restarted).open();
    expect(
      (await again.post('/api/account/login', { username: 'ada', password: 'analytical engine' })).statusCode,
    ).toBe(200);
  });

  it('signs out every other session of the account when its password changes, also after a restart', async () => {
    const app = await web();
    const laptop = await new Browser(app).open();
    await laptop.post('/api/account/register', { username: 'ada', password: 'analytical engine' });
    const phone = await new Browser(app, { ip: '192.0.2.20' }).open();
    await phone.post('/api/account/login', { username: 'ada', password: 'analytical engine' });
    const phoneCookies = phone.copy();
    expect(await user(phone)).toEqual({ username: 'ada', role: 'user' });

    const change = (b: Browser, current: string, next: string) =>
      b.post('/api/account/password', { current_password: current, new_password: next });
    const wrong = await change(laptop, 'difference engine', 'babbage-1837');
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json<{ message: string }>().message).toMatch(/current password is wrong/);
    expect((await change(laptop, 'analytical engine', 'short')).statusCode).toBe(400);

    const before = laptop.cookies.get('session_id');
    const changed = await change(laptop, 'analytical engine', 'babbage-1837');
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.json<{ user: unknown }>().user).toEqual({ username: 'ada', role: 'user' });
    expect(laptop.cookies.get('session_id')).not.toBe(before);
    expect(await user(laptop)).toEqual({ username: 'ada', role: 'user' });
    expect(await user(phone)).toBeNull();

    const restarted = await web();
    expect(await user(phoneCookies.copy(restarted))).toBeNull();
    expect(await user(laptop.copy(restarted))).toEqual({ username: 'ada', role: 'user' });
    const other = await new Browser(restarted, { ip: '192.0.2.30' }).open();
    expect(
      (await other.post('/api/account/login', { username: 'ada', password: 'analytical engine' })).statusCode,
    ).toBe(401);
    expect((await other.post('/api/account/login', { username: 'ada', password: 'babbage-1837' })).statusCode).toBe(
      200,
    );
  });

  it('changes no password for an anonymous browser, nor the admin’s (set in the configuration)', async () => {
    const app = await web();
    const anonymous = await new Browser(app).open();
    const body = { current_password: ADMIN_PASSWORD, new_password: 'something else' };
    expect((await anonymous.post('/api/account/password', body)).statusCode).toBe(401);
    const refused = await (await adminBrowser(app)).post('/api/account/password', body);
    expect(refused.statusCode).toBe(403);
    expect(refused.json<{ message: string }>().message).toMatch(/BIOREACTOR_ADMIN_PASSWORD/);
  });

  it('signs the admin out everywhere when BIOREACTOR_ADMIN_PASSWORD changes', async () => {
    const admin = await adminBrowser(await web());
    expect(await user(admin.copy(await web()))).toEqual({ username: 'admin', role: 'admin' });
    const restarted = await web({ BIOREACTOR_ADMIN_PASSWORD: 'a new admin password' });
    expect(await user(admin.copy(restarted))).toBeNull();
  });
});

describe('downloads', () => {
  it('streams the zip of a finished (even failed) run, and passes 404 and 503 through', async () => {
    const app = await web();
    const browser = await new Browser(app).open();
    const session = browser.cookies.get('session_id')?.split('.')[0] ?? '';
    const failed = hub.add(session, 'failed');
    const res = await browser.get(`/experiment/${failed.experiment_id}/download`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/zip');
    expect(String(res.headers['content-disposition'])).toContain(`experiment_${failed.experiment_id}_results.zip`);
    expect(res.body).toBe(`PK-zip-of-${failed.experiment_id}`);

    expect((await browser.get('/experiment/no-such-experiment/download')).statusCode).toBe(404);
    const away = hub.add(session, 'queued');
    const unavailable = await browser.get(`/experiment/${away.experiment_id}/download`);
    expect(unavailable.statusCode).toBe(503);
    expect(unavailable.json<{ code: string }>().code).toBe('NODE_UNREACHABLE');
  });

  it('answers 503 HUB_UNREACHABLE in plain words (the hub’s address only in the log) when the hub is down', async () => {
    const app = await web({ BIOREACTOR_HUB_API_URL: 'http://127.0.0.1:9' });
    const res = await new Browser(app).get('/api/queue');
    expect(res.statusCode).toBe(503);
    expect(res.json<{ code: string; message: string }>()).toMatchObject({ code: 'HUB_UNREACHABLE' });
    expect(res.json<{ message: string }>().message).toMatch(/^The experiment queue is not answering right now/);
    expect(res.json<{ message: string }>().message).not.toContain('127.0.0.1:9');
    // Creating an account does not depend on the hub.
    const browser = await new Browser(app).open();
    const created = await browser.post('/api/account/register', { username: 'offline', password: 'no-hub-needed' });
    expect(created.statusCode, created.body).toBe(200);
  });
});

describe('settings', () => {
  it('validates, saves to dashboard_settings.json atomically and applies at once', async () => {
    const browser = await adminBrowser(await web());
    const defaults = (await browser.get('/api/settings/dashboard')).json<Record<string, unknown>>();
    expect(defaults).toMatchObject({ update_interval: 2, csv_file_path: 'experiment_data.csv' });

    for (const bad of [
      { ...defaults, update_interval: 0.1 },
      { ...defaults, update_interval: 61 },
      { ...defaults, csv_file_path: '../../etc/passwd' },
    ]) {
      const res = await browser.post('/api/settings/dashboard', bad);
      expect(res.statusCode).toBe(400);
      expect(res.json<{ code: string }>().code).toBe('VALIDATION_FAILED');
    }
    const wanted = {
      display_components: { ...(defaults.display_components as object), co2_sensor: false },
      update_interval: 0.5,
      csv_file_path: 'growth.csv',
    };
    const saved = await browser.post('/api/settings/dashboard', wanted);
    expect(saved.statusCode).toBe(200);
    expect(JSON.parse(readFileSync(join(configDir, 'dashboard_settings.json'), 'utf8'))).toEqual(wanted);
    expect((await browser.get('/api/settings/dashboard')).json()).toEqual(wanted);
  });

  it('lets only the admin change the lab-wide settings; others get 403 saying an admin must', async () => {
    const app = await web();
    const anonymous = await new Browser(app).open();
    const settings = (await anonymous.get('/api/settings/dashboard')).json<Record<string, unknown>>();
    const wanted = { ...settings, update_interval: 5 };
    const refused = await anonymous.post('/api/settings/dashboard', wanted);
    expect(refused.statusCode).toBe(403);
    expect(refused.json<{ code: string; message: string }>()).toMatchObject({
      code: 'FORBIDDEN',
      message: expect.stringMatching(/an admin must change them/),
    });
    const ada = await new Browser(app).open();
    await ada.post('/api/account/register', { username: 'ada', password: 'analytical engine' });
    expect((await ada.post('/api/settings/dashboard', wanted)).statusCode).toBe(403);
    expect((await anonymous.get('/api/settings/dashboard')).json()).toEqual(settings);

    const saved = await (await adminBrowser(app)).post('/api/settings/dashboard', wanted);
    expect(saved.statusCode).toBe(200);
    expect((await anonymous.get('/api/settings/dashboard')).json()).toMatchObject({ update_interval: 5 });
  });

  it('reads the original system’s settings file', async () => {
    writeFileSync(
      join(configDir, 'dashboard_settings.json'),
      JSON.stringify({
        display_components: { co2_sensor: false, temperature: true, photodiodes: false, peltier_current: true },
        update_interval: 5,
        csv_file_path: '/app/data/bioreactor_data.csv',
      }),
    );
    const settings = (await new Browser(await web()).get('/api/settings/dashboard')).json<{
      display_components: Record<string, boolean>;
      update_interval: number;
      csv_file_path: string;
    }>();
    expect(settings.update_interval).toBe(5);
    expect(settings.display_components).toMatchObject({ co2_sensor: false, temperature: true, od_voltages: false });
    expect(settings.csv_file_path).toBe('experiment_data.csv');
  });
});

describe('live data', () => {
  it('answers a plain request with one JSON sample from the hardware when nothing runs', async () => {
    const res = await new Browser(await web()).get('/api/live-data');
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.json()).toMatchObject({ source: 'hardware', status: 'success', co2_ppm: 412, temperature: 36.6 });
  });

  it('streams the first reactor’s snapshot, then its samples, from one upstream; applies new settings at once', async () => {
    const app = await web();
    const admin = await adminBrowser(app);
    const settings = (interval: number) => ({
      display_components: {
        co2_sensor: true,
        temperature: true,
        od_voltages: true,
        eyespy_voltages: false,
        stirrer_duty: true,
        peltier_duty: true,
      },
      update_interval: interval,
      csv_file_path: 'experiment_data.csv',
    });
    await admin.post('/api/settings/dashboard', settings(0.5));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/api/live-data`;
    const stop = new AbortController();
    const open = (headers: Record<string, string> = {}) =>
      fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: stop.signal });
    try {
      const clients = await Promise.all([open(), open(), open()]);
      expect(clients[0]?.headers.get('content-type')).toMatch(/text\/event-stream/);
      const streams = clients.map((c) => readEventStream(c.body as ReadableStream<Uint8Array>));
      for (const events of streams) {
        const first = await events.next();
        expect(first.value?.event).toBe('snapshot');
        expect(JSON.parse(first.value?.data ?? '{}').settings.update_interval).toBe(0.5);
      }
      hub.nodeEmit('pi-1', 'component.sample', {
        component: 'co2_sensor',
        state: { status: 'success', co2_ppm: 777 },
        at_ms: Date.now(),
      });
      for (const events of streams)
        for await (const e of events) if (e.event === 'sample' && JSON.parse(e.data).co2_ppm === 777) break;
      // Three clients, one stream of the node from the hub.
      expect(hub.nodeFollowers('pi-1')).toBe(1);

      // A connected dashboard receives the new settings without reconnecting.
      const watcher = streams[0];
      await admin.post('/api/settings/dashboard', settings(7));
      for await (const e of watcher ?? []) {
        if (e.event === 'snapshot' && JSON.parse(e.data).settings.update_interval === 7) break;
      }
    } finally {
      stop.abort();
    }
  });

  it('answers ?node= with that reactor’s sample, and an unknown one with the names it knows', async () => {
    hub.nodeNames.push('pi-2');
    const browser = new Browser(await web());
    expect((await browser.get('/api/live-data?node=pi-2')).json()).toMatchObject({ source: 'hardware', co2_ppm: 412 });
    const res = await browser.get('/api/live-data?node=pi-9');
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 'NODE_NOT_FOUND' });
    expect(res.body).toContain('pi-1, pi-2');
  });
});

describe('pages', () => {
  it('serves the UI for every page path, and 404 for anything else', async () => {
    const browser = new Browser(await web());
    for (const path of ['/', '/upload', '/queue', '/my-experiments', '/experiment/abc', '/dashboard', '/settings']) {
      const res = await browser.get(path);
      expect(res.statusCode, path).toBe(200);
      expect(res.body, path).toContain('<div id="root">');
      expect(String(res.headers['content-security-policy']), path).toContain("default-src 'self'");
    }
    expect((await browser.get('/no-such-page')).statusCode).toBe(404);
  });
});

describe('accounts file at start', () => {
  const refusal = async () => {
    const err = await web().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StartupRefused);
    return (err as Error).message;
  };

  it('refuses to start on an empty, unparseable or unreadable accounts file, naming it and how to restore it', async () => {
    const file = join(configDir, 'accounts.json');
    for (const [content, problem] of [
      ['', /is empty \(0 bytes\)/],
      ['{"accounts": [{"username": "ada", "pass', /is not valid JSON/],
      ['{"users": []}', /does not hold/],
    ] as const) {
      writeFileSync(file, content);
      const message = await refusal();
      expect(message).toContain(file);
      expect(message).toMatch(problem);
      expect(message).toContain('tar -xzf bioreactor_backup_YYYYMMDD.tar.gz web-server/config/accounts.json');
      expect(message).toContain('scripts/restore.sh');
    }
    rmSync(file);
    mkdirSync(file);
    expect(await refusal()).toMatch(/cannot be read \(EISDIR\)/);
    rmSync(file, { recursive: true });
    // No file at all is a fresh start.
    expect((await new Browser(await web()).get('/api/session')).statusCode).toBe(200);
  });

  it('refuses to start on an unreadable list of signed-out sessions', async () => {
    writeFileSync(join(configDir, 'revoked_sessions.json'), 'garbage');
    expect(await refusal()).toMatch(/revoked_sessions\.json is not valid JSON/);
  });

  it('prints the one message and exits non-zero when the server is started on a zero-length accounts file', () => {
    writeFileSync(join(configDir, 'accounts.json'), '');
    const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'apps/web/src/server.ts'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        PORT: '0',
        HOST: '127.0.0.1',
        BIOREACTOR_CONFIG_DIR: configDir,
        BIOREACTOR_HUB_API_URL: hub.url,
        BIOREACTOR_NODE_API_URL: node.url,
        LOG_LEVEL: 'ERROR',
      },
    });
    expect(run.status).toBe(1);
    const lines = run.stderr.trim().split('\n');
    expect(lines, run.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^bioreactor-web-server: not started: the accounts file .*accounts\.json is empty/);
    expect(lines[0]).toContain('scripts/backup.sh');
    expect(run.stdout).toBe('');
  }, 60_000);
});
