// The running run's CSV rows as they are written: one watcher for the whole node (every stream follower shares it),
// started with the run and stopped at its end. A file watch on output/ says when to look, a slow re-check catches
// what a watch can miss (events coalesced or dropped under load, a filesystem without them), and everything is read
// through untrusted-tree.ts: the script may swap a CSV for a link or a FIFO at any moment, and then it is not read.
import { type FSWatcher, watch } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { RunRecord } from '@bioreactor/api';
import { readLinesFrom } from './files.js';
import { type ExperimentManager, isLive } from './manager.js';
import { type LiveSummaries, SeriesSummary } from './series.js';
import { DATA_FILE, type ExperimentStore } from './store.js';
import { checkName, UntrustedDir } from './untrusted-tree.js';

/** Top-level CSV files of output/ followed at most (the guide's experiment_data.csv first). */
export const MAX_WATCHED_FILES = 4;
/** How often output/ is looked at even without a watch event. */
export const RECHECK_MS = 2000;
/** Largest `text` of one run.rows event. */
const CHUNK_BYTES = 64 * 1024;

/** `run.rows`: new whole lines of a CSV file; `offset` 0 means `text` starts with the header. */
export interface RunRows {
  experiment_id: string;
  file: string;
  offset: number;
  next_offset: number;
  text: string;
  /** The file's header line (without its line break), so rows can be read without the file's start. */
  header: string | null;
  /** Node wall clock (ms) when the rows were read. */
  at_ms: number;
}

/** The run's part of ExperimentManager: its state changes and which run is live. */
export type RunSource = Pick<ExperimentManager, 'on' | 'off' | 'activeExperimentId'>;

interface Followed {
  name: string;
  ino: number | null;
  offset: number;
  summary: SeriesSummary;
  /** Read without events up to where it was when first seen (a run re-attached after a node restart). */
  quiet: boolean;
  /** size and mtime at the last read that reached the end, for handing the summary on at the run's end. */
  atEnd: { size: number; mtimeMs: number } | null;
}

interface Watching {
  id: string;
  dir: string;
  files: Map<string, Followed>;
  watcher: FSWatcher | null;
  timer: NodeJS.Timeout;
  /** The first scan reads what is there quietly (re-attached run). */
  resumed: boolean;
  scans: number;
  /** Look for new files on the next scan. */
  list: boolean;
  scanning: Promise<void> | null;
  again: boolean;
  /** The run ended: its last scan is under way or done. */
  ending: boolean;
  stopped: boolean;
}

export interface CsvWatchOptions {
  store: ExperimentStore;
  runs: RunSource;
  onRows(rows: RunRows): void;
  /** A run's summaries at its end, to serve its series without reading the files again. */
  onEnd?(id: string, file: string, entry: { size: number; mtimeMs: number; summary: SeriesSummary }): void;
  recheckMs?: number;
  log?: { warn(obj: object, msg: string): void };
}

export class CsvWatch implements LiveSummaries {
  private current: Watching | null = null;
  private started = false;

  constructor(private readonly opts: CsvWatchOptions) {}

  private readonly onRun = (record: RunRecord) => {
    if (isLive(record.status)) {
      if (this.current?.id !== record.experiment_id) this.follow(record.experiment_id, false);
    } else if (this.current?.id === record.experiment_id) void this.finish(this.current);
  };

  /** Follows the live run now (re-attached at start-up: its files are read from where they are) and every later one. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.opts.runs.on('run', this.onRun);
    const id = this.opts.runs.activeExperimentId();
    if (id) this.follow(id, true);
  }

  async stop(): Promise<void> {
    this.started = false;
    this.opts.runs.off('run', this.onRun);
    const current = this.current;
    if (current) {
      this.close(current);
      await current.scanning?.catch(() => undefined);
    }
  }

  /** The experiment followed now, or null. */
  get experimentId(): string | null {
    return this.current?.id ?? null;
  }

  /** Reads what the run wrote since the last look (the watch may not have said yet) and waits for it. */
  async refresh(): Promise<void> {
    const current = this.current;
    if (!current) return;
    current.list = true;
    await this.scan(current);
    // A scan that was under way when asked may have missed the newest bytes: the one it queued reads them.
    await current.scanning;
  }

  async liveSummary(id: string, file: string): Promise<SeriesSummary | null> {
    const current = this.current;
    if (!current || current.id !== id) return null;
    await this.refresh();
    return current.files.get(file)?.summary ?? null;
  }

  private follow(id: string, resumed: boolean): void {
    if (this.current) this.close(this.current);
    const dir = this.opts.store.outputDir(id);
    const watching: Watching = {
      id,
      dir,
      files: new Map(),
      watcher: null,
      timer: setInterval(() => {
        // A start that failed after it was announced ends without a final state: the watch ends with it.
        if (this.opts.runs.activeExperimentId() !== id) return void this.finish(watching);
        watching.list = true;
        void this.scan(watching);
      }, this.opts.recheckMs ?? RECHECK_MS),
      resumed,
      scans: 0,
      list: true,
      scanning: null,
      again: false,
      ending: false,
      stopped: false,
    };
    watching.timer.unref();
    try {
      watching.watcher = watch(dir, { persistent: false }, (_event, name) => {
        const file = typeof name === 'string' ? name : null;
        if (file === null || !watching.files.has(file)) watching.list = true;
        void this.scan(watching);
      });
      watching.watcher.on('error', () => {
        // output/ was removed or replaced: the re-check goes on alone.
        watching.watcher?.close();
        watching.watcher = null;
      });
    } catch (err) {
      this.opts.log?.warn({ err, experiment_id: id }, 'cannot watch the run output folder; re-checking it every 2 s');
    }
    this.current = watching;
    void this.scan(watching);
  }

  private close(watching: Watching): void {
    watching.stopped = true;
    clearInterval(watching.timer);
    watching.watcher?.close();
    watching.watcher = null;
    if (this.current === watching) this.current = null;
  }

  /** The run ended: its last rows (a last line without a line break too), then nothing more. */
  private async finish(watching: Watching): Promise<void> {
    if (watching.ending) return;
    watching.ending = true;
    clearInterval(watching.timer);
    watching.watcher?.close();
    watching.watcher = null;
    await watching.scanning?.catch(() => undefined);
    watching.list = true;
    await this.scanOnce(watching, true).catch(() => undefined);
    this.close(watching);
    for (const followed of watching.files.values()) {
      if (followed.atEnd)
        this.opts.onEnd?.(watching.id, followed.name, { ...followed.atEnd, summary: followed.summary });
    }
  }

  /** One scan at a time; asks made meanwhile become one more scan after it. */
  private scan(watching: Watching): Promise<void> {
    if (watching.stopped) return Promise.resolve();
    if (watching.scanning !== null) {
      watching.again = true;
      return watching.scanning;
    }
    watching.scanning = (async () => {
      do {
        watching.again = false;
        await this.scanOnce(watching, false).catch((err: unknown) =>
          this.opts.log?.warn({ err, experiment_id: watching.id }, 'reading the run CSV files failed'),
        );
      } while (watching.again && !watching.stopped);
      watching.scanning = null;
    })();
    return watching.scanning;
  }

  private async scanOnce(watching: Watching, final: boolean): Promise<void> {
    let dir: UntrustedDir;
    try {
      dir = await UntrustedDir.open(watching.dir);
    } catch {
      return;
    }
    try {
      const quietNew = watching.resumed && watching.scans === 0;
      watching.scans += 1;
      if (watching.list && watching.files.size < MAX_WATCHED_FILES) {
        watching.list = false;
        const names: string[] = [];
        for (const entry of await dir.entries()) {
          if (!entry.isFile()) continue;
          const checked = checkName(entry.name);
          if ('name' in checked && checked.name.endsWith('.csv') && !watching.files.has(checked.name)) {
            names.push(checked.name);
          }
        }
        // The guide's file first, then the others in name order.
        names.sort((a, b) => (a === DATA_FILE ? -1 : b === DATA_FILE ? 1 : 0));
        for (const name of names.slice(0, MAX_WATCHED_FILES - watching.files.size)) {
          watching.files.set(name, {
            name,
            ino: null,
            offset: 0,
            summary: new SeriesSummary(),
            quiet: quietNew,
            atEnd: null,
          });
        }
      }
      for (const followed of watching.files.values()) {
        if (watching.stopped) return;
        await this.read(watching, dir, followed, final);
      }
    } finally {
      await dir.close();
    }
  }

  private async read(watching: Watching, dir: UntrustedDir, followed: Followed, final: boolean): Promise<void> {
    let handle: FileHandle;
    try {
      // A link, FIFO, device or folder by that name now is not read (and a FIFO never blocks: O_NONBLOCK).
      ({ handle } = await dir.openFile(followed.name));
    } catch {
      return;
    }
    try {
      let info = await handle.stat();
      if (followed.ino !== null && (info.ino !== followed.ino || info.size < followed.offset)) {
        // Replaced or truncated: a new file, from its start (offset 0 tells followers).
        followed.offset = 0;
        followed.summary = new SeriesSummary();
        followed.quiet = false;
      }
      followed.ino = info.ino;
      const quietUpTo = followed.quiet ? info.size : 0;
      for (;;) {
        const { bytes, next, size } = await readLinesFrom(handle, followed.offset, CHUNK_BYTES);
        let chunk = bytes;
        let end = next;
        if (bytes.length === 0 && final && size > followed.offset) {
          // Nothing more will be written: a last line without its line break is a row too.
          chunk = await readRange(handle, followed.offset, Math.min(size, followed.offset + CHUNK_BYTES));
          end = followed.offset + chunk.length;
        }
        if (chunk.length === 0) break;
        const text = chunk.toString('utf8');
        followed.summary.push(text);
        if (final && end >= size && !text.endsWith('\n')) followed.summary.end();
        const offset = followed.offset;
        followed.offset = end;
        if (end > quietUpTo) {
          this.opts.onRows({
            experiment_id: watching.id,
            file: followed.name,
            offset,
            next_offset: end,
            text,
            header: followed.summary.header,
            at_ms: Date.now(),
          });
        }
        if (watching.stopped && !final) return;
      }
      followed.quiet = false;
      info = await handle.stat();
      followed.atEnd = followed.offset === info.size ? { size: info.size, mtimeMs: info.mtimeMs } : null;
    } finally {
      await handle.close().catch(() => undefined);
    }
  }
}

async function readRange(handle: FileHandle, from: number, to: number): Promise<Buffer> {
  const buffer = Buffer.alloc(Math.max(0, to - from));
  const { bytesRead } = await handle.read(buffer, 0, buffer.length, from);
  return buffer.subarray(0, bytesRead);
}
