// A Server-Sent Events writer over a hijacked Fastify reply: retry, ids, heartbeats, clean close.
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
