// A light Server-Sent Events client over node:http, cheap enough to hold a thousand connections in one process.
import { type ClientRequest, get } from 'node:http';
import { EventStreamParser } from '@bioreactor/service-kit';

export interface SseEvent {
  event: string;
  data: string;
  id?: string;
  /** process.hrtime.bigint() when the event's last line arrived. */
  receivedNs: bigint;
  /** Date.now() when it arrived, to compare with timestamps written by the services. */
  receivedMs: number;
}

export interface SseConnection {
  /** Resolves with the HTTP status once the response headers arrive. */
  opened: Promise<number>;
  close(): void;
}

export function connectSse(
  url: string,
  onEvent: (event: SseEvent) => void,
  headers: Record<string, string> = {},
): SseConnection {
  let req: ClientRequest | undefined;
  const opened = new Promise<number>((resolveOpen, reject) => {
    req = get(url, { agent: false, headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      resolveOpen(res.statusCode ?? 0);
      res.setEncoding('utf8');
      const parser = new EventStreamParser();
      res.on('data', (chunk: string) => {
        for (const parsed of parser.push(chunk)) {
          onEvent({ ...parsed, receivedNs: process.hrtime.bigint(), receivedMs: Date.now() });
        }
      });
      res.on('error', () => {});
    });
    req.on('error', reject);
  });
  opened.catch(() => {});
  return { opened, close: () => req?.destroy() };
}
