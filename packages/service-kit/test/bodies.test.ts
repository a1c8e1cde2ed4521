// Malformed bodies of every kind get a catalogued 4xx that says what to fix, never a 500, and a refused upload
// stores nothing: multipart without or with a bad boundary, cut off, too large, too many parts, the file in another
// field, unknown content types, JSON that is broken, empty, in another charset or not UTF-8.
import { connect } from 'node:net';
import { ERROR_CATALOGUE } from '@bioreactor/api';
import multipart from '@fastify/multipart';
import { Type } from 'typebox';
import { afterEach, describe, expect, it } from 'vitest';
import { readForm } from '../src/multipart.js';
import { createService, type Service } from '../src/service.js';

let app: Service | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

const LIMITS = {
  fileField: 'file',
  maxFileBytes: 1024,
  maxFields: 3,
  maxFieldBytes: 64,
  example: 'curl -F file=@script.py',
};

/** What the upload route stored: a refused form must leave it as it was. */
let stored: { file: string | undefined; fields: Record<string, string> }[] = [];

async function build(): Promise<Service> {
  stored = [];
  app = await createService({ name: 't', version: '1', description: 't', logLevel: 'silent', logger: false });
  app.post(
    '/api/things',
    { schema: { body: Type.Object({ duty_cycle: Type.Number({ minimum: 0, maximum: 100 }) }) } },
    async () => ({ ok: true }),
  );
  app.post('/api/nobody', async () => ({ ok: true }));
  app.get(
    '/api/range',
    { schema: { querystring: Type.Object({ points: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 })) }) } },
    async () => ({ ok: true }),
  );
  const uploads = (scope: Service, _opts: unknown, done: (err?: Error) => void): void => {
    void scope.register(multipart);
    // A route that reads the parts itself: the shared error handler still maps what the parser throws.
    scope.post('/api/parts', async (request) => {
      for await (const part of request.parts()) if (part.type === 'file') await part.toBuffer();
      return { ok: true };
    });
    scope.post('/api/upload', async (request) => {
      const form = await readForm(request, LIMITS);
      stored.push({ file: form.file?.bytes.toString('utf8'), fields: Object.fromEntries(form.fields) });
      return { ok: true };
    });
    done();
  };
  await app.register(uploads);
  return app;
}

const B = 'test-boundary-0123';
const FORM_TYPE = `multipart/form-data; boundary=${B}`;
const field = (name: string, value: string) =>
  `--${B}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
const filePart = (name: string, content: string, filename = 'script.py') =>
  `--${B}\r\nContent-Disposition: form-data; name="${name}"; filename="${filename}"\r\nContent-Type: text/x-python\r\n\r\n${content}\r\n`;
const END = `--${B}--\r\n`;
const GOOD = `${field('name', 'growth')}${filePart('file', 'print("hi")')}${END}`;

async function send(url: string, contentType: string | undefined, payload: string | Buffer) {
  const res = await (app as Service).inject({
    method: 'POST',
    url,
    headers: contentType === undefined ? {} : { 'content-type': contentType },
    payload,
  });
  const body = res.json() as { statusCode: number; code: string; message: string };
  return { status: res.statusCode, ...body };
}

describe('multipart uploads', () => {
  it('reads a whole form: its fields and its one file', async () => {
    await build();
    const res = await send('/api/upload', FORM_TYPE, GOOD);
    expect(res.status).toBe(200);
    expect(stored).toEqual([{ file: 'print("hi")', fields: { name: 'growth' } }]);
  });

  // [what, content type, body, status, code, a part of the message]
  const cases: [string, string, string | Buffer, number, string, RegExp][] = [
    ['no boundary (curl -H by hand)', 'multipart/form-data', 'x', 400, 'VALIDATION_FAILED', /needs a boundary/],
    ['an empty boundary', 'multipart/form-data; boundary=', 'x', 400, 'VALIDATION_FAILED', /needs a boundary/],
    [
      'a boundary of 300 characters',
      `multipart/form-data; boundary=${'b'.repeat(300)}`,
      GOOD,
      400,
      'VALIDATION_FAILED',
      /1 to 70/,
    ],
    [
      'a boundary with a bad character',
      'multipart/form-data; boundary=a{b}',
      GOOD,
      400,
      'VALIDATION_FAILED',
      /1 to 70/,
    ],
    [
      'a body without the boundary',
      FORM_TYPE,
      GOOD.replaceAll(B, 'other'),
      400,
      'VALIDATION_FAILED',
      /does not contain the boundary/,
    ],
    ['an empty body', FORM_TYPE, '', 400, 'VALIDATION_FAILED', /empty/],
    [
      'a body cut off inside the file',
      FORM_TYPE,
      GOOD.slice(0, GOOD.indexOf('print') + 3),
      400,
      'VALIDATION_FAILED',
      /closing boundary/,
    ],
    ['a body cut off inside a part header', FORM_TYPE, GOOD.slice(0, 30), 400, 'VALIDATION_FAILED', /closing boundary/],
    [
      'a body cut off inside a field',
      FORM_TYPE,
      `${filePart('file', 'x')}--${B}\r\nContent-Disposition: form-data; name="name"\r\n\r\ngro`,
      400,
      'VALIDATION_FAILED',
      /closing boundary/,
    ],
    [
      'no closing boundary',
      FORM_TYPE,
      `${field('name', 'growth')}${filePart('file', 'x')}`,
      400,
      'VALIDATION_FAILED',
      /closing boundary/,
    ],
    [
      'the closing boundary without its dashes',
      FORM_TYPE,
      `${filePart('file', 'x')}--${B}\r\n`,
      400,
      'VALIDATION_FAILED',
      /closing boundary/,
    ],
    [
      'a file over the limit',
      FORM_TYPE,
      `${filePart('file', 'x'.repeat(2000))}${END}`,
      413,
      'PAYLOAD_TOO_LARGE',
      /larger than 1024 bytes/,
    ],
    [
      'a field over the limit',
      FORM_TYPE,
      `${field('name', 'x'.repeat(100))}${END}`,
      413,
      'PAYLOAD_TOO_LARGE',
      /longer than 64 bytes/,
    ],
    [
      'too many fields',
      FORM_TYPE,
      `${['a', 'b', 'c', 'd', 'e'].map((n) => field(n, '1')).join('')}${END}`,
      413,
      'PAYLOAD_TOO_LARGE',
      /more than 3 fields/,
    ],
    [
      'two files',
      FORM_TYPE,
      `${filePart('file', 'x')}${filePart('file', 'y')}${END}`,
      400,
      'VALIDATION_FAILED',
      /more than one file/,
    ],
    [
      'the file in a field of another name',
      FORM_TYPE,
      `${filePart('script', 'x')}${END}`,
      400,
      'VALIDATION_FAILED',
      /name the field 'file'/,
    ],
    [
      'a field sent twice',
      FORM_TYPE,
      `${field('name', 'a')}${field('name', 'b')}${END}`,
      400,
      'VALIDATION_FAILED',
      /twice/,
    ],
    [
      'a field named __proto__',
      FORM_TYPE,
      `${field('__proto__', 'x')}${END}`,
      400,
      'VALIDATION_FAILED',
      /reserved name/,
    ],
    [
      'a JSON field that is not JSON',
      FORM_TYPE,
      `--${B}\r\nContent-Disposition: form-data; name="name"\r\nContent-Type: application/json\r\n\r\n{bad\r\n${END}`,
      400,
      'INVALID_JSON',
      /not valid JSON/,
    ],
    ['a form to a JSON route', FORM_TYPE, GOOD, 415, 'UNSUPPORTED_MEDIA_TYPE', /send application\/json/],
  ];
  for (const [what, type, body, status, code, message] of cases) {
    it(`refuses ${what}: ${status} ${code}`, async () => {
      await build();
      const url = what === 'a form to a JSON route' ? '/api/things' : '/api/upload';
      const res = await send(url, type, body);
      expect(res, JSON.stringify(res)).toMatchObject({ status, statusCode: status, code });
      expect(ERROR_CATALOGUE[res.code as keyof typeof ERROR_CATALOGUE].status).toBe(status);
      expect(res.message).toMatch(message);
      expect(stored).toEqual([]);
      // The service goes on answering.
      expect((await send('/api/upload', FORM_TYPE, GOOD)).status).toBe(200);
    });
  }

  it('accepts a part with an over-long header, non-UTF-8 bytes in the file and a quoted boundary', async () => {
    await build();
    const long = `--${B}\r\nContent-Disposition: form-data; name="file"; filename="a.py"\r\nX-Junk: ${'j'.repeat(100_000)}\r\n\r\nx\r\n${END}`;
    expect((await send('/api/upload', FORM_TYPE, long)).status).toBeLessThan(500);
    const bytes = Buffer.concat([
      Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="file"; filename="a.py"\r\n\r\n`),
      Buffer.from([0xff, 0xfe, 0x80]),
      Buffer.from(`\r\n${END}`),
    ]);
    expect((await send('/api/upload', FORM_TYPE, bytes)).status).toBe(200);
    expect((await send('/api/upload', `multipart/form-data; boundary="${B}"`, GOOD)).status).toBe(200);
  });
});

describe('the shared error handler, for a route that reads request.parts() itself', () => {
  for (const [what, type, body] of [
    ['no boundary', 'multipart/form-data', 'x'],
    ['a boundary of 300 characters', `multipart/form-data; boundary=${'b'.repeat(300)}`, GOOD],
    ['a body cut off inside the file', FORM_TYPE, GOOD.slice(0, GOOD.indexOf('print') + 3)],
    ['a file without its closing boundary', FORM_TYPE, filePart('file', 'x')],
  ] as const) {
    it(`answers ${what} with a catalogued 4xx`, async () => {
      await build();
      const res = await send('/api/parts', type, body);
      expect(res.status, JSON.stringify(res)).toBeLessThan(500);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.code).toMatch(/^(VALIDATION_FAILED|PAYLOAD_TOO_LARGE)$/);
    });
  }
});

describe('content types and JSON', () => {
  const cases: [string, string | undefined, string | Buffer, number, string, RegExp][] = [
    [
      'an unknown content type',
      'application/x-unknown',
      'x',
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      /not accepted by POST \/api\/things/,
    ],
    ['a content type that does not parse', '???', 'x', 415, 'UNSUPPORTED_MEDIA_TYPE', /send application\/json/],
    ['a body without a content type', undefined, '{"duty_cycle": 1}', 415, 'UNSUPPORTED_MEDIA_TYPE', /no Content-Type/],
    [
      'a URL-encoded form (curl -d)',
      'application/x-www-form-urlencoded',
      'duty_cycle=1',
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      /curl -d/,
    ],
    [
      'JSON sent as text/plain',
      'text/plain',
      '{"duty_cycle": 1}',
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      /send application\/json/,
    ],
    ['malformed JSON', 'application/json', '{"duty_cycle": ', 400, 'INVALID_JSON', /not valid JSON/],
    ['an empty JSON body', 'application/json', '', 400, 'VALIDATION_FAILED', /empty/],
    [
      'JSON declared latin1',
      'application/json; charset=latin1',
      '{"duty_cycle": 1}',
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      /UTF-8 only.*latin1/,
    ],
    [
      'JSON declared UTF-16',
      'application/json; charset=utf-16',
      '{"duty_cycle": 1}',
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      /UTF-8 only/,
    ],
    [
      'JSON that is not UTF-8',
      'application/json',
      Buffer.from('{"name": "\xe9"}', 'latin1'),
      400,
      'INVALID_JSON',
      /not UTF-8 text \(byte 10/,
    ],
    [
      'JSON with a __proto__ key',
      'application/json',
      '{"__proto__": {"x": 1}, "duty_cycle": 1}',
      400,
      'INVALID_JSON',
      /__proto__/,
    ],
  ];
  for (const [what, type, body, status, code, message] of cases) {
    it(`refuses ${what}: ${status} ${code}`, async () => {
      await build();
      const res = await send('/api/things', type, body);
      expect(res, JSON.stringify(res)).toMatchObject({ status, code });
      expect(res.message).toMatch(message);
    });
  }

  it('reads UTF-8 JSON with or without charset and with a byte-order mark', async () => {
    await build();
    for (const type of ['application/json', 'application/json; charset=utf-8', 'application/json; charset="UTF-8"'])
      expect((await send('/api/things', type, '{"duty_cycle": 1}')).status).toBe(200);
    expect((await send('/api/things', 'application/json', '\ufeff{"duty_cycle": 1}')).status).toBe(200);
    expect((await send('/api/nobody', 'application/json', '{}')).status).toBe(200);
  });
});

describe('numbers that are not finite', () => {
  // The validator coerces the text "1e309" or "Infinity" to Infinity and then skips the range checks for it.
  it('refuses Infinity made from text in a body, a query or a form-like value, naming the field', async () => {
    await build();
    for (const value of ['1e309', 'Infinity', '-1e309']) {
      const body = await send('/api/things', 'application/json', JSON.stringify({ duty_cycle: value }));
      expect(body, value).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
      expect(body.message).toContain('body.duty_cycle');
      const query = await (app as Service).inject({ url: `/api/range?points=${value}` });
      expect(query.statusCode, value).toBe(400);
      expect(query.json().message).toContain('query.points');
    }
    expect((await send('/api/things', 'application/json', '{"duty_cycle": "50"}')).status).toBe(200);
    expect((await (app as Service).inject({ url: '/api/range?points=5' })).statusCode).toBe(200);
  });
});

describe('over real HTTP', () => {
  async function listen(): Promise<string> {
    const a = await build();
    return a.listen({ port: 0, host: '127.0.0.1' });
  }

  /** Sends bytes as they are (a Content-Length matching what is sent, so a cut body is still a whole request). */
  async function raw(url: string, head: string, body: Buffer): Promise<{ status: number; body: string }> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), hostname);
      const chunks: Buffer[] = [];
      socket.on('data', (c) => chunks.push(c));
      socket.on('error', reject);
      socket.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: Number(text.slice(9, 12)), body: text.slice(text.indexOf('\r\n\r\n') + 4) });
      });
      socket.write(`${head}\r\nHost: x\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n`);
      socket.end(body);
    });
  }

  it("answers curl -H 'Content-Type: multipart/form-data' --data x with 400 and how to let curl set the boundary", async () => {
    const url = await listen();
    const res = await fetch(`${url}/api/upload`, {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data' },
      body: 'x',
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe('VALIDATION_FAILED');
    expect(body.message).toContain('curl -F file=@script.py');
  });

  it('refuses a form cut off mid-file, stores nothing, and reads a whole one sent next', async () => {
    const url = await listen();
    const cut = await raw(
      url,
      `POST /api/upload HTTP/1.1\r\nContent-Type: ${FORM_TYPE}`,
      Buffer.from(GOOD.slice(0, GOOD.indexOf('print') + 3)),
    );
    expect(cut.status).toBe(400);
    expect(JSON.parse(cut.body)).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(stored).toEqual([]);
    const form = new FormData();
    form.set('file', new Blob(['print(1)']), 'script.py');
    form.set('name', 'x');
    const ok = await fetch(`${url}/api/upload`, { method: 'POST', body: form });
    expect(ok.status).toBe(200);
    expect(stored).toEqual([{ file: 'print(1)', fields: { name: 'x' } }]);
  });

  it('answers a large file in a wrongly named field, then keeps serving', async () => {
    const url = await listen();
    const form = new FormData();
    form.set('script', new Blob(['x'.repeat(200_000)]), 'script.py');
    const res = await fetch(`${url}/api/upload`, { method: 'POST', body: form });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toMatch(/name the field 'file'/);
    const ok = await fetch(`${url}/api/things`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"duty_cycle": 5}',
    });
    expect(ok.status).toBe(200);
  });
});
