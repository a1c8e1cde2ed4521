// A light Server-Sent Events client over node:http, cheap enough to hold a thousand connections in one process.
import { type ClientRequest, get } from 'node:http';

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
      let buffer = '';
      let event = 'message';
      let data: string[] = [];
      let id: string | undefined;
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let nl = buffer.indexOf('\n');
        while (nl >= 0) {
          const line = buffer.slice(0, nl).replace(/\r$/, '');
          buffer = buffer.slice(nl + 1);
          if (line === '') {
            if (data.length > 0) {
              const e: SseEvent = {
                event,
                data: data.join('\n'),
                receivedNs: process.hrtime.bigint(),
                receivedMs: Date.now(),
              };
              if (id !== undefined) e.id = id;
              onEvent(e);
            }
            event = 'message';
            data = [];
            id = undefined;
          } else if (!line.startsWith(':')) {
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'event') event = value;
            else if (field === 'data') data.push(value);
            else if (field === 'id') id = value;
          }
          nl = buffer.indexOf('\n');
        }
      });
      res.on('error', () => {});
    });
    req.on('error', reject);
  });
  opened.catch(() => {});
  return { opened, close: () => req?.destroy() };
}
