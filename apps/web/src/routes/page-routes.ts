// The built browser UI: hashed assets cached for good, and index.html for every page path (SPA fallback).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiError } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import fastifyStatic from '@fastify/static';
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
] as const;

export async function pageRoutes(app: Service, ctx: WebContext): Promise<void> {
  await app.register(fastifyStatic, {
    root: join(ctx.uiDir, 'assets'),
    prefix: '/assets/',
    // File names carry a content hash, so a browser may keep them forever.
    immutable: true,
    maxAge: '365d',
    index: false,
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

  for (const url of PAGE_PATHS) {
    app.get(url, { schema: { hide: true } }, async (_request, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-cache')
        .header(
          'content-security-policy',
          "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'",
        )
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'same-origin')
        .send(indexHtml()),
    );
  }
}
