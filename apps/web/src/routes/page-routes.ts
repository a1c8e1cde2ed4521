// The built browser UI: hashed assets cached for good (pre-compressed by the build, brotli or gzip as the browser
// accepts), index.html for every page path (SPA fallback), the favicon, and an HTML 404 page for any other page URL
// a browser asks for (API paths and non-browser clients keep the JSON 404).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiError } from '@bioreactor/api';
import { errorBody, type Service } from '@bioreactor/service-kit';
import fastifyStatic from '@fastify/static';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { WebContext } from '../context.js';

export const PAGE_PATHS = [
  '/',
  '/upload',
  '/queue',
  '/my-experiments',
  '/experiment/:id',
  '/dashboard',
  '/settings',
  '/account',
  '/admin',
  '/admin/runs',
  '/admin/users',
  '/admin/nodes',
  '/admin/settings',
] as const;

const CSP =
  "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'";

/** Paths that are never pages: their unknown URLs answer the JSON 404 every API client expects. */
const NOT_PAGES = /^\/(api|openapi|assets|experiment\/[^/]+\/download)(\/|\.|$)/;

function wantsHtml(request: FastifyRequest): boolean {
  const path = request.url.split('?')[0] ?? '/';
  return !NOT_PAGES.test(path) && (request.headers.accept ?? '').includes('text/html');
}

export async function pageRoutes(app: Service, ctx: WebContext): Promise<void> {
  await app.register(fastifyStatic, {
    root: join(ctx.uiDir, 'assets'),
    prefix: '/assets/',
    // File names carry a content hash, so a browser may keep them forever.
    immutable: true,
    maxAge: '365d',
    index: false,
    // The build writes a .br and a .gz beside every asset; the one the browser accepts is sent as it is.
    preCompressed: true,
  });

  let index: string | undefined;
  const indexHtml = () => {
    try {
      index ??= readFileSync(join(ctx.uiDir, 'index.html'), 'utf8');
      return index;
    } catch {
      throw new ApiError(
        'NOT_FOUND',
        'The browser UI is not built: run `npm run build:ui` (npm start does it for you)',
      );
    }
  };
  const sendPage = (reply: FastifyReply, status = 200) =>
    reply
      .status(status)
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'same-origin')
      .send(indexHtml());

  for (const url of PAGE_PATHS) app.get(url, { schema: { hide: true } }, async (_request, reply) => sendPage(reply));

  // The icon browsers ask every page for, and the SVG one the pages link.
  for (const [url, type] of [
    ['/favicon.ico', 'image/x-icon'],
    ['/favicon.svg', 'image/svg+xml'],
  ] as const) {
    let bytes: Buffer | undefined;
    app.get(url, { schema: { hide: true } }, async (_request, reply) => {
      try {
        bytes ??= readFileSync(join(ctx.uiDir, url.slice(1)));
      } catch {
        throw new ApiError('NOT_FOUND', 'The browser UI is not built: run `npm run build:ui`');
      }
      return reply.type(type).header('cache-control', 'public, max-age=86400').send(bytes);
    });
  }

  // Any other GET: a browser gets the app's own "page not found" (status 404, with the navigation), anyone else JSON.
  app.get('/*', { schema: { hide: true } }, async (request, reply) => {
    if (wantsHtml(request)) return sendPage(reply, 404);
    return reply.status(404).send(errorBody('NOT_FOUND', `No route GET ${request.url.split('?')[0]}; see /api/docs`));
  });
}
