// Reads a multipart/form-data upload whole or refuses it with a catalogued error that says what to fix: no or a bad
// boundary, a body cut off before its closing boundary, a file field of another name, too many or too large parts.
import { ApiError } from '@bioreactor/api';
import type { FastifyRequest } from 'fastify';

/** RFC 2046: 1 to 70 of these characters, not ending in a space. */
const BOUNDARY_CHARS = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;

/** The boundary parameter of a multipart Content-Type, as written (quoted or not), or undefined when absent. */
function boundaryParam(contentType: string): string | undefined {
  const match = /;\s*boundary\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)/i.exec(contentType);
  if (!match) return undefined;
  const raw = (match[1] ?? '').trim();
  return raw.startsWith('"') ? raw.slice(1, -1) : raw;
}

/** The multipart boundary of a request, checked; the message shows a command that sets it right. */
export function multipartBoundary(contentType: string | undefined, example: string): string {
  const boundary = boundaryParam(contentType ?? '');
  if (boundary === undefined || boundary === '') {
    throw new ApiError(
      'VALIDATION_FAILED',
      `multipart/form-data needs a boundary parameter (Content-Type: multipart/form-data; boundary=…): do not set the Content-Type yourself, let the client set it, e.g. ${example}`,
    );
  }
  if (!BOUNDARY_CHARS.test(boundary)) {
    throw new ApiError(
      'VALIDATION_FAILED',
      `The multipart boundary must be 1 to 70 letters, digits or '()+_,-./:=? (RFC 2046); this one is ${boundary.length} characters long or has others. Let the client choose it, e.g. ${example}`,
    );
  }
  return boundary;
}

/** Watches the raw body for the boundary: seen at all, and the closing `--boundary--` that ends a whole form. */
export class BoundaryWatch {
  private tail = Buffer.from('\r\n');
  private readonly delimiter: Buffer;
  private readonly close: Buffer;
  bytes = 0;
  sawDelimiter = false;
  sawClose = false;

  constructor(boundary: string) {
    this.delimiter = Buffer.from(`\r\n--${boundary}`);
    this.close = Buffer.from(`\r\n--${boundary}--`);
  }

  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.sawClose) return;
    // The body's first delimiter has no line break before it: the tail starts as one.
    const data = Buffer.concat([this.tail, chunk]);
    if (!this.sawDelimiter && data.includes(this.delimiter)) this.sawDelimiter = true;
    if (data.includes(this.close)) this.sawClose = true;
    this.tail = data.subarray(Math.max(0, data.length - this.close.length + 1));
  }

  /** Why a form that ended without its closing boundary is refused; undefined when it was whole. */
  problem(boundary: string, example: string): string | undefined {
    if (this.sawClose) return undefined;
    if (this.bytes === 0) return `The multipart body is empty: send the file as a form field, e.g. ${example}`;
    if (!this.sawDelimiter)
      return `The multipart body does not contain the boundary '${boundary}' named in its Content-Type: the body and the header were made separately. Let the client build both, e.g. ${example}`;
    return `The multipart body ends before its closing boundary '--${boundary}--' (${this.bytes} bytes arrived): it was cut off on the way. Nothing was stored; send it again, e.g. ${example}`;
  }
}

/** A multipart body that ended before its closing boundary. */
export const CUT_OFF =
  'The multipart body ends before its closing boundary: it was cut off on the way. Nothing was stored; send it again';

/** Errors of busboy (the multipart parser) that carry no code, by their message: malformed input, never a bug. */
const BUSBOY_MESSAGES: [RegExp, string][] = [
  [
    /^Multipart: Boundary not found$|^The needle cannot be an empty String\/Buffer\.$/,
    'multipart/form-data needs a boundary parameter: do not set the Content-Type yourself, let the client set it, e.g. curl -F file=@script.py',
  ],
  [
    /^The needle cannot have a length bigger than 256\.$/,
    'The multipart boundary must be 1 to 70 characters (RFC 2046): let the client choose it, e.g. curl -F file=@script.py',
  ],
  [/^Unexpected end of multipart data$|terminated early due to unexpected end of multipart data$/, CUT_OFF],
  [/^Malformed part header$/, 'A part of the multipart body has a malformed header; let the client build the form'],
];

/** The catalogue's message for an error busboy raised on malformed multipart input, or undefined. */
export function busboyProblem(err: Error): string | undefined {
  return BUSBOY_MESSAGES.find(([pattern]) => pattern.test(err.message))?.[1];
}

export interface FormLimits {
  /** The name of the one file field, e.g. `file`. */
  fileField: string;
  maxFileBytes: number;
  /** Text fields besides the file. */
  maxFields: number;
  maxFieldBytes: number;
  /** A request that works, shown in every message, e.g. `curl -F file=@script.py …`. */
  example: string;
}

export interface FormFile {
  filename: string;
  mimetype: string;
  bytes: Buffer;
}

export interface Form {
  /** The text fields; each name at most once. */
  fields: Map<string, string>;
  file: FormFile | undefined;
}

function mapPartError(err: unknown, limits: FormLimits): unknown {
  if (!(err instanceof Error) || err instanceof ApiError) return err;
  const code = (err as { code?: string }).code;
  switch (code) {
    case 'FST_REQ_FILE_TOO_LARGE':
      return new ApiError(
        'PAYLOAD_TOO_LARGE',
        `The file is larger than ${limits.maxFileBytes} bytes, the most this service accepts`,
      );
    case 'FST_FILES_LIMIT':
      return new ApiError(
        'VALIDATION_FAILED',
        `The form has more than one file: send one, as the field '${limits.fileField}', e.g. ${limits.example}`,
      );
    case 'FST_FIELDS_LIMIT':
    case 'FST_PARTS_LIMIT':
      return new ApiError(
        'PAYLOAD_TOO_LARGE',
        `The form has more than ${limits.maxFields} fields besides the file; send only the documented ones, e.g. ${limits.example}`,
      );
    default: {
      const problem = busboyProblem(err);
      return problem ? new ApiError('VALIDATION_FAILED', `${problem}, e.g. ${limits.example}`) : err;
    }
  }
}

/**
 * Reads a whole multipart form: its text fields and at most one file, named `limits.fileField`. A form cut off
 * before its closing boundary is refused (the multipart parser alone would end it quietly and keep what came), so
 * nothing half-sent is ever stored. Needs @fastify/multipart registered for the route.
 */
export async function readForm(request: FastifyRequest, limits: FormLimits): Promise<Form> {
  const boundary = multipartBoundary(request.headers['content-type'], limits.example);
  const watch = new BoundaryWatch(boundary);
  const onData = (chunk: Buffer | string) => watch.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  const fields = new Map<string, string>();
  let file: FormFile | undefined;
  // The parser pipes the raw body when the iteration starts, in this same turn of the event loop: both see every
  // chunk.
  request.raw.on('data', onData);
  try {
    const parts = request.parts({
      limits: {
        files: 1,
        fileSize: limits.maxFileBytes,
        fields: limits.maxFields,
        fieldSize: limits.maxFieldBytes,
        parts: limits.maxFields + 1,
      },
    });
    for await (const part of parts) {
      if (part.type === 'file') {
        if (part.fieldname !== limits.fileField) {
          throw new ApiError(
            'VALIDATION_FAILED',
            `The form's file is in a field named '${part.fieldname.slice(0, 100)}'; name the field '${limits.fileField}', e.g. ${limits.example}`,
            [{ field: limits.fileField, message: `the file field must be named '${limits.fileField}'` }],
          );
        }
        file = { filename: part.filename, mimetype: part.mimetype, bytes: await part.toBuffer() };
        continue;
      }
      const name = part.fieldname;
      if (part.fieldnameTruncated)
        throw new ApiError('VALIDATION_FAILED', `A form field's name is too long; send only the documented fields`);
      if (part.valueTruncated)
        throw new ApiError(
          'PAYLOAD_TOO_LARGE',
          `The form field '${name}' is longer than ${limits.maxFieldBytes} bytes, the most this service accepts`,
        );
      if (typeof part.value !== 'string')
        throw new ApiError('VALIDATION_FAILED', `The form field '${name}' must be plain text`);
      if (fields.has(name))
        throw new ApiError('VALIDATION_FAILED', `The form has the field '${name}' twice; send it once`, [
          { field: name, message: 'sent twice' },
        ]);
      fields.set(name, part.value);
    }
  } catch (err) {
    // A file part whose body ended before its boundary: its stream closes early, or busboy says so.
    const cut =
      (err as { code?: string }).code === 'ERR_STREAM_PREMATURE_CLOSE' ||
      (err instanceof Error && /unexpected end of multipart data$/.test(err.message));
    if (cut)
      throw new ApiError(
        'VALIDATION_FAILED',
        watch.problem(boundary, limits.example) ?? `${CUT_OFF}, e.g. ${limits.example}`,
      );
    throw mapPartError(err, limits);
  } finally {
    request.raw.off('data', onData);
  }
  const problem = watch.problem(boundary, limits.example);
  if (problem) throw new ApiError('VALIDATION_FAILED', problem);
  return { fields, file };
}
