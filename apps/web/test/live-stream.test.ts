// GET /api/stream against a hub that relays its nodes' streams as the contract says (a fake on loopback): every
// reactor's events reach each browser once, samples batched per update_interval, rows only to who may see them,
// resumes, and a broken hub shown as such.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accountHubUser } from '@bioreactor/api';
import type { ParsedEvent, Service } from '@bioreactor/service-kit';
import { EventStreamParser } from '@bioreactor/service-kit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { Browser } from './browser-session.js';
import { type FakeHub, startFakeHub } from './fake-services.js';

const ADMIN_PASSWORD = 'correct horse battery';
const HEADER = 'timestamp,co2_ppm,temperature\n';
const row = (i: number) => `${new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString()},${600 + i},37.0\n`;
/** How long a test waits for an event before it fails. */
const WAIT_MS = 10_000;

let hub: FakeHub;
let configDir: string;
const apps: Service[] = [];
const streams: Follower[] = [];

interface Received extends ParsedEvent {
  at: number;
  json: Record<string, unknown>;
}

/** One browser's /api/stream, read as it arrives; `next` waits for a matching event and consumes up to it. */
class Follower {
  readonly all: Received[] = [];
  private cursor = 0;
  private readonly abort = new AbortController();
  private wake: (() => void) | undefined;
  private ended = false;

  constructor(url: string, browser: Browser, headers: Record<string, string> = {}) {
    const cookie = [...browser.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    void (async () => {
      try {
        const res = await fetch(url, {
          headers: { accept: 'text/event-stream', cookie, ...headers },
          signal: this.abort.signal,
        });
        const parser = new EventStreamParser();
        const decoder = new TextDecoder();
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          for (const e of parser.push(decoder.decode(chunk, { stream: true }))) {
            this.all.push({ ...e, at: performance.now(), json: JSON.parse(e.data) });
            this.wake?.();
          }
        }
      } catch {
        // Closed by the test.
      }
      this.ended = true;
      this.wake?.();
    })();
    streams.push(this);
  }

  async next(event: string, match: (data: Record<string, unknown>) => boolean = () => true): Promise<Received> {
    const deadline = performance.now() + WAIT_MS;
    for (;;) {
      while (this.cursor < this.all.length) {
        const e = this.all[this.cursor++] as Received;
        if (e.event === event && match(e.json)) return e;
      }
      if (this.ended) throw new Error(`stream ended before ${event}`);
      const left = deadline - performance.now();
      if (left <= 0)
        throw new Error(`no ${event} within ${WAIT_MS} ms; got ${this.all.map((e) => e.event).join(', ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Waits for a matching event received at any time, without moving the cursor. */
  async any(event: string, match: (data: Record<string, unknown>) => boolean = () => true): Promise<Received> {
    const found = () => this.all.find((e) => e.event === event && match(e.json));
    const deadline = performance.now() + WAIT_MS;
    for (;;) {
      const e = found();
      if (e) return e;
      if (this.ended || performance.now() > deadline) throw new Error(`no ${event} within ${WAIT_MS} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - performance.now());
        const before = this.wake;
        this.wake = () => {
          clearTimeout(timer);
          this.wake = before;
          resolve();
        };
      });
    }
  }

  /** Events received so far, of one type. */
  seen(event: string): Received[] {
    return this.all.filter((e) => e.event === event);
  }

  close(): void {
    this.abort.abort();
  }
}

async function web(): Promise<{ app: Service; url: string }> {
  const app = await buildApp(
    loadConfig({
      BIOREACTOR_HUB_API_URL: hub.url,
      // Several nodes, as the hub's own variable may list them: the web server starts all the same.
      BIOREACTOR_NODE_API_URL: 'http://127.0.0.1:9,http://127.0.0.1:10',
      BIOREACTOR_CONFIG_DIR: configDir,
      BIOREACTOR_UI_DIR: configDir,
      BIOREACTOR_ADMIN_PASSWORD: ADMIN_PASSWORD,
    }),
    { logger: false, strictResponses: true },
  );
  apps.push(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  return { app, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` };
}

async function signedIn(app: Service, username: string): Promise<Browser> {
  const b = await new Browser(app).open();
  const res =
    username === 'admin'
      ? await b.post('/api/account/login', { username, password: ADMIN_PASSWORD })
      : await b.post('/api/account/register', { username, password: `${username} long password` });
  expect(res.statusCode, res.body).toBe(200);
  return b;
}

const connected = (node: string) => (data: Record<string, unknown>) =>
  (data.nodes as { node: string; connected: boolean }[]).some((n) => n.node === node && n.connected);

async function setUpdateInterval(admin: Browser, seconds: number): Promise<void> {
  const current = (await admin.get('/api/settings/dashboard')).json<Record<string, unknown>>();
  const res = await admin.post('/api/settings/dashboard', { ...current, update_interval: seconds });
  expect(res.statusCode, res.body).toBe(200);
}

beforeEach(async () => {
  hub = await startFakeHub();
  configDir = mkdtempSync(join(tmpdir(), 'web-live-'));
  writeFileSync(join(configDir, 'index.html'), '<!doctype html>');
});

afterEach(async () => {
  for (const s of streams.splice(0)) s.close();
  for (const app of apps.splice(0)) await app.close();
  await hub.app.close();
  rmSync(configDir, { recursive: true, force: true });
});

describe('GET /api/stream', () => {
  it('starts with the whole state, then an actuator change on a node reaches the browser as live.changed at once', async () => {
    const { app, url } = await web();
    const browser = await new Browser(app).open();
    const s = new Follower(`${url}/api/stream`, browser);
    await s.next('live.status', connected('pi-1'));
    await s.next('live.samples', (d) => (d.samples as Record<string, { co2_ppm: number }>)['pi-1']?.co2_ppm === 412);
    // A browser arriving now gets the reactor's panel as it is.
    const late = new Follower(`${url}/api/stream`, browser);
    const snapshot = await late.next('live.snapshot', (d) => d.node === 'pi-1');
    expect(snapshot.json).toMatchObject({
      node: 'pi-1',
      sample: { co2_ppm: 412, temperature: 36.6, source: 'hardware' },
      safety: [],
      experiment: null,
      connected: true,
      rows_visible: false,
    });
    await s.any('queue.updated');
    await s.any('node.updated', (d) => d.name === 'pi-1');

    const at = Date.now();
    hub.nodeEmit('pi-1', 'component.changed', {
      component: 'stirrer',
      state: { duty_cycle: 40, active: true },
      source: 'api',
      at_ms: at,
    });
    const changed = await s.next('live.changed');
    expect(changed.json).toEqual({
      node: 'pi-1',
      component: 'stirrer',
      state: { duty_cycle: 40, active: true },
      at_ms: at,
    });
    expect(changed.id).toMatch(/^[a-z0-9]+-\d+$/);
    // One upstream per node, however many browsers follow.
    const others = [1, 2, 3].map(() => new Follower(`${url}/api/stream`, browser));
    for (const o of others) await o.next('live.snapshot', (d) => d.node === 'pi-1');
    expect(hub.nodeFollowers('pi-1')).toBe(1);
  });

  it('batches the samples of every node into at most one live.samples per update_interval', async () => {
    hub.nodeNames.push('pi-2');
    const { app, url } = await web();
    const admin = await signedIn(app, 'admin');
    await setUpdateInterval(admin, 0.5);
    const s = new Follower(`${url}/api/stream`, admin);
    await s.next('live.status', (d) => connected('pi-1')(d) && connected('pi-2')(d));
    const carries = (i: number) => (d: Record<string, unknown>) => {
      const samples = d.samples as Record<string, { co2_ppm?: number }>;
      return samples['pi-1']?.co2_ppm === 1000 + i && samples['pi-2']?.co2_ppm === 2000 + i;
    };
    const batches: Received[] = [];
    for (let round = 0; round < 3; round++) {
      // Ten samples of each node at once: the browser gets the newest of each, in one event.
      for (let k = 0; k <= 9; k++) {
        const i = round * 10 + k;
        for (const [node, base] of [
          ['pi-1', 1000],
          ['pi-2', 2000],
        ] as const)
          hub.nodeEmit(node, 'component.sample', {
            component: 'co2_sensor',
            state: { status: 'success', co2_ppm: base + i },
            at_ms: Date.now(),
          });
      }
      batches.push(await s.next('live.samples', carries(round * 10 + 9)));
    }
    const all = s.seen('live.samples');
    // Each burst of ten went out as one event with the newest values, each event an interval after the one before.
    for (const e of all) {
      const co2 = (e.json.samples as Record<string, { co2_ppm: number }>)['pi-1']?.co2_ppm;
      if (co2 !== undefined && co2 !== 412) expect(co2 % 10).toBe(9);
    }
    for (let i = 1; i < all.length; i++)
      expect((all[i] as Received).at - (all[i - 1] as Received).at).toBeGreaterThanOrEqual(450);
    expect(batches[2]?.json).toMatchObject({
      samples: { 'pi-1': { source: 'hardware' }, 'pi-2': { source: 'hardware' } },
    });
  });

  it('sends a run’s CSV rows to its owner and the admins only, or to everyone when the lab shares live data', async () => {
    const experiment = hub.add(accountHubUser('alice'), 'running');
    const { app, url } = await web();
    const [alice, admin, bob] = [
      await signedIn(app, 'alice'),
      await signedIn(app, 'admin'),
      await signedIn(app, 'bob'),
    ];
    const follow = (b: Browser) => new Follower(`${url}/api/stream`, b);
    const [a, m, o] = [follow(alice), follow(admin), follow(bob)];
    for (const s of [a, m, o]) await s.next('live.status', connected('pi-1'));
    expect((await a.next('live.snapshot', (d) => d.node === 'pi-1' && d.experiment !== null)).json).toMatchObject({
      rows_visible: true,
      experiment: { experiment_id: experiment.experiment_id, mine: true },
    });
    expect((await o.next('live.snapshot', (d) => d.node === 'pi-1' && d.experiment !== null)).json).toMatchObject({
      rows_visible: false,
      experiment: { masked: true },
    });

    const written = Date.now();
    hub.nodeEmit('pi-1', 'run.rows', {
      experiment_id: experiment.experiment_id,
      file: 'experiment_data.csv',
      offset: 0,
      next_offset: Buffer.byteLength(HEADER + row(0) + row(1)),
      text: HEADER + row(0) + row(1),
      at_ms: written,
    });
    for (const s of [a, m]) {
      const rows = await s.next('live.rows');
      expect(rows.json).toMatchObject({
        node: 'pi-1',
        experiment_id: experiment.experiment_id,
        file: 'experiment_data.csv',
      });
      expect((rows.json.rows as { co2_ppm: number }[]).map((r) => r.co2_ppm)).toEqual([600, 601]);
    }
    // Events reach every browser in one order: bob's marker comes after the rows he did not get.
    hub.nodeEmit('pi-1', 'component.changed', { component: 'stirrer', state: { duty_cycle: 1 }, at_ms: Date.now() });
    await o.next('live.changed');
    expect(o.seen('live.rows')).toEqual([]);
    expect(JSON.stringify(o.all)).not.toContain(experiment.experiment_id);

    const lab = (await admin.get('/api/settings/lab')).json<Record<string, unknown>>();
    expect(lab.share_live_data).toBe(false);
    expect((await admin.post('/api/settings/lab', { ...lab, share_live_data: true })).statusCode).toBe(200);
    await o.next('live.snapshot', (d) => d.node === 'pi-1' && d.rows_visible === true);
    hub.nodeEmit('pi-1', 'run.rows', {
      experiment_id: experiment.experiment_id,
      file: 'experiment_data.csv',
      offset: Buffer.byteLength(HEADER + row(0) + row(1)),
      next_offset: Buffer.byteLength(HEADER + row(0) + row(1) + row(2)),
      text: row(2),
      at_ms: Date.now(),
    });
    expect(((await o.next('live.rows')).json.rows as { co2_ppm: number }[])[0]?.co2_ppm).toBe(602);
  });

  it('replays what a browser missed when it comes back with last_event_id, else starts it afresh', async () => {
    const { app, url } = await web();
    const browser = await new Browser(app).open();
    const watcher = new Follower(`${url}/api/stream`, browser);
    await watcher.next('live.status', connected('pi-1'));
    const leaving = new Follower(`${url}/api/stream`, browser);
    await leaving.next('live.status', connected('pi-1'));
    hub.nodeEmit('pi-1', 'component.changed', { component: 'pumps', state: { n: 1 }, at_ms: 1 });
    const lastSeen = await leaving.next('live.changed');
    leaving.close();
    for (const n of [2, 3]) hub.nodeEmit('pi-1', 'component.changed', { component: 'pumps', state: { n }, at_ms: n });
    await watcher.next('live.changed', (d) => (d.state as { n: number }).n === 3);

    const back = new Follower(`${url}/api/stream?last_event_id=${lastSeen.id}`, browser);
    const first = await back.next('live.changed');
    expect(first.json.state).toEqual({ n: 2 });
    expect((await back.next('live.changed')).json.state).toEqual({ n: 3 });
    expect(back.seen('live.snapshot')).toEqual([]);
    // The header works as well; an id of another server run gets fresh snapshots.
    const viaHeader = new Follower(`${url}/api/stream`, browser, { 'last-event-id': lastSeen.id ?? '' });
    expect((await viaHeader.next('live.changed')).json.state).toEqual({ n: 2 });
    const stranger = new Follower(`${url}/api/stream?last_event_id=otherrun-5`, browser);
    await stranger.next('live.snapshot', (d) => d.node === 'pi-1');
  });

  it('says the hub and its reactors are disconnected when the hub’s streams break, and connected when they are back', async () => {
    const { app, url } = await web();
    const s = new Follower(`${url}/api/stream`, await new Browser(app).open());
    await s.next('live.status', (d) => (d.hub as { connected: boolean }).connected && connected('pi-1')(d));
    hub.breakStreams(true);
    const down = await s.next('live.status', (d) => !(d.hub as { connected: boolean }).connected);
    expect(down.json.hub).toEqual({ connected: false });
    const node = await s.next('live.status', (d) => !connected('pi-1')(d));
    expect((node.json.nodes as { reason: string; last_event_ms: number }[])[0]).toMatchObject({
      reason: expect.stringMatching(/hub/),
      last_event_ms: expect.any(Number),
    });
    hub.breakStreams(false);
    await s.next('live.status', (d) => (d.hub as { connected: boolean }).connected && connected('pi-1')(d));
  });

  it('shows only the reactors asked for with ?nodes=', async () => {
    hub.nodeNames.push('pi-2');
    const { app, url } = await web();
    const s = new Follower(`${url}/api/stream?nodes=pi-2`, await new Browser(app).open());
    await s.next('live.status', (d) => connected('pi-1')(d) && connected('pi-2')(d));
    hub.nodeEmit('pi-1', 'component.changed', { component: 'stirrer', state: { d: 1 }, at_ms: 1 });
    hub.nodeEmit('pi-2', 'component.changed', { component: 'stirrer', state: { d: 2 }, at_ms: 2 });
    expect((await s.next('live.changed')).json.node).toBe('pi-2');
    expect(s.seen('live.snapshot').every((e) => e.json.node === 'pi-2')).toBe(true);
  });
});

describe('experiment series', () => {
  it('relays the node’s min/max summary as chart rows named as the dashboard’s readings', async () => {
    const { app } = await web();
    const alice = await signedIn(app, 'alice');
    const experiment = hub.add(accountHubUser('alice'), 'completed');
    hub.series.set(`${experiment.experiment_id}/experiment_data.csv`, {
      total_rows: 1_000_000,
      bucket_rows: 2000,
      columns: ['co2_ppm', 'od_voltages[1]', 'growth_rate'],
      points: [
        [Date.UTC(2026, 0, 1), 400, 0.1, null],
        [Date.UTC(2026, 0, 1, 0, 30), 950, 0.3, 0.02],
      ],
    });
    const res = await alice.get(`/api/experiments/${experiment.experiment_id}/series?points=100`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      experiment_id: experiment.experiment_id,
      file: 'experiment_data.csv',
      total_rows: 1_000_000,
      bucket_rows: 2000,
      method: 'minmax',
      rows: [
        {
          timestamp: '2026-01-01T00:00:00.000Z',
          epoch_ms: Date.UTC(2026, 0, 1),
          status: 'success',
          source: 'csv',
          experiment_id: experiment.experiment_id,
          co2_ppm: 400,
          od_voltages: [null, 0.1],
        },
        {
          timestamp: '2026-01-01T00:30:00.000Z',
          epoch_ms: Date.UTC(2026, 0, 1, 0, 30),
          status: 'success',
          source: 'csv',
          experiment_id: experiment.experiment_id,
          co2_ppm: 950,
          od_voltages: [null, 0.3],
          growth_rate: 0.02,
        },
      ],
    });
    const request = hub.requests.find((r) => r.url.includes('/series'));
    expect(request?.url).toContain('points=100');
    expect(request?.headers['x-session-id']).toBe(accountHubUser('alice'));
    // Another user's experiment is not found, whatever the hub would answer.
    const bob = await signedIn(app, 'bob');
    expect((await bob.get(`/api/experiments/${experiment.experiment_id}/series`)).statusCode).toBe(404);
  });
});
