// The one error catalogue: every error any service returns carries one of these codes.
import { type Static, Type } from 'typebox';

/** Code → HTTP status and the one-line meaning shown in the API docs. Add codes rarely. */
export const ERROR_CATALOGUE = {
  VALIDATION_FAILED: { status: 400, description: 'A field is missing, of the wrong type or out of range.' },
  INVALID_JSON: { status: 400, description: 'The body is not valid JSON.' },
  UNAUTHORIZED: { status: 401, description: 'The service token or the sign-in is missing or wrong.' },
  FORBIDDEN: { status: 403, description: 'The caller may not do this (another user, or admin only).' },
  CSRF_FAILED: { status: 403, description: 'The CSRF token of a browser request is missing or wrong.' },
  NOT_FOUND: { status: 404, description: 'No such route.' },
  EXPERIMENT_NOT_FOUND: { status: 404, description: 'No experiment with this id.' },
  COMPONENT_NOT_FOUND: { status: 404, description: 'No such hardware component, or it is unavailable (v3 API).' },
  NODE_NOT_FOUND: { status: 404, description: 'No node with this name is registered with the hub.' },
  FILE_NOT_FOUND: { status: 404, description: 'The experiment has no such output file (yet).' },
  INVALID_STATE: { status: 409, description: 'The experiment is not in a state that allows this action.' },
  NODE_BUSY: { status: 409, description: 'The node already runs an experiment.' },
  SAFETY_INTERLOCK: { status: 409, description: 'A safety cutoff refuses this actuator command.' },
  PAYLOAD_TOO_LARGE: { status: 413, description: 'The body or script is larger than allowed.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, description: 'The Content-Type is not accepted by this route.' },
  SCRIPT_REJECTED: { status: 422, description: 'The experiment script failed validation; every problem is listed.' },
  QUEUE_LIMIT_REACHED: { status: 429, description: 'The user already has the maximum number of active experiments.' },
  TOO_MANY_ATTEMPTS: {
    status: 429,
    description: 'Too many failed sign-ins from this client or for this name; wait as Retry-After says.',
  },
  INTERNAL: { status: 500, description: 'An unexpected error; details are in the service log.' },
  DEVICE_FAULT: { status: 502, description: 'The hardware did not answer or answered wrongly.' },
  COMPONENT_UNAVAILABLE: { status: 503, description: 'The component is disabled or failed (v2 API).' },
  NODE_UNREACHABLE: { status: 503, description: 'The node did not answer the hub or web server.' },
  HUB_UNREACHABLE: { status: 503, description: 'The hub did not answer the web server.' },
  RUNNER_UNAVAILABLE: { status: 503, description: 'No container engine (or local runner) can run experiments.' },
  INSUFFICIENT_STORAGE: { status: 507, description: "The node's disk has too little free space to start a run." },
} as const satisfies Record<string, { status: number; description: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;
export const ERROR_CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

/** One problem in a request, with where it is (a field path or a script line). */
export const Problem = Type.Object({
  message: Type.String(),
  field: Type.Optional(Type.String({ description: 'JSON path of the offending field' })),
  line: Type.Optional(Type.Integer({ description: '1-based line in the script' })),
  column: Type.Optional(Type.Integer({ description: '1-based column in the script' })),
});
export type Problem = Static<typeof Problem>;

/** The body of every error response (Fastify's own shape plus the catalogue code). */
export const ErrorBody = Type.Object(
  {
    statusCode: Type.Integer(),
    code: Type.String({ description: 'A code from the error catalogue' }),
    error: Type.String({ description: 'The HTTP reason phrase' }),
    message: Type.String({ description: 'What went wrong and how to fix it' }),
    problems: Type.Optional(Type.Array(Problem)),
  },
  { $id: 'ErrorBody' },
);
export type ErrorBody = Static<typeof ErrorBody>;

/** Thrown anywhere in a service; the error handler turns it into an ErrorBody. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly problems: Problem[] | undefined;

  constructor(code: ErrorCode, message: string, problems?: Problem[]) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.statusCode = ERROR_CATALOGUE[code].status;
    this.problems = problems;
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && value in ERROR_CATALOGUE;
}

/** Errors worth retrying later (the node may come back); everything else is final. */
export function isRetryable(code: ErrorCode): boolean {
  return code === 'NODE_UNREACHABLE' || code === 'NODE_BUSY' || code === 'RUNNER_UNAVAILABLE';
}

/** The annotation of an error response schema that lists the catalogue codes it stands for (read by the docs). */
export const ERROR_CODES_KEY = 'x-error-codes';

/**
 * Response schemas for the error statuses a route can return, for `schema.response`: one per status, each the
 * ErrorBody annotated with the codes it stands for (the OpenAPI document lists them). Name every code of a route in
 * one call: spreading two calls that share a status keeps only the second one's codes.
 */
export function errorResponses(...codes: ErrorCode[]): Record<number, typeof ErrorBody> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = ERROR_CATALOGUE[code].status;
    const list = byStatus.get(status) ?? [];
    if (!list.includes(code)) list.push(code);
    byStatus.set(status, list);
  }
  const out: Record<number, typeof ErrorBody> = {};
  for (const [status, list] of byStatus)
    out[status] = Type.Object(ErrorBody.properties, { [ERROR_CODES_KEY]: list }) as unknown as typeof ErrorBody;
  return out;
}

/** The catalogue codes an error response schema made by `errorResponses` stands for. */
export function errorCodesOf(schema: unknown): ErrorCode[] {
  const codes = (schema as Record<string, unknown> | undefined)?.[ERROR_CODES_KEY];
  return Array.isArray(codes) ? codes.filter(isErrorCode) : [];
}
