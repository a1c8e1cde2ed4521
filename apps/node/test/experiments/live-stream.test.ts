// The node's live data path end to end with the local runner: GET /api/v3/stream pushes the running run's new CSV
// rows as they are written (a file watch on output/), never reads a CSV the script swapped for a link or a FIFO,
// resumes a follower from its Last-Event-ID with exactly what it missed, and GET …/series charts a run of a million
// rows in bounded memory with a single spike still visible.
import { randomBytes } from 'node:crypto';
import { appendFileSync, createWriteStream, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { COMPONENT_NAMES } from '@bioreactor/api';
import { type ParsedEvent, readEventStream } from '@bioreactor/service-kit';
import { afterEach, describe, expect, it } from 'vitest';
import { runToEnd, startNode, startRun, type TestNode } from './helpers.js';

const LOCAL = { BIOREACTOR_RUNNER: 'local', BIOREACTOR_EXPERIMENT_STOP_GRACE_S: '2' };

/** A script that writes `files` (name → first text) and then waits until the test creates output/stop. */
function waitingScript(files: Record<string, string>, before = ''): string {
  return `
import os, time
out = os.environ["OUTPUT_DIR"]
${before}
for name, text in ${JSON.stringify(files)}.items():
    with open(os.path.join(out, name), "w") as f:
        f.write(text)
while not os.path.exists(os.path.join(out, "stop")):
    time.sleep(0.02)
`;
}

const nodes: TestNode[] = [];
const followers: Follower[] = [];
afterEach(async () => {
  for (const f of followers.splice(0)) f.close();
  for (const n of nodes.splice(0)) await n.app.close();
});

async function node(): Promise<{ n: TestNode; base: string }> {
  const n = await startNode(LOCAL);
  nodes.push(n);
  await n.app.listen({ host: '127.0.0.1', port: 0 });
  const address = n.app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { n, base: `http://127.0.0.1:${port}` };
}

interface Follower {
  events: ParsedEvent[];
  /** The first event (already received or still to come) that matches; rejects after `ms`. */
  until(match: (e: ParsedEvent) => boolean, ms?: number): Promise<ParsedEvent>;
  close(): void;
}

function follow(url: string, headers: Record<string, string> = {}): Follower {
  const controller = new AbortController();
  const events: ParsedEvent[] = [];
  const wake = new Set<() => void>();
  void (async () => {
    const res = await fetch(url, { signal: controller.signal, headers });
    for await (const event of readEventStream(res.body as ReadableStream<Uint8Array>)) {
      events.push(event);
      for (const fn of [...wake]) fn();
    }
  })().catch(() => undefined);
  const follower: Follower = {
    events,
    until(match, ms = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find(match);
          if (!found) return;
          wake.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => {
          wake.delete(check);
          reject(new Error(`no matching event in ${ms} ms; got ${events.map((e) => e.event).join(', ')}`));
        }, ms);
        wake.add(check);
        check();
      });
    },
    close: () => controller.abort(),
  };
  followers.push(follower);
  return follower;
}

const data = (e: ParsedEvent) => JSON.parse(e.data) as Record<string, unknown>;
const rowsOf = (file: string) => (e: ParsedEvent) => e.event === 'run.rows' && data(e).file === file;

describe('GET /api/v3/stream', () => {
  it('starts with every component, the interlocks and the run, each with at_ms, then pushes appended CSV rows at once', async () => {
    const { n, base } = await node();
    const early = follow(`${base}/api/v3/stream`);
    await early.until((e) => e.event === 'safety');
    const { id } = await startRun(n, waitingScript({ 'experiment_data.csv': 'timestamp,temperature\n' }), {
      experiment_id: 'live-rows',
    });
    // A follower from before the run gets the file from its start, header first.
    const header = await early.until(rowsOf('experiment_data.csv'));
    expect(data(header)).toMatchObject({ offset: 0, text: 'timestamp,temperature\n', header: 'timestamp,temperature' });
    const csv = join(n.dataDir, 'experiments', id, 'output', 'experiment_data.csv');
    const stream = follow(`${base}/api/v3/stream`);
    const run = await stream.until((e) => e.event === 'run.updated');
    expect(data(run).experiment).toMatchObject({ experiment_id: id, status: 'running' });
    // The first burst: the current state of every component the node has, then safety and the run.
    const first = stream.events.slice(0, stream.events.indexOf(run) + 1);
    const states = (await n.app.inject({ method: 'GET', url: '/api/v3/state' })).json() as {
      components: Record<string, unknown>;
    };
    const components = first.filter((e) => e.event.startsWith('component.')).map((e) => data(e).component);
    expect(new Set(components)).toEqual(new Set(Object.keys(states.components)));
    expect(components.every((c) => (COMPONENT_NAMES as readonly unknown[]).includes(c))).toBe(true);
    for (const e of first.filter((e) => e.event.startsWith('component.'))) {
      expect(typeof data(e).at_ms).toBe('number');
      expect(data(e).at_ms as number).toBeLessThanOrEqual(Date.now());
    }
    expect(first.some((e) => e.event === 'safety')).toBe(true);
    expect(first.every((e) => /^\d+-\d+$/.test(e.id ?? ''))).toBe(true);

    // A fresh connection starts at the file's current end: the header written before it is not pushed again.
    appendFileSync(csv, '2026-01-25T20:35:11.103915,37.5\n');
    const appendedAt = Date.now();
    const pushed = await stream.until(rowsOf('experiment_data.csv'), 5000);
    expect(Date.now() - appendedAt).toBeLessThan(1500);
    expect(data(pushed)).toMatchObject({
      experiment_id: id,
      file: 'experiment_data.csv',
      offset: Buffer.byteLength('timestamp,temperature\n'),
      text: '2026-01-25T20:35:11.103915,37.5\n',
      header: 'timestamp,temperature',
    });
    expect(data(pushed).next_offset).toBe(
      Buffer.byteLength('timestamp,temperature\n2026-01-25T20:35:11.103915,37.5\n'),
    );
    expect(Math.abs((data(pushed).at_ms as number) - Date.now())).toBeLessThan(5000);

    // Half a line is not pushed until its end is written.
    appendFileSync(csv, '2026-01-25T20:35:12.0,');
    appendFileSync(csv, '38.5\n');
    const second = await stream.until((e) => rowsOf('experiment_data.csv')(e) && e !== pushed, 5000);
    expect(data(second).text).toBe('2026-01-25T20:35:12.0,38.5\n');

    // Samples carry the node's wall clock.
    const sample = await stream.until((e) => e.event === 'component.sample' && stream.events.indexOf(e) > first.length);
    expect(Math.abs((data(sample).at_ms as number) - Date.now())).toBeLessThan(10_000);

    writeFileSync(join(n.dataDir, 'experiments', id, 'output', 'stop'), '');
    const ended = await stream.until(
      (e) =>
        e.event === 'run.updated' &&
        data(e).experiment !== undefined &&
        (data(e).experiment as { status: string }).status === 'completed',
    );
    expect(ended).toBeDefined();
  });

  it('never reads a CSV that is a link or a FIFO, nor one the script swaps for a link while it runs', async () => {
    const { n, base } = await node();
    const marker = `CANARY-${randomBytes(8).toString('hex')}`;
    const secret = join(n.dataDir, 'host-secret.csv');
    writeFileSync(secret, `timestamp,secret\n2026-01-01T00:00:00,${marker}\n`);
    const stream = follow(`${base}/api/v3/stream`);
    await stream.until((e) => e.event === 'safety');
    const { id } = await startRun(
      n,
      waitingScript(
        { 'good.csv': 'timestamp,od\n2026-01-01T00:00:00,0.5\n' },
        `os.symlink(${JSON.stringify(secret)}, os.path.join(out, "evil.csv"))\nos.mkfifo(os.path.join(out, "pipe.csv"))`,
      ),
      { experiment_id: 'hostile-rows' },
    );
    const good = await stream.until(rowsOf('good.csv'));
    expect(data(good)).toMatchObject({ offset: 0, text: 'timestamp,od\n2026-01-01T00:00:00,0.5\n' });

    // The script swaps its own CSV for a link to the host file, which then grows: nothing of it is read.
    const output = join(n.dataDir, 'experiments', id, 'output');
    unlinkSync(join(output, 'good.csv'));
    symlinkSync(secret, join(output, 'good.csv'));
    appendFileSync(secret, `2026-01-01T00:00:01,${marker}\n`);
    // The series route reads what the watcher has after one more look at every file it follows.
    const series = await n.app.inject({ method: 'GET', url: `/api/experiments/${id}/series?file=good.csv` });
    expect(series.statusCode).toBe(200);
    expect(series.json()).toMatchObject({ total_rows: 1, columns: ['od'] });
    for (const file of ['evil.csv', 'pipe.csv']) {
      const res = await n.app.inject({ method: 'GET', url: `/api/experiments/${id}/series?file=${file}` });
      expect(res.statusCode, res.body).toBe(404);
      expect(res.json().code).toBe('FILE_NOT_FOUND');
    }
    const bad = await n.app.inject({ method: 'GET', url: `/api/experiments/${id}/series?file=../status.json` });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('VALIDATION_FAILED');

    writeFileSync(join(output, 'stop'), '');
    await runToEnd(n, id);
    await stream.until(
      (e) =>
        e.event === 'run.updated' &&
        (data(e).experiment as { status: string }).status !== 'running' &&
        (data(e).experiment as { experiment_id: string }).experiment_id === id &&
        (data(e).experiment as { status: string }).status === 'completed',
    );
    const rows = stream.events.filter((e) => e.event === 'run.rows');
    expect(rows.map((e) => data(e).file)).toEqual(['good.csv']);
    expect(stream.events.some((e) => e.data.includes(marker))).toBe(false);
  });

  it('a follower that sends its Last-Event-ID (header or ?last_event_id=) gets exactly the events it missed', async () => {
    const { n, base } = await node();
    const witness = follow(`${base}/api/v3/stream`);
    const early = follow(`${base}/api/v3/stream`);
    await early.until((e) => e.event === 'safety');
    await post(n, 32);
    const seen = await early.until((e) => e.event === 'component.changed' && stateOf(e) === 32);
    early.close();
    const lastId = seen.id as string;

    for (const duty of [41, 42, 43]) await post(n, duty);
    const last = await witness.until((e) => e.event === 'component.changed' && stateOf(e) === 43);
    const missed = witness.events.slice(
      witness.events.findIndex((e) => e.id === lastId) + 1,
      witness.events.indexOf(last) + 1,
    );
    expect(missed.filter((e) => e.event === 'component.changed').map(stateOf)).toEqual([41, 42, 43]);

    for (const resumed of [
      follow(`${base}/api/v3/stream`, { 'last-event-id': lastId }),
      follow(`${base}/api/v3/stream?last_event_id=${encodeURIComponent(lastId)}`),
      // The header wins over the query (a browser's own reconnection sends its newest id there).
      follow(`${base}/api/v3/stream?last_event_id=1-1`, { 'last-event-id': lastId }),
    ]) {
      await resumed.until((e) => e.id === last.id);
      const got = resumed.events.slice(0, resumed.events.findIndex((e) => e.id === last.id) + 1);
      expect(got).toEqual(missed);
      resumed.close();
    }

    // An id this node cannot resume from (another process, or gone from the ring): the current state again.
    const fresh = follow(`${base}/api/v3/stream`, { 'last-event-id': '1-5' });
    await fresh.until((e) => e.event === 'safety');
    const stirrer = fresh.events.find((e) => e.event === 'component.changed' && data(e).component === 'stirrer');
    expect(stirrer && data(stirrer)).toMatchObject({ source: 'current', state: { duty_cycle: 43 } });
  });
});

async function post(n: TestNode, duty: number): Promise<void> {
  const res = await n.app.inject({ method: 'POST', url: '/api/v3/stirrer/control', payload: { duty_cycle: duty } });
  expect(res.statusCode, res.body).toBe(200);
}
function stateOf(e: ParsedEvent): unknown {
  const body = data(e) as { component: string; state: { duty_cycle?: number } };
  return body.component === 'stirrer' ? body.state.duty_cycle : undefined;
}

/** The V8 collector, so that heap use is measured without garbage (exposed at run time, as --expose-gc would). */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

describe('GET /api/experiments/:id/series', () => {
  it('charts a million rows in at most `points` points, a single spike visible, with bounded memory', async () => {
    const { n } = await node();
    const { id } = await startRun(n, 'print("done")', { experiment_id: 'long-run' });
    await runToEnd(n, id);
    const path = join(n.dataDir, 'experiments', id, 'output', 'experiment_data.csv');
    const rows = 1_000_000;
    const spikeAt = 654_321;
    const start = Date.UTC(2026, 0, 25, 20, 0, 0);
    await new Promise<void>((resolve, reject) => {
      const out = createWriteStream(path);
      out.on('error', reject);
      out.write('timestamp,co2_ppm,temperature,od_voltages,peltier_direction\n');
      let i = 0;
      const more = () => {
        while (i < rows) {
          let chunk = '';
          for (let k = 0; k < 10_000 && i < rows; k++, i++) {
            const t = new Date(start + i * 1000).toISOString().slice(0, -1);
            const temp = i === spikeAt ? 99.5 : 25 + (i % 100) / 100;
            chunk += `${t},${400 + (i % 7)},${temp},"[0.1,0.2]",forward\n`;
          }
          if (!out.write(chunk)) return void out.once('drain', more);
        }
        out.end(resolve);
      };
      more();
    });
    const gc = collector();
    gc();
    const before = process.memoryUsage().heapUsed;
    const res = await n.app.inject({ method: 'GET', url: `/api/experiments/${id}/series?points=1000` });
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
    const body = res.json() as {
      total_rows: number;
      bucket_rows: number;
      columns: string[];
      points: (number | null)[][];
    };
    expect(body.total_rows).toBe(rows);
    expect(body.columns).toEqual(['co2_ppm', 'temperature']);
    expect(body.points.length).toBeLessThanOrEqual(2 * 1000);
    expect(body.points.length).toBeGreaterThan(500);
    expect(body.bucket_rows * (body.points.length / 2)).toBeGreaterThanOrEqual(rows);
    const temps = body.points.map((p) => p[2]);
    expect(Math.max(...(temps as number[]))).toBe(99.5);
    expect(Math.min(...(temps as number[]))).toBe(25);
    // Time: ms since the epoch, the CSV's times without an offset read as UTC.
    expect(body.points[0]?.[0]).toBe(start);
    expect(body.points.at(-1)?.[0]).toBe(start + (rows - 1) * 1000);
    expect(grown).toBeLessThan(64 * 1024 * 1024);

    const few = (await n.app.inject({ method: 'GET', url: `/api/experiments/${id}/series?points=10` })).json();
    expect(few.points.length).toBeLessThanOrEqual(10);
    expect(Math.max(...few.points.map((p: number[]) => p[2]))).toBe(99.5);
    expect((await n.app.inject({ method: 'GET', url: `/api/experiments/${id}/series?points=5` })).statusCode).toBe(400);
    expect((await n.app.inject({ method: 'GET', url: '/api/experiments/no-such-run/series' })).statusCode).toBe(404);
  });

  it('follows the running run as it writes', async () => {
    const { n, base } = await node();
    const stream = follow(`${base}/api/v3/stream`);
    await stream.until((e) => e.event === 'safety');
    const { id } = await startRun(n, waitingScript({ 'experiment_data.csv': 'timestamp,temperature,note\n' }), {
      experiment_id: 'growing',
    });
    // The script has written its header (and the watcher read it).
    await stream.until(rowsOf('experiment_data.csv'));
    const csv = join(n.dataDir, 'experiments', id, 'output', 'experiment_data.csv');
    const series = async () =>
      (await n.app.inject({ method: 'GET', url: `/api/experiments/${id}/series` })).json() as {
        total_rows: number;
        columns: string[];
        points: (number | null)[][];
      };
    appendFileSync(csv, '2026-01-25T20:35:11+01:00,37.5,warming\n2026-01-25T20:35:12+01:00,37.75,\n');
    expect(await series()).toMatchObject({
      total_rows: 2,
      columns: ['temperature'],
      points: [
        [Date.UTC(2026, 0, 25, 19, 35, 11), 37.5],
        [Date.UTC(2026, 0, 25, 19, 35, 11), 37.5],
        [Date.UTC(2026, 0, 25, 19, 35, 12), 37.75],
        [Date.UTC(2026, 0, 25, 19, 35, 12), 37.75],
      ],
    });
    appendFileSync(csv, '2026-01-25T20:35:13+01:00,41,\n');
    expect((await series()).total_rows).toBe(3);
    writeFileSync(join(n.dataDir, 'experiments', id, 'output', 'stop'), '');
    await runToEnd(n, id);
    // After the end: the same summary, from the cache.
    expect(await series()).toMatchObject({ total_rows: 3 });
  });
});
