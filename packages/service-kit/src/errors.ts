// Turns every thrown error into the catalogue's ErrorBody: one place, so no route builds error replies.

import { STATUS_CODES } from 'node:http';
import { ApiError, ERROR_CATALOGUE, type ErrorBody, type ErrorCode, type Problem } from '@bioreactor/api';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'VALIDATION_FAILED',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_REQ_FILE_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
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

function toBody(err: FastifyError | ApiError | Error): { body: ErrorBody; internal: boolean } {
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
  if (mapped) return { body: errorBody(mapped, fe.message), internal: false };
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
  const { body, internal } = toBody(err as FastifyError);
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
