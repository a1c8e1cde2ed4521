// The experiment chart's CSV cache: each poll reads only the bytes after the last one, memory stays bounded over a
// long run, and a file rewritten from the start is charted afresh.
import { ApiError } from '@bioreactor/api';
import { describe, expect, it } from 'vitest';
import { ExperimentSeriesCache, type ReadCsv } from '../src/live/series.js';

const HEADER = 'timestamp,co2_ppm,temperature\n';
const row = (i: number) =>
  `${new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString().replace('Z', '')},${400 + i},${37 + (i % 10) / 10}\n`;

/** A growing CSV served as the node does: whole lines from an offset, at most `chunk` bytes, 400 past the end. */
function csvFile(chunk = 4096) {
  const file = { text: HEADER, offsets: [] as number[] };
  const read: ReadCsv = async (offset) => {
    file.offsets.push(offset);
    const bytes = Buffer.from(file.text);
    if (offset > bytes.length) throw new ApiError('VALIDATION_FAILED', `offset ${offset} is past the end`);
    let end = Math.min(bytes.length, offset + chunk);
    if (end < bytes.length) end = bytes.lastIndexOf(0x0a, end - 1) + 1;
    return { bytes: bytes.subarray(offset, end), nextOffset: end };
  };
  return { file, read };
}

describe('experiment series cache', () => {
  it('reads only what was appended since the last poll', async () => {
    const cache = new ExperimentSeriesCache();
    const { file, read } = csvFile();
    for (let i = 0; i < 500; i++) file.text += row(i);
    const first = await cache.read('exp-1', 'experiment_data.csv', 100, read);
    expect(first.total_rows).toBe(500);
    expect(first.rows).toHaveLength(100);
    expect(first.rows.at(-1)?.co2_ppm).toBe(899);

    const size = Buffer.byteLength(file.text);
    file.offsets.length = 0;
    for (let i = 500; i < 510; i++) file.text += row(i);
    const second = await cache.read('exp-1', 'experiment_data.csv', 100, read);
    expect(file.offsets[0]).toBe(size);
    expect(second.total_rows).toBe(510);
    expect(second.rows.at(-1)?.co2_ppm).toBe(909);
  });

  it('keeps an evenly spaced sample of a long run in bounded memory, from its first row to its newest', async () => {
    const cache = new ExperimentSeriesCache({ keptPoints: 50 });
    const { file, read } = csvFile(1 << 20);
    for (let i = 0; i < 20_000; i++) file.text += row(i);
    const chart = await cache.read('long', 'experiment_data.csv', 40, read);
    expect(chart.total_rows).toBe(20_000);
    expect(chart.rows).toHaveLength(40);
    const values = chart.rows.map((r) => Number(r.co2_ppm) - 400);
    expect(values.at(-1)).toBe(19_999);
    expect(values[0]).toBeLessThan(1000);
    // Evenly spaced: no gap is more than twice another.
    const gaps = values.slice(1).map((v, i) => v - (values[i] ?? 0));
    expect(Math.max(...gaps)).toBeLessThanOrEqual(2 * Math.min(...gaps));
  });

  it('charts a file afresh when it was rewritten shorter', async () => {
    const cache = new ExperimentSeriesCache();
    const { file, read } = csvFile();
    for (let i = 0; i < 300; i++) file.text += row(i);
    expect((await cache.read('rewrite', 'experiment_data.csv', 100, read)).total_rows).toBe(300);
    file.text = HEADER + row(0) + row(1);
    const chart = await cache.read('rewrite', 'experiment_data.csv', 100, read);
    expect(chart.total_rows).toBe(2);
    expect(chart.rows.map((r) => r.co2_ppm)).toEqual([400, 401]);
  });

  it('never counts a row twice when polls overlap', async () => {
    const cache = new ExperimentSeriesCache();
    const { file, read } = csvFile(256);
    for (let i = 0; i < 200; i++) file.text += row(i);
    const charts = await Promise.all([1, 2, 3].map(() => cache.read('busy', 'experiment_data.csv', 1000, read)));
    for (const chart of charts) expect(chart.total_rows).toBe(200);
    expect(new Set(charts[2]?.rows.map((r) => r.co2_ppm)).size).toBe(200);
  });
});
