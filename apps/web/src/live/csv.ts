// Incremental CSV reading: bytes arrive in chunks (split anywhere, even inside a UTF-8 character or a quoted
// field), complete records come out, and each record becomes a LiveSample.
import type { LiveSample } from '@bioreactor/api';

/** RFC 4180 records from a byte stream fed piece by piece; nothing is ever re-read. */
export class CsvRecordReader {
  private readonly decoder = new TextDecoder('utf-8');
  private field = '';
  private record: string[] = [];
  private inQuotes = false;
  /** A quote seen inside a quoted field: either the end of the field or the first half of `""`. */
  private quotePending = false;
  private lastWasCr = false;

  push(bytes: Uint8Array): string[][] {
    return this.consume(this.decoder.decode(bytes, { stream: true }));
  }

  private consume(text: string): string[][] {
    const out: string[][] = [];
    for (const ch of text) {
      if (this.quotePending) {
        this.quotePending = false;
        if (ch === '"') {
          this.field += '"';
          continue;
        }
        this.inQuotes = false;
      }
      if (this.inQuotes) {
        if (ch === '"') this.quotePending = true;
        else this.field += ch;
        continue;
      }
      if (ch === '\n' && this.lastWasCr) {
        this.lastWasCr = false;
        continue;
      }
      this.lastWasCr = ch === '\r';
      if (ch === '"' && this.field === '') this.inQuotes = true;
      else if (ch === ',') {
        this.record.push(this.field);
        this.field = '';
      } else if (ch === '\n' || ch === '\r') {
        this.record.push(this.field);
        this.field = '';
        const done = this.record;
        this.record = [];
        if (!(done.length === 1 && done[0] === '')) out.push(done);
      } else this.field += ch;
    }
    return out;
  }
}

const NUMERIC = ['co2_ppm', 'temperature', 'stirrer_duty', 'peltier_duty'] as const;
const LISTS: Record<string, 'od_voltages' | 'eyespy_voltages'> = {
  od_voltages: 'od_voltages',
  eyespy_voltages: 'eyespy_voltages',
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

/** One CSV record as a LiveSample; extra numeric columns a script adds are kept under their own names. */
export function rowToSample(header: string[], row: string[], experimentId: string | null): LiveSample | undefined {
  const cell = (name: string) => {
    const i = header.indexOf(name);
    return i < 0 ? undefined : row[i];
  };
  const ts = cell('timestamp') ?? '';
  const epoch = timestampMs(ts);
  if (epoch === null) return undefined;
  const sample: LiveSample = {
    timestamp: ts.trim(),
    epoch_ms: epoch,
    status: 'success',
    source: 'csv',
    experiment_id: experimentId,
  };
  for (const key of NUMERIC) if (header.includes(key)) sample[key] = toNumber(cell(key));
  for (const [column, key] of Object.entries(LISTS)) {
    if (header.includes(column) && sample[key] === undefined) sample[key] = toList(cell(column));
  }
  const direction = cell('peltier_direction');
  if (direction !== undefined) sample.peltier_direction = direction.trim() === '' ? null : direction.trim();
  header.forEach((name, i) => {
    if (name === 'timestamp' || name in sample || name in LISTS || name === 'peltier_direction') return;
    const value = toNumber(row[i]);
    if (value !== null && /^[a-z][a-z0-9_]{0,40}$/i.test(name)) (sample as Record<string, unknown>)[name] = value;
  });
  return sample;
}

/** Follows one CSV file: feed it the bytes after the last offset, get the new samples. */
export class CsvFollower {
  private readonly reader = new CsvRecordReader();
  private header: string[] | undefined;
  rows = 0;

  constructor(readonly experimentId: string | null) {}

  push(bytes: Uint8Array): LiveSample[] {
    const out: LiveSample[] = [];
    for (const record of this.reader.push(bytes)) {
      if (!this.header) {
        this.header = record.map((h) => h.trim());
        continue;
      }
      const sample = rowToSample(this.header, record, this.experimentId);
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
