// Property-based fuzzing of every route of the node, hub and web server from its OpenAPI schema (fast-check):
// whatever arrives, the answer is a catalogued error or a success, never a 500, and every service stays up.
import { ERROR_CATALOGUE } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  webHeaders = { cookie: cookies, 'x-csrf-token': csrf, origin: 'http://localhost:80', host: 'localhost:80' };
});

afterAll(async () => {
  await system?.close();
});

function requestArbitrary(op: OpenApiOperation) {
  const path: Record<string, fc.Arbitrary<string>> = {};
  const query: Record<string, fc.Arbitrary<unknown>> = {};
  for (const p of op.parameters) {
    if (p.in === 'path') {
      path[p.name] = fc.oneof(
        fc.constantFrom('co2_sensor', 'stirrer', 'pumps', '00000000-0000-4000-8000-000000000000', 'node-1'),
        fc.string({ minLength: 1, maxLength: 30 }),
        hostileString.filter((s) => s !== ''),
      );
    } else if (p.in === 'query' && p.name !== 'follow') {
      // follow=true turns a route into an endless event stream; its one-shot form is what is fuzzed here.
      query[p.name] = fromSchema(p.schema);
    }
  }
  return fc.record({
    path: fc.record(path),
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
