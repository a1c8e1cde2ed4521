// Malformed submissions over real HTTP: every one gets a catalogued 4xx that says what to fix, and the queue is
// exactly as it was (nothing half-sent is queued). Also the other routes that take a body.
import { afterEach, describe, expect, it } from 'vitest';
import { GOOD_SCRIPT, makeHub, type TestHub } from './support/hub.js';

let h: TestHub;
let url: string;
afterEach(async () => {
  await h?.close();
});

async function start(): Promise<void> {
  h = await makeHub({ noDispatch: true });
  url = await h.app.listen({ port: 0, host: '127.0.0.1' });
}

const B = 'hub-test-boundary-42';
const FORM = `multipart/form-data; boundary=${B}`;
const field = (name: string, value: string) =>
  `--${B}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
const file = (name: string, content: string) =>
  `--${B}\r\nContent-Disposition: form-data; name="${name}"; filename="growth.py"\r\nContent-Type: text/x-python\r\n\r\n${content}\r\n`;
const WHOLE = `${field('name', 'growth')}${file('file', GOOD_SCRIPT)}--${B}--\r\n`;

async function post(path: string, contentType: string | undefined, body: string | Uint8Array) {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'x-session-id': 'alice', ...(contentType === undefined ? {} : { 'content-type': contentType }) },
    // Bytes, so that fetch adds no Content-Type of its own.
    body: typeof body === 'string' ? new TextEncoder().encode(body) : body,
  });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as { code: string; message: string } };
}

const snapshot = () => JSON.stringify(h.hub.queue.all());

describe('submissions the hub refuses, over HTTP', () => {
  // [what, content type, body, status, code, a part of the message]
  const cases: [string, string | undefined, string | Uint8Array, number, string, RegExp][] = [
    ['multipart without a boundary', 'multipart/form-data', 'x', 400, 'VALIDATION_FAILED', /-F file=@/],
    [
      'a boundary over 70 characters',
      `multipart/form-data; boundary=${'b'.repeat(71)}`,
      'x',
      400,
      'VALIDATION_FAILED',
      /1 to 70/,
    ],
    [
      'a body with another boundary',
      FORM,
      WHOLE.replaceAll(B, 'other'),
      400,
      'VALIDATION_FAILED',
      /does not contain the boundary/,
    ],
    [
      'a form cut off inside the file',
      FORM,
      WHOLE.slice(0, WHOLE.indexOf('hello')),
      400,
      'VALIDATION_FAILED',
      /cut off/,
    ],
    ['a form cut off inside a header', FORM, WHOLE.slice(0, 40), 400, 'VALIDATION_FAILED', /cut off/],
    [
      'a form without its closing boundary',
      FORM,
      `${field('name', 'x')}${file('file', GOOD_SCRIPT)}`,
      400,
      'VALIDATION_FAILED',
      /closing boundary/,
    ],
    [
      'a whole file, then a field cut off',
      FORM,
      `${file('file', GOOD_SCRIPT)}${field('name', 'growth').slice(0, -6)}`,
      400,
      'VALIDATION_FAILED',
      /closing boundary/,
    ],
    [
      'the file in a field named script',
      FORM,
      `${file('script', GOOD_SCRIPT)}--${B}--\r\n`,
      400,
      'VALIDATION_FAILED',
      /name the field 'file'/,
    ],
    [
      'two files',
      FORM,
      `${file('file', GOOD_SCRIPT)}${file('file', GOOD_SCRIPT)}--${B}--\r\n`,
      400,
      'VALIDATION_FAILED',
      /more than one file/,
    ],
    [
      'a file over BIOREACTOR_MAX_SCRIPT_BYTES',
      FORM,
      `${file('file', `# ${'x'.repeat(1024 * 1024)}`)}--${B}--\r\n`,
      413,
      'PAYLOAD_TOO_LARGE',
      /larger than 1048576 bytes/,
    ],
    [
      'too many fields',
      FORM,
      `${Array.from({ length: 25 }, (_, i) => field(`f${i}`, '1')).join('')}--${B}--\r\n`,
      413,
      'PAYLOAD_TOO_LARGE',
      /more than 20 fields/,
    ],
    ['a form without a file', FORM, `${field('name', 'x')}--${B}--\r\n`, 400, 'VALIDATION_FAILED', /named 'file'/],
    ['an unknown content type', 'application/x-unknown', GOOD_SCRIPT, 415, 'UNSUPPORTED_MEDIA_TYPE', /text\/x-python/],
    [
      'a URL-encoded form (curl -d)',
      'application/x-www-form-urlencoded',
      'script_content=x',
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      /curl -d/,
    ],
    [
      'malformed JSON',
      'application/json',
      '{"script_content": "print(1)',
      400,
      'INVALID_JSON',
      /send the file as it is/,
    ],
    [
      'JSON in latin1',
      'application/json; charset=iso-8859-1',
      '{"script_content": "x"}',
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      /UTF-8 only/,
    ],
    [
      'JSON that is not UTF-8',
      'application/json',
      new Uint8Array([0x7b, 0x22, 0xe9, 0x22, 0x3a, 0x31, 0x7d]),
      400,
      'INVALID_JSON',
      /not UTF-8/,
    ],
    [
      'the JSON envelope sent as text/plain',
      'text/plain',
      JSON.stringify({ script_content: GOOD_SCRIPT }),
      400,
      'VALIDATION_FAILED',
      /Content-Type: application\/json/,
    ],
  ];

  it('answers each with its catalogued status, a message that says what to fix, and the queue unchanged', async () => {
    await start();
    await post('/api/experiments/start', 'text/x-python', GOOD_SCRIPT);
    const before = snapshot();
    expect(h.hub.queue.all()).toHaveLength(1);
    for (const [what, type, body, status, code, message] of cases) {
      const res = await post('/api/experiments/start', type, body);
      expect({ what, status: res.status, code: res.body.code }, res.text).toEqual({ what, status, code });
      expect(res.body.message, what).toMatch(message);
      expect(snapshot(), what).toBe(before);
    }
    // And the hub still queues a whole form.
    const ok = await post('/api/experiments/start', FORM, WHOLE);
    expect(ok.status, ok.text).toBe(200);
    expect(h.hub.queue.all()).toHaveLength(2);
  });

  it('answers the other routes that take a body with the catalogue too', async () => {
    await start();
    const before = snapshot();
    for (const path of ['/api/nodes', '/api/queue/import', '/api/users/transfer']) {
      for (const [type, body, status] of [
        [FORM, WHOLE, 415],
        ['multipart/form-data', 'x', 415],
        ['text/plain', '{}', 415],
        ['application/json; charset=utf-16', '{}', 415],
        ['application/json', '{', 400],
        [undefined, '{}', 415],
      ] as const) {
        const res = await post(path, type, body);
        expect({ path, type, status: res.status }, res.text).toEqual({ path, type, status });
        expect(res.body.code).toMatch(/^(UNSUPPORTED_MEDIA_TYPE|INVALID_JSON)$/);
      }
    }
    expect(snapshot()).toBe(before);
  });
});
