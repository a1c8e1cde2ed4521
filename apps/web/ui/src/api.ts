// Browser-side calls to the web server's JSON API through the typed client (@bioreactor/client, generated from
// openapi/web.json): same-origin cookies, the CSRF header on writes (from the csrf_token cookie), errors as ApiFailure.
import type { ErrorBody, Problem } from '@bioreactor/api';
import { createWebClient } from '@bioreactor/client/web';

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly problems: Problem[] = [],
  ) {
    super(message);
  }
}

/** Every call of the UI: `call(client.GET('/api/queue'))`, `call(client.POST('/api/experiments/upload', {body}))`. */
export const client = createWebClient('', { headers: { accept: 'application/json' } });

interface Outcome {
  data?: unknown;
  error?: unknown;
  response: Response;
}

/** The reply's body when it succeeded; an ApiFailure with the catalogue's code, message and problems when not. */
export async function call<R extends Outcome>(pending: Promise<R>): Promise<NonNullable<R['data']>> {
  let outcome: R;
  try {
    outcome = await pending;
  } catch {
    throw new ApiFailure(0, 'OFFLINE', 'The web server did not answer; check your connection and try again');
  }
  const { response } = outcome;
  if (!response.ok) {
    const err = outcome.error as Partial<ErrorBody> | undefined;
    throw new ApiFailure(
      response.status,
      err?.code ?? 'HTTP_ERROR',
      err?.message ?? `HTTP ${response.status}`,
      err?.problems ?? [],
    );
  }
  return outcome.data as NonNullable<R['data']>;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
