// Malformed uploads to the web server: each gets a catalogued 4xx that says what to fix, and nothing reaches the
// hub. Forms go to the upload route only; the other routes that take a body answer a form with 415.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Service } from '@bioreactor/service-kit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { Browser } from './browser-session.js';
import { type FakeHub, type FakeNode, startFakeHub, startFakeNode } from './fake-services.js';

let hub: FakeHub;
let node: FakeNode;
let configDir: string;
let app: Service;

beforeEach(async () => {
  hub = await startFakeHub();
  node = await startFakeNode();
  configDir = mkdtempSync(join(tmpdir(), 'web-bodies-'));
  app = await buildApp(
    loadConfig({
      BIOREACTOR_HUB_API_URL: hub.url,
      BIOREACTOR_NODE_API_URL: node.url,
      BIOREACTOR_CONFIG_DIR: configDir,
    }),
    { logger: false, strictResponses: true },
  );
});

afterEach(async () => {
  await app.close();
  await hub.app.close();
  await node.app.close();
  rmSync(configDir, { recursive: true, force: true });
});

const B = 'web-test-boundary-7';
const FORM = `multipart/form-data; boundary=${B}`;
const field = (name: string, value: string) =>
  `--${B}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
const file = (name: string, content: string, filename = 'growth.py') =>
  `--${B}\r\nContent-Disposition: form-data; name="${name}"; filename="${filename}"\r\nContent-Type: text/x-python\r\n\r\n${content}\r\n`;
const WHOLE = `${field('name', 'growth')}${file('file', 'print("hi")\n')}--${B}--\r\n`;

const submissions = () => hub.requests.filter((r) => r.url === '/api/experiments/start').length;

describe('uploads the web server refuses', () => {
  // [what, content type, body, status, code, a part of the message]
  const cases: [string, string | undefined, string | Buffer, number, string, RegExp][] = [
    ['multipart without a boundary', 'multipart/form-data', 'x', 400, 'VALIDATION_FAILED', /needs a boundary/],
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
      WHOLE.slice(0, WHOLE.indexOf('print') + 4),
      400,
      'VALIDATION_FAILED',
      /cut off/,
    ],
    [
      'a form without its closing boundary',
      FORM,
      `${field('name', 'x')}${file('file', 'print(1)')}`,
      400,
      'VALIDATION_FAILED',
      /closing boundary/,
    ],
    [
      'the file in a field named script',
      FORM,
      `${file('script', 'print(1)')}--${B}--\r\n`,
      400,
      'VALIDATION_FAILED',
      /name the field 'file'/,
    ],
    [
      'two files',
      FORM,
      `${file('file', 'print(1)')}${file('file', 'print(2)')}--${B}--\r\n`,
      400,
      'VALIDATION_FAILED',
      /more than one file/,
    ],
    [
      'a file over 1 MiB',
      FORM,
      `${file('file', `# ${'x'.repeat(1024 * 1024)}`)}--${B}--\r\n`,
      413,
      'PAYLOAD_TOO_LARGE',
      /larger than/,
    ],
    [
      'too many fields',
      FORM,
      `${Array.from({ length: 12 }, (_, i) => field(`f${i}`, '1')).join('')}--${B}--\r\n`,
      413,
      'PAYLOAD_TOO_LARGE',
      /more than 10 fields/,
    ],
    ['an unknown content type', 'application/x-unknown', 'x', 415, 'UNSUPPORTED_MEDIA_TYPE', /multipart\/form-data/],
    [
      'JSON sent as text/plain',
      'text/plain',
      '{"script_content": "print(1)"}',
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      /application\/json/,
    ],
    ['malformed JSON', 'application/json', '{"script_content": ', 400, 'INVALID_JSON', /not valid JSON/],
    [
      'JSON in UTF-16',
      'application/json; charset=utf-16',
      '{"script_content": "x"}',
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      /UTF-8 only/,
    ],
  ];

  it('answers each with its catalogued status and message, and sends nothing to the hub', async () => {
    const browser = await new Browser(app).open();
    for (const [what, type, payload, status, code, message] of cases) {
      const res = await browser.request('POST', '/api/experiments/upload', {
        payload,
        headers: type === undefined ? {} : { 'content-type': type },
      });
      const body = res.json<{ code: string; message: string }>();
      expect({ what, status: res.statusCode, code: body.code }, res.body).toEqual({ what, status, code });
      expect(body.message, what).toMatch(message);
    }
    expect(submissions()).toBe(0);
    const ok = await browser.request('POST', '/api/experiments/upload', {
      payload: WHOLE,
      headers: { 'content-type': FORM },
    });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(submissions()).toBe(1);
  });

  it('answers a form sent to any other route that takes a body with 415', async () => {
    const browser = await new Browser(app).open();
    for (const url of ['/api/account/login', '/api/account/register', '/api/settings/dashboard']) {
      for (const [type, payload, status] of [
        [FORM, WHOLE, 415],
        ['multipart/form-data', 'x', 415],
        ['application/json; charset=latin1', '{}', 415],
        ['application/json', '{', 400],
      ] as const) {
        const res = await browser.request('POST', url, { payload, headers: { 'content-type': type } });
        expect({ url, type, status: res.statusCode }, res.body).toEqual({ url, type, status });
      }
    }
  });
});

describe('programs and pre-flights', () => {
  const started = () =>
    hub.requests.filter((r) => r.url === '/api/experiments/start').map((r) => r.body as Record<string, unknown>);
  const yamlFile = (content: string) =>
    `--${B}\r\nContent-Disposition: form-data; name="file"; filename="light-cycle.yaml"\r\nContent-Type: application/yaml\r\n\r\n${content}\r\n`;

  it('passes a program and a pre-flight on to the hub, as JSON and from a form', async () => {
    const browser = await new Browser(app).open();
    const program = {
      name: 'light cycle',
      tracks: [{ component: 'led', steps: [{ duration: '1h', set: { power: 5 } }] }],
    };
    const json = await browser.request('POST', '/api/experiments/upload', {
      json: { program, preflight: { time_scale: 600 } },
    });
    expect(json.statusCode, json.body).toBe(200);
    const form = await browser.request('POST', '/api/experiments/upload', {
      headers: { 'content-type': FORM },
      payload: `${field('preflight', 'true')}${field('time_scale', '120')}${yamlFile('name: light cycle\n')}--${B}--\r\n`,
    });
    expect(form.statusCode, form.body).toBe(200);
    const script = await browser.request('POST', '/api/experiments/upload', {
      headers: { 'content-type': FORM },
      payload: `${field('preflight', 'true')}${file('file', 'print("hi")\n')}--${B}--\r\n`,
    });
    expect(script.statusCode, script.body).toBe(200);
    expect(started()).toEqual([
      { program, preflight: { time_scale: 600 } },
      { program: 'name: light cycle\n', preflight: { time_scale: 120 }, name: 'light-cycle' },
      { script_content: 'print("hi")\n', preflight: {} },
    ]);
  });

  it('refuses a script and a program at once, and a speed-up that is no number, before the hub', async () => {
    const browser = await new Browser(app).open();
    const both = await browser.request('POST', '/api/experiments/upload', {
      json: { script_content: 'print(1)\n', program: 'name: x\n' },
    });
    expect(both.statusCode).toBe(400);
    const scale = await browser.request('POST', '/api/experiments/upload', {
      headers: { 'content-type': FORM },
      payload: `${field('preflight', 'true')}${field('time_scale', 'fast')}${file('file', 'print("hi")\n')}--${B}--\r\n`,
    });
    expect(scale.statusCode).toBe(400);
    expect(scale.json<{ message: string }>().message).toMatch(/speed-up must be a whole number from 1 to 3600/);
    expect(submissions()).toBe(0);
  });
});
