// fast-check requests whose body is wrong in its framing rather than its fields: the Content-Type missing, random,
// duplicated or with another charset; JSON sent as text, cut off, not UTF-8; and multipart forms without or with a
// bad boundary, cut off at any byte, without their closing boundary, with huge part headers, non-UTF-8 bytes, too
// many parts, the file under another name. A few are well-formed, so the routes' success path stays in the mix.
import { request as httpRequest } from 'node:http';
import fc from 'fast-check';

export interface BodyRequest {
  /** One line saying which mutation this is, for the failure report. */
  what: string;
  /** An array is sent as that many header lines. */
  headers: Record<string, string | string[]>;
  payload: Buffer;
}

const SCRIPT = 'import time\nfrom bioreactor_client import Bioreactor\nprint("fuzz")\n';

interface Part {
  headers: string[];
  body: Buffer;
}

function formParts(fields: Record<string, string>, file: { field: string; name: string; content: Buffer }): Part[] {
  const parts: Part[] = Object.entries(fields).map(([k, v]) => ({
    headers: [`Content-Disposition: form-data; name="${k}"`],
    body: Buffer.from(v),
  }));
  parts.push({
    headers: [
      `Content-Disposition: form-data; name="${file.field}"; filename="${file.name}"`,
      'Content-Type: text/x-python',
    ],
    body: file.content,
  });
  return parts;
}

function serialize(parts: Part[], boundary: string, opts: { eol?: string; close?: boolean; epilogue?: string } = {}) {
  const eol = opts.eol ?? '\r\n';
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--${boundary}${eol}${p.headers.map((h) => `${h}${eol}`).join('')}${eol}`), p.body);
    chunks.push(Buffer.from(eol));
  }
  if (opts.close !== false) chunks.push(Buffer.from(`--${boundary}--${eol}${opts.epilogue ?? ''}`));
  return Buffer.concat(chunks);
}

/** The fields of a JSON body as a form's text fields (what a browser would send for it). */
function asFields(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value).slice(0, 6)) out[k] = typeof v === 'string' ? v : JSON.stringify(v);
  return out;
}

const BAD_BYTES = fc.constantFrom(
  Buffer.from([0xff]),
  Buffer.from([0x80]),
  Buffer.from([0xc3]),
  Buffer.from([0xed, 0xa0, 0x80]),
  Buffer.from([0xfe, 0xff]),
  Buffer.from([0x00]),
);

function insertAt(bytes: Buffer, at: number, extra: Buffer): Buffer {
  const i = Math.min(at, bytes.length);
  return Buffer.concat([bytes.subarray(0, i), extra, bytes.subarray(i)]);
}

const CONTENT_TYPES = fc.constantFrom(
  'text/plain',
  'text/plain; charset=utf-8',
  'text/x-python',
  'application/octet-stream',
  'application/x-www-form-urlencoded',
  'APPLICATION/JSON',
  'application/json;;',
  'application/json; charset=latin1',
  'application/json; charset=utf-16',
  'application/json; charset="UTF-8"',
  `application/json; charset=${'x'.repeat(200)}`,
  'application/*',
  '*/*',
  'application/vnd.api+json',
  'application/json, text/plain',
  'multipart/mixed; boundary=x',
  'multipart/form-data',
  '',
);

/** JSON (the route's own body) under a Content-Type that is missing, random, duplicated or not JSON's. */
function contentTypeMutations(json: fc.Arbitrary<Buffer>): fc.Arbitrary<BodyRequest> {
  return fc.oneof(
    json.map((payload) => ({ what: 'JSON without a Content-Type', headers: {}, payload })),
    fc.tuple(json, CONTENT_TYPES).map(([payload, type]) => ({
      what: `JSON as '${type.slice(0, 60)}'`,
      headers: { 'content-type': type },
      payload,
    })),
    fc.tuple(json, fc.string({ maxLength: 40 })).map(([payload, type]) => ({
      what: `JSON as a random Content-Type ${JSON.stringify(type)}`,
      headers: { 'content-type': type },
      payload,
    })),
    fc
      .tuple(json, fc.constantFrom('application/json', 'text/plain', 'multipart/form-data; boundary=x'), CONTENT_TYPES)
      .map(([payload, a, b]) => ({
        what: `JSON with two Content-Type headers '${a}' and '${b.slice(0, 60)}'`,
        headers: { 'content-type': [a, b] },
        payload,
      })),
  );
}

/** JSON with the right Content-Type, in the wrong bytes: cut off, not UTF-8, UTF-16, a BOM, said to be gzip. */
function jsonEncodingMutations(json: fc.Arbitrary<Buffer>): fc.Arbitrary<BodyRequest> {
  const typed = (what: string, payload: Buffer, extra: Record<string, string> = {}): BodyRequest => ({
    what,
    headers: { 'content-type': 'application/json', ...extra },
    payload,
  });
  return fc.oneof(
    fc.tuple(json, fc.nat()).map(([b, n]) => typed('JSON cut off', b.subarray(0, n % Math.max(1, b.length)))),
    fc
      .tuple(json, fc.nat(), BAD_BYTES)
      .map(([b, n, bad]) => typed('JSON with non-UTF-8 bytes', insertAt(b, n % (b.length + 1), bad))),
    json.map((b) => typed('JSON in UTF-16LE', Buffer.from(b.toString('utf8'), 'utf16le'))),
    json.map((b) => typed('JSON after a byte-order mark', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b]))),
    json.map((b) => typed('JSON said to be gzip', b, { 'content-encoding': 'gzip' })),
  );
}

const BOUNDARY = 'fuzz-boundary-0123456789';

/** A form (the route's fields as text, a script file) broken in its framing. */
function multipartMutations(fields: fc.Arbitrary<Record<string, string>>): fc.Arbitrary<BodyRequest> {
  const file = { field: 'file', name: 'fuzz.py', content: Buffer.from(SCRIPT) };
  const form = (what: string, payload: Buffer, type = `multipart/form-data; boundary=${BOUNDARY}`): BodyRequest => ({
    what,
    headers: { 'content-type': type },
    payload,
  });
  const whole = fields.map((f) => serialize(formParts(f, file), BOUNDARY));
  return fc.oneof(
    whole.map((b) => form('a whole form', b)),
    whole.map((b) => form('a form without a boundary parameter', b, 'multipart/form-data')),
    whole.map((b) => form('a form with an empty boundary', b, 'multipart/form-data; boundary=')),
    fc
      .tuple(whole, fc.integer({ min: 71, max: 300 }))
      .map(([b, n]) => form(`a boundary of ${n} characters`, b, `multipart/form-data; boundary=${'b'.repeat(n)}`)),
    whole.map((b) => form('a boundary with characters RFC 2046 forbids', b, 'multipart/form-data; boundary=a{b}<c>')),
    whole.map((b) => form('a quoted boundary', b, `multipart/form-data; boundary="${BOUNDARY}"`)),
    whole.map((b) => form('two boundary parameters', b, `multipart/form-data; boundary=other; boundary=${BOUNDARY}`)),
    whole.map((b) => form('a body made with another boundary', b, 'multipart/form-data; boundary=not-the-one')),
    fc.tuple(whole, fc.nat()).map(([b, n]) => form('a form cut off', b.subarray(0, n % b.length))),
    fields.map((f) =>
      form('a form without its closing boundary', serialize(formParts(f, file), BOUNDARY, { close: false })),
    ),
    fields.map((f) => form('a form with LF line endings', serialize(formParts(f, file), BOUNDARY, { eol: '\n' }))),
    fields.map((f) =>
      form('a form with an epilogue', serialize(formParts(f, file), BOUNDARY, { epilogue: 'trailing junk\r\n' })),
    ),
    fc.tuple(fields, fc.integer({ min: 1, max: 200 })).map(([f, kb]) => {
      const parts = formParts(f, file);
      parts[parts.length - 1]?.headers.push(`X-Junk: ${'j'.repeat(kb * 1024)}`);
      return form(`a part header of ${kb} KiB`, serialize(parts, BOUNDARY));
    }),
    fc
      .tuple(fields, BAD_BYTES, fc.constantFrom('field name', 'field value', 'file name', 'file content'))
      .map(([f, bad, where]) => {
        const parts = formParts({ ...f, note: 'x' }, file);
        const [first] = parts;
        const last = parts[parts.length - 1];
        if (first && last) {
          if (where === 'field name')
            first.headers[0] = `Content-Disposition: form-data; name="n${bad.toString('latin1')}"`;
          if (where === 'field value') first.body = Buffer.concat([first.body, bad]);
          if (where === 'file name')
            last.headers[0] = `Content-Disposition: form-data; name="file"; filename="f${bad.toString('latin1')}.py"`;
          if (where === 'file content') last.body = Buffer.concat([last.body, bad]);
        }
        return form(`non-UTF-8 bytes in a ${where}`, serialize(parts, BOUNDARY));
      }),
    fc.integer({ min: 5, max: 60 }).map((n) => {
      const many: Record<string, string> = {};
      for (let i = 0; i < n; i++) many[`f${i}`] = String(i);
      return form(`a form of ${n} fields`, serialize(formParts(many, file), BOUNDARY));
    }),
    fields.map((f) => {
      const parts = [...formParts(f, file), ...formParts({}, file)];
      return form('two files', serialize(parts, BOUNDARY));
    }),
    fc
      .tuple(fields, fc.string({ minLength: 1, maxLength: 20 }))
      .map(([f, name]) =>
        form(
          `the file in a field named ${JSON.stringify(name)}`,
          serialize(formParts(f, { ...file, field: name.replace(/["\r\n]/g, '_') }), BOUNDARY),
        ),
      ),
    fields.map((f) => {
      const parts = formParts(f, file);
      parts.unshift({ headers: ['Content-Disposition: form-data; name="__proto__"'], body: Buffer.from('x') });
      return form('a field named __proto__', serialize(parts, BOUNDARY));
    }),
    fields.map((f) => {
      const parts = formParts(f, file);
      parts.unshift({
        headers: ['Content-Disposition: form-data; name="name"', 'Content-Type: application/json'],
        body: Buffer.from('{not json'),
      });
      return form('a field declared JSON that is not', serialize(parts, BOUNDARY));
    }),
    fields.map((f) => {
      const parts = formParts(f, file);
      parts.unshift({ headers: ['X-Nothing: here'], body: Buffer.from('no disposition') });
      return form('a part without Content-Disposition', serialize(parts, BOUNDARY));
    }),
    fc.constant(form('an empty form body', Buffer.alloc(0))),
    fc.constant(form('only the closing boundary', Buffer.from(`--${BOUNDARY}--\r\n`))),
    fc.constant(
      form(
        'a file over 1 MiB',
        serialize(formParts({}, { ...file, content: Buffer.alloc(1024 * 1024 + 10, 0x23) }), BOUNDARY),
      ),
    ),
  );
}

/** A whole, well-formed form with one script file: a route that takes forms answers it with anything but 415. */
export function wholeForm(): BodyRequest {
  return {
    what: 'a whole form',
    headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
    payload: serialize(formParts({}, { field: 'file', name: 'fuzz.py', content: Buffer.from(SCRIPT) }), BOUNDARY),
  };
}

/** A request to a route that takes a body, wrong in its framing; `json` gives the route's own (mostly valid) body. */
export function bodyMutation(json: fc.Arbitrary<unknown>): fc.Arbitrary<BodyRequest> {
  const bytes = json.map((v) => Buffer.from(JSON.stringify(v ?? {}) ?? '{}'));
  const fields = json.map(asFields);
  return fc.oneof(
    { weight: 2, arbitrary: contentTypeMutations(bytes) },
    { weight: 2, arbitrary: jsonEncodingMutations(bytes) },
    { weight: 4, arbitrary: multipartMutations(fields) },
  );
}

export interface RawResponse {
  statusCode: number;
  contentType: string;
  body: string;
}

/** Sends a mutated request over real HTTP, as it is: an array header goes out as that many header lines. */
export function sendOverHttp(
  baseUrl: string,
  method: string,
  path: string,
  headers: Record<string, string | string[]>,
  payload: Buffer,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${baseUrl}${path}`,
      { method, headers: { ...headers, 'content-length': String(payload.length), connection: 'close' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            statusCode: res.statusCode ?? 0,
            contentType: String(res.headers['content-type'] ?? ''),
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    // A server may answer (and close) before it has read the whole body: the answer is what counts.
    req.on('error', reject);
    req.end(payload);
  });
}
