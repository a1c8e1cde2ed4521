// One sensor's history: a fixed-size ring of samples in memory (24 h at 1 Hz by default), constant memory and no
// allocation per sample, mirrored by a fixed-size ring file under DATA_DIR so it survives a restart or a kill -9.
//
// The file (DATA_DIR/hardware/history/<component>.bin), little-endian:
//   header, 32 bytes: "BRHIST01", u32 version (1), u32 width (channels), u32 capacity (records),
//                     u32 CRC-32 of the channel names, u32 0, u32 CRC-32 of the 28 bytes before it
//   record k at 32 + k·(20 + 4·width): f64 sequence number, f64 time (epoch ms), f32 × width (NaN: null),
//                     u32 CRC-32 of the bytes before it in the record
// The record with sequence number s lives at slot s mod capacity, so the file never grows past its header and
// `capacity` records. Records are written in batches (FLUSH_MS of samples, one write per batch); a record whose
// checksum fails (torn by a power cut mid-write) is skipped. A file that is not this format is set aside.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';

/** Samples are written to the file at most this much sample time after they were taken (the loss at a kill -9). */
export const HISTORY_FLUSH_MS = 5000;
const DAY_MS = 24 * 3600 * 1000;
const MAGIC = Buffer.from('BRHIST01', 'latin1');
const VERSION = 1;
const HEADER_BYTES = 32;
const MAX_WIDTH = 1024;
const MAX_CAPACITY = 50_000_000;
/** Records waiting for their write, at most (a fast sampler fills this before FLUSH_MS passes). */
const MAX_PENDING = 512;

export class SampleHistory {
  private readonly times: Float64Array;
  private readonly values: Float32Array;
  private start = 0;
  private size = 0;

  constructor(
    readonly capacity: number,
    readonly width: number,
  ) {
    this.times = new Float64Array(capacity);
    this.values = new Float32Array(capacity * Math.max(1, width)).fill(Number.NaN);
  }

  get length(): number {
    return this.size;
  }

  /**
   * Adds a sample. The ring stays in time order: a sample older than the newest one kept means the clock stepped
   * back, and the samples stamped after it are dropped.
   */
  push(timeMs: number, values: ArrayLike<number | null>): void {
    if (this.size > 0 && this.timeAt(this.size - 1) > timeMs) this.dropAfter(timeMs);
    const slot = (this.start + this.size) % this.capacity;
    if (this.size === this.capacity) this.start = (this.start + 1) % this.capacity;
    else this.size++;
    this.times[slot] = timeMs;
    for (let i = 0; i < this.width; i++) this.values[slot * this.width + i] = values[i] ?? Number.NaN;
  }

  /** Drops the samples stamped after `timeMs`; answers how many. */
  dropAfter(timeMs: number): number {
    let dropped = 0;
    while (this.size > 0 && this.timeAt(this.size - 1) > timeMs) {
      this.size--;
      dropped++;
    }
    return dropped;
  }

  /** Drops the samples stamped before `timeMs`; answers how many. */
  dropBefore(timeMs: number): number {
    let dropped = 0;
    while (this.size > 0 && this.timeAt(0) < timeMs) {
      this.start = (this.start + 1) % this.capacity;
      this.size--;
      dropped++;
    }
    return dropped;
  }

  private timeAt(k: number): number {
    return this.times[(this.start + k) % this.capacity] ?? 0;
  }

  /** The k-th sample kept, oldest first, as stored (NaN for a missing value). */
  protected sample(k: number): { time: number; values: Float32Array } {
    const slot = (this.start + k) % this.capacity;
    return {
      time: this.times[slot] ?? 0,
      values: this.values.subarray(slot * this.width, (slot + 1) * this.width),
    };
  }

  /** Samples after `sinceMs`, the newest `limit` of them, oldest first. */
  query(sinceMs: number, limit: number): { time: number; values: (number | null)[] }[] {
    const out: { time: number; values: (number | null)[] }[] = [];
    for (let k = this.size - 1; k >= 0 && out.length < limit; k--) {
      const slot = (this.start + k) % this.capacity;
      const time = this.times[slot] ?? 0;
      if (time <= sinceMs) break;
      const values: (number | null)[] = [];
      for (let i = 0; i < this.width; i++) {
        const v = this.values[slot * this.width + i] ?? Number.NaN;
        values.push(Number.isNaN(v) ? null : v);
      }
      out.push({ time, values });
    }
    return out.reverse();
  }

  /** Writes what is waiting and releases the file (a history kept in memory only has nothing to do). */
  close(): void {}
}

export interface HistoryLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface HistoryFileOptions {
  /** The sensor, for the log. */
  name: string;
  path: string;
  /** The channel names: a file written for other channels is not read back. */
  channels: readonly string[];
  /** The node clock's time at start: samples older than 24 h before it, or stamped after it, are not reloaded. */
  now: number;
  log: HistoryLog;
}

interface Header {
  width: number;
  capacity: number;
  channelsCrc: number;
}

const recordBytes = (width: number) => 20 + 4 * width;
const channelsCrc = (channels: readonly string[]) => crc32(channels.join('\n'));

function encodeHeader(h: Header): Buffer {
  const buf = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(buf, 0);
  buf.writeUInt32LE(VERSION, 8);
  buf.writeUInt32LE(h.width, 12);
  buf.writeUInt32LE(h.capacity, 16);
  buf.writeUInt32LE(h.channelsCrc, 20);
  buf.writeUInt32LE(crc32(buf.subarray(0, 28)), 28);
  return buf;
}

/** The header, or why this is not a history file. */
function decodeHeader(buf: Buffer): Header | string {
  if (buf.length < HEADER_BYTES) return `${buf.length} bytes, shorter than the header`;
  if (!buf.subarray(0, 8).equals(MAGIC)) return 'not a history file';
  if (buf.readUInt32LE(28) !== crc32(buf.subarray(0, 28))) return 'the header fails its checksum';
  if (buf.readUInt32LE(8) !== VERSION) return `version ${buf.readUInt32LE(8)}, not ${VERSION}`;
  const header = { width: buf.readUInt32LE(12), capacity: buf.readUInt32LE(16), channelsCrc: buf.readUInt32LE(20) };
  if (header.width < 1 || header.width > MAX_WIDTH || header.capacity < 1 || header.capacity > MAX_CAPACITY)
    return `an impossible layout (${header.width} channels, ${header.capacity} records)`;
  const most = HEADER_BYTES + header.capacity * recordBytes(header.width);
  if (buf.length > most) return `${buf.length} bytes, longer than its ${most}`;
  return header;
}

function encodeRecord(
  buf: Buffer,
  at: number,
  seq: number,
  time: number,
  values: ArrayLike<number | null>,
  width: number,
) {
  buf.writeDoubleLE(seq, at);
  buf.writeDoubleLE(time, at + 8);
  for (let i = 0; i < width; i++) buf.writeFloatLE(values[i] ?? Number.NaN, at + 16 + 4 * i);
  const end = at + 16 + 4 * width;
  buf.writeUInt32LE(crc32(buf.subarray(at, end)), end);
}

/** A history kept in memory and in its ring file; see the top of this file. */
export class PersistedHistory extends SampleHistory {
  private readonly recordBytes: number;
  private fd: number | null = null;
  /** Sequence number of the next record. */
  private nextSeq = 0;
  private readonly pending: Buffer;
  private pendingCount = 0;
  /** The sample time of the last write, or of the start. */
  private flushedAt: number;
  private writeFailing = false;

  constructor(
    capacity: number,
    width: number,
    private readonly opts: HistoryFileOptions,
  ) {
    super(capacity, width);
    this.recordBytes = recordBytes(width);
    this.pending = Buffer.alloc(Math.min(capacity, MAX_PENDING) * this.recordBytes);
    this.flushedAt = opts.now;
    try {
      this.open();
    } catch (err) {
      this.fd = null;
      opts.log.warn(
        { component: opts.name, path: opts.path, err: (err as Error).message },
        `${opts.name} history cannot be kept in ${opts.path} (${(err as Error).message}): it is kept in memory only until the node restarts`,
      );
    }
  }

  private open(): void {
    const { path, name, log } = this.opts;
    mkdirSync(dirname(path), { recursive: true });
    let buf: Buffer | null = null;
    try {
      buf = readFileSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (buf === null) {
      this.rewrite();
      return;
    }
    const header = decodeHeader(buf);
    if (typeof header === 'string') {
      const aside = `${path}.corrupt`;
      try {
        renameSync(path, aside);
      } catch {
        rmSync(path, { force: true });
      }
      log.warn(
        { component: name, path, aside, reason: header },
        `${name} history file ${path} is unreadable (${header}): set aside as ${aside}; the history starts empty`,
      );
      this.rewrite();
      return;
    }
    if (header.channelsCrc !== channelsCrc(this.opts.channels) || header.width !== this.width) {
      log.info({ component: name, path }, `${name} has other channels than its history file: the history starts empty`);
      this.rewrite();
      return;
    }
    const { maxSeq, skipped } = this.replay(buf, header);
    const dropped = this.dropBefore(this.opts.now - DAY_MS);
    const future = this.dropAfter(this.opts.now);
    if (skipped > 1)
      log.warn(
        { component: name, path, skipped },
        `${name} history file: ${skipped} records failed their checksum and were skipped`,
      );
    if (future > 0)
      log.warn(
        { component: name, path, dropped: future },
        `${name} history file has ${future} samples stamped after the clock's time (${new Date(this.opts.now).toISOString()}): the clock stepped back; they are not reloaded`,
      );
    log.info(
      { component: name, path, samples: this.length, older_than_24h: dropped },
      `${name} history: ${this.length} samples reloaded from ${path}`,
    );
    if (header.capacity !== this.capacity) {
      this.rewrite();
      return;
    }
    this.nextSeq = maxSeq + 1;
    this.fd = openSync(path, 'r+');
  }

  /** Pushes the file's valid records in the order they were written; answers the newest sequence number. */
  private replay(buf: Buffer, header: Header): { maxSeq: number; skipped: number } {
    const rb = recordBytes(header.width);
    const slots = Math.min(header.capacity, Math.floor((buf.length - HEADER_BYTES) / rb));
    const torn = (buf.length - HEADER_BYTES) % rb !== 0 ? 1 : 0;
    const seqs = new Float64Array(slots).fill(-1);
    let maxSeq = -1;
    let skipped = torn;
    for (let k = 0; k < slots; k++) {
      const at = HEADER_BYTES + k * rb;
      const end = at + rb - 4;
      const seq = buf.readDoubleLE(at);
      const time = buf.readDoubleLE(at + 8);
      const valid =
        buf.readUInt32LE(end) === crc32(buf.subarray(at, end)) &&
        Number.isSafeInteger(seq) &&
        seq >= 0 &&
        seq % header.capacity === k &&
        Number.isFinite(time);
      if (!valid) {
        if (buf.subarray(at, at + rb).some((b) => b !== 0)) skipped++;
        continue;
      }
      seqs[k] = seq;
      if (seq > maxSeq) maxSeq = seq;
    }
    if (maxSeq < 0) return { maxSeq, skipped };
    const values = new Float32Array(header.width);
    // Oldest first: the slot after the newest record's, round the ring; a record older than one lap is stale.
    for (let i = 1; i <= header.capacity; i++) {
      const k = (maxSeq + i) % header.capacity;
      const seq = seqs[k] ?? -1;
      if (seq < 0 || seq <= maxSeq - header.capacity) continue;
      const at = HEADER_BYTES + k * rb;
      for (let c = 0; c < header.width; c++) values[c] = buf.readFloatLE(at + 16 + 4 * c);
      super.push(buf.readDoubleLE(at + 8), values);
    }
    return { maxSeq, skipped };
  }

  /** Writes a new file holding what is in memory (a temporary file renamed over the old one). */
  private rewrite(): void {
    const { path } = this.opts;
    const n = this.length;
    const buf = Buffer.alloc(HEADER_BYTES + n * this.recordBytes);
    encodeHeader({ width: this.width, capacity: this.capacity, channelsCrc: channelsCrc(this.opts.channels) }).copy(
      buf,
    );
    for (let k = 0; k < n; k++) {
      const s = this.sample(k);
      encodeRecord(buf, HEADER_BYTES + k * this.recordBytes, k, s.time, s.values, this.width);
    }
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, buf);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    this.nextSeq = n;
    this.fd = openSync(path, 'r+');
  }

  override push(timeMs: number, values: ArrayLike<number | null>): void {
    super.push(timeMs, values);
    if (this.fd === null) return;
    encodeRecord(this.pending, this.pendingCount * this.recordBytes, this.nextSeq++, timeMs, values, this.width);
    this.pendingCount++;
    if (
      this.pendingCount * this.recordBytes >= this.pending.length ||
      timeMs - this.flushedAt >= HISTORY_FLUSH_MS ||
      timeMs < this.flushedAt
    ) {
      this.flushedAt = timeMs;
      this.flush();
    }
  }

  /** Writes the records waiting (at most two writes: the ring may wrap). A failed write loses them from the file only. */
  flush(): void {
    const count = this.pendingCount;
    if (count === 0 || this.fd === null) return;
    this.pendingCount = 0;
    const rb = this.recordBytes;
    const slot = (this.nextSeq - count) % this.capacity;
    const first = Math.min(count, this.capacity - slot);
    try {
      writeSync(this.fd, this.pending, 0, first * rb, HEADER_BYTES + slot * rb);
      if (first < count) writeSync(this.fd, this.pending, first * rb, (count - first) * rb, HEADER_BYTES);
      if (this.writeFailing) {
        this.writeFailing = false;
        this.opts.log.info({ component: this.opts.name }, `${this.opts.name} history is written to its file again`);
      }
    } catch (err) {
      if (this.writeFailing) return;
      this.writeFailing = true;
      this.opts.log.warn(
        { component: this.opts.name, path: this.opts.path, err: (err as Error).message },
        `${this.opts.name} history cannot be written to ${this.opts.path} (${(err as Error).message}): the samples are kept in memory only until it can`,
      );
    }
  }

  override close(): void {
    this.flush();
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }
}
