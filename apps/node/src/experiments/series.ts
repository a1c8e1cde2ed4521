// A run's CSV as a chart: the whole file downsampled to min/max per bucket, so that a run of millions of rows is drawn
// from a few thousand points and a single spike stays visible. The summary has a fixed number of buckets that merge
// pairwise as it fills, so its memory is bounded whatever the file's length; it is fed incrementally (the running
// run's files, by csv-watch.ts) or by one streaming pass over a finished file (cached, keyed by its size and mtime).
import type { FileHandle } from 'node:fs/promises';
import type { ExperimentStore } from './store.js';

/** Buckets a summary keeps at most; full, neighbours merge pairwise (so each bucket covers twice the rows). */
export const MAX_BUCKETS = 4096;
/** Columns charted at most (a hostile header of a million columns must not cost a million times the memory). */
export const MAX_COLUMNS = 64;
/** A line longer than this is not a row (it is counted, not parsed). */
const MAX_LINE_CHARS = 64 * 1024;
/** Bytes read at a time by the streaming pass over a finished file. */
const READ_CHUNK = 1024 * 1024;
/** Finished files whose summaries are kept. */
const CACHE_ENTRIES = 8;

/** Header names taken as the time of a row, in order of preference (the guide's CSV has `timestamp`). */
const TIME_COLUMNS = ['timestamp', 'time', 'datetime', 'date'];

const HAS_OFFSET = /(?:[zZ]|[+-]\d\d(?::?\d\d)?)$/;
const HAS_TIME = /\d[T ]\d/;

/**
 * Milliseconds since the epoch of an ISO 8601 time, NaN when it is not one. A time without an offset (the guide's
 * `2026-01-25T20:35:11.103915`) is UTC, not the node's local time, so that every reader draws it at the same place.
 */
export function parseTimestamp(text: string): number {
  let s = text.trim();
  if (s === '') return Number.NaN;
  if (HAS_TIME.test(s)) {
    s = s.replace(' ', 'T');
    if (!HAS_OFFSET.test(s)) s += 'Z';
  }
  return Date.parse(s);
}

/** The cells of one CSV line (RFC 4180 quotes: `"a,b"` is one cell, `""` inside quotes is a quote). */
export function splitCsvLine(line: string): string[] {
  if (!line.includes('"')) return line.split(',');
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"') {
        if (line[i + 1] === '"') {
          cell += '"';
          i += 1;
        } else quoted = false;
      } else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      cells.push(cell);
      cell = '';
    } else cell += c;
  }
  cells.push(cell);
  return cells;
}

/** A cell as a number: finite values only; empty cells, lists, words, NaN and Infinity are null. */
function numeric(cell: string | undefined): number {
  if (cell === undefined || cell.trim() === '') return Number.NaN;
  const value = Number(cell);
  return Number.isFinite(value) ? value : Number.NaN;
}

/** `GET /api/v3/experiments/:id/series`: the body (besides experiment_id and file). */
export interface SeriesPoints {
  total_rows: number;
  /** Rows each returned bucket covers (the last one may cover fewer). */
  bucket_rows: number;
  /** The numeric columns, in the file's order (the time column excluded). */
  columns: string[];
  /** Two points per bucket: `[t_first_ms, ...min per column]` then `[t_last_ms, ...max per column]`. */
  points: (number | null)[][];
}

/**
 * The min/max summary of one CSV file, fed with its text in order (any chunking: a line split between two chunks is
 * joined). The first line is the header.
 */
export class SeriesSummary {
  /** The header line as written (without its line break), null until it has come. */
  header: string | null = null;
  totalRows = 0;
  private names: string[] = [];
  private timeIndex = -1;
  /** For each charted column, its cell index in a row. */
  private cellIndex: number[] = [];
  /** Whether any finite value was seen in a column: only those are "numeric columns". */
  private seen: boolean[] = [];
  private carry = '';
  private carryOverflow = false;
  private bucketRows = 1;
  private count = 0;
  private readonly rows = new Float64Array(MAX_BUCKETS);
  private readonly tFirst = new Float64Array(MAX_BUCKETS);
  private readonly tLast = new Float64Array(MAX_BUCKETS);
  private mins = new Float64Array(0);
  private maxs = new Float64Array(0);

  /** Feeds text that follows what came before; an unterminated last line waits for the rest. */
  push(text: string): void {
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      this.line(this.take(text.slice(start, nl)));
      start = nl + 1;
    }
    const rest = text.slice(start);
    if (this.carry.length + rest.length > MAX_LINE_CHARS) {
      this.carryOverflow = true;
      this.carry = '';
    } else this.carry += rest;
  }

  /** The file is complete: an unterminated last line is a row too. */
  end(): void {
    if (this.carry !== '' || this.carryOverflow) this.line(this.take(''));
  }

  private take(tail: string): string | null {
    const overflow = this.carryOverflow || this.carry.length + tail.length > MAX_LINE_CHARS;
    const whole = overflow ? null : this.carry + tail;
    this.carry = '';
    this.carryOverflow = false;
    return whole;
  }

  private line(raw: string | null): void {
    if (raw === null) {
      // Too long to be a row of a chart; a header that long leaves the file without columns.
      if (this.header === null) this.header = '';
      else this.totalRows += 1;
      return;
    }
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (this.header === null) {
      this.setHeader(line.startsWith('\ufeff') ? line.slice(1) : line);
      return;
    }
    if (line === '') return;
    this.totalRows += 1;
    this.add(splitCsvLine(line));
  }

  private setHeader(line: string): void {
    this.header = line;
    const names = line === '' ? [] : splitCsvLine(line).map((n) => n.trim());
    const lower = names.map((n) => n.toLowerCase());
    for (const wanted of TIME_COLUMNS) {
      this.timeIndex = lower.indexOf(wanted);
      if (this.timeIndex >= 0) break;
    }
    names.forEach((name, i) => {
      if (i !== this.timeIndex && this.cellIndex.length < MAX_COLUMNS) {
        this.names.push(name);
        this.cellIndex.push(i);
      }
    });
    this.seen = this.names.map(() => false);
    this.mins = new Float64Array(MAX_BUCKETS * this.names.length);
    this.maxs = new Float64Array(MAX_BUCKETS * this.names.length);
  }

  private add(cells: string[]): void {
    const width = this.names.length;
    if (this.count === 0 || (this.rows[this.count - 1] as number) >= this.bucketRows) {
      if (this.count === MAX_BUCKETS) this.mergePairs();
      const b = this.count++;
      this.rows[b] = 0;
      this.tFirst[b] = Number.NaN;
      this.tLast[b] = Number.NaN;
      this.mins.fill(Number.NaN, b * width, (b + 1) * width);
      this.maxs.fill(Number.NaN, b * width, (b + 1) * width);
    }
    const b = this.count - 1;
    this.rows[b] = (this.rows[b] as number) + 1;
    if (this.timeIndex >= 0) {
      const t = parseTimestamp(cells[this.timeIndex] ?? '');
      if (!Number.isNaN(t)) {
        if (Number.isNaN(this.tFirst[b] as number)) this.tFirst[b] = t;
        this.tLast[b] = t;
      }
    }
    const base = b * width;
    for (let c = 0; c < width; c++) {
      const v = numeric(cells[this.cellIndex[c] as number]);
      if (Number.isNaN(v)) continue;
      this.seen[c] = true;
      const min = this.mins[base + c] as number;
      const max = this.maxs[base + c] as number;
      if (Number.isNaN(min) || v < min) this.mins[base + c] = v;
      if (Number.isNaN(max) || v > max) this.maxs[base + c] = v;
    }
  }

  /** Halves the buckets: each pair becomes one covering both. */
  private mergePairs(): void {
    const width = this.names.length;
    const { rows, tFirst, tLast, mins, maxs } = this;
    const half = Math.floor(this.count / 2);
    for (let to = 0; to < half; to++) {
      const a = 2 * to;
      const b = a + 1;
      rows[to] = (rows[a] as number) + (rows[b] as number);
      tFirst[to] = Number.isNaN(tFirst[a] as number) ? (tFirst[b] as number) : (tFirst[a] as number);
      tLast[to] = Number.isNaN(tLast[b] as number) ? (tLast[a] as number) : (tLast[b] as number);
      for (let c = 0; c < width; c++) {
        const minA = mins[a * width + c] as number;
        const minB = mins[b * width + c] as number;
        const maxA = maxs[a * width + c] as number;
        const maxB = maxs[b * width + c] as number;
        mins[to * width + c] = Number.isNaN(minA) || minB < minA ? minB : minA;
        maxs[to * width + c] = Number.isNaN(maxA) || maxB > maxA ? maxB : maxA;
      }
    }
    this.count = half;
    this.bucketRows *= 2;
  }

  /**
   * At most `points` points (two per bucket): neighbouring buckets are merged further when the summary has more
   * than `points / 2`. Columns without a single finite value are left out.
   */
  render(points: number): SeriesPoints {
    const width = this.names.length;
    const wanted = Math.max(1, Math.floor(points / 2));
    const group = Math.max(1, Math.ceil(this.count / wanted));
    const keep = this.seen.flatMap((seen, c) => (seen ? [c] : []));
    const out: (number | null)[][] = [];
    const value = (v: number) => (Number.isNaN(v) ? null : v);
    for (let start = 0; start < this.count; start += group) {
      const end = Math.min(this.count, start + group);
      let tFirst = Number.NaN;
      let tLast = Number.NaN;
      const mins = keep.map(() => Number.NaN);
      const maxs = keep.map(() => Number.NaN);
      for (let b = start; b < end; b++) {
        if (Number.isNaN(tFirst)) tFirst = this.tFirst[b] as number;
        if (!Number.isNaN(this.tLast[b] as number)) tLast = this.tLast[b] as number;
        keep.forEach((c, k) => {
          const min = this.mins[b * width + c] as number;
          const max = this.maxs[b * width + c] as number;
          if (!Number.isNaN(min) && (Number.isNaN(mins[k] as number) || min < (mins[k] as number))) mins[k] = min;
          if (!Number.isNaN(max) && (Number.isNaN(maxs[k] as number) || max > (maxs[k] as number))) maxs[k] = max;
        });
      }
      out.push([value(tFirst), ...mins.map(value)], [value(tLast), ...maxs.map(value)]);
    }
    return {
      total_rows: this.totalRows,
      bucket_rows: this.bucketRows * group,
      columns: keep.map((c) => this.names[c] as string),
      points: out,
    };
  }
}

/** One streaming pass over an open file, from its start to `size` bytes. */
export async function summarizeHandle(handle: FileHandle, size: number): Promise<SeriesSummary> {
  const summary = new SeriesSummary();
  const decoder = new TextDecoder('utf-8');
  const buffer = Buffer.alloc(Math.min(READ_CHUNK, Math.max(1, size)));
  let position = 0;
  while (position < size) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - position), position);
    if (bytesRead === 0) break;
    position += bytesRead;
    summary.push(decoder.decode(buffer.subarray(0, bytesRead), { stream: true }));
  }
  summary.push(decoder.decode());
  summary.end();
  return summary;
}

/** Where the running run's summaries come from (csv-watch.ts): null when that file is not followed. */
export interface LiveSummaries {
  liveSummary(id: string, file: string): Promise<SeriesSummary | null>;
}

interface Cached {
  size: number;
  mtimeMs: number;
  summary: SeriesSummary;
}

/** Summaries of finished files, the most recently used kept, each valid while the file's size and mtime are. */
export class SeriesCache {
  private readonly entries = new Map<string, Cached>();
  private readonly pending = new Map<string, Promise<SeriesSummary>>();

  constructor(
    private readonly store: ExperimentStore,
    private readonly live?: LiveSummaries,
  ) {}

  /**
   * The file's summary: the live one while the run writes it, else from the cache or one pass. Throws the store's
   * VALIDATION_FAILED for a bad name and FILE_NOT_FOUND when there is no such regular file.
   */
  async summary(id: string, file: string): Promise<SeriesSummary> {
    const live = await this.live?.liveSummary(id, file);
    if (live) return live;
    const handle = await this.store.openOutputFile(id, file);
    let closeHandle = true;
    try {
      const { size, mtimeMs } = await handle.stat();
      const key = `${id}\0${file}`;
      const cached = this.entries.get(key);
      if (cached && cached.size === size && cached.mtimeMs === mtimeMs) {
        this.entries.delete(key);
        this.entries.set(key, cached);
        return cached.summary;
      }
      const running = this.pending.get(`${key}\0${size}\0${mtimeMs}`);
      if (running !== undefined) return await running;
      closeHandle = false;
      const pass = summarizeHandle(handle, size).finally(() => {
        this.pending.delete(`${key}\0${size}\0${mtimeMs}`);
        void handle.close().catch(() => undefined);
      });
      this.pending.set(`${key}\0${size}\0${mtimeMs}`, pass);
      const summary = await pass;
      this.put(id, file, { size, mtimeMs, summary });
      return summary;
    } finally {
      if (closeHandle) await handle.close().catch(() => undefined);
    }
  }

  /** Keeps a summary that is known to cover the file as it is (a run's live summary at its end). */
  put(id: string, file: string, entry: Cached): void {
    const key = `${id}\0${file}`;
    this.entries.delete(key);
    this.entries.set(key, entry);
    while (this.entries.size > CACHE_ENTRIES) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /** Forgets a run's summaries (it was deleted). */
  forget(id: string): void {
    for (const key of [...this.entries.keys()]) if (key.startsWith(`${id}\0`)) this.entries.delete(key);
  }
}
