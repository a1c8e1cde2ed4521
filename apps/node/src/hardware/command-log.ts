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
  /** Kept open for appending: each command is one write(2), in the page cache before the request is answered. */
  private fd: number | null = null;

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

  append(entry: CommandLogEntry): void {
    if (this.path) {
      this.fd ??= openSync(this.path, 'a');
      writeSync(this.fd, `${JSON.stringify(entry)}\n`);
    }
    this.remember(entry);
  }

  /** Releases the file; a later append opens it again. */
  close(): void {
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
