// What the web server adds for the scientist and the lab manager: compressed replies and pre-compressed assets, the
// favicon, an HTML 404 for browsers (JSON for the API), plain outage messages, failure summaries, checking a script
// without queueing it, the submitted script, notes and labels, paged lists and the admin's node drain.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import type { Service } from '@bioreactor/service-kit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { PLAIN_MESSAGES } from '../src/outage.js';
import { Browser } from './browser-session.js';
import { type FakeHub, type FakeNode, startFakeHub, startFakeNode } from './fake-services.js';
import { startSmtpSink } from './smtp-sink.js';

let hub: FakeHub;
let node: FakeNode;
let configDir: string;
let uiDir: string;
const apps: Service[] = [];
const ADMIN_PASSWORD = 'correct horse battery';
const SCRIPT = `console.log(${JSON.stringify('x'.repeat(4000))});`;

async function web(hubUrl = hub.url): Promise<Service> {
  const app = await buildApp(
    loadConfig({
      BIOREACTOR_HUB_API_URL: hubUrl,
      BIOREACTOR_NODE_API_URL: node.url,
      BIOREACTOR_CONFIG_DIR: configDir,
      BIOREACTOR_UI_DIR: uiDir,
      BIOREACTOR_ADMIN_PASSWORD: ADMIN_PASSWORD,
    }),
    { logger: false, strictResponses: true },
  );
  apps.push(app);
  return app;
}

async function admin(app: Service): Promise<Browser> {
  const b = await new Browser(app).open();
  expect((await b.post('/api/account/login', { username: 'admin', password: ADMIN_PASSWORD })).statusCode).toBe(200);
  return b;
}

beforeEach(async () => {
  hub = await startFakeHub();
  node = await startFakeNode();
  configDir = mkdtempSync(join(tmpdir(), 'web-config-'));
  uiDir = mkdtempSync(join(tmpdir(), 'web-ui-'));
  writeFileSync(join(uiDir, 'index.html'), '<!doctype html><title>Bioreactor</title><div id="root"></div>');
  writeFileSync(join(uiDir, 'favicon.ico'), Buffer.from([0, 0, 1, 0, 1, 0]));
  writeFileSync(join(uiDir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  mkdirSync(join(uiDir, 'assets'));
  writeFileSync(join(uiDir, 'assets', 'index-abc.js'), SCRIPT);
  writeFileSync(join(uiDir, 'assets', 'index-abc.js.gz'), gzipSync(SCRIPT));
  writeFileSync(join(uiDir, 'assets', 'index-abc.js.br'), brotliCompressSync(SCRIPT));
});

afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
  await hub.app.close();
  await node.app.close();
  rmSync(configDir, { recursive: true, force: true });
  rmSync(uiDir, { recursive: true, force: true });
});

describe('serving the UI', () => {
  it('sends the build’s pre-compressed assets as the browser accepts them, and compresses JSON', async () => {
    const app = await web();
    const br = await app.inject({ url: '/assets/index-abc.js', headers: { 'accept-encoding': 'gzip, deflate, br' } });
    expect(br.headers['content-encoding']).toBe('br');
    expect(brotliDecompressSync(br.rawPayload).toString()).toBe(SCRIPT);
    expect(br.headers['cache-control']).toMatch(/immutable/);
    const gz = await app.inject({ url: '/assets/index-abc.js', headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.rawPayload).toString()).toBe(SCRIPT);
    const plain = await app.inject({ url: '/assets/index-abc.js' });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body).toBe(SCRIPT);
    for (let i = 0; i < 40; i++) hub.add('someone', 'queued');
    const json = await app.inject({ url: '/api/queue', headers: { 'accept-encoding': 'gzip' } });
    expect(json.headers['content-encoding']).toBe('gzip');
    expect(JSON.parse(gunzipSync(json.rawPayload).toString()).queue).toHaveLength(40);
  });

  it('serves /favicon.ico and /favicon.svg', async () => {
    const app = await web();
    const ico = await app.inject({ url: '/favicon.ico' });
    expect(ico.statusCode).toBe(200);
    expect(ico.headers['content-type']).toBe('image/x-icon');
    expect((await app.inject({ url: '/favicon.svg' })).headers['content-type']).toMatch(/^image\/svg\+xml/);
  });

  it('answers an unknown page URL with the HTML page (404) for a browser, and JSON for the API', async () => {
    const app = await web();
    const page = await app.inject({ url: '/no/such/page', headers: { accept: 'text/html,application/xhtml+xml' } });
    expect(page.statusCode).toBe(404);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('<div id="root">');
    expect(page.headers['content-security-policy']).toMatch(/default-src 'self'/);
    const api = await app.inject({ url: '/api/no-such-route', headers: { accept: 'text/html' } });
    expect(api.statusCode).toBe(404);
    expect(api.json()).toMatchObject({ code: 'NOT_FOUND' });
    const curl = await app.inject({ url: '/no/such/page', headers: { accept: '*/*' } });
    expect(curl.statusCode).toBe(404);
    expect(curl.json()).toMatchObject({ code: 'NOT_FOUND' });
    for (const path of ['/admin', '/admin/runs', '/admin/users', '/admin/nodes', '/admin/settings'])
      expect((await app.inject({ url: path })).statusCode).toBe(200);
  });
});

describe('outages', () => {
  it('tells the browser in plain words, without addresses or socket errors', async () => {
    const app = await web('http://127.0.0.1:9');
    const res = await new Browser(app).get('/api/queue');
    expect(res.statusCode).toBe(503);
    const body = res.json<{ code: string; message: string }>();
    expect(body.code).toBe('HUB_UNREACHABLE');
    expect(body.message).toBe(PLAIN_MESSAGES.HUB_UNREACHABLE);
    expect(body.message).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|GET \//);
  });
});

describe('experiments', () => {
  it('summarises a failed run by its exception, for its owner', async () => {
    const app = await web();
    const b = await new Browser(app).open();
    const sessionId = (await b.get('/api/session')).json<{ session_id: string }>().session_id;
    const owner = [...hub.requests].reverse().find((r) => r.headers['x-session-id'])?.headers['x-session-id'];
    expect(sessionId).toHaveLength(8);
    // The fake hub files the browser's experiments under its full session id; find it from a first call.
    await b.get('/api/experiments/mine');
    const who = String(
      [...hub.requests].reverse().find((r) => r.url.startsWith('/api/experiments/user'))?.headers['x-session-id'] ??
        owner,
    );
    const e = hub.add(who, 'failed');
    const stored = hub.experiments.get(e.experiment_id);
    if (!stored) throw new Error('not stored');
    stored.exit_code = 1;
    stored.error_message =
      'Exit code 1: KeyError: \'od\' (File "/app/user_script.py", line 12, in read)\nTraceback (most recent call last):\n  File "/app/user_script.py", line 12, in read\nKeyError: \'od\'';
    const mine = (await b.get('/api/experiments/mine')).json<{ experiments: { failure: { summary: string } }[] }>();
    expect(mine.experiments[0]?.failure?.summary).toBe("KeyError: 'od' (line 12, in read)");
    const one = await b.get(`/api/experiments/${e.experiment_id}`);
    expect(
      one.json<{ experiment: { failure: { exception: string; line: number } } }>().experiment.failure,
    ).toMatchObject({
      exception: 'KeyError',
      line: 12,
    });
  });

  it('pages and filters My experiments', async () => {
    const app = await web();
    const b = await new Browser(app).open();
    await b.get('/api/experiments/mine');
    const who = String(
      [...hub.requests].reverse().find((r) => r.url.startsWith('/api/experiments/user'))?.headers['x-session-id'],
    );
    for (let i = 0; i < 23; i++) hub.add(who, i % 2 ? 'completed' : 'failed');
    const page = (q: string) =>
      b.get(`/api/experiments/mine?${q}`).then((r) => r.json<{ experiments: unknown[]; total: number }>());
    expect(await page('limit=10')).toMatchObject({ total: 23 });
    expect((await page('limit=10&offset=20')).experiments).toHaveLength(3);
    expect((await page('status=completed')).total).toBe(11);
    expect((await page('q=run')).total).toBe(23);
  });

  it('checks a script with the hub’s validator without queueing it, and reads a submitted script back', async () => {
    const app = await web();
    const b = await new Browser(app).open();
    const bad = await b.post('/api/experiments/check', { script_content: 'import time\nimport os.system_bad\n' });
    expect(bad.statusCode, bad.body).toBe(200);
    expect(bad.json()).toMatchObject({ valid: false, problems: [{ line: 2 }] });
    const good = await b.post('/api/experiments/check', { script_content: 'print(1)\n', max_duration_s: 60 });
    expect(good.json()).toMatchObject({ valid: true, max_duration_s: 60 });
    expect(hub.experiments.size).toBe(0);
    const noCsrf = await b.request('POST', '/api/experiments/check', { json: { script_content: 'x' }, csrf: false });
    expect(noCsrf.statusCode).toBe(403);

    const queued = await b.post(
      '/api/experiments/upload',
      { script_content: 'print("again")\n', name: 'again' },
      {
        'idempotency-key': 'key-1',
      },
    );
    const id = queued.json<{ experiment_id: string }>().experiment_id;
    expect(hub.requests.find((r) => r.url === '/api/experiments/start')?.headers['idempotency-key']).toBe('key-1');
    const script = await b.get(`/api/experiments/${id}/script`);
    expect(script.json()).toMatchObject({ experiment_id: id, name: 'again', script_content: 'print("again")\n' });
    const stranger = await new Browser(app).open();
    expect((await stranger.get(`/api/experiments/${id}/script`)).statusCode).toBe(404);
  });

  it('lets the owner set notes and labels, and keeps them from other users', async () => {
    const app = await web();
    const b = await new Browser(app).open();
    const id = (await b.post('/api/experiments/upload', { script_content: 'print(1)\n' })).json<{
      experiment_id: string;
    }>().experiment_id;
    const set = await b.post(`/api/experiments/${id}/annotations`, { notes: 'inoculum B', labels: ['E. coli'] });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json()).toMatchObject({ experiment: { notes: 'inoculum B', labels: ['E. coli'] } });
    const stranger = await new Browser(app).open();
    expect((await stranger.post(`/api/experiments/${id}/annotations`, { notes: 'x' })).statusCode).toBe(404);
    const queue = (await stranger.get('/api/queue')).json<{ queue: { notes: unknown; labels: unknown[] }[] }>();
    expect(queue.queue[0]).toMatchObject({ notes: null, labels: [] });
  });
});

describe('the lab manager', () => {
  it('lists every experiment and drains a node; a user may not', async () => {
    const app = await web();
    for (let i = 0; i < 7; i++) hub.add(`user-${i}`, 'completed');
    const user = await new Browser(app).open();
    expect((await user.get('/api/admin/experiments')).statusCode).toBe(403);
    expect((await user.post('/api/nodes/pi-1/drain', { drained: true })).statusCode).toBe(403);
    const a = await admin(app);
    const all = (await a.get('/api/admin/experiments?limit=5')).json<{ experiments: unknown[]; total: number }>();
    expect(all).toMatchObject({ total: 7 });
    expect(all.experiments).toHaveLength(5);
    const drained = await a.post('/api/nodes/pi-1/drain', { drained: true });
    expect(drained.json()).toMatchObject({ drained: true, readiness: 'drained' });
  });
});

describe('accounts, lab settings and notifications', () => {
  it('lets the lab manager give the admin role and disable an account, which ends its sessions', async () => {
    const app = await web();
    const alice = await new Browser(app).open();
    expect(
      (await alice.post('/api/account/register', { username: 'alice', password: 'alice-password' })).statusCode,
    ).toBe(200);
    const a = await admin(app);
    const users = (await a.get('/api/admin/users')).json<{ users: { username: string; configured: boolean }[] }>();
    expect(users.users.map((u) => [u.username, u.configured])).toEqual([
      ['admin', true],
      ['alice', false],
    ]);
    expect((await alice.get('/api/admin/users')).statusCode).toBe(403);

    // Promoted: her old sign-in ends (it was bound to the user role); signing in again makes her an admin.
    expect((await a.post('/api/admin/users/alice', { role: 'admin' })).json()).toMatchObject({ role: 'admin' });
    expect((await alice.get('/api/session')).json<{ user: unknown }>().user).toBeNull();
    await alice.post('/api/account/login', { username: 'alice', password: 'alice-password' });
    expect((await alice.get('/api/session')).json<{ user: { role: string } }>().user.role).toBe('admin');

    const disabled = await a.post('/api/admin/users/alice', { disabled: true });
    expect(disabled.json()).toMatchObject({ disabled: true });
    expect((await alice.get('/api/session')).json<{ user: unknown }>().user).toBeNull();
    const again = await new Browser(app).open();
    const refused = await again.post('/api/account/login', { username: 'alice', password: 'alice-password' });
    expect(refused.statusCode).toBe(403);
    expect(refused.json<{ message: string }>().message).toMatch(/disabled; ask the lab manager/);
    expect((await a.post('/api/admin/users/admin', { disabled: true })).statusCode).toBe(403);
    await a.post('/api/admin/users/alice', { disabled: false });
    expect((await again.post('/api/account/login', { username: 'alice', password: 'alice-password' })).statusCode).toBe(
      200,
    );
  });

  it('keeps the lab’s time zone, which only an admin changes, and each user’s notification choice', async () => {
    const app = await web();
    const user = await new Browser(app).open();
    const zone = (await user.get('/api/settings/lab')).json<{ time_zone: string }>().time_zone;
    expect(zone.length).toBeGreaterThan(0);
    expect((await user.post('/api/settings/lab', { lab_name: 'x', time_zone: 'UTC' })).statusCode).toBe(403);
    const a = await admin(app);
    expect((await a.post('/api/settings/lab', { lab_name: 'Growth lab', time_zone: 'Mars/Olympus' })).statusCode).toBe(
      400,
    );
    const saved = await a.post('/api/settings/lab', { lab_name: 'Growth lab', time_zone: 'Europe/Berlin' });
    // Live rows stay with each run's owner and the admins unless the lab chooses to share them.
    expect(saved.json()).toEqual({ lab_name: 'Growth lab', time_zone: 'Europe/Berlin', share_live_data: false });
    const shared = await a.post('/api/settings/lab', {
      lab_name: 'Growth lab',
      time_zone: 'Europe/Berlin',
      share_live_data: true,
    });
    expect(shared.json()).toMatchObject({ share_live_data: true });
    // A save without it keeps it; a restart too.
    await a.post('/api/settings/lab', { lab_name: 'Growth lab', time_zone: 'Europe/Berlin' });
    expect((await (await web()).inject({ url: '/api/settings/lab' })).json()).toMatchObject({
      time_zone: 'Europe/Berlin',
      share_live_data: true,
    });

    expect((await user.get('/api/account/notifications')).json()).toMatchObject({ browser_on_end: false });
    expect((await user.post('/api/account/notifications', { browser_on_end: true })).json()).toMatchObject({
      browser_on_end: true,
    });
    expect((await user.get('/api/account/notifications')).json()).toMatchObject({ browser_on_end: true });
    expect((await new Browser(app).open().then((b) => b.get('/api/account/notifications'))).json()).toMatchObject({
      browser_on_end: false,
    });
  });
});

describe('e-mail when an experiment ends', () => {
  it('sends one e-mail through the lab’s mail server to a user who asked for it', async () => {
    const sink = await startSmtpSink();
    try {
      const app = await buildApp(
        loadConfig({
          BIOREACTOR_HUB_API_URL: hub.url,
          BIOREACTOR_NODE_API_URL: node.url,
          BIOREACTOR_CONFIG_DIR: configDir,
          BIOREACTOR_UI_DIR: uiDir,
          BIOREACTOR_SMTP_URL: sink.url,
          BIOREACTOR_MAIL_FROM: 'Bioreactor <bioreactor@lab.example>',
          BIOREACTOR_PUBLIC_URL: 'http://bioreactor.lab.example:3000',
        }),
        { logger: false, strictResponses: true },
      );
      apps.push(app);
      await app.listen({ port: 0, host: '127.0.0.1' });
      const b = await new Browser(app).open();
      expect((await b.get('/api/account/notifications')).json()).toMatchObject({ email_available: true });
      const noAddress = await b.post('/api/account/notifications', { browser_on_end: false, email_on_end: true });
      expect(noAddress.statusCode).toBe(400);
      const saved = await b.post('/api/account/notifications', {
        browser_on_end: false,
        email_on_end: true,
        email: 'alice@lab.example',
      });
      expect(saved.json()).toMatchObject({ email_on_end: true, email: 'alice@lab.example' });
      const id = (await b.post('/api/experiments/upload', { script_content: 'print(1)\n', name: 'od run' })).json<{
        experiment_id: string;
      }>().experiment_id;
      const e = hub.experiments.get(id);
      if (!e) throw new Error('not queued');
      Object.assign(e, {
        status: 'failed',
        completed_at: new Date().toISOString(),
        exit_code: 1,
        error_message:
          'Exit code 1: ValueError: bad row (File "/app/user_script.py", line 4, in main)\nTraceback (most recent call last):\nValueError: bad row',
      });
      // The relay connects when the server listens; the event goes out once it has.
      await expect.poll(() => hub.requests.some((r) => r.url === '/api/events')).toBe(true);
      await new Promise((r) => setTimeout(r, 100));
      const { script: _s, ...experiment } = e;
      hub.emit('experiment.updated', { experiment });
      hub.emit('experiment.updated', { experiment });
      await expect.poll(() => sink.mails.length, { timeout: 5000 }).toBe(1);
      const [mail] = sink.mails;
      expect(mail?.to).toEqual(['<alice@lab.example>']);
      // The body as sent (quoted-printable: long lines are folded with "=" at their end).
      const text = (mail?.data ?? '').replace(/=\r\n/g, '');
      expect(text).toMatch(/Subject: Experiment od run failed/);
      expect(text).toContain('What happened: ValueError: bad row (line 4, in main)');
      expect(text).toContain(`http://bioreactor.lab.example:3000/experiment/${id}`);
      // Another user's experiment, and an old end, send nothing.
      const other = hub.add('someone-else', 'completed');
      hub.emit('experiment.updated', { experiment: { ...other, completed_at: new Date().toISOString() } });
      await new Promise((r) => setTimeout(r, 300));
      expect(sink.mails).toHaveLength(1);
    } finally {
      await sink.close();
    }
  });

  it('refuses e-mail notifications when the lab has no mail server', async () => {
    const app = await web();
    const b = await new Browser(app).open();
    expect((await b.get('/api/account/notifications')).json()).toMatchObject({ email_available: false });
    const refused = await b.post('/api/account/notifications', {
      browser_on_end: true,
      email_on_end: true,
      email: 'a@b.example',
    });
    expect(refused.statusCode).toBe(400);
  });
});
