// Builds the Fastify instance every service starts from: logging, errors, service token, OpenAPI docs.

import { timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import { type HeaderDoc, isPublicPath } from '@bioreactor/api';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { installBodyParsers, installFiniteNumberCheck } from './body.js';
import { pinoLevel } from './env.js';
import { errorBody, installErrorHandlers, MAX_PATH_SEGMENT, replyWithError } from './errors.js';
import { csrfRequestInterceptor, swaggerOptions } from './openapi.js';

export type Service = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export interface ServiceOptions {
  /** Service name in logs and docs, e.g. `bioreactor-hub`. */
  name: string;
  version: string;
  description: string;
  logLevel: string;
  /** Shared service token; undefined leaves the API open (development). */
  apiToken?: string | false | undefined;
  /** Paths open without the token besides /health and the docs (the web server's own pages). */
  isOpenPath?: (path: string) => boolean;
  /** Check every response body against its route's schema and fail loudly (tests). */
  strictResponses?: boolean;
  bodyLimit?: number;
  /** false: no logs (tests keep them quiet). */
  logger?: boolean;
  /** Where the JSON log lines go instead of stdout (tests read them). */
  logStream?: { write(line: string): void };
  /**
   * Proxies whose X-Forwarded-For is believed for request.ip: addresses or CIDR ranges, comma-separated, or
   * `loopback` (Fastify's trustProxy). Unset: request.ip is the connection's peer.
   */
  trustProxy?: string;
  /** The web server: its CSRF header and session cookie, for the OpenAPI document and Swagger UI's "Try it out". */
  browser?: { csrfHeader: HeaderDoc; sessionCookie: string };
}

/**
 * Requests are logged at debug: at info the log keeps what happened (an experiment queued, started, ended; a refused
 * request), not every poll the services make of each other every few seconds. A request that fails stays an error.
 */
class QuietRequests extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    if (!this.isLogDisabled(request)) request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    if (error) reply.log.error({ res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

/** ISO times in the JSON logs, as pino.stdTimeFunctions.isoTime writes them. */
const isoTime = () => `,"time":"${new Date().toISOString()}"`;

/** pino-pretty when it is installed (a development checkout, not the images) and stdout is a terminal. */
function prettyTransport(): { target: string; options: Record<string, unknown> } | undefined {
  if (!process.stdout.isTTY || process.env.BIOREACTOR_LOG_FORMAT === 'json') return undefined;
  try {
    const target = createRequire(import.meta.url).resolve('pino-pretty');
    return { target, options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true } };
  } catch {
    return undefined;
  }
}

function tokenMatches(header: string | undefined, token: string): boolean {
  if (!header?.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice(7));
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

export async function createService(opts: ServiceOptions): Promise<Service> {
  const app = Fastify({
    logger:
      opts.logger === false
        ? false
        : {
            level: pinoLevel(opts.logLevel),
            base: { service: opts.name },
            timestamp: isoTime,
            ...(opts.logStream
              ? { stream: opts.logStream }
              : prettyTransport()
                ? { transport: prettyTransport() }
                : {}),
          },
    logController: new QuietRequests(),
    bodyLimit: opts.bodyLimit ?? 2 * 1024 * 1024,
    ...(opts.trustProxy ? { trustProxy: opts.trustProxy } : {}),
    ajv: { customOptions: { allErrors: true, coerceTypes: 'array', removeAdditional: false } },
    forceCloseConnections: true,
    return503OnClosing: true,
    routerOptions: { maxParamLength: MAX_PATH_SEGMENT },
    // Errors the router raises before a route runs (a path segment too long, a bad %-escape) get the catalogue's body.
    frameworkErrors: (err, request, reply) => {
      replyWithError(err, request, reply);
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  installErrorHandlers(app);
  installBodyParsers(app);
  installFiniteNumberCheck(app);

  await app.register(
    swagger,
    swaggerOptions({
      title: opts.name,
      version: opts.version,
      description: opts.description,
      serviceToken: opts.apiToken !== false,
      browser: opts.browser,
      isOpenPath: opts.isOpenPath,
    }),
  );
  await app.register(swaggerUi, {
    routePrefix: '/api/docs',
    staticCSP: true,
    uiConfig: opts.browser ? { requestInterceptor: csrfRequestInterceptor as never } : {},
  });
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
  app.get('/docs', { schema: { hide: true } }, (_req, reply) => reply.redirect('/api/docs'));

  if (opts.apiToken) {
    const token = opts.apiToken;
    app.addHook('onRequest', async (request, reply) => {
      const path = request.url.split('?')[0] ?? request.url;
      if (isPublicPath(path) || opts.isOpenPath?.(path)) return;
      if (tokenMatches(request.headers.authorization, token)) return;
      return reply
        .status(401)
        .send(
          errorBody(
            'UNAUTHORIZED',
            'This service needs the service token: send Authorization: Bearer $BIOREACTOR_API_TOKEN',
          ),
        );
    });
  } else if (opts.apiToken !== false) {
    app.log.warn(
      'BIOREACTOR_API_TOKEN is not set: the API is open to anyone who can reach this port (development mode)',
    );
  }

  if (opts.strictResponses) {
    app.addHook('preSerialization', async (request, reply, payload) => {
      const responses = request.routeOptions.schema?.response as Record<string, TSchema> | undefined;
      const schema = responses?.[String(reply.statusCode)];
      if (schema && typeof payload === 'object' && payload !== null && !Value.Check(schema, payload)) {
        const first = [...Value.Errors(schema, payload)].slice(0, 3).map((e) => `${e.instancePath} ${e.message}`);
        throw new Error(`Response of ${request.method} ${request.url} breaks its contract: ${first.join('; ')}`);
      }
      return payload;
    });
  }
  return app;
}
