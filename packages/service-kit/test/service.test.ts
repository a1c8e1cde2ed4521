// The shared service shell: token, errors, docs and the SSE writer, on a real Fastify instance.
import { ApiError } from '@bioreactor/api';
import { Type } from 'typebox';
import { afterEach, describe, expect, it } from 'vitest';
import { createService, type Service } from '../src/service.js';
import { openEventStream, readEventStream } from '../src/sse.js';

let app: Service | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function build(apiToken?: string) {
  app = await createService({
    name: 't',
    version: '1',
    description: 't',
    logLevel: 'silent',
    apiToken,
    logger: false,
    strictResponses: true,
  });
  app.post(
    '/api/things',
    {
      schema: {
        body: Type.Object({ duty_cycle: Type.Number({ minimum: 0, maximum: 100 }) }),
        response: { 200: Type.Object({ ok: Type.Boolean() }) },
      },
    },
    async () => ({ ok: true }),
  );
  app.get('/api/conflict', async () => {
    throw new ApiError('INVALID_STATE', 'Experiment is completed; only queued experiments can be paused');
  });
  app.get('/api/items/:id', async () => ({ ok: true }));
  app.get('/api/crash', async () => {
    throw new Error('secret internals');
  });
  app.get(
    '/api/liar',
    { schema: { response: { 200: Type.Object({ ok: Type.Boolean() }) } } },
    async () => ({ ok: 'yes' }) as never,
  );
  return app;
}

describe('service token', () => {
  it('guards every route but health and docs when set', async () => {
    const a = await build('s3cret-token-0123456789');
    expect((await a.inject({ method: 'POST', url: '/api/things', payload: { duty_cycle: 1 } })).statusCode).toBe(401);
    const ok = await a.inject({
      method: 'POST',
      url: '/api/things',
      payload: { duty_cycle: 1 },
      headers: { authorization: 'Bearer s3cret-token-0123456789' },
    });
    expect(ok.statusCode).toBe(200);
    expect((await a.inject({ url: '/openapi.json' })).statusCode).toBe(200);
    expect((await a.inject({ url: '/api/docs/' })).statusCode).toBe(200);
    const wrong = await a.inject({ url: '/api/conflict', headers: { authorization: 'Bearer nope' } });
    expect(wrong.json()).toMatchObject({ statusCode: 401, code: 'UNAUTHORIZED' });
  });

  it('leaves the API open when unset', async () => {
    const a = await build();
    expect((await a.inject({ method: 'POST', url: '/api/things', payload: { duty_cycle: 1 } })).statusCode).toBe(200);
  });
});

describe('errors', () => {
  it('answers a range error with 400 VALIDATION_FAILED naming the field', async () => {
    const a = await build();
    const res = await a.inject({ method: 'POST', url: '/api/things', payload: { duty_cycle: 150 } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(res.json().message).toContain('duty_cycle');
  });

  it('answers broken JSON with 400 INVALID_JSON', async () => {
    const a = await build();
    const res = await a.inject({
      method: 'POST',
      url: '/api/things',
      payload: '{"duty_cycle": ',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('INVALID_JSON');
  });

  it('maps catalogue errors to their status and masks unexpected ones', async () => {
    const a = await build();
    const conflict = await a.inject({ url: '/api/conflict' });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json()).toEqual({
      statusCode: 409,
      code: 'INVALID_STATE',
      error: 'Conflict',
      message: 'Experiment is completed; only queued experiments can be paused',
    });
    const crash = await a.inject({ url: '/api/crash' });
    expect(crash.statusCode).toBe(500);
    expect(crash.body).not.toContain('secret internals');
    expect((await a.inject({ url: '/nowhere' })).json().code).toBe('NOT_FOUND');
  });

  it('answers a path the router refuses (an over-long segment, a bad escape) with a catalogued 400', async () => {
    const a = await build();
    const long = await a.inject({ url: `/api/items/${'a'.repeat(5000)}` });
    expect(long.statusCode).toBe(400);
    expect(long.json()).toMatchObject({ code: 'VALIDATION_FAILED', statusCode: 400 });
    expect(long.json().message).toMatch(/longer than 100 characters/);
    const badEscape = await a.inject({ url: '/api/items/%zz' });
    expect(badEscape.statusCode).toBe(400);
    expect(badEscape.json().code).toBe('VALIDATION_FAILED');
    expect((await a.inject({ url: `/api/items/${'a'.repeat(100)}` })).statusCode).toBe(200);
  });

  it('catches a response that breaks its own contract', async () => {
    const a = await build();
    expect((await a.inject({ url: '/api/liar' })).statusCode).toBe(500);
  });
});

describe('SSE writer', () => {
  it('frames events with retry, ids and multi-line data, readable by readEventStream', async () => {
    const a = await build();
    a.get('/events', (request, reply) => {
      const stream = openEventStream(request, reply, { retryMs: 1234 });
      stream.send('sample', { co2_ppm: 420 }, 1);
      stream.send('note', 'line one\nline two', 2);
      stream.close();
    });
    await a.listen({ port: 0, host: '127.0.0.1' });
    const address = a.server.address() as { port: number };
    const res = await fetch(`http://127.0.0.1:${address.port}/events`);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const events = [];
    for await (const e of readEventStream(res.body as ReadableStream<Uint8Array>)) events.push(e);
    expect(events).toEqual([
      { event: 'sample', data: '{"co2_ppm":420}', id: '1' },
      { event: 'note', data: 'line one\nline two', id: '2' },
    ]);
  });
});
