// The web server's typed client (port 3000): what the browser UI calls. Types from openapi/web.json.
import { CSRF_HEADER } from '@bioreactor/api';
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { paths } from './generated/web.js';

export type { components as WebComponents, operations as WebOperations, paths as WebPaths } from './generated/web.js';
export type WebClient = Client<paths>;

export interface WebClientOptions extends Omit<ClientOptions, 'baseUrl'> {
  /**
   * The CSRF token every POST, PUT and DELETE echoes in X-CSRF-Token: in a browser, the `csrf_token` cookie (the
   * default there); elsewhere the csrf_token of GET /api/session, sent back with its cookies.
   */
  csrfToken?: () => string | undefined;
}

/** The `csrf_token` cookie of the page, in a browser. */
export function csrfCookie(): string | undefined {
  const doc = (globalThis as { document?: { cookie: string } }).document;
  const match = doc?.cookie.match(/(?:^|;\s*)csrf_token=([^;]+)/);
  return match?.[1] ? decodeURIComponent(match[1]) : undefined;
}

/** `baseUrl` '' in the browser: the page's own origin, with its cookies (credentials: same-origin). */
export function createWebClient(baseUrl = '', options: WebClientOptions = {}): WebClient {
  const { csrfToken = csrfCookie, ...rest } = options;
  const client = createClient<paths>({ baseUrl, credentials: 'same-origin', ...rest });
  client.use({
    onRequest({ request }) {
      const token = request.method === 'GET' || request.method === 'HEAD' ? undefined : csrfToken();
      if (token && !request.headers.has(CSRF_HEADER)) request.headers.set(CSRF_HEADER, token);
      return request;
    },
  });
  return client;
}
