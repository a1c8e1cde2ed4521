// A run's captured stdout and stderr, bounded for runs of weeks: the first half of BIOREACTOR_EXPERIMENT_LOG_LIMIT
// is kept as it came (container_logs.txt), the last half in a ring file that always holds the newest output (the
// traceback of a run that fails after gigabytes of output), and what fell between is counted and marked. Nothing is
// rewritten or duplicated across a node restart: the state (bytes kept, ring position, the engine's timestamp of the
// last chunk) is saved after each chunk, a re-attached run resumes from it and skips what the engine replays.
// At the run's end the marker and the ring are appended to container_logs.txt, which then reads head, marker, tail.
import { constants as fs } from 'node:fs';
import { type FileHandle, open, readFile, rm } from 'node:fs/promises';

/** One piece of a run's output; `time` is the engine's timestamp of it (RFC 3339, nanoseconds), when it has one. */
export interface OutputChunk {
  data: Buffer;
  time?: string;
  /** Which of the script's streams it came from, when the runner tells them apart. */
  stream?: 'stdout' | 'stderr';
}

/** Bytes of the newest stderr kept aside, so a traceback survives even when stdout ran far ahead of it. */
const STDERR_TAIL_BYTES = 64 * 1024;

/** What is saved after each chunk (container_logs.state.json), so a restart resumes exactly. */
interface LogState {
  head_bytes: number;
  /** Bytes ever written to the ring; its content is the last min(ring_bytes, capacity) of them. */
  ring_bytes: number;
  /** Bytes of output ever received (kept or dropped). */
  total_bytes: number;
  last_time: string | null;
}

/**
 * How many leading bytes of `gap` (the engine's log from a little before the node stopped reading) the node kept
 * already: the longest end of `kept` that `gap` begins with, or -1 when `gap` does not begin inside `kept` (nothing
 * to go by: the caller falls back on times). The engine's log is in lines stamped by the engine and the node's
 * capture in chunks stamped on arrival, so times alone cannot tell exactly where one ends and the other goes on.
 */
export function alreadyKept(kept: Buffer, gap: Buffer): number {
  if (gap.length === 0) return 0;
  if (kept.length === 0) return -1;
  const first = gap[0] as number;
  // The leftmost start whose rest of `kept` the gap begins with is the longest overlap; a rest longer than the gap
  // cannot be one, so the search starts where the rest is as long as the gap.
  for (let from = kept.indexOf(first, Math.max(0, kept.length - gap.length)); from >= 0; ) {
    const rest = kept.subarray(from);
    if (gap.subarray(0, rest.length).equals(rest)) return rest.length;
    from = kept.indexOf(first, from + 1);
  }
  return -1;
}

/** The state file is written in place at one fixed size, never renamed, so it costs one write per chunk. */
const STATE_SIZE = 512;

export const TAIL_SUFFIX = '.tail';
export const STATE_SUFFIX = '.state.json';

/** Nanoseconds since the epoch of an RFC 3339 time with up to 9 fractional digits (Docker's RFC3339Nano). */
export function timeNs(time: string): bigint | null {
  const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(time);
  if (!match) return null;
  const seconds = Date.parse(`${match[1]}${match[3]}`);
  if (Number.isNaN(seconds)) return null;
  return BigInt(seconds) * 1_000_000n + BigInt((match[2] ?? '').padEnd(9, '0'));
}

function marker(dropped: number, headBytes: number, tailBytes: number): string {
  return `\n[bioreactor: ${dropped} bytes of output were dropped here; the log keeps the first ${headBytes} and the last ${tailBytes} bytes (BIOREACTOR_EXPERIMENT_LOG_LIMIT)]\n`;
}

export class RunLog {
  private queue: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined;
  /**
   * The engine time up to which output was kept before this node opened the log (a re-attach): what the engine
   * replays up to it is skipped. Later chunks are never skipped by time, since stdout and stderr are stamped by
   * separate readers and may arrive slightly out of time order.
   */
  private readonly resumeAfter: bigint | null;
  /**
   * The newest stderr output. The engine copies stdout and stderr separately, and a stdout far ahead of stderr (a
   * flood of prints, then a traceback) can put the traceback among the dropped bytes; the end then adds it back.
   */
  private stderrTail: Buffer[] = [];
  private stderrTailBytes = 0;
  private readonly headCap: number;
  private readonly ringCap: number;

  private constructor(
    private readonly path: string,
    capBytes: number,
    private readonly head: FileHandle,
    private readonly ring: FileHandle,
    private readonly stateFile: FileHandle,
    private readonly state: LogState,
    /** Called with each chunk kept, and its offset in the run's whole output (for live followers). */
    private readonly onChunk?: (text: string, offset: number) => void,
  ) {
    this.headCap = Math.floor(capBytes / 2);
    this.ringCap = Math.max(1, capBytes - this.headCap);
    this.resumeAfter = state.last_time === null ? null : timeNs(state.last_time);
  }

  /**
   * Opens the log of a run, resuming where a previous node left it (or starting it). The files are in the node's
   * part of the run's folder; O_NOFOLLOW still refuses a link there.
   */
  static async open(path: string, capBytes: number, onChunk?: (text: string, offset: number) => void): Promise<RunLog> {
    const flags = fs.O_RDWR | fs.O_CREAT | fs.O_NOFOLLOW;
    const state = (await readState(path)) ?? {
      head_bytes: 0,
      ring_bytes: 0,
      total_bytes: 0,
      last_time: null,
    };
    const head = await open(path, flags, 0o644);
    // A chunk written after the last saved state is dropped here and comes again from the engine's replay.
    const { size } = await head.stat();
    if (size > state.head_bytes) await head.truncate(state.head_bytes);
    if (size < state.head_bytes) state.head_bytes = size;
    const ring = await open(`${path}${TAIL_SUFFIX}`, flags, 0o644);
    const stateFile = await open(`${path}${STATE_SUFFIX}`, flags, 0o644);
    return new RunLog(path, capBytes, head, ring, stateFile, state, onChunk);
  }

  /** The engine's timestamp of the last chunk kept: a re-attach asks for output after it only. */
  get lastTime(): string | null {
    return this.state.last_time;
  }

  /** The newest output the script wrote to stderr (at most 64 kB), where Python prints its traceback. */
  stderrText(): string {
    return Buffer.concat(this.stderrTail).toString('utf8');
  }

  write(chunk: OutputChunk): Promise<void> {
    this.queue = this.queue.then(() => this.writeNow(chunk));
    return this.queue;
  }

  private async writeNow({ data, time, stream }: OutputChunk): Promise<void> {
    const at = time === undefined ? null : timeNs(time);
    // Output the engine replays after a restart, already kept before it.
    if (at !== null && this.resumeAfter !== null && at <= this.resumeAfter) return;
    const offset = this.state.total_bytes;
    let rest = data;
    const room = this.headCap - this.state.head_bytes;
    if (room > 0) {
      const part = rest.subarray(0, room);
      await this.head.write(part, 0, part.length, this.state.head_bytes);
      this.state.head_bytes += part.length;
      rest = rest.subarray(part.length);
    }
    // Only the last ringCap bytes of a chunk can survive in the ring.
    if (rest.length > this.ringCap) {
      this.state.ring_bytes += rest.length - this.ringCap;
      rest = rest.subarray(rest.length - this.ringCap);
    }
    while (rest.length > 0) {
      const at = this.state.ring_bytes % this.ringCap;
      const part = rest.subarray(0, this.ringCap - at);
      await this.ring.write(part, 0, part.length, at);
      this.state.ring_bytes += part.length;
      rest = rest.subarray(part.length);
    }
    this.state.total_bytes += data.length;
    const last = this.state.last_time === null ? null : timeNs(this.state.last_time);
    if (time !== undefined && at !== null && (last === null || at > last)) this.state.last_time = time;
    await this.saveState();
    if (stream === 'stderr') {
      this.stderrTail.push(data);
      this.stderrTailBytes += data.length;
      while (this.stderrTailBytes - (this.stderrTail[0]?.length ?? 0) >= STDERR_TAIL_BYTES) {
        this.stderrTailBytes -= this.stderrTail.shift()?.length ?? 0;
      }
    }
    this.onChunk?.(data.toString('utf8'), offset);
  }

  private async saveState(): Promise<void> {
    const text = JSON.stringify(this.state);
    await this.stateFile.write(Buffer.from(text.padEnd(STATE_SIZE, ' ')), 0, STATE_SIZE, 0);
  }

  /**
   * Ends the log: the marker and the ring are appended to container_logs.txt and the ring and state files removed,
   * so the file reads head, marker, tail. `final` false (the node shuts down, the run goes on) keeps them to resume.
   */
  close(final: boolean): Promise<void> {
    this.closing ??= (async () => {
      await this.queue.catch(() => undefined);
      if (!final) {
        // The node stops reading now: the engine's log bridges what comes after. Marked by this moment rather than
        // by the last chunk, since the engine stamps an entry a little after an attached reader got it.
        this.state.last_time = new Date().toISOString();
        await this.saveState().catch(() => undefined);
      }
      if (final) {
        let tail = await this.logicalTail();
        const stderr = Buffer.concat(this.stderrTail);
        // The end of stderr, when the kept head and tail do not have it (it fell among the dropped bytes).
        const probe = stderr.subarray(Math.max(0, stderr.length - 1024));
        if (probe.length > 0 && this.state.total_bytes > this.state.head_bytes && !tail.includes(probe)) {
          const note = `\n[bioreactor: the last ${stderr.length} bytes the script wrote to stderr, which fell among the dropped output]\n`;
          tail = Buffer.concat([tail, Buffer.from(note), stderr]);
        }
        await this.head.write(tail, 0, tail.length, this.state.head_bytes);
        await this.head.sync().catch(() => undefined);
      }
      await Promise.all([this.head.close(), this.ring.close(), this.stateFile.close()]);
      if (final) {
        await rm(`${this.path}${TAIL_SUFFIX}`, { force: true });
        await rm(`${this.path}${STATE_SUFFIX}`, { force: true });
      }
    })();
    return this.closing;
  }

  private async logicalTail(): Promise<Buffer> {
    return tailAfterHead(this.ring, this.state, this.headCap, this.ringCap);
  }
}

/** The engine's timestamp of the last chunk a run's log kept (null: none, or the run has ended). */
export async function lastLogTime(path: string): Promise<string | null> {
  return (await readState(path))?.last_time ?? null;
}

async function readState(path: string): Promise<LogState | null> {
  try {
    const text = await readFile(`${path}${STATE_SUFFIX}`, 'utf8');
    const state = JSON.parse(text.trim()) as LogState;
    return typeof state.head_bytes === 'number' ? state : null;
  } catch {
    return null;
  }
}

/** The marker (if anything was dropped) and the ring's content in order: what follows the head. */
async function tailAfterHead(ring: FileHandle, state: LogState, headCap: number, ringCap: number): Promise<Buffer> {
  const kept = Math.min(state.ring_bytes, ringCap);
  if (kept === 0) return Buffer.alloc(0);
  const buffer = Buffer.alloc(kept);
  if (state.ring_bytes <= ringCap) await ring.read(buffer, 0, kept, 0);
  else {
    const at = state.ring_bytes % ringCap;
    await ring.read(buffer, 0, ringCap - at, at);
    await ring.read(buffer, ringCap - at, at, 0);
  }
  const dropped = state.total_bytes - state.head_bytes - kept;
  return dropped > 0 ? Buffer.concat([Buffer.from(marker(dropped, headCap, ringCap)), buffer]) : buffer;
}

/**
 * The last `maxBytes` of a run's log as it reads now: the final file of an ended run, or for a live one the head,
 * the marker and the ring. Empty when there is no log. `capBytes` is the run's log limit.
 */
export async function readLogTail(path: string, capBytes: number, maxBytes: number): Promise<Buffer> {
  let head: FileHandle;
  try {
    head = await open(path, fs.O_RDONLY | fs.O_NOFOLLOW);
  } catch {
    return Buffer.alloc(0);
  }
  try {
    const state = await readState(path);
    let after: Buffer = Buffer.alloc(0);
    let headBytes = (await head.stat()).size;
    if (state && state.ring_bytes > 0) {
      const ring = await open(`${path}${TAIL_SUFFIX}`, fs.O_RDONLY | fs.O_NOFOLLOW).catch(() => null);
      if (ring) {
        const headCap = Math.floor(capBytes / 2);
        after = await tailAfterHead(ring, state, headCap, Math.max(1, capBytes - headCap)).finally(() => ring.close());
        headBytes = Math.min(headBytes, state.head_bytes);
      }
    }
    const fromHead = Math.min(headBytes, Math.max(0, maxBytes - after.length));
    const buffer = Buffer.alloc(fromHead);
    await head.read(buffer, 0, fromHead, headBytes - fromHead);
    const all: Buffer = Buffer.concat([buffer, after]);
    return all.subarray(Math.max(0, all.length - maxBytes));
  } finally {
    await head.close();
  }
}
