// The OpenAPI document of a service, derived from its route contracts (packages/api): @fastify/swagger builds it from
// the schemas Fastify validates; `transform` adds what only the documents say (`schema.docs`: the bodies a handler
// reads itself, query parameters and headers it reads, what a success is, non-JSON replies), and `transformObject`
// lists every catalogued error a route can answer, with the shared ApiError schema, examples and security.
import { STATUS_CODES } from 'node:http';
import {
  DOCUMENTED_SCHEMAS,
  ERROR_CATALOGUE,
  ErrorBody,
  type ErrorCode,
  errorCodesOf,
  type HeaderDoc,
  isPublicPath,
  type MediaExample,
  type RouteDocs,
} from '@bioreactor/api';
import type { SwaggerOptions } from '@fastify/swagger';

export interface DocsOptions {
  title: string;
  version: string;
  description: string;
  /** Node and hub: every route but the public ones takes the service token (documented whatever the configuration). */
  serviceToken: boolean;
  /** Web server: the header every POST, PUT and DELETE must carry (CSRF), and the session cookie's name. */
  browser?: { csrfHeader: HeaderDoc; sessionCookie: string };
  /** Paths open without the token besides /health and the docs. */
  isOpenPath?: (path: string) => boolean;
}

/** What `transform` leaves on an operation for `transformObject`, which removes it. */
const EXT = 'x-bioreactor';

interface OperationFacts {
  codes: Partial<Record<string, ErrorCode[]>>;
  open: boolean;
  bodyExamples?: Record<string, Readonly<Record<string, MediaExample>>>;
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const ERROR_SCHEMA_REF = '#/components/schemas/ApiError';

type Schema = Record<string, unknown>;

const SCHEMAS = '#/components/schemas/';

/**
 * A TypeBox schema as @fastify/swagger writes it into an OpenAPI 3.1 document: plain JSON (symbols dropped), `const`
 * as a one-value enum (as Swagger UI wants), a record's patternProperties as additionalProperties, and a nested
 * schema with an `$id` as a reference to the component of that name.
 */
export function plainSchema(schema: unknown): unknown {
  const json = JSON.parse(JSON.stringify(schema ?? {})) as unknown;
  const walk = (value: unknown, root: boolean): unknown => {
    if (Array.isArray(value)) return value.map((v) => walk(v, false));
    if (typeof value !== 'object' || value === null) return value;
    const obj = value as Schema;
    if (!root && typeof obj.$id === 'string') return { $ref: `${SCHEMAS}${obj.$id}` };
    const out: Schema = {};
    for (const [key, v] of Object.entries(obj)) {
      if (key === '$id') continue;
      if (key === 'const') out.enum = [v];
      else if (key === 'patternProperties' && typeof v === 'object' && v !== null)
        out.additionalProperties = walk(Object.values(v)[0], false);
      else if (key === 'properties' && typeof v === 'object' && v !== null)
        out.properties = Object.fromEntries(Object.entries(v).map(([k, p]) => [k, walk(p, false)]));
      else out[key] = walk(v, false);
    }
    return out;
  };
  return walk(json, true);
}

/** JSON with sorted keys: two schemas of the same shape give the same text. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value !== 'object' || value === null) return JSON.stringify(value) ?? 'null';
  const obj = value as Schema;
  return `{${Object.keys(obj)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(obj[k])}`)
    .join(',')}}`;
}

/** Request bodies and parameters keep their schemas inline: what a caller sends is read without references. */
const INLINE_KEYS = new Set(['requestBody', 'parameters']);

/**
 * Replaces every inline copy of a documented schema (packages/api DOCUMENTED_SCHEMAS) by a reference to it, and
 * adds the ones used to components/schemas, so that the documents and the generated client name the replies.
 */
function nameSchemas(doc: Schema): void {
  const plain = new Map<string, unknown>();
  const byShape = new Map<string, string>();
  for (const [name, schema] of Object.entries(DOCUMENTED_SCHEMAS)) {
    const p = plainSchema(schema);
    plain.set(name, p);
    byShape.set(canonical(p), name);
  }
  const used = new Set<string>();
  const replace = (value: unknown, self?: string): unknown => {
    if (Array.isArray(value)) return value.map((v) => replace(v));
    if (typeof value !== 'object' || value === null) return value;
    const name = byShape.get(canonical(value));
    if (name !== undefined && name !== self) {
      used.add(name);
      return { $ref: `${SCHEMAS}${name}` };
    }
    return Object.fromEntries(
      Object.entries(value as Schema).map(([k, v]) => [k, INLINE_KEYS.has(k) ? v : replace(v)]),
    );
  };
  doc.paths = replace(doc.paths);
  const components = (doc.components ?? {}) as Schema;
  const schemas = (components.schemas ?? {}) as Schema;
  for (const [name, schema] of Object.entries(schemas)) schemas[name] = replace(schema, name);
  const done = new Set<string>();
  for (let next = [...used]; next.length > 0; next = [...used].filter((n) => !done.has(n))) {
    for (const name of next) {
      done.add(name);
      schemas[name] = replace(plain.get(name), name);
    }
  }
  components.schemas = Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => a.localeCompare(b)));
  doc.components = components;
}

function headersObject(headers: readonly HeaderDoc[], existing: unknown): Schema {
  const base = (existing ?? { type: 'object', properties: {} }) as Schema;
  const properties: Schema = { ...(base.properties as Schema | undefined) };
  const required = [...((base.required as string[] | undefined) ?? [])];
  for (const h of headers) {
    properties[h.name] = {
      ...(h.schema as Schema),
      description: h.description,
      ...(h.example !== undefined ? { examples: [h.example] } : {}),
    };
    if (h.required && !required.includes(h.name)) required.push(h.name);
  }
  return { ...base, type: 'object', properties, ...(required.length > 0 ? { required } : {}) };
}

function addCode(codes: OperationFacts['codes'], code: ErrorCode): void {
  const status = String(ERROR_CATALOGUE[code].status);
  const list = codes[status] ?? [];
  if (!list.includes(code)) list.push(code);
  codes[status] = list;
}

function mediaTypesOf(schema: Schema, docs: RouteDocs | undefined): string[] {
  if (docs?.body) return Object.keys(docs.body);
  return schema.body ? ['application/json'] : [];
}

/** The route's schema as @fastify/swagger should see it, with the facts `transformObject` needs. */
function transformRoute(schema: Schema, url: string, method: string, opts: DocsOptions): Schema {
  const docs = schema.docs as RouteDocs | undefined;
  const out: Schema = { ...schema };
  delete out.docs;
  const path = url.split('?')[0] ?? url;
  const open = isPublicPath(path) || opts.isOpenPath?.(path) === true;

  // Every catalogued error: the route's own, then what any route of its kind can answer.
  const codes: OperationFacts['codes'] = {};
  const response: Schema = { ...(schema.response as Schema | undefined) };
  for (const [status, resp] of Object.entries(response)) {
    if (Number(status) >= 400) {
      for (const code of errorCodesOf(resp)) addCode(codes, code);
      delete response[status];
    }
  }
  const media = mediaTypesOf(schema, docs);
  const reads = (docs?.headers?.length ?? 0) > 0;
  if (schema.params || schema.querystring || schema.body || docs?.body || docs?.query || reads)
    addCode(codes, 'VALIDATION_FAILED');
  if (media.length > 0) {
    if (media.includes('application/json')) addCode(codes, 'INVALID_JSON');
    addCode(codes, 'PAYLOAD_TOO_LARGE');
    addCode(codes, 'UNSUPPORTED_MEDIA_TYPE');
  }
  if (opts.serviceToken && !open) addCode(codes, 'UNAUTHORIZED');
  if (opts.browser && UNSAFE.has(method)) addCode(codes, 'CSRF_FAILED');
  addCode(codes, 'INTERNAL');

  // The success reply: what it is, its media types when not JSON, its headers.
  for (const status of Object.keys(response)) {
    if (!/^2/.test(status)) continue;
    const ok: Schema = {
      'x-response-description': docs?.ok ?? 'Success',
      ...(docs?.responseHeaders
        ? {
            headers: Object.fromEntries(
              Object.entries(docs.responseHeaders).map(([name, h]) => [
                name,
                { ...(h.schema as Schema), description: h.description },
              ]),
            ),
          }
        : {}),
    };
    response[status] = docs?.produces
      ? {
          ...ok,
          content: Object.fromEntries(Object.entries(docs.produces).map(([type, m]) => [type, { schema: m.schema }])),
        }
      : { ...(response[status] as Schema), ...ok };
  }
  out.response = response;

  if (docs?.query && !schema.querystring) out.querystring = docs.query;
  const headers = [...(docs?.headers ?? []), ...(opts.browser && UNSAFE.has(method) ? [opts.browser.csrfHeader] : [])];
  if (headers.length > 0) out.headers = headersObject(headers, schema.headers);
  if (docs?.body) {
    out.body = {
      content: Object.fromEntries(Object.entries(docs.body).map(([type, m]) => [type, { schema: m.schema }])),
    };
  }

  const bodyExamples: OperationFacts['bodyExamples'] = {};
  for (const [type, m] of Object.entries(docs?.body ?? {})) if (m.examples) bodyExamples[type] = m.examples;
  if (docs?.examples && schema.body) bodyExamples['application/json'] = docs.examples;
  const facts: OperationFacts = { codes, open, ...(Object.keys(bodyExamples).length > 0 ? { bodyExamples } : {}) };
  out[EXT] = facts;
  return out;
}

function errorResponse(codes: ErrorCode[]): Schema {
  return {
    description: codes.map((c) => `\`${c}\`: ${ERROR_CATALOGUE[c].description}`).join('\n\n'),
    content: {
      'application/json': {
        schema: { $ref: ERROR_SCHEMA_REF },
        examples: Object.fromEntries(
          codes.map((code) => {
            const status = ERROR_CATALOGUE[code].status;
            return [
              code,
              {
                summary: ERROR_CATALOGUE[code].description,
                value: {
                  statusCode: status,
                  code,
                  error: STATUS_CODES[status] ?? 'Error',
                  message: ERROR_CATALOGUE[code].description,
                },
              },
            ];
          }),
        ),
      },
    },
  };
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head'];

/** Errors, examples and security of every operation, from what `transformRoute` left on it. */
function finishDocument(doc: Schema, opts: DocsOptions): Schema {
  const components = (doc.components ?? {}) as Schema;
  components.schemas = { ...(components.schemas as Schema | undefined), ApiError: plainSchema(ErrorBody) };
  // One shared response per set of codes (`EXPERIMENT_NOT_FOUND`, `NODE_UNREACHABLE_or_HUB_UNREACHABLE`).
  const errors: Record<string, Schema> = {};
  const errorRef = (codes: ErrorCode[]) => {
    const name = codes.join('_or_');
    errors[name] ??= errorResponse(codes);
    return { $ref: `#/components/responses/${name}` };
  };
  doc.components = components;
  for (const item of Object.values((doc.paths ?? {}) as Record<string, Schema>)) {
    for (const method of METHODS) {
      const op = item[method] as Schema | undefined;
      if (!op) continue;
      const facts = op[EXT] as OperationFacts | undefined;
      delete op[EXT];
      if (!facts) continue;
      const responses = (op.responses ?? {}) as Schema;
      for (const [status, codes] of Object.entries(facts.codes).sort(([a], [b]) => Number(a) - Number(b)))
        if (codes) responses[status] = errorRef(codes);
      op.responses = responses;
      const content = ((op.requestBody as Schema | undefined)?.content ?? {}) as Record<string, Schema>;
      for (const [type, examples] of Object.entries(facts.bodyExamples ?? {})) {
        const media = content[type];
        if (!media) continue;
        delete media.example;
        media.examples = examples;
      }
      if (opts.serviceToken && facts.open) op.security = [];
    }
  }
  components.responses = Object.fromEntries(Object.entries(errors).sort(([a], [b]) => a.localeCompare(b)));
  nameSchemas(doc);
  return doc;
}

/** The @fastify/swagger options of a service. */
export function swaggerOptions(opts: DocsOptions): SwaggerOptions {
  const securitySchemes: Schema = {};
  if (opts.serviceToken)
    securitySchemes.serviceToken = {
      type: 'http',
      scheme: 'bearer',
      description:
        'The shared service token, BIOREACTOR_API_TOKEN. Needed when the service was started with one (a deployment); without it (`npm start`) the API is open',
    };
  if (opts.browser)
    securitySchemes.browserSession = {
      type: 'apiKey',
      in: 'cookie',
      name: opts.browser.sessionCookie,
      description:
        'The browser session: set by the web server on the first request, sent back by the browser by itself. Every POST also carries the CSRF header',
    };
  return {
    openapi: {
      openapi: '3.1.0',
      info: { title: opts.title, version: opts.version, description: opts.description },
      components: { securitySchemes } as never,
      security: opts.serviceToken ? [{ serviceToken: [] }] : [],
    },
    // A schema with an $id (the component states) is a component of that name, not `def-N`.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
    transform: ({ schema, url, route }) => {
      if (!schema || (schema as Schema).hide) return { schema, url };
      const method = String(Array.isArray(route.method) ? route.method[0] : route.method).toUpperCase();
      return { schema: transformRoute(schema as Schema, url, method, opts) as never, url };
    },
    transformObject: (documentObject) => {
      const doc = ('openapiObject' in documentObject ? documentObject.openapiObject : documentObject) as Schema;
      return finishDocument(doc, opts) as never;
    },
  };
}

/**
 * Swagger UI's request interceptor for the web server: "Try it out" on a POST sends the CSRF header from the page's
 * `csrf_token` cookie, as the web UI does. Serialised into the page by @fastify/swagger-ui: self-contained.
 */
export function csrfRequestInterceptor(request: { method?: string; headers: Record<string, string> }) {
  const method = String(request.method ?? 'GET').toUpperCase();
  if (method !== 'GET' && method !== 'HEAD' && !request.headers['x-csrf-token']) {
    const cookies = (globalThis as unknown as { document: { cookie: string } }).document.cookie;
    const match = cookies.match(/(?:^|;\s*)csrf_token=([^;]+)/);
    if (match?.[1]) request.headers['x-csrf-token'] = decodeURIComponent(match[1]);
  }
  return request;
}
