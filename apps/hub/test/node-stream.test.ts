// The hub's relay of a node's live stream (GET /api/nodes/:name/stream) against a node serving GET /api/v3/stream
// over HTTP: events relayed as sent, one connection per node however many follow, the node going away and coming
// back without a lost event, followers resuming with Last-Event-ID, who may follow; and an experiment's series
// relayed from its node.
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ParsedEvent, readEventStream } from '@bioreactor/service-kit';
import { afterEach, describe, expect, it } from 'vitest';
import type { HubDeps } from '../src/app.js';
import { FakeNode } from './support/fake-node.js';
import { GOOD_SCRIPT, makeHub, type TestHub, waitForStarted, waitForState } from './support/hub.js';
import { freePort, type HubProcess, startNodeProcess } from './support/hub-process.js';

let h: TestHub | undefined;
const nodes: FakeNode[] = [];
const followers: Follower[] = [];
afterEach(async () => {
  for (const f of followers.splice(0)) f.close();
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

/** A hub (no dispatching: the relay does not need it) listening on 127.0.0.1, following `node`. */
async function hubFor(node: FakeNode, nodeStream: HubDeps['nodeStream'] = {}) {
  h = await makeHub({ nodes: [node.url], noDispatch: true, nodeStream });
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
  const name = h.hub.registry.list()[0]?.name as string;
  return { base, name, path: `/api/nodes/${name}/stream` };
}

/** One client of the hub's stream, keeping every event it got. */
class Follower {
  readonly events: ParsedEvent[] = [];
  private readonly changes = new EventEmitter();
  private readonly abort = new AbortController();
  /** Resolves when the hub ends the stream. */
  ended: Promise<void> = Promise.resolve();

  static async open(url: string, headers: Record<string, string> = {}): Promise<Follower> {
    const f = new Follower();
    followers.push(f);
    const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: f.abort.signal });
    expect(res.status, await (res.ok ? '' : res.clone().text())).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    f.ended = (async () => {
      try {
        for await (const ev of readEventStream(res.body as ReadableStream<Uint8Array>)) {
          f.events.push(ev);
          f.changes.emit('event');
        }
      } catch {
        // closed by the test
      }
      f.changes.emit('event');
    })();
    return f;
  }

  /** Resolves with the first event (from `from` on) that `match` accepts, waiting for it if need be. */
  waitFor(match: (e: ParsedEvent) => boolean, what: string, from = 0, timeoutMs = 10_000): Promise<ParsedEvent> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.events.slice(from).find(match);
        if (!found) return;
        this.changes.off('event', check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.changes.off('event', check);
        reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.events)}`));
      }, timeoutMs);
      this.changes.on('event', check);
      check();
    });
  }

  /** The node.stream events, parsed. */
  statuses(): { node: string; connected: boolean; reason: string; fresh?: boolean }[] {
    return this.events.filter((e) => e.event === 'node.stream').map((e) => JSON.parse(e.data));
  }

  /** The node's own events (everything but node.stream), as event and data. */
  fromNode(): { event: string; data: string }[] {
    return this.events.filter((e) => e.event !== 'node.stream').map(({ event, data }) => ({ event, data }));
  }

  close(): void {
    this.abort.abort();
  }
}

const connected = (value: boolean) => (e: ParsedEvent) =>
  e.event === 'node.stream' && JSON.parse(e.data).connected === value;
const isData = (data: string) => (e: ParsedEvent) => e.data === data;

describe('GET /api/nodes/:name/stream', () => {
  it('relays the node’s events in order and as sent, under hub ids, after node.stream says it is connected', async () => {
    const node = await fakeNode();
    const { base, name, path } = await hubFor(node);
    const f = await Follower.open(`${base}${path}`);
    await f.waitFor(connected(true), 'the connection to the node');
    const sent = [
      { event: 'component.sample', data: '{"component":"temp_sensor","state":{"temperature":37.25},"at_ms":1000}' },
      // Spaces and key order as the node wrote them: the hub does not parse and re-serialise what it relays.
      { event: 'component.changed', data: '{ "component": "pump_1",  "state": {"velocity": 2}, "at_ms": 1001 }' },
      { event: 'run.rows', data: '{"experiment_id":"e1","file":"data.csv","text":"t,co2\\n1,400\\n"}' },
      { event: 'message', data: 'first line\nsecond line' },
    ];
    for (const e of sent) node.pushStream(e.event, e.data);
    await f.waitFor(isData('first line\nsecond line'), 'the last event');

    expect(f.statuses()).toEqual([
      { node: name, connected: false, reason: 'connecting to the node', fresh: true },
      { node: name, connected: true, reason: 'connected' },
    ]);
    // What the node sends a new connection first (its current states), then what it sent after.
    expect(f.fromNode()).toEqual([...node.streamState, ...sent]);
    const ids = f.events.map((e) => e.id);
    const epoch = ids[0]?.split('-')[0];
    expect(ids).toEqual(ids.map((_, i) => `${epoch}-${i}`));
    expect(node.streamConnections).toEqual([undefined]);
  });

  it('says when the node goes away and comes back, resuming from the node’s Last-Event-ID so nothing is lost', async () => {
    const node = await fakeNode();
    const { base, path } = await hubFor(node, { backoffMinMs: 50, backoffMaxMs: 200 });
    const f = await Follower.open(`${base}${path}`);
    await f.waitFor(connected(true), 'the first connection');
    node.pushStream('component.sample', { component: 'co2_sensor', state: { co2_ppm: 400 } });
    const beforeOutage = node.pushStream('component.sample', { component: 'co2_sensor', state: { co2_ppm: 401 } });
    await f.waitFor((e) => e.data.includes('401'), 'the event before the outage');

    await node.stop();
    const down = f.events.length;
    await f.waitFor(connected(false), 'node.stream saying the node is gone', down);
    // Sent while the hub could not hear it; the node keeps them for a follower that says where it was.
    node.pushStream('component.sample', { component: 'co2_sensor', state: { co2_ppm: 402 } });
    node.pushStream('component.changed', { component: 'pump_1', state: { velocity: 0 }, source: 'script' });
    await node.start();
    await f.waitFor(connected(true), 'node.stream saying the node is back', down);
    await f.waitFor((e) => e.event === 'component.changed', 'the events missed during the outage', down);

    expect(await node.streamConnection(2)).toBe(beforeOutage);
    expect(f.fromNode()).toEqual([
      ...node.streamState,
      ...node.streamEvents.map(({ event, data }) => ({ event, data })),
    ]);
    const statuses = f.statuses();
    expect(statuses.map((s) => s.connected)).toEqual([false, true, ...statuses.slice(2, -1).map(() => false), true]);
    expect(statuses[2]?.reason).toBe('the node closed its stream');
    // Replayed by the node, not relayed twice: each hub id is given once, in order.
    const seqs = f.events.map((e) => Number(e.id?.split('-')[1]));
    expect(seqs).toEqual(seqs.map((_, i) => i));
  });

  it('gives a follower that resumes with Last-Event-ID exactly the events it missed; others start afresh', async () => {
    const node = await fakeNode();
    const { base, name, path } = await hubFor(node, { ringSize: 8 });
    const stays = await Follower.open(`${base}${path}`);
    const leaves = await Follower.open(`${base}${path}`);
    await leaves.waitFor(connected(true), 'the connection');
    node.pushStream('component.sample', { component: 'temp_sensor', state: { temperature: 30 } });
    const seen = await leaves.waitFor((e) => e.data.includes('"temperature":30'), 'the event before leaving');
    leaves.close();

    const missed = [
      { event: 'component.sample', data: '{"component":"temp_sensor","state":{"temperature":31}}' },
      { event: 'run.rows', data: '{"experiment_id":"e1","file":"data.csv","text":"2,401\\n"}' },
    ];
    for (const e of missed) node.pushStream(e.event, e.data);
    await stays.waitFor(isData(missed[1]?.data as string), 'the events the other follower missed');

    const byHeader = await Follower.open(`${base}${path}`, { 'last-event-id': seen.id as string });
    const byQuery = await Follower.open(`${base}${path}?last_event_id=${encodeURIComponent(seen.id as string)}`);
    const next = { event: 'safety', data: '{"interlocks":["door open"]}' };
    node.pushStream(next.event, next.data);
    for (const f of [byHeader, byQuery]) {
      await f.waitFor(isData(next.data), 'the next live event');
      expect(f.events.map(({ event, data }) => ({ event, data }))).toEqual([...missed, next]);
      expect(f.events[0]?.id?.split('-')[1]).toBe(String(Number(seen.id?.split('-')[1]) + 1));
    }

    // An id this hub never gave (another hub process, a typo): the node's latest states, said to be a fresh start.
    const unknown = await Follower.open(`${base}${path}`, { 'last-event-id': 'elsewhere-3' });
    await unknown.waitFor((e) => e.event === 'safety', 'the latest safety');
    expect(unknown.statuses()).toEqual([{ node: name, connected: true, reason: 'connected', fresh: true }]);
    expect(unknown.fromNode()).toEqual([missed[0], next]);

    // Older than the ring: the same fresh start, not a replay with a hole in it.
    for (let i = 0; i < 8; i++) node.pushStream('component.sample', { component: 'temp_sensor', state: { i } });
    await stays.waitFor((e) => e.data.includes('"i":7'), 'the ring to turn over');
    const late = await Follower.open(`${base}${path}`, { 'last-event-id': seen.id as string });
    await late.waitFor((e) => e.data.includes('"i":7'), 'the latest sample');
    expect(late.statuses()[0]?.fresh).toBe(true);
    expect(late.fromNode().map((e) => e.event)).toEqual(['safety', 'component.sample']);
  });

  it('keeps a bounded amount of text for resuming: after a burst of large rows an older follower starts afresh', async () => {
    const node = await fakeNode();
    const { base, path } = await hubFor(node, { ringChars: 10_000 });
    const stays = await Follower.open(`${base}${path}`);
    await stays.waitFor(connected(true), 'the connection');
    node.pushStream('component.sample', { component: 'temp_sensor', state: { temperature: 30 } });
    const before = await stays.waitFor((e) => e.data.includes('"temperature":30'), 'the small event');
    const rows = (n: number) => ({ experiment_id: 'e1', file: 'data.csv', text: `${n},400\n`.repeat(1000) });
    node.pushStream('run.rows', rows(1));
    const lastKept = await stays.waitFor((e) => e.data.includes('"text":"1,400'), 'the first rows');
    node.pushStream('run.rows', rows(2));
    await stays.waitFor((e) => e.data.includes('"text":"2,400'), 'the second rows');

    const tooOld = await Follower.open(`${base}${path}`, { 'last-event-id': before.id as string });
    await tooOld.waitFor((e) => e.event === 'component.sample', 'the latest states');
    expect(tooOld.statuses()[0]?.fresh).toBe(true);
    expect(tooOld.fromNode().map((e) => e.event)).toEqual(['safety', 'component.sample']);
    const recent = await Follower.open(`${base}${path}`, { 'last-event-id': lastKept.id as string });
    await recent.waitFor((e) => e.data.includes('"text":"2,400'), 'the rows it missed');
    expect(recent.events.map((e) => e.event)).toEqual(['run.rows']);
  });

  it('refuses a user who is not an admin, admits an admin and the web server, and names unknown nodes', async () => {
    const node = await fakeNode();
    const { base, path } = await hubFor(node);
    const user = await h?.app.inject({ url: path, headers: { 'x-session-id': 'alice' } });
    expect(user?.statusCode).toBe(403);
    expect(user?.json().code).toBe('FORBIDDEN');
    expect(user?.json().message).toContain('Only an admin may follow the live stream');
    expect(node.streamConnections).toEqual([]);

    const unknown = await h?.app.inject({ url: '/api/nodes/nope/stream' });
    expect(unknown?.statusCode).toBe(404);
    expect(unknown?.json().code).toBe('NODE_NOT_FOUND');

    const admin = await Follower.open(`${base}${path}`, { 'x-session-id': 'root', 'x-user-role': 'admin' });
    await admin.waitFor(connected(true), 'the admin’s stream');
    const service = await Follower.open(`${base}${path}`);
    await service.waitFor((e) => e.event === 'safety', 'the web server’s stream');
  });

  it('shares one connection to the node among 100 followers, and closes it after the last one leaves', async () => {
    const node = await fakeNode();
    const { base, path } = await hubFor(node, { idleCloseMs: 100 });
    const many = await Promise.all(Array.from({ length: 100 }, () => Follower.open(`${base}${path}`)));
    await Promise.all(many.map((f) => f.waitFor(connected(true), 'the connection')));
    node.pushStream('component.sample', { component: 'temp_sensor', state: { temperature: 36.6 } });
    const got = await Promise.all(many.map((f) => f.waitFor((e) => e.data.includes('36.6'), 'the sample')));
    expect(new Set(got.map((e) => e.id)).size).toBe(1);
    expect(node.streamConnections).toHaveLength(1);
    expect(node.openStreams).toBe(1);

    for (const f of many) f.close();
    await node.streamsOpen(0);
    expect(h?.hub.nodeStreams.open()).toEqual([]);
  });

  it('ends its followers’ streams when the node is removed from the hub', async () => {
    const node = await fakeNode();
    const { base, name, path } = await hubFor(node);
    const f = await Follower.open(`${base}${path}`);
    await f.waitFor(connected(true), 'the connection');
    const removed = await h?.app.inject({ method: 'DELETE', url: `/api/nodes/${name}` });
    expect(removed?.statusCode, removed?.body).toBe(200);
    await f.ended;
    expect(f.statuses().at(-1)).toEqual({
      node: name,
      connected: false,
      reason: `node ${name} was removed from the hub`,
    });
    await node.streamsOpen(0);
    const again = await h?.app.inject({ url: path });
    expect(again?.json().code).toBe('NODE_NOT_FOUND');
  });
});

describe('with a real node process', () => {
  let proc: HubProcess | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    if (proc && proc.proc.exitCode === null && proc.proc.signalCode === null) {
      proc.proc.kill('SIGTERM');
      await proc.exited;
    }
    proc = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('relays its samples, and says when it is killed and when it is back', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hub-stream-node-'));
    const port = await freePort();
    proc = await startNodeProcess(dir, port);
    h = await makeHub({
      nodes: [`http://127.0.0.1:${port}`],
      noDispatch: true,
      nodeStream: { backoffMinMs: 50, backoffMaxMs: 500 },
    });
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
    const name = h.hub.registry.list()[0]?.name as string;
    const f = await Follower.open(`${base}/api/nodes/${name}/stream`);
    const sample = await f.waitFor((e) => e.event === 'component.sample', 'a sample from the node', 0, 30_000);
    expect(typeof JSON.parse(sample.data).component).toBe('string');
    await f.waitFor((e) => e.event === 'safety', 'the interlocks in force');

    proc.proc.kill('SIGKILL');
    await proc.exited;
    const down = f.events.length;
    await f.waitFor(connected(false), 'node.stream saying the node is gone', down);
    proc = await startNodeProcess(dir, port);
    const back = await f.waitFor(connected(true), 'node.stream saying the node is back', down, 30_000);
    await f.waitFor((e) => e.event === 'component.sample', 'samples again', f.events.indexOf(back) + 1, 30_000);
    expect(JSON.parse(back.data)).toEqual({ node: name, connected: true, reason: 'connected' });
  });

  it('relays the series of a run the node ran', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hub-stream-node-'));
    const port = await freePort();
    proc = await startNodeProcess(dir, port);
    h = await makeHub({ nodes: [`http://127.0.0.1:${port}`] });
    const script = [
      'import os',
      'with open(os.path.join(os.environ["OUTPUT_DIR"], "experiment_data.csv"), "w") as f:',
      '    f.write("timestamp,co2_ppm\\n")',
      '    for i in range(100):',
      '        f.write(f"2026-01-01T00:{i // 60:02d}:{i % 60:02d},{400 + (500 if i == 42 else i)}\\n")',
      '',
    ].join('\n');
    const r = await h.app.inject({
      method: 'POST',
      url: '/api/experiments/start',
      headers: { 'x-session-id': 'alice' },
      payload: { script_content: script },
    });
    const id = r.json().experiment_id as string;
    await waitForState(h.hub, id, 'completed', 60_000);
    const res = await h.app.inject({
      url: `/api/experiments/${id}/series?points=10`,
      headers: { 'x-session-id': 'alice' },
    });
    expect(res.statusCode, res.body).toBe(200);
    const series = res.json();
    expect(series).toMatchObject({ experiment_id: id, file: 'experiment_data.csv', total_rows: 100 });
    expect(series.columns).toEqual(['co2_ppm']);
    expect(series.points.length).toBeLessThanOrEqual(10);
    // The one spike survives the downsampling.
    expect(Math.max(...series.points.map((p: number[]) => p[1] as number))).toBe(900);
    expect(series.points[0][0]).toBe(Date.parse('2026-01-01T00:00:00Z'));
  });
});

describe('GET /api/experiments/:id/series', () => {
  it('relays the node’s series of a run to its owner and admins, with the node’s errors', async () => {
    const node = await fakeNode();
    h = await makeHub({ nodes: [node.url] });
    const submit = async () => {
      const r = await (h as TestHub).app.inject({
        method: 'POST',
        url: '/api/experiments/start',
        headers: { 'x-session-id': 'alice' },
        payload: { script_content: GOOD_SCRIPT },
      });
      return r.json().experiment_id as string;
    };
    const ran = await submit();
    const queued = await submit();
    await waitForStarted(h.hub, ran);
    const series = {
      experiment_id: ran,
      file: 'experiment_data.csv',
      total_rows: 3_000_000,
      bucket_rows: 1465,
      columns: ['co2_ppm', 'temperature'],
      points: [
        [1767225600000, 398.5, null],
        [1767225700000, 1210, 37.25],
      ],
    };
    node.series.set(ran, series);
    const url = `/api/experiments/${ran}/series?file=experiment_data.csv&points=200`;

    const owner = await h.app.inject({ url, headers: { 'x-session-id': 'alice' } });
    expect(owner.statusCode, owner.body).toBe(200);
    expect(owner.headers['content-type']).toContain('application/json');
    expect(owner.json()).toEqual(series);
    expect(node.seriesQueries.at(-1)).toEqual({ file: 'experiment_data.csv', points: '200' });
    const admin = await h.app.inject({ url, headers: { 'x-session-id': 'root', 'x-user-role': 'admin' } });
    expect(admin.json()).toEqual(series);
    // No file: the node's own default (experiment_data.csv).
    const byDefault = await h.app.inject({
      url: `/api/experiments/${ran}/series`,
      headers: { 'x-session-id': 'alice' },
    });
    expect(byDefault.json()).toEqual(series);
    expect(node.seriesQueries.at(-1)).toEqual({ points: '1000' });

    const other = await h.app.inject({ url, headers: { 'x-session-id': 'eve' } });
    expect(other.statusCode).toBe(403);
    expect(other.json().code).toBe('FORBIDDEN');
    const notRun = await h.app.inject({
      url: `/api/experiments/${queued}/series`,
      headers: { 'x-session-id': 'alice' },
    });
    expect(notRun.statusCode).toBe(409);
    expect(notRun.json().message).toContain('has not run on a node yet');
    const tooFew = await h.app.inject({
      url: `/api/experiments/${ran}/series?points=3`,
      headers: { 'x-session-id': 'alice' },
    });
    expect(tooFew.statusCode).toBe(400);
    expect(tooFew.json().code).toBe('VALIDATION_FAILED');
    const otherFile = await h.app.inject({
      url: `/api/experiments/${ran}/series?file=other.csv`,
      headers: { 'x-session-id': 'alice' },
    });
    expect(otherFile.statusCode).toBe(404);
    expect(otherFile.json().code).toBe('FILE_NOT_FOUND');

    await node.stop();
    const away = await h.app.inject({ url, headers: { 'x-session-id': 'alice' } });
    expect(away.statusCode).toBe(503);
    expect(away.json().code).toBe('NODE_UNREACHABLE');
  });
});
