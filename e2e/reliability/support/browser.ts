// A browser as the web server sees it: a cookie jar, its CSRF token and a same-origin header, over inject.
import type { Service } from '@bioreactor/service-kit';

export class Browser {
  private readonly jar = new Map<string, string>();

  constructor(private readonly web: Service) {}

  async request(method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown) {
    const headers: Record<string, string> = { host: 'localhost:3000', origin: 'http://localhost:3000' };
    if (this.jar.size) headers.cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const csrf = this.jar.get('csrf_token');
    if (csrf) headers['x-csrf-token'] = csrf;
    const res = await this.web.inject({
      method,
      url,
      headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
    for (const c of res.cookies) {
      if (c.value === '' || (c.maxAge !== undefined && c.maxAge <= 0)) this.jar.delete(c.name);
      else this.jar.set(c.name, c.value);
    }
    return res;
  }

  /** Opens the session (cookie and CSRF token), as loading the first page does. */
  async open(): Promise<this> {
    await this.request('GET', '/api/session');
    return this;
  }
}
