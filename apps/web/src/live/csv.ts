// Incremental CSV reading: bytes arrive in chunks (split anywhere, even inside a UTF-8 character or a quoted
// field), complete records come out, and each record becomes a LiveSample.
import { type LiveSample, READING_KEYS, type ReadingKey, readingSpec } from '@bioreactor/api';

/**
 * Largest record kept, in characters: the CSV is written by the experiment script, so a record may be made to be
 * endless (an unclosed quote, a line of a gigabyte). A longer record is dropped whole, and the reader's memory stays
 * bounded by this, whatever the file holds. Real rows of bioreactor_client are under 1 kB.
 */
export const MAX_RECORD_CHARS = 64 * 1024;
/** Most fields of a record kept; a record with more is dropped. */
export const MAX_FIELDS = 1024;
/** Most columns beyond the guide's kept as extra series (each becomes a key of every sample). */
export const MAX_EXTRA_COLUMNS = 32;

/** RFC 4180 records from a byte stream fed piece by piece; nothing is ever re-read. */
export class CsvRecordReader {
  private readonly decoder = new TextDecoder('utf-8');
  private field = '';
  private record: string[] = [];
  /** Characters of the current record so far, and whether it grew past the caps (then it is dropped). */
  private recordChars = 0;
  private oversized = false;
  /** Records dropped for their size. */
  dropped = 0;
  private inQuotes = false;
  /** A quote seen inside a quoted field: either the end of the field or the first half of `""`. */
  private quotePending = false;
  private lastWasCr = false;

  push(bytes: Uint8Array): string[][] {
    return this.consume(this.decoder.decode(bytes, { stream: true }));
  }

  private consume(text: string): string[][] {
    const out: string[][] = [];
    const n = text.length;
    let i = 0;
    while (i < n) {
      if (this.quotePending) {
        this.quotePending = false;
        if (text[i] === '"') {
          this.append('"');
          i++;
          continue;
        }
        this.inQuotes = false;
      }
      if (this.inQuotes) {
        const quote = text.indexOf('"', i);
        if (quote < 0) {
          this.append(text.slice(i));
          break;
        }
        this.append(text.slice(i, quote));
        this.quotePending = true;
        i = quote + 1;
        continue;
      }
      if (this.lastWasCr) {
        this.lastWasCr = false;
        if (text[i] === '\n') {
          i++;
          continue;
        }
      }
      // Copy a run of ordinary characters at once: per-character concatenation is what makes CSV parsers slow.
      let j = i;
      while (j < n) {
        const c = text.charCodeAt(j);
        if (c === 44 || c === 10 || c === 13 || c === 34) break;
        j++;
      }
      this.append(text.slice(i, j));
      if (j >= n) break;
      const ch = text[j];
      i = j + 1;
      if (ch === '"') {
        if (this.field === '' && !this.oversized) this.inQuotes = true;
        else this.append('"');
      } else if (ch === ',') {
        this.endField();
      } else {
        this.endField();
        const done = this.record;
        const dropped = this.oversized;
        this.record = [];
        this.recordChars = 0;
        this.oversized = false;
        if (dropped) this.dropped++;
        else if (!(done.length === 1 && done[0] === '')) out.push(done);
        this.lastWasCr = ch === '\r';
      }
    }
    return out;
  }

  private append(text: string): void {
    if (this.oversized) return;
    this.recordChars += text.length;
    if (this.recordChars > MAX_RECORD_CHARS) this.drop();
    else this.field += text;
  }

  private endField(): void {
    if (!this.oversized && this.record.length >= MAX_FIELDS) this.drop();
    if (!this.oversized) this.record.push(this.field);
    this.field = '';
  }

  /** Forgets the record being read; its end (a line break outside quotes) is still looked for. */
  private drop(): void {
    this.oversized = true;
    this.field = '';
    this.record = [];
  }
}

/** The guide's columns by kind (readings.ts), and the v2-era scripts' name for the OD channels. */
const GUIDE = READING_KEYS.filter((k) => readingSpec(k).guide);
const NUMERIC = GUIDE.filter((k) => readingSpec(k).kind === 'number');
const TEXT = GUIDE.filter((k) => readingSpec(k).kind === 'text');
const LISTS: Record<string, ReadingKey> = {
  ...Object.fromEntries(READING_KEYS.filter((k) => readingSpec(k).kind === 'list').map((k) => [k, k])),
  // Columns of v2-era scripts (original-system.md §4.4).
  photodiodes: 'od_voltages',
};

function toNumber(text: string | undefined): number | null {
  if (text === undefined) return null;
  const t = text.trim();
  if (t === '' || /^(none|null|nan)$/i.test(t)) return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : null;
}

/** A list written as JSON (`[0.12,0.15]`) or as Python's repr (`[0.12, None]`). */
function toList(text: string | undefined): (number | null)[] {
  if (!text || text.trim() === '') return [];
  const jsonish = text.replace(/\bNone\b|\bnan\b|\bNaN\b/g, 'null').replace(/'/g, '"');
  try {
    const parsed: unknown = JSON.parse(jsonish);
    if (Array.isArray(parsed)) return parsed.map((v) => (typeof v === 'number' && Number.isFinite(v) ? v : null));
  } catch {
    // Fall through: a single number where a list was expected.
  }
  const single = toNumber(text);
  return single === null ? [] : [single];
}

/** Milliseconds since the epoch; a timestamp without an offset is UTC (experiment containers run in UTC). */
export function timestampMs(text: string): number | null {
  const t = text.trim();
  if (t === '') return null;
  const hasZone = /(Z|[+-]\d{2}:?\d{2})$/i.test(t);
  const ms = Date.parse(hasZone ? t : `${t.replace(' ', 'T')}Z`);
  return Number.isFinite(ms) ? ms : null;
}

/** Where each known column sits in a header, worked out once per file rather than once per row. */
export interface CsvColumns {
  timestamp: number;
  numeric: [key: ReadingKey, index: number][];
  /** Lists: the guide's (an empty cell is an empty list) and the other list readings (pump_volumes_ml, …). */
  lists: [key: ReadingKey, index: number][];
  text: [key: ReadingKey, index: number][];
  extra: [name: string, index: number][];
}

export function columnsOf(header: string[]): CsvColumns {
  const known = new Set<string>(['timestamp', ...NUMERIC, ...TEXT, ...Object.keys(LISTS)]);
  const lists: CsvColumns['lists'] = [];
  for (const [column, key] of Object.entries(LISTS)) {
    const index = header.indexOf(column);
    if (index >= 0 && !lists.some(([k]) => k === key)) lists.push([key, index]);
  }
  const at = (keys: ReadingKey[]) =>
    keys.map((key) => [key, header.indexOf(key)] as [ReadingKey, number]).filter(([, i]) => i >= 0);
  return {
    timestamp: header.indexOf('timestamp'),
    numeric: at(NUMERIC),
    lists,
    text: at(TEXT),
    // Any other numeric column a script adds (o2_percent, ring_light_r, its own) is kept under its own name.
    extra: header
      .map((name, i) => [name, i] as [string, number])
      .filter(([name]) => !known.has(name) && /^[a-z][a-z0-9_]{0,40}$/i.test(name))
      .slice(0, MAX_EXTRA_COLUMNS),
  };
}

/** One CSV record as a LiveSample; extra numeric columns a script adds are kept under their own names. */
export function sampleFrom(columns: CsvColumns, row: string[], experimentId: string | null): LiveSample | undefined {
  const ts = (row[columns.timestamp] ?? '').trim();
  const epoch = timestampMs(ts);
  if (epoch === null) return undefined;
  const sample: LiveSample = {
    timestamp: ts,
    epoch_ms: epoch,
    status: 'success',
    source: 'csv',
    experiment_id: experimentId,
  };
  const into = sample as Record<string, unknown>;
  for (const [key, i] of columns.numeric) into[key] = toNumber(row[i]);
  for (const [key, i] of columns.lists) into[key] = toList(row[i]);
  for (const [key, i] of columns.text) {
    const text = (row[i] ?? '').trim();
    into[key] = text === '' ? null : text;
  }
  for (const [name, i] of columns.extra) {
    const value = toNumber(row[i]);
    if (value !== null) (sample as Record<string, unknown>)[name] = value;
  }
  return sample;
}

export function rowToSample(header: string[], row: string[], experimentId: string | null): LiveSample | undefined {
  return sampleFrom(columnsOf(header.map((h) => h.trim())), row, experimentId);
}

/** Follows one CSV file: feed it the bytes after the last offset, get the new samples. */
export class CsvFollower {
  private readonly reader = new CsvRecordReader();
  private columns: CsvColumns | undefined;
  rows = 0;

  constructor(readonly experimentId: string | null) {}

  push(bytes: Uint8Array): LiveSample[] {
    const out: LiveSample[] = [];
    for (const record of this.reader.push(bytes)) {
      if (!this.columns) {
        this.columns = columnsOf(record.map((h) => h.trim()));
        continue;
      }
      const sample = sampleFrom(this.columns, record, this.experimentId);
      if (sample) {
        this.rows++;
        out.push(sample);
      }
    }
    return out;
  }
}

/** At most `max` points spread evenly over the run, always ending with the newest one. */
export function downsample<T>(points: readonly T[], max: number): T[] {
  if (points.length <= max) return points.slice();
  const out: T[] = [];
  const step = points.length / max;
  for (let i = 1; i <= max; i++) {
    const point = points[Math.min(points.length - 1, Math.round(i * step) - 1)];
    if (point !== undefined) out.push(point);
  }
  return out;
}
