// The whole-run chart of a long experiment: the node's min/max summary (apps/node/src/experiments/series.ts) of a CSV
// of millions of rows, built in one pass as for a finished run, then fed row by row as for a running one. The figures
// are the pass's time, the memory it takes at its peak (bounded by its 4,096 buckets and its 1 MiB reads, not by the
// rows), and a render's cost.
import { createWriteStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SeriesSummary, summarizeHandle } from '../../apps/node/src/experiments/series.js';
import type { Profile } from './profile.js';
import type { Report } from './report.js';
import { msSince, summarize } from './stats.js';
import { tempDir } from './system.js';

const HEADER = 'timestamp,co2_ppm,temperature,od_voltages,stirrer_duty,peltier_duty\n';
/** The one row whose temperature is far out of range: the chart must still show it after downsampling. */
const SPIKE_TEMPERATURE = 99.5;

function row(i: number, start: number, spikeAt: number): string {
  const ts = new Date(start + i * 1000).toISOString();
  const temperature = i === spikeAt ? SPIKE_TEMPERATURE : 37 + (i % 10) / 10;
  return `${ts},${600 + (i % 50)},${temperature.toFixed(1)},"[0.12,0.15]",40,12\n`;
}

async function writeCsv(path: string, rows: number, start: number, spikeAt: number): Promise<void> {
  const out = createWriteStream(path);
  out.write(HEADER);
  let batch = '';
  for (let i = 0; i < rows; i++) {
    batch += row(i, start, spikeAt);
    if (batch.length > 1 << 20) {
      if (!out.write(batch)) await new Promise<void>((r) => out.once('drain', () => r()));
      batch = '';
    }
  }
  out.write(batch);
  await new Promise<void>((r, j) => out.end((err?: Error | null) => (err ? j(err) : r())));
}

export async function benchSeries(report: Report, profile: Profile): Promise<void> {
  const rows = profile.seriesRows;
  const dir = tempDir('bioreactor-bench-series-');
  const path = join(dir, 'experiment_data.csv');
  const section = `Whole-run chart of a ${rows.toLocaleString('en')}-row CSV (node min/max summary)`;
  const start = Date.UTC(2026, 0, 1);
  const spikeAt = Math.floor(rows * 0.61);
  try {
    await writeCsv(path, rows, start, spikeAt);
    report.add(section, 'CSV size', (await stat(path)).size / (1024 * 1024), 'MiB');

    const rssBefore = process.resourceUsage().maxRSS / 1024;
    const t0 = process.hrtime.bigint();
    const handle = await open(path, 'r');
    let summary: SeriesSummary;
    try {
      summary = await summarizeHandle(handle, (await handle.stat()).size);
    } finally {
      await handle.close();
    }
    const passMs = msSince(t0);
    report.add(section, 'first request for a finished run: one pass over the file', passMs, 'ms');
    // Peak RSS only grows: this is what the pass itself added at its worst, whatever the file's size.
    report.add(section, 'peak RSS growth during the pass', process.resourceUsage().maxRSS / 1024 - rssBefore, 'MiB');
    if (summary.totalRows !== rows) throw new Error(`summarised ${summary.totalRows} rows of ${rows}`);

    const renders: number[] = [];
    let rendered = summary.render(1000);
    for (let i = 0; i < 50; i++) {
      const t = process.hrtime.bigint();
      rendered = summary.render(1000);
      JSON.stringify(rendered);
      renders.push(msSince(t));
    }
    const r = summarize(renders);
    report.add(section, 'series request served from the summary (1,000 points, serialised): p50', r.p50, 'ms');
    const temperature = rendered.columns.indexOf('temperature') + 1;
    const highest = Math.max(...rendered.points.map((p) => (p[temperature] as number | null) ?? -Infinity));
    if (highest !== SPIKE_TEMPERATURE) throw new Error(`the one-row spike is lost: highest ${highest}`);
    report.add(section, 'points returned for 1,000 asked (the one-row spike kept)', rendered.points.length, 'points');

    // A running run: each new line the CSV watch reads is pushed into the live summary.
    const live = new SeriesSummary();
    live.push(HEADER);
    const t1 = process.hrtime.bigint();
    const chunk = 1000;
    for (let i = 0; i < rows; i += chunk) {
      let text = '';
      for (let k = i; k < Math.min(rows, i + chunk); k++) text += row(k, start, spikeAt);
      live.push(text);
    }
    const perRowUs = (msSince(t1) * 1000) / rows;
    report.add(section, 'live summary: cost per row written (incl. making the row text)', perRowUs, 'µs');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
