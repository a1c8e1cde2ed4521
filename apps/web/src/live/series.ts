// The experiment page's chart of a CSV: each file is read once, and every later poll fetches only the bytes after
// the last read, so a chart refreshed every few seconds costs the new rows, not the whole file. The rows kept are an
// evenly spaced sample of the whole run in bounded memory: when they reach twice `keptPoints`, every other one is
// dropped and only every second new row is kept from then on. At most 16 files of at most 4,000 rows: a few MB.
import type { LiveSample } from '@bioreactor/api';
import { ApiError } from '@bioreactor/api';
import { CsvFollower, downsample } from './csv.js';

export interface CsvChunk {
  bytes: Buffer;
  nextOffset: number;
}

/** Reads the file from a byte offset (whole lines only); throws VALIDATION_FAILED when the offset is past its end. */
export type ReadCsv = (offset: number) => Promise<CsvChunk>;

export interface SeriesCacheOptions {
  /** Rows kept per file: between this and twice this, evenly spaced over the run. */
  keptPoints?: number;
  /** Files followed at once; the least recently charted is dropped first. */
  maxFiles?: number;
  /** Bytes read for one poll at most; the next poll continues where this one stopped. */
  bytesPerRead?: number;
}

class DecimatedSeries {
  private rows: LiveSample[] = [];
  private stride = 1;
  private seen = 0;
  private last: LiveSample | undefined;
  constructor(private readonly kept: number) {}

  push(sample: LiveSample): void {
    this.last = sample;
    if (this.seen++ % this.stride === 0) this.rows.push(sample);
    if (this.rows.length >= 2 * this.kept) {
      this.rows = this.rows.filter((_, i) => i % 2 === 0);
      this.stride *= 2;
    }
  }

  /** At most `points` samples over the whole run, ending with the newest. */
  view(points: number): LiveSample[] {
    const rows = this.last && this.rows.at(-1) !== this.last ? [...this.rows, this.last] : this.rows;
    return downsample(rows, points);
  }
}

interface FollowedFile {
  follower: CsvFollower;
  series: DecimatedSeries;
  offset: number;
  /** One read at a time per file, so two polls never parse the same bytes twice. */
  reading: Promise<unknown>;
}

export class ExperimentSeriesCache {
  private readonly files = new Map<string, FollowedFile>();
  private readonly kept: number;
  private readonly maxFiles: number;
  private readonly bytesPerRead: number;

  constructor(opts: SeriesCacheOptions = {}) {
    this.kept = opts.keptPoints ?? 2000;
    this.maxFiles = opts.maxFiles ?? 16;
    this.bytesPerRead = opts.bytesPerRead ?? 64 * 1024 * 1024;
  }

  /** The state of a file read from its start. */
  private fresh(experimentId: string): Omit<FollowedFile, 'reading'> {
    return { follower: new CsvFollower(experimentId), series: new DecimatedSeries(this.kept), offset: 0 };
  }

  private entry(experimentId: string, file: string): FollowedFile {
    const key = `${experimentId}\u0000${file}`;
    let entry = this.files.get(key);
    if (entry) {
      // Most recently used last, so the first key is the one to drop.
      this.files.delete(key);
    } else {
      entry = { ...this.fresh(experimentId), reading: Promise.resolve() };
      if (this.files.size >= this.maxFiles) this.files.delete(this.files.keys().next().value as string);
    }
    this.files.set(key, entry);
    return entry;
  }

  /** New rows since the last call for this file, then the chart: `rows` of at most `points`, and the row count. */
  async read(
    experimentId: string,
    file: string,
    points: number,
    readCsv: ReadCsv,
  ): Promise<{ total_rows: number; rows: LiveSample[] }> {
    const entry = this.entry(experimentId, file);
    const done = entry.reading.then(() => this.catchUp(experimentId, entry, readCsv));
    entry.reading = done.catch(() => undefined);
    await done;
    return { total_rows: entry.follower.rows, rows: entry.series.view(points) };
  }

  private async catchUp(experimentId: string, entry: FollowedFile, readCsv: ReadCsv): Promise<void> {
    const budgetEnd = entry.offset + this.bytesPerRead;
    while (entry.offset < budgetEnd) {
      let chunk: CsvChunk;
      try {
        chunk = await readCsv(entry.offset);
      } catch (err) {
        // The file shrank (rewritten from the start): chart it afresh.
        if (err instanceof ApiError && err.code === 'VALIDATION_FAILED' && entry.offset > 0) {
          Object.assign(entry, this.fresh(experimentId));
          continue;
        }
        throw err;
      }
      if (chunk.bytes.length === 0 || chunk.nextOffset <= entry.offset) break;
      for (const sample of entry.follower.push(chunk.bytes)) entry.series.push(sample);
      entry.offset = chunk.nextOffset;
    }
  }
}
