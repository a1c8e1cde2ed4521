// Property-based fuzzing of every route of the node, hub and web server from its OpenAPI schema (fast-check):
// whatever arrives, the answer is a catalogued error or a success, never a 500, and every service stays up. The
// fields of the body are fuzzed from the schema; then its framing: content types, charsets, multipart forms.
import { ERROR_CATALOGUE } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BodyRequest, bodyMutation, type RawResponse, sendOverHttp, wholeForm } from './support/body-mutations.js';
import {
  fillPath,
  type InProcessSystem,
  isEndlessStream,
  type OpenApiOperation,
  operationsOf,
  startInProcess,
} from './support/in-process.js';
import { asText, fromSchema, hostileString } from './support/schema-arbitrary.js';

const LONG = process.env.BIOREACTOR_LONG_TESTS === '1';
/** Requests per route: enough to hit each branch of the schema in CI, many more in the long run. */
const RUNS_PER_ROUTE = LONG ? 300 : 12;
/** Requests per route that takes a body, with its framing mutated (content type, charset, multipart); four times as
 * many for a route that takes forms. */
const BODY_RUNS_PER_ROUTE = LONG ? 300 : 24;
const SEED = Number(process.env.BIOREACTOR_FUZZ_SEED ?? 20261124);
/** 5xx answers a service may give by design: a dependency (hub, node, device) failing, never its own bug. */
const DEPENDENCY_FAILURES = new Set([
  'DEVICE_FAULT',
  'COMPONENT_UNAVAILABLE',
  'NODE_UNREACHABLE',
  'HUB_UNREACHABLE',
  'RUNNER_UNAVAILABLE',
]);

let system: InProcessSystem;
let webHeaders: Record<string, string> = {};

beforeAll(async () => {
  system = await startInProcess();
  // A browser session with its CSRF token, so that the web server's POST routes are reached, not refused at the door.
  const res = await system.web.inject({ url: '/api/session' });
  const cookies = res.cookies.map((c) => `${c.name}=${c.value}`).join('; ');
  const csrf = res.cookies.find((c) => c.name === 'csrf_token')?.value ?? '';
  // The origin as a browser sends it: the host with its port (a default port would be dropped from the origin).
  webHeaders = { cookie: cookies, 'x-csrf-token': csrf, origin: 'http://localhost:3000', host: 'localhost:3000' };
});

afterAll(async () => {
  await system?.close();
});

function pathArbitrary(op: OpenApiOperation) {
  const path: Record<string, fc.Arbitrary<string>> = {};
  for (const p of op.parameters) {
    if (p.in === 'path') {
      path[p.name] = fc.oneof(
        fc.constantFrom('co2_sensor', 'stirrer', 'pumps', '00000000-0000-4000-8000-000000000000', 'node-1'),
        fc.string({ minLength: 1, maxLength: 30 }),
        hostileString.filter((s) => s !== ''),
      );
    }
  }
  return fc.record(path);
}

function requestArbitrary(op: OpenApiOperation) {
  const query: Record<string, fc.Arbitrary<unknown>> = {};
  for (const p of op.parameters) {
    if (p.in === 'query' && p.name !== 'follow') {
      // follow=true turns a route into an endless event stream; its one-shot form is what is fuzzed here.
      query[p.name] = fromSchema(p.schema);
    }
  }
  return fc.record({
    path: pathArbitrary(op),
    query: fc.record(query, { requiredKeys: [] }),
    body: op.body ? fromSchema(op.body) : fc.constant(undefined),
    rawBody: fc.option(fc.oneof(fc.string({ maxLength: 60 }), fc.constantFrom('{', '[1,', 'null', '"x"')), {
      freq: 6,
    }),
  });
}

async function fuzzService(name: string, app: () => Service, headers: () => Record<string, string>) {
  const ops = (await operationsOf(app())).filter((op) => !isEndlessStream(op.path));
  expect(ops.length).toBeGreaterThan(5);
  const failures: string[] = [];
  let successes = 0;
  for (const op of ops) {
    await fc.assert(
      fc.asyncProperty(requestArbitrary(op), async (input) => {
        const qs = new URLSearchParams();
        for (const [k, v] of Object.entries(input.query)) if (v !== undefined) qs.set(k, asText(v));
        const url = `${fillPath(op.path, input.path)}${qs.size ? `?${qs}` : ''}`;
        const withBody = op.method !== 'GET' && op.method !== 'DELETE';
        const payload = !withBody ? undefined : (input.rawBody ?? JSON.stringify(input.body ?? {}));
        const res = await app().inject({
          method: op.method as 'GET',
          url,
          headers: { ...headers(), ...(withBody ? { 'content-type': 'application/json' } : {}) },
          ...(payload === undefined ? {} : { payload }),
        });
        const what = `${name} ${op.method} ${url} ${payload?.slice(0, 200) ?? ''} → ${res.statusCode} ${res.body.slice(0, 300)}`;
        if (res.statusCode < 300) successes++;
        if (res.statusCode >= 500) {
          const code = (res.json() as { code?: string }).code ?? '';
          if (!DEPENDENCY_FAILURES.has(code)) failures.push(what);
        }
        if (res.statusCode >= 400 && res.headers['content-type']?.toString().includes('json')) {
          const code = (res.json() as { code?: string }).code ?? '';
          if (!(code in ERROR_CATALOGUE)) failures.push(`uncatalogued error code '${code}': ${what}`);
        }
      }),
      { numRuns: RUNS_PER_ROUTE, seed: SEED, endOnFailure: true },
    );
  }
  expect(failures, failures.slice(0, 10).join('\n')).toEqual([]);
  // Inputs that never got past validation would prove nothing about the handlers.
  expect(successes).toBeGreaterThan(ops.length);
  expect((await app().inject({ url: '/health' })).statusCode).toBe(200);
}

/** The JSON error code of a response, if it has one. */
function errorCode(res: RawResponse): string {
  if (!res.contentType.includes('json')) return '';
  try {
    return (JSON.parse(res.body) as { code?: string }).code ?? '';
  } catch {
    return '';
  }
}

type Sender = (method: string, url: string, req: BodyRequest) => Promise<RawResponse>;

/** Node and hub over real HTTP (two Content-Type lines stay two); the web server by inject, as Node's HTTP parser
 * would hand it over (of duplicated Content-Type lines it keeps the first). */
function overHttp(baseUrl: () => string, headers: () => Record<string, string>): Sender {
  return (method, url, req) => sendOverHttp(baseUrl(), method, url, { ...headers(), ...req.headers }, req.payload);
}

function byInject(app: () => Service, headers: () => Record<string, string>): Sender {
  return async (method, url, req) => {
    const flat: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) flat[k] = Array.isArray(v) ? (v[0] ?? '') : v;
    const res = await app().inject({
      method: method as 'POST',
      url,
      headers: { ...headers(), ...flat },
      payload: req.payload,
    });
    return { statusCode: res.statusCode, contentType: String(res.headers['content-type'] ?? ''), body: res.body };
  };
}

async function fuzzBodies(name: string, app: () => Service, send: Sender) {
  const ops = (await operationsOf(app())).filter((op) => !isEndlessStream(op.path) && op.method !== 'GET');
  expect(ops.length).toBeGreaterThan(2);
  const queued = () => system.hub.hub.queue.all().length;
  const failures: string[] = [];
  let successes = 0;
  for (const [i, op] of ops.entries()) {
    // A route that takes forms (it answers a whole one with anything but 415) has the most framing to get wrong.
    const takesForms = (await send(op.method, fillPath(op.path, {}), wholeForm())).statusCode !== 415;
    await fc.assert(
      fc.asyncProperty(pathArbitrary(op), bodyMutation(fromSchema(op.body)), async (path, req) => {
        const url = fillPath(op.path, path);
        const before = queued();
        const res = await send(op.method, url, req);
        const code = errorCode(res);
        const sent = JSON.stringify(req.payload.subarray(0, 200).toString('latin1'));
        const what = `${name} ${op.method} ${url} [${req.what}] ${JSON.stringify(req.headers).slice(0, 200)} ${sent} → ${res.statusCode} ${res.body.slice(0, 300)}`;
        if (res.statusCode < 300) successes++;
        if (res.statusCode >= 500 && !DEPENDENCY_FAILURES.has(code)) failures.push(what);
        if (res.statusCode >= 400 && res.contentType.includes('json') && !(code in ERROR_CATALOGUE))
          failures.push(`uncatalogued error code '${code}': ${what}`);
        // A refused request stores nothing: no experiment half-sent, or sent on by the web server, is queued.
        if (res.statusCode >= 400 && queued() !== before) failures.push(`refused, yet the queue changed: ${what}`);
      }),
      // A seed per route, so that the routes together see every kind of mutation.
      { numRuns: BODY_RUNS_PER_ROUTE * (takesForms ? 4 : 1), seed: SEED + i, endOnFailure: true },
    );
  }
  expect(failures, failures.slice(0, 10).join('\n')).toEqual([]);
  // Some mutated requests are well-formed (a whole form, a quoted boundary): they must get through.
  expect(successes).toBeGreaterThan(0);
  expect((await app().inject({ url: '/health' })).statusCode).toBe(200);
}

describe('every route that takes a body, with its framing mutated', () => {
  it('node: no 5xx of its own, always a catalogued error', async () => {
    await fuzzBodies(
      'node',
      () => system.node,
      overHttp(
        () => system.nodeUrl,
        () => ({}),
      ),
    );
  }, 240_000);

  it('hub: no 5xx of its own, always a catalogued error, nothing queued by a refused request', async () => {
    await fuzzBodies(
      'hub',
      () => system.hub,
      overHttp(
        () => system.hubUrl,
        () => ({ 'x-session-id': 'fuzz-bodies' }),
      ),
    );
  }, 240_000);

  it('web server: no 5xx of its own, always a catalogued error, nothing sent on by a refused request', async () => {
    await fuzzBodies(
      'web',
      () => system.web,
      byInject(
        () => system.web,
        () => webHeaders,
      ),
    );
  }, 240_000);
});

describe('every route, fuzzed from its schema', () => {
  it('node: no 5xx of its own, always a catalogued error', async () => {
    await fuzzService(
      'node',
      () => system.node,
      () => ({}),
    );
  }, 240_000);

  it('hub: no 5xx of its own, always a catalogued error', async () => {
    await fuzzService(
      'hub',
      () => system.hub,
      () => ({ 'x-session-id': 'fuzz-user' }),
    );
  }, 240_000);

  it('web server: no 5xx of its own, always a catalogued error', async () => {
    await fuzzService(
      'web',
      () => system.web,
      () => webHeaders,
    );
  }, 240_000);
});
