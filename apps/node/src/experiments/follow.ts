// Follows a growing file (a run's log or CSV) from a byte offset until the run has ended and every byte is read.
import type { FileHandle } from 'node:fs/promises';
import { readLinesFrom } from './files.js';

export interface FollowOptions {
  /** Opens the file, or null while it does not exist yet. */
  open(): Promise<FileHandle | null>;
  from: number;
  /** Whole lines only (CSV rows), or any bytes (logs). */
  wholeLines: boolean;
  onChunk(text: string, offset: number, next: number): unknown;
  /** True once nothing more will be written (the run is final). */
  isOver(): Promise<boolean>;
  /** The follower stops early when this resolves (the client left). */
  closed: Promise<void>;
  intervalMs?: number;
  maxChunkBytes?: number;
}

/** Resolves when the file is drained after the run's end, or the client left. */
export async function followFile(opts: FollowOptions): Promise<void> {
  let stop = false;
  void opts.closed.then(() => {
    stop = true;
  });
  let offset = opts.from;
  let handle: FileHandle | null = null;
  const interval = opts.intervalMs ?? 200;
  const maxChunk = opts.maxChunkBytes ?? 256 * 1024;
  try {
    while (!stop) {
      // Checked before reading, so the last read after the end sees everything written before it.
      const over = await opts.isOver();
      handle ??= await opts.open();
      let progressed = false;
      if (handle) {
        for (;;) {
          const { bytes, next } = opts.wholeLines
            ? await readLinesFrom(handle, offset, maxChunk)
            : await readRaw(handle, offset, maxChunk);
          if (bytes.length === 0 || stop) break;
          opts.onChunk(bytes.toString('utf8'), offset, next);
          offset = next;
          progressed = true;
        }
      }
      if (over) {
        // A last partial line (no newline at the end of the file) is still data once nothing more will come.
        if (handle && opts.wholeLines) {
          const rest = await readRaw(handle, offset, maxChunk);
          if (rest.bytes.length > 0) opts.onChunk(rest.bytes.toString('utf8'), offset, rest.next);
        }
        return;
      }
      if (!progressed) {
        await Promise.race([new Promise((r) => setTimeout(r, interval)), opts.closed]);
      }
    }
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

async function readRaw(handle: FileHandle, offset: number, maxBytes: number): Promise<{ bytes: Buffer; next: number }> {
  const { size } = await handle.stat();
  if (offset >= size) return { bytes: Buffer.alloc(0), next: offset };
  const length = Math.min(size - offset, maxBytes);
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, offset);
  return { bytes: buffer.subarray(0, bytesRead), next: offset + bytesRead };
}
