// A reverse proxy on 127.0.0.1 in front of the web server, as a lab's nginx would be, that a test can switch to
// answering 502 Bad Gateway (the web server "restarting" behind it): the switch also cuts the streams it carries.
// It counts the requests it sees per path, so a test can tell how many streams a browser opened.
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';

export interface SwitchProxy {
  url: string;
  /** From now on every request is answered 502, and every open response through the proxy is cut. */
  fail(): void;
  /** Passes requests through again. */
  recover(): void;
  /** Paths with query string of the requests seen so far whose path starts with `prefix`, in order. */
  seen(prefix: string): string[];
  close(): Promise<void>;
}

export async function startSwitchProxy(target: string): Promise<SwitchProxy> {
  const upstream = new URL(target);
  let failing = false;
  const seen: string[] = [];
  const open = new Set<Socket>();
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    seen.push(req.url ?? '/');
    if (failing) {
      res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>502 Bad Gateway</h1>');
      return;
    }
    const out = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        // The browser's Host, as nginx's `proxy_set_header Host $host` passes it: the web server's same-origin
        // check compares it with the Origin of a form.
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    req.pipe(out);
  };
  const server: Server = createServer(handle);
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    fail: () => {
      failing = true;
      for (const socket of open) socket.destroy();
    },
    recover: () => {
      failing = false;
    },
    seen: (prefix) => seen.filter((u) => u.startsWith(prefix)),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
