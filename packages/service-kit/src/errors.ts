// Turns every thrown error into the catalogue's ErrorBody: one place, so no route builds error replies.

import { STATUS_CODES } from 'node:http';
import { ApiError, ERROR_CATALOGUE, type ErrorBody, type ErrorCode, type Problem } from '@bioreactor/api';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { busboyProblem, CUT_OFF } from './multipart.js';

/** Content types a route may take, besides JSON; a 415 lists those its scope has a parser for. */
const BODY_TYPES = [
  'application/json',
  'multipart/form-data',
  'text/x-python',
  'text/plain',
  'application/x-python',
  'application/octet-stream',
];

function acceptedTypes(request: FastifyRequest): string {
  const types = BODY_TYPES.filter((t) => request.server.hasContentTypeParser(t));
  return types.length > 1 ? `one of ${types.join(', ')}` : (types[0] ?? 'application/json');
}

function unsupportedMediaType(request: FastifyRequest): string {
  const given = request.headers['content-type'];
  const where = `${request.method} ${request.url.split('?')[0]}`;
  const accepted = acceptedTypes(request);
  if (given === undefined || given === '')
    return `The body has no Content-Type; ${where} takes ${accepted}: add e.g. -H 'Content-Type: application/json'`;
  const hint = /^application\/x-www-form-urlencoded/i.test(given)
    ? " (curl -d sends a URL-encoded form; add -H 'Content-Type: application/json' for JSON)"
    : '';
  return `Content-Type '${given.slice(0, 100)}' is not accepted by ${where}${hint}; send ${accepted}`;
}

/** Fastify's and @fastify/multipart's own errors, each to its catalogue code and a message that says what to fix. */
const FASTIFY_CODES: Record<string, (request: FastifyRequest, err: FastifyError) => [ErrorCode, string]> = {
  FST_ERR_CTP_INVALID_JSON_BODY: () => [
    'INVALID_JSON',
    'The body is not valid JSON (or has a __proto__ or constructor key); check quotes, commas and brackets, or build it with a tool such as jq',
  ],
  FST_ERR_CTP_EMPTY_JSON_BODY: () => [
    'VALIDATION_FAILED',
    'The body is empty but its Content-Type is application/json: send a JSON object, or no Content-Type header',
  ],
  FST_ERR_CTP_BODY_TOO_LARGE: (request) => [
    'PAYLOAD_TOO_LARGE',
    `The body is larger than the ${request.routeOptions.bodyLimit ?? request.server.initialConfig.bodyLimit} bytes this route accepts`,
  ],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (request) => ['UNSUPPORTED_MEDIA_TYPE', unsupportedMediaType(request)],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => [
    'VALIDATION_FAILED',
    'The body is not as long as its Content-Length header says (cut off on the way?); send it again',
  ],
  FST_REQ_FILE_TOO_LARGE: () => ['PAYLOAD_TOO_LARGE', 'The uploaded file is larger than this service accepts'],
  FST_FILES_LIMIT: () => ['VALIDATION_FAILED', 'The form has more files than this route takes: send one file'],
  FST_FIELDS_LIMIT: () => ['PAYLOAD_TOO_LARGE', 'The form has more fields than this route takes'],
  FST_PARTS_LIMIT: () => ['PAYLOAD_TOO_LARGE', 'The form has more parts than this route takes'],
  FST_PROTO_VIOLATION: () => [
    'VALIDATION_FAILED',
    'A form field is named __proto__, constructor or another reserved name; rename it',
  ],
  FST_INVALID_JSON_FIELD_ERROR: () => [
    'INVALID_JSON',
    'A form field declared as Content-Type: application/json is not valid JSON; fix it or send it as plain text',
  ],
  FST_INVALID_MULTIPART_CONTENT_TYPE: (request) => [
    'UNSUPPORTED_MEDIA_TYPE',
    `This route reads a multipart form, but the body is ${request.headers['content-type']?.slice(0, 100) ?? 'without a Content-Type'}; send e.g. curl -F file=@script.py`,
  ],
};

export function errorBody(code: ErrorCode, message: string, problems?: Problem[]): ErrorBody {
  const statusCode = ERROR_CATALOGUE[code].status;
  const body: ErrorBody = { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message };
  if (problems && problems.length > 0) body.problems = problems;
  return body;
}

function validationProblems(err: FastifyError): Problem[] {
  return (err.validation ?? []).map((v) => {
    const where = `${err.validationContext ?? 'body'}${v.instancePath.replaceAll('/', '.')}`;
    const extra =
      v.keyword === 'required' ? ` '${String((v.params as { missingProperty?: string }).missingProperty)}'` : '';
    return { field: where, message: `${where} ${v.message ?? 'is invalid'}${extra}` };
  });
}

/** Fastify's limit on one path segment (its default maxParamLength); ids are far shorter. */
export const MAX_PATH_SEGMENT = 100;

function toBody(err: FastifyError | ApiError | Error, request: FastifyRequest): { body: ErrorBody; internal: boolean } {
  if (err instanceof ApiError) return { body: errorBody(err.code, err.message, err.problems), internal: false };
  const fe = err as FastifyError;
  if (fe.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    const message = `A part of the path is longer than ${MAX_PATH_SEGMENT} characters; check the URL (experiment ids have at most 64)`;
    return { body: errorBody('VALIDATION_FAILED', message), internal: false };
  }
  if (fe.code === 'FST_ERR_BAD_URL') {
    return { body: errorBody('VALIDATION_FAILED', 'The URL is malformed (a bad %-escape); check it'), internal: false };
  }
  if (fe.validation) {
    const problems = validationProblems(fe);
    return {
      body: errorBody('VALIDATION_FAILED', problems.map((p) => p.message).join('; '), problems),
      internal: false,
    };
  }
  const mapped = fe.code ? FASTIFY_CODES[fe.code] : undefined;
  if (mapped) {
    const [code, message] = mapped(request, fe);
    return { body: errorBody(code, message), internal: false };
  }
  // busboy's errors have no code; a malformed multipart body is the client's to fix, never a 500.
  const multipart = fe.code === undefined ? busboyProblem(fe) : undefined;
  if (multipart) return { body: errorBody('VALIDATION_FAILED', multipart), internal: false };
  // A form's file stream that closes before its end: the body was cut off inside the file.
  if (fe.code === 'ERR_STREAM_PREMATURE_CLOSE' && (request as { isMultipart?: () => boolean }).isMultipart?.())
    return { body: errorBody('VALIDATION_FAILED', CUT_OFF), internal: false };
  const status = fe.statusCode ?? 500;
  if (status === 404) return { body: errorBody('NOT_FOUND', fe.message), internal: false };
  if (status === 413) return { body: errorBody('PAYLOAD_TOO_LARGE', fe.message), internal: false };
  if (status === 415) return { body: errorBody('UNSUPPORTED_MEDIA_TYPE', fe.message), internal: false };
  if (status >= 400 && status < 500)
    return {
      body: {
        ...errorBody('VALIDATION_FAILED', fe.message),
        statusCode: status,
        error: STATUS_CODES[status] ?? 'Error',
      },
      internal: false,
    };
  return { body: errorBody('INTERNAL', 'Internal error; the service log has the details'), internal: true };
}

/** The one way an error becomes a reply: from the error handler, and from the router before any route runs. */
export function replyWithError(err: Error, request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined {
  const { body, internal } = toBody(err as FastifyError, request);
  if (internal) request.log.error({ err }, 'unexpected error');
  else request.log.info({ code: body.code, message: body.message }, 'request refused');
  // An error after the headers went out (a stream) can only end the response.
  if (reply.sent || reply.raw.headersSent) {
    reply.raw.destroy();
    return undefined;
  }
  return reply.status(body.statusCode).type('application/json').send(body);
}

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err, request, reply) => replyWithError(err as Error, request, reply));
  app.setNotFoundHandler((request, reply) => {
    const body = errorBody('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}; see /api/docs`);
    return reply.status(404).send(body);
  });
}
