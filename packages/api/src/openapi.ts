// What only the OpenAPI documents say about a route (`schema.docs`): what a success means, the bodies a handler
// reads itself (uploads, raw scripts), examples, the headers it reads and the media types of a reply that is not
// JSON. Fastify neither validates nor reads any of it; service-kit's openapi.ts turns it into the documents.
import { Type } from 'typebox';
import { CSRF_HEADER, IDEMPOTENCY_HEADER, ROLE_HEADER, SESSION_HEADER, USER_ROLES } from './auth.js';

export interface MediaExample {
  readonly summary?: string;
  readonly value: unknown;
}

export interface MediaDoc {
  readonly schema: unknown;
  readonly examples?: Readonly<Record<string, MediaExample>>;
}

export interface HeaderDoc {
  /** Lower-case, as the constants of auth.ts. */
  readonly name: string;
  readonly description: string;
  readonly required?: boolean;
  readonly schema: unknown;
  readonly example?: string;
}

export interface RouteDocs {
  /** What the 2xx reply is: its description in the documents. */
  readonly ok: string;
  /**
   * The request body by media type, for a route whose handler reads the body itself (uploads, raw scripts):
   * documented, never validated by Fastify.
   */
  readonly body?: Readonly<Record<string, MediaDoc>>;
  /** Query parameters the handler reads itself (a TypeBox object, as `schema.querystring`): documented only. */
  readonly query?: unknown;
  /** Examples of the JSON body the route validates (`schema.body`). */
  readonly examples?: Readonly<Record<string, MediaExample>>;
  /** The 2xx reply by media type when it is not (only) the JSON of `response[200]`: a zip, CSV, an event stream. */
  readonly produces?: Readonly<Record<string, MediaDoc>>;
  /** Request headers the route reads besides the service's own (the token, the web server's CSRF header). */
  readonly headers?: readonly HeaderDoc[];
  /** Headers of the 2xx reply. */
  readonly responseHeaders?: Readonly<Record<string, { readonly description: string; readonly schema: unknown }>>;
}

/** The user a hub request is made for, and their role: the web server sends both; a script or curl may. */
export const USER_HEADERS: readonly HeaderDoc[] = [
  {
    name: SESSION_HEADER,
    description:
      'The user the request is made for (the web server sends the browser session or `account-<name>`). Absent: an operator, who sees and may do everything but run-now and admin actions',
    schema: Type.String({ maxLength: 200 }),
    example: 'alice',
  },
  {
    name: ROLE_HEADER,
    description: 'The role of that user: `admin` may act on every experiment, reorder the queue and manage nodes',
    schema: Type.Union(USER_ROLES.map((r) => Type.Literal(r))),
    example: 'user',
  },
];

/** Idempotency-Key of a submission (hub and web server). */
export const IDEMPOTENCY_KEY_HEADER: HeaderDoc = {
  name: IDEMPOTENCY_HEADER,
  description:
    'Makes a retry safe: a second submission by the same user with the same key and the same request answers the first experiment (with `Idempotency-Replayed: true`) instead of queueing the script again. 1-255 visible ASCII characters, e.g. a UUID; kept a day',
  schema: Type.String({ minLength: 1, maxLength: 255 }),
  example: '3f6c2a4e-8d1b-4f0a-9c57-2b8e1d6a9f10',
};

/** The header a replayed submission carries. */
export const IDEMPOTENCY_REPLAYED = {
  'idempotency-replayed': {
    description:
      '`true` when this reply is the first experiment of a submission sent again with the same Idempotency-Key',
    schema: Type.Literal('true'),
  },
} as const;

/** The web server's CSRF header, on every POST, PUT and DELETE. */
export const CSRF_HEADER_DOC: HeaderDoc = {
  name: CSRF_HEADER,
  description:
    'Needed on every POST, PUT and DELETE (403 CSRF_FAILED without it): echoes the `csrf_token` cookie, also the `csrf_token` of GET /api/session. Swagger UI here and the browser client of @bioreactor/client fill it in from the cookie',
  schema: Type.String(),
};

/** A short experiment script, the examples' body. */
export const EXAMPLE_SCRIPT = `from bioreactor_client import Bioreactor, measure_all_data, write_data_to_csv
import time

bioreactor = Bioreactor()
for _ in range(30):
    write_data_to_csv(measure_all_data(bioreactor))
    time.sleep(10)
`;

/** A file in a multipart form: binary (`format`), and a media type so that Swagger UI (OpenAPI 3.1) offers a file picker. */
export const binaryFile = (mediaType: string, description: string) =>
  Type.String({ format: 'binary', contentMediaType: mediaType, description });

export const scriptText = Type.String({ description: 'The Python script itself, UTF-8' });

/** The bodies a script submission takes (hub `POST /api/experiments/start`, web `POST /api/experiments/upload`). */
export function scriptBodies(
  formFields: Record<string, unknown>,
  json: unknown,
  raw: boolean,
): Record<string, MediaDoc> {
  const form: MediaDoc = {
    schema: Type.Object({
      file: Type.Optional(binaryFile('text/x-python', 'The script, a .py file (or the field script_content)')),
      ...formFields,
    }),
  };
  const text: MediaDoc = { schema: scriptText, examples: { script: { summary: 'A script', value: EXAMPLE_SCRIPT } } };
  return {
    'multipart/form-data': form,
    'application/json': {
      schema: json,
      examples: {
        script: {
          summary: 'A script with a name and a time limit',
          value: { script_content: EXAMPLE_SCRIPT, name: 'od-time-course', max_duration_s: 600 },
        },
      },
    },
    ...(raw
      ? {
          'text/x-python': text,
          'text/plain': text,
          'application/x-python': text,
          'application/octet-stream': { schema: Type.String({ format: 'binary', description: 'The script file' }) },
        }
      : {}),
  };
}

/**
 * An optional text field of a form. Its example is what Swagger UI's "Try it out" puts in the field: empty unless
 * given, so that a form sent as it comes is accepted.
 */
export const formText = (description: string, maxLength?: number, example = '') =>
  Type.Optional(Type.String({ description, examples: [example], ...(maxLength ? { maxLength } : {}) }));

/** The optional fields of a submission form besides the file. */
export const SUBMISSION_FORM_FIELDS = {
  name: formText('A name for the experiment (default: the file name)', 200),
  max_duration_s: Type.Optional(
    Type.Integer({
      minimum: 1,
      description: 'Stop it after this many seconds, a whole number (default: the lab’s)',
      examples: [600],
    }),
  ),
};

/** A reply that is a Server-Sent Events stream. */
export const EVENT_STREAM: Record<string, MediaDoc> = {
  'text/event-stream': {
    schema: Type.String({ description: 'Server-Sent Events: `event:` and `data:` (JSON) lines' }),
  },
};

/** A reply that is a zip file. */
export const ZIP: Record<string, MediaDoc> = {
  'application/zip': { schema: Type.String({ format: 'binary', contentMediaType: 'application/zip' }) },
};

/** `co2_sensor` + `state` → `co2SensorState`. */
export function camelCase(...words: string[]): string {
  const parts = words.flatMap((w) => w.split(/[^A-Za-z0-9]+|(?=[A-Z])/)).filter((p) => p !== '');
  return parts
    .map((p, i) => (i === 0 ? p.toLowerCase() : p.charAt(0).toUpperCase() + p.slice(1).toLowerCase()))
    .join('');
}

/**
 * Sets each route's operationId from its key in the route object (`hubRoutes.submit` → `submit`), or from what
 * `name` makes of the key. The documents and the generated client use it; it must be unique per service.
 */
export function withOperationIds<T extends Record<string, { readonly schema: object }>>(
  routes: T,
  name: (key: string) => string = (key) => key,
): T {
  for (const [key, route] of Object.entries(routes)) {
    (route.schema as { operationId?: string }).operationId = name(key);
  }
  return routes;
}
