// Small file helpers of the experiment lifecycle: the capped live log, reading a tail, reading from an offset.
import { constants as fs } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';

/** Appends a run's combined output to output/container_logs.txt as it arrives, up to a cap. */
export class CappedLog {
  private written = 0;
  private truncated = false;
  private queue: Promise<void> = Promise.resolve();

  private constructor(
    private readonly handle: FileHandle,
    private readonly capBytes: number,
  ) {}

  /**
   * Opens the log afresh: a re-attached run replays its whole output from the engine, so nothing is doubled. The
   * path is in the node's own part of the run's folder; O_NOFOLLOW still refuses a link there.
   */
  static async open(path: string, capBytes: number): Promise<CappedLog> {
    const flags = fs.O_WRONLY | fs.O_CREAT | fs.O_TRUNC | fs.O_NOFOLLOW;
    return new CappedLog(await open(path, flags, 0o644), capBytes);
  }

  write(chunk: Buffer): Promise<void> {
    this.queue = this.queue.then(async () => {
      if (this.truncated) return;
      const room = this.capBytes - this.written;
      if (chunk.length <= room) {
        await this.handle.write(chunk);
        this.written += chunk.length;
        return;
      }
      if (room > 0) await this.handle.write(chunk.subarray(0, room));
      this.written = this.capBytes;
      this.truncated = true;
      await this.handle.write(
        `\n[bioreactor: the log reached its limit of ${this.capBytes} bytes; later output was dropped]\n`,
      );
    });
    return this.queue;
  }

  private closing: Promise<void> | undefined;

  /** Flushes and closes; safe to call more than once. */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    await this.queue.catch(() => undefined);
    await this.handle.sync().catch(() => undefined);
    await this.handle.close();
  }
}

/** The last `maxBytes` of an open file as text ('' for none). */
export async function readTail(handle: FileHandle | null, maxBytes: number): Promise<string> {
  if (!handle) return '';
  const { size } = await handle.stat();
  const length = Math.min(size, maxBytes);
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, size - length);
  return buffer.subarray(0, bytesRead).toString('utf8');
}

/** The last `lines` lines of an open file ('' for none). */
export async function readLastLines(handle: FileHandle | null, lines: number): Promise<string> {
  // Reads backwards in growing windows so a huge log costs only what is shown.
  let window = 64 * 1024;
  for (;;) {
    const text = await readTail(handle, window);
    const parts = text.split('\n');
    const complete = text.length < window;
    // A trailing newline leaves an empty last part that is not a line.
    const wanted = text.endsWith('\n') ? lines + 1 : lines;
    if (parts.length > wanted || complete || window >= 64 * 1024 * 1024) {
      return parts.slice(-wanted).join('\n');
    }
    window *= 4;
  }
}

/**
 * Whole lines from a byte offset: at most `maxBytes`, and never a partial last line, so every chunk a follower
 * gets is a set of complete CSV rows. `next` is where the following read starts.
 */
export async function readLinesFrom(
  handle: FileHandle,
  offset: number,
  maxBytes: number,
): Promise<{ bytes: Buffer; next: number; size: number }> {
  const { size } = await handle.stat();
  if (offset >= size) return { bytes: Buffer.alloc(0), next: offset, size };
  const length = Math.min(size - offset, maxBytes);
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, offset);
  const data = buffer.subarray(0, bytesRead);
  const lastNewline = data.lastIndexOf(0x0a);
  if (lastNewline < 0) {
    // One line longer than maxBytes is returned as it is rather than never.
    return length === maxBytes
      ? { bytes: data, next: offset + data.length, size }
      : { bytes: Buffer.alloc(0), next: offset, size };
  }
  const bytes = data.subarray(0, lastNewline + 1);
  return { bytes, next: offset + bytes.length, size };
}
