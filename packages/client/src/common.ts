// What the three clients share: the form body of an upload, and the headers a client sends on every request.
import type { Middleware } from 'openapi-fetch';

/**
 * A multipart form of the fields given (a Blob or File for the file, text for the rest; undefined ones left out):
 * pass as `bodySerializer` with a form body. The runtime sets its Content-Type with the boundary.
 */
export function formData(fields: unknown): FormData {
  if (typeof fields !== 'object' || fields === null || fields instanceof Blob)
    throw new TypeError('formData takes the fields of a form, e.g. { file, name }');
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined || value === null) continue;
    if (value instanceof Blob) form.append(name, value, value instanceof File ? value.name : `${name}.py`);
    else form.append(name, String(value));
  }
  return form;
}

/** Adds the headers to every request that does not set them itself. */
export function defaultHeaders(headers: () => Record<string, string | undefined>): Middleware {
  return {
    onRequest({ request }) {
      for (const [name, value] of Object.entries(headers())) {
        if (value !== undefined && !request.headers.has(name)) request.headers.set(name, value);
      }
      return request;
    },
  };
}
