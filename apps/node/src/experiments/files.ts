// Small file helpers of the experiment lifecycle: reading a tail, reading whole lines from an offset.
import type { FileHandle } from 'node:fs/promises';

/** The last `maxBytes` of an open file as text ('' for none). */
export async function readTail(handle: FileHandle | null, maxBytes: number): Promise<string> {
  if (!handle) return '';
  const { size } = await handle.stat();
  const length = Math.min(size, maxBytes);
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, size - length);
  return buffer.subarray(0, bytesRead).toString('utf8');
}

/** The last `lines` lines of `text` (a final newline does not count as a line of its own). */
export function lastLines(text: string, lines: number): string {
  const parts = text.split('\n');
  return parts.slice(-(text.endsWith('\n') ? lines + 1 : lines)).join('\n');
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
