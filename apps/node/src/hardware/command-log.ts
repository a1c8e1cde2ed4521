// The append-only actuator log: every command (time, source, component, values) as one JSON line under DATA_DIR,
// so it survives a kill -9, with the recent entries indexed in memory for experiment manifests.
import { closeSync, mkdirSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export interface CommandLogEntry {
  time: string;
  /** Who asked: "api", "experiment:<id>", "safety", "startup", "shutdown". */
  source: string;
  component: string;
  values: Record<string, unknown>;
}

const MEMORY_ENTRIES = 20_000;
/** On start, the tail of the file read back into memory. */
const RELOAD_BYTES = 4 * 1024 * 1024;

export class CommandLog {
  private readonly entries: CommandLogEntry[] = [];
  /** Kept open for appending. */
  private fd: number | null = null;
  /** Lines appended in this event-loop turn, written together by one write(2) at its end (a group commit). */
  private pending: string[] = [];
  private flushing: Promise<void> | null = null;
  private readonly listeners = new Set<(entry: CommandLogEntry) => void>();

  constructor(readonly path: string | null) {
    if (!path) return;
    mkdirSync(dirname(path), { recursive: true });
    this.reload(path);
  }

  private reload(path: string): void {
    let size = 0;
    try {
      size = statSync(path).size;
    } catch {
      return;
    }
    const length = Math.min(size, RELOAD_BYTES);
    const fd = openSync(path, 'r');
    try {
      const buf = Buffer.alloc(length);
      readSync(fd, buf, 0, length, size - length);
      const lines = buf.toString('utf8').split('\n');
      if (length < size) lines.shift(); // a partial first line
      for (const line of lines) {
        if (!line.trim()) continue;
        try {
          this.remember(JSON.parse(line) as CommandLogEntry);
        } catch {
          // A line torn by a crash mid-write is skipped; the file stays append-only.
        }
      }
    } finally {
      closeSync(fd);
    }
  }

  private remember(entry: CommandLogEntry): void {
    this.entries.push(entry);
    // Trimmed in batches, so an append costs O(1) on average rather than a shift of the whole window.
    if (this.entries.length >= MEMORY_ENTRIES * 1.25) this.entries.splice(0, this.entries.length - MEMORY_ENTRIES);
  }

  /** Calls `listener` with every entry appended from now on (a run's own log); returns the unsubscribe. */
  subscribe(listener: (entry: CommandLogEntry) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  append(entry: CommandLogEntry): void {
    this.remember(entry);
    for (const listener of this.listeners) listener(entry);
    if (!this.path) return;
    this.pending.push(`${JSON.stringify(entry)}\n`);
    if (this.flushing !== null) return;
    const flushing = new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        try {
          this.flush();
          resolve();
        } catch (err) {
          reject(err);
        }
      });
    });
    // A failed write reaches whoever awaits written(); nobody awaiting it must not crash the node.
    flushing.catch(() => undefined);
    this.flushing = flushing;
  }

  /**
   * Resolves once every entry appended so far is in the file (the page cache: it survives a kill -9). A control
   * request is answered only after this, so what it did is on record; concurrent commands share one write.
   */
  written(): Promise<void> {
    return this.flushing ?? Promise.resolve();
  }

  private flush(): void {
    this.flushing = null;
    if (this.pending.length === 0 || !this.path) return;
    const text = this.pending.join('');
    this.pending = [];
    this.fd ??= openSync(this.path, 'a');
    writeSync(this.fd, text);
  }

  /** Writes what is pending and releases the file; a later append opens it again. */
  close(): void {
    this.flush();
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }

  /** Entries at or after `sinceIso` (all kept in memory when omitted). */
  since(sinceIso?: string): CommandLogEntry[] {
    if (!sinceIso) return [...this.entries];
    const since = Date.parse(sinceIso);
    if (Number.isNaN(since)) return [...this.entries];
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (Date.parse(this.entries[mid]?.time ?? '') < since) lo = mid + 1;
      else hi = mid;
    }
    return this.entries.slice(lo);
  }
}
