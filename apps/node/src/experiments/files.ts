// Small file helpers of the experiment lifecycle: the capped live log, reading a tail, reading from an offset.
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

  /** Opens the log afresh: a re-attached run replays its whole output from the engine, so nothing is doubled. */
  static async open(path: string, capBytes: number): Promise<CappedLog> {
    return new CappedLog(await open(path, 'w', 0o644), capBytes);
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

  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
    await this.handle.sync().catch(() => undefined);
    await this.handle.close();
  }
}

/** The last `maxBytes` of a file as text ('' when it does not exist). */
export async function readTail(path: string, maxBytes: number): Promise<string> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch {
    return '';
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, maxBytes);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return buffer.toString('utf8');
  } finally {
    await handle.close();
  }
}

/** The last `lines` lines of a file. */
export async function readLastLines(path: string, lines: number): Promise<string> {
  // Reads backwards in growing windows so a huge log costs only what is shown.
  let window = 64 * 1024;
  for (;;) {
    const text = await readTail(path, window);
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
