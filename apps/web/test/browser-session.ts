// A cookie-keeping client over app.inject, standing in for one browser.
import type { Service } from '@bioreactor/service-kit';

export interface InjectResult {
  statusCode: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
  json<T = unknown>(): T;
}

export class Browser {
  readonly cookies = new Map<string, string>();
  /** `ip`: the address the requests come from (app.inject's default is 127.0.0.1). */
  constructor(
    private readonly app: Service,
    private readonly opts: { ip?: string } = {},
  ) {}

  /** Another browser holding a copy of this one's cookies (a stolen or replayed cookie jar). */
  copy(app: Service = this.app): Browser {
    const other = new Browser(app, this.opts);
    for (const [k, v] of this.cookies) other.cookies.set(k, v);
    return other;
  }

  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private keep(res: { headers: Record<string, unknown> }): void {
    const set = res.headers['set-cookie'];
    for (const line of Array.isArray(set) ? set : set ? [String(set)] : []) {
      const [pair] = String(line).split(';');
      const eq = pair?.indexOf('=') ?? -1;
      if (!pair || eq < 0) continue;
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (/Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(String(line))) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async request(
    method: 'GET' | 'POST',
    url: string,
    opts: { json?: unknown; payload?: string | Buffer; headers?: Record<string, string>; csrf?: boolean } = {},
  ): Promise<InjectResult> {
    const headers: Record<string, string> = { host: 'lab.example:3000', cookie: this.cookieHeader(), ...opts.headers };
    if (method === 'POST' && opts.csrf !== false) headers['x-csrf-token'] = this.cookies.get('csrf_token') ?? '';
    let payload = opts.payload;
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(opts.json);
    }
    const res = await this.app.inject({
      method,
      url,
      headers,
      ...(this.opts.ip ? { remoteAddress: this.opts.ip } : {}),
      ...(payload === undefined ? {} : { payload }),
    });
    this.keep(res);
    return res as unknown as InjectResult;
  }

  get(url: string, headers?: Record<string, string>) {
    return this.request('GET', url, headers ? { headers } : {});
  }

  post(url: string, json?: unknown, headers?: Record<string, string>) {
    return this.request('POST', url, { json, ...(headers ? { headers } : {}) });
  }

  /** Visits a page first, as a browser would, so the session and CSRF cookies exist. */
  async open(): Promise<this> {
    await this.get('/api/session');
    return this;
  }
}

export function multipart(fields: Record<string, string>, file?: { name: string; content: string | Buffer }) {
  const boundary = '----bioreactor-test-boundary';
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields))
    parts.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  if (file)
    parts.push(
      Buffer.from(
        `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${file.name}"\r\ncontent-type: text/x-python\r\n\r\n`,
      ),
      Buffer.from(file.content),
      Buffer.from('\r\n'),
    );
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(parts), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}
