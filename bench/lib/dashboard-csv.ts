// The dashboard over a long experiment: a CSV of a million rows, each new row read from the last offset and parsed
// (what the node's push and the web server's CsvFollower cost per row), next to re-reading and parsing the whole file
// on each update as the original did.
import { createWriteStream } from 'node:fs';
import { appendFile, open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { LiveSample } from '@bioreactor/api';
import { readLinesFrom } from '../../apps/node/src/experiments/files.js';
import { CsvFollower, downsample } from '../../apps/web/src/live/csv.js';
import { BACKFILL_POINTS, RING_ROWS } from '../../apps/web/src/live/live-hub.js';
import type { Profile } from './profile.js';
import type { Report } from './report.js';
import { msSince, summarize } from './stats.js';
import { tempDir } from './system.js';

const HEADER =
  'timestamp,co2_ppm,temperature,od_voltages,eyespy_voltages,stirrer_duty,peltier_duty,peltier_direction\r\n';
/** What the node's data route returns at most per request. */
const CHUNK = 1024 * 1024;

function row(i: number, start: number): string {
  const ts = new Date(start + i * 1000).toISOString().replace('Z', '');
  const od = (0.1 + (i % 1000) / 10000).toFixed(4);
  return `${ts},${600 + (i % 50)}.0,${(37 + (i % 10) / 10).toFixed(1)},"[${od},0.15,0.18]","[0.5,0.6]",40.0,12.0,forward\r\n`;
}

async function writeCsv(path: string, rows: number, start: number): Promise<void> {
  const out = createWriteStream(path);
  out.write(HEADER);
  let batch = '';
  for (let i = 0; i < rows; i++) {
    batch += row(i, start);
    if (batch.length > 1 << 20) {
      if (!out.write(batch)) await new Promise<void>((r) => out.once('drain', () => r()));
      batch = '';
    }
  }
  out.write(batch);
  await new Promise<void>((r, j) => out.end((err?: Error | null) => (err ? j(err) : r())));
}

export async function benchDashboardCsv(report: Report, profile: Profile): Promise<void> {
  const dir = tempDir('bioreactor-bench-csv-');
  const path = join(dir, 'experiment_data.csv');
  const start = Date.UTC(2026, 0, 1);
  const section = `Dashboard over a ${profile.csvRows.toLocaleString('en')}-row CSV`;
  try {
    await writeCsv(path, profile.csvRows, start);
    const { size } = await stat(path);
    report.add(section, 'CSV size', size / (1024 * 1024), 'MiB');

    // Reaching the end once, as the node's stream does for a run it joins mid-file (it then pushes only new lines).
    const t0 = process.hrtime.bigint();
    const follower = new CsvFollower('bench-experiment');
    let offset = 0;
    const handle = await open(path, 'r');
    try {
      for (;;) {
        const { bytes, next } = await readLinesFrom(handle, offset, CHUNK);
        if (bytes.length === 0) break;
        follower.push(bytes);
        offset = next;
      }
    } finally {
      await handle.close();
    }
    report.add(section, 'parsing the whole file once (CsvFollower)', msSince(t0), 'ms');
    if (follower.rows === 0) throw new Error('the follower produced no rows');

    // A dashboard update: one new row appended, read from the last offset and parsed (what a live.rows costs).
    const updates: number[] = [];
    const ring: LiveSample[] = [];
    for (let i = 0; i < profile.dashboardUpdates; i++) {
      await appendFile(path, row(profile.csvRows + i, start));
      const t = process.hrtime.bigint();
      const h = await open(path, 'r');
      try {
        const { bytes, next } = await readLinesFrom(h, offset, CHUNK);
        offset = next;
        const fresh = follower.push(bytes);
        if (fresh.length !== 1) throw new Error(`expected 1 new row, got ${fresh.length}`);
        ring.push(...fresh);
      } finally {
        await h.close();
      }
      updates.push(msSince(t));
    }
    const u = summarize(updates);
    report.add(section, 'dashboard update (1 new row read and parsed): p50', u.p50, 'ms');
    report.add(section, 'dashboard update: p99', u.p99, 'ms');

    // History backfill for a newly connected dashboard: the live ring of 2,000 rows downsampled to the snapshot's.
    while (ring.length < RING_ROWS) ring.push(...ring.slice(0, RING_ROWS - ring.length));
    const backfills: number[] = [];
    for (let i = 0; i < Math.max(20, profile.dashboardUpdates); i++) {
      const t = process.hrtime.bigint();
      JSON.stringify(downsample(ring, BACKFILL_POINTS));
      backfills.push(msSince(t));
    }
    const b = summarize(backfills);
    report.add(section, 'history backfill for a new client (snapshot): p50', b.p50, 'ms');
    report.add(section, 'history backfill: p99', b.p99, 'ms');

    // The original's way: read and parse the whole file on every update.
    const rereads: number[] = [];
    for (let i = 0; i < profile.wholeFileRereads; i++) {
      const t = process.hrtime.bigint();
      const follower = new CsvFollower('bench-experiment');
      const samples = follower.push(await readFile(path));
      rereads.push(msSince(t));
      if (samples.length < profile.csvRows) throw new Error(`re-read parsed ${samples.length} rows`);
    }
    const r = summarize(rereads);
    report.add(section, 're-reading and parsing the whole file per update: p50', r.p50, 'ms', 'the original’s way');
    report.add(section, 'incremental update speed-up over re-reading', r.p50 / u.p50, '×');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
