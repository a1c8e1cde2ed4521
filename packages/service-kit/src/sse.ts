// A Server-Sent Events writer over a hijacked Fastify reply (retry, ids, heartbeats, clean close), a parser for
// following one, and the replay log behind resumable streams.
import { randomBytes } from 'node:crypto';
import { SSE_HEARTBEAT_MS, SSE_RETRY_MS } from '@bioreactor/api';
import type { FastifyReply, FastifyRequest } from 'fastify';

export interface EventStream {
  /** Sends one event; `data` is JSON-encoded unless it is already a string. */
  send(event: string, data: unknown, id?: string | number): boolean;
  /** Sends an SSE comment (ignored by clients). */
  comment(text: string): void;
  close(): void;
  readonly closed: boolean;
  /** Runs when the client goes away or the stream is closed. */
  onClose(fn: () => void): void;
  /** The client's `Last-Event-ID`, for resuming. */
  readonly lastEventId: string | undefined;
}

export function wantsEventStream(request: FastifyRequest): boolean {
  return (request.headers.accept ?? '').includes('text/event-stream');
}

const NEWLINE = /[\r\n]/;

export function openEventStream(
  request: FastifyRequest,
  reply: FastifyReply,
  opts: { heartbeatMs?: number; retryMs?: number; headers?: Record<string, string> } = {},
): EventStream {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    ...opts.headers,
  });
  res.write(`retry: ${opts.retryMs ?? SSE_RETRY_MS}\n\n`);
  let closed = false;
  const closers: (() => void)[] = [];
  const heartbeat = setInterval(() => {
    if (!closed) res.write(': heartbeat\n\n');
  }, opts.heartbeatMs ?? SSE_HEARTBEAT_MS);
  heartbeat.unref();

  const finish = () => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    for (const fn of closers.splice(0)) fn();
  };
  request.raw.on('close', finish);
  res.on('close', finish);
  res.on('error', finish);

  const header = request.headers['last-event-id'];
  return {
    get closed() {
      return closed;
    },
    lastEventId: Array.isArray(header) ? header[0] : header,
    send(event, data, id) {
      if (closed) return false;
      if (NEWLINE.test(event) || (id !== undefined && NEWLINE.test(String(id)))) {
        throw new Error('SSE event names and ids cannot contain line breaks');
      }
      const text = typeof data === 'string' ? data : JSON.stringify(data);
      let frame = `event: ${event}\n`;
      if (id !== undefined) frame += `id: ${id}\n`;
      for (const line of text.split(/\r\n|\r|\n/)) frame += `data: ${line}\n`;
      return res.write(`${frame}\n`);
    },
    comment(text) {
      if (!closed) res.write(`: ${text.replace(/[\r\n]+/g, ' ')}\n\n`);
    },
    close() {
      if (!closed) res.end();
      finish();
    },
    onClose(fn) {
      if (closed) fn();
      else closers.push(fn);
    },
  };
}

export interface ParsedEvent {
  event: string;
  data: string;
  id?: string;
}

/** Incremental SSE parser: feed it text as it arrives, get back the events it completes. */
export class EventStreamParser {
  private buffer = '';
  private event = 'message';
  private data: string[] = [];
  private id: string | undefined;

  push(text: string): ParsedEvent[] {
    const done: ParsedEvent[] = [];
    this.buffer += text;
    let nl = this.buffer.search(/\r\n|\r|\n/);
    while (nl >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(this.buffer[nl] === '\r' && this.buffer[nl + 1] === '\n' ? nl + 2 : nl + 1);
      if (line === '') {
        if (this.data.length > 0) {
          const e: ParsedEvent = { event: this.event, data: this.data.join('\n') };
          if (this.id !== undefined) e.id = this.id;
          done.push(e);
        }
        this.event = 'message';
        this.data = [];
        this.id = undefined;
      } else if (!line.startsWith(':')) {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') this.event = value;
        else if (field === 'data') this.data.push(value);
        else if (field === 'id') this.id = value;
      }
      nl = this.buffer.search(/\r\n|\r|\n/);
    }
    return done;
  }
}

/** Parses an SSE byte stream into events (for service-to-service followers and tests). */
export async function* readEventStream(body: ReadableStream<Uint8Array>): AsyncGenerator<ParsedEvent> {
  const decoder = new TextDecoder();
  const parser = new EventStreamParser();
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    yield* parser.push(decoder.decode(chunk, { stream: true }));
  }
}

/** A kept event as a `ReplayLog` hands it out: the entry appended, with its place in the stream. */
export type ReplayEntry<T> = T & {
  /** `<epoch>-<seq>`, what the follower sends back as Last-Event-ID. */
  readonly id: string;
  /** 1 for the first event of the epoch, then one more per event. */
  readonly seq: number;
};

export interface ReplayLogOptions {
  /** Events kept at most (at least 1). */
  maxEvents: number;
  /** Characters of `data` kept at most (JavaScript string length); the newest event is kept whatever its size. */
  maxChars?: number;
  /** What ids start with; new for every process (or connection), so an id of another one never resumes here. */
  epoch?: string;
}

const EVENT_ID = /^(.+)-(\d+)$/;

/**
 * The newest events of a resumable stream, for followers that come back with Last-Event-ID. Entries are `T` (with
 * `data`, the text sent, absent for events rendered per follower) and get ids `<epoch>-<seq>`. Bounded by count and
 * by characters of `data`: a count alone lets a burst of large events (CSV rows) hold its count times the largest
 * event in memory. `since` answers only when it knows exactly what a follower missed; otherwise the follower has to
 * start afresh from the current state.
 */
export class ReplayLog<T extends { data?: string | undefined }> {
  readonly epoch: string;
  private seq = 0;
  /** Oldest first from `start`; slots before it are cleared at once and the array compacted now and then. */
  private ring: (ReplayEntry<T> | undefined)[] = [];
  private start = 0;
  private chars = 0;
  private readonly maxEvents: number;
  private readonly maxChars: number;

  constructor(opts: ReplayLogOptions) {
    if (!Number.isSafeInteger(opts.maxEvents) || opts.maxEvents < 1)
      throw new RangeError(`maxEvents must be a whole number of at least 1, not ${opts.maxEvents}`);
    this.maxEvents = opts.maxEvents;
    this.maxChars = opts.maxChars ?? Number.POSITIVE_INFINITY;
    this.epoch = opts.epoch ?? `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
    if (!this.epoch || NEWLINE.test(this.epoch)) throw new RangeError('epoch must be one line of text, not empty');
  }

  /** The id of the newest event (`<epoch>-0` before the first): resuming from it gives exactly what comes after. */
  get lastId(): string {
    return `${this.epoch}-${this.seq}`;
  }

  /** Keeps `entry` under the next id, dropping the oldest beyond the bounds; returns it as kept. */
  append(entry: T): ReplayEntry<T> {
    const seq = ++this.seq;
    const kept: ReplayEntry<T> = { ...entry, id: `${this.epoch}-${seq}`, seq };
    this.ring.push(kept);
    this.chars += kept.data?.length ?? 0;
    while (
      this.ring.length - this.start > this.maxEvents ||
      (this.chars > this.maxChars && this.ring.length - this.start > 1)
    ) {
      this.chars -= this.ring[this.start]?.data?.length ?? 0;
      this.ring[this.start++] = undefined;
    }
    if (this.start > 1024 && this.start * 2 > this.ring.length) {
      this.ring = this.ring.slice(this.start);
      this.start = 0;
    }
    return kept;
  }

  /**
   * The events after `lastEventId`, oldest first (empty when it is the newest), or undefined when that is not exactly
   * known: no id, a malformed one, one of another epoch, one ahead of the newest, or one whose successors are gone.
   */
  since(lastEventId: string | undefined): ReplayEntry<T>[] | undefined {
    const match = EVENT_ID.exec(lastEventId?.trim() ?? '');
    if (!match || match[1] !== this.epoch) return undefined;
    const seq = Number(match[2]);
    const oldest = this.ring[this.start]?.seq ?? this.seq + 1;
    if (!Number.isSafeInteger(seq) || seq > this.seq || seq < oldest - 1) return undefined;
    return this.ring.slice(this.start + (seq + 1 - oldest)) as ReplayEntry<T>[];
  }
}
