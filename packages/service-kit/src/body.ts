// The JSON every service takes: UTF-8 as RFC 8259 says, whatever charset the Content-Type claims, checked before
// parsing so that a body in another encoding is refused instead of read with replacement characters.
import { ApiError } from '@bioreactor/api';
import type { FastifyInstance } from 'fastify';

const UTF8_CHARSETS = new Set(['utf-8', 'utf8', 'us-ascii', 'ascii']);
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

function charsetOf(contentType: string | undefined): string | undefined {
  const match = /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(contentType ?? '');
  return match ? (match[1] ?? '').toLowerCase() : undefined;
}

/** Where the first byte that starts no UTF-8 sequence is, for the message (undefined for subtler faults). */
function firstBadByte(body: Buffer): number | undefined {
  let i = 0;
  while (i < body.length) {
    const c = body[i] ?? 0;
    const more =
      c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (more < 0) return i;
    for (let k = 1; k <= more; k++) if (((body[i + k] ?? 0) & 0xc0) !== 0x80) return i;
    i += more + 1;
  }
  return undefined;
}

/**
 * The text of a JSON body: refused with 415 when the Content-Type names a charset other than UTF-8, and with
 * 400 INVALID_JSON when the bytes are not UTF-8. A leading byte-order mark is dropped.
 */
export function jsonText(body: Buffer, contentType: string | undefined): string {
  const charset = charsetOf(contentType);
  if (charset !== undefined && !UTF8_CHARSETS.has(charset)) {
    throw new ApiError(
      'UNSUPPORTED_MEDIA_TYPE',
      `JSON is read as UTF-8 only, and this body says charset=${charset.slice(0, 40)}: encode it as UTF-8 and send Content-Type: application/json`,
    );
  }
  try {
    return decoder.decode(body);
  } catch {
    const at = firstBadByte(body);
    throw new ApiError(
      'INVALID_JSON',
      `The JSON body is not UTF-8 text${at === undefined ? '' : ` (byte ${at} starts no UTF-8 character)`}: save or encode it as UTF-8`,
    );
  }
}

/**
 * Every service's body parsers: JSON (strict UTF-8, prototype poisoning refused) and nothing else. A route scope
 * that takes more (an upload) adds its own parsers; any other Content-Type gets 415 with what the route takes.
 */
export function installBodyParsers(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    let text: string;
    try {
      text = jsonText(body as Buffer, request.headers['content-type']);
    } catch (err) {
      done(err as Error, undefined);
      return;
    }
    void parse(request, text, done);
  });
}

/** The path of the first number that is not finite (Infinity, NaN) in a parsed value, or undefined. */
export function nonFinitePath(value: unknown, path: string, depth = 0): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : path;
  if (typeof value !== 'object' || value === null || depth > 32 || Buffer.isBuffer(value)) return undefined;
  for (const [k, v] of Object.entries(value)) {
    const found = nonFinitePath(v, Array.isArray(value) ? `${path}[${k}]` : `${path}.${k}`, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/**
 * Refuses a number that is not finite where validation let it through: the validator turns the text "1e309" or
 * "Infinity" of a query, path or form value into Infinity and then skips the range checks for it, so without this
 * an out-of-range value reached the handlers (and broke the response's contract).
 */
export function installFiniteNumberCheck(app: FastifyInstance): void {
  app.addHook('preHandler', async (request) => {
    for (const [where, value] of [
      ['body', request.body],
      ['query', request.query],
      ['params', request.params],
    ] as const) {
      const path = nonFinitePath(value, where);
      if (path)
        throw new ApiError('VALIDATION_FAILED', `${path} must be a finite number within its range`, [
          { field: path, message: 'must be a finite number' },
        ]);
    }
  });
}
