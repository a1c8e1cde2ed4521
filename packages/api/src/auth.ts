// Service-to-service trust and user identity, shared by all three services.

/** Environment variable holding the shared service token. Unset means open (development). */
export const API_TOKEN_ENV = 'BIOREACTOR_API_TOKEN';

/** The guide's user header: the web server forwards the browser's session (or account) id in it. */
export const SESSION_HEADER = 'x-session-id';

/** Role of the user on whose behalf a token holder calls the hub: `user` (default) or `admin`. */
export const ROLE_HEADER = 'x-user-role';

/** The web server's CSRF header: every POST from a browser echoes the `csrf_token` cookie (or GET /api/session's). */
export const CSRF_HEADER = 'x-csrf-token';

/** A retried submission with the same key returns the first experiment instead of queueing the script twice. */
export const IDEMPOTENCY_HEADER = 'idempotency-key';

export const USER_ROLES = ['user', 'admin'] as const;
export type UserRole = (typeof USER_ROLES)[number];

const ACCOUNT_PREFIX = 'account-';

/** The hub user id of a web account: its experiments are filed under it, so they follow the user across browsers. */
export function accountHubUser(username: string): string {
  return `${ACCOUNT_PREFIX}${username}`;
}

/** The account name behind a hub user id, or null for a browser session (whose id is a credential, never shown). */
export function accountOfHubUser(hubUser: string): string | null {
  return hubUser.startsWith(ACCOUNT_PREFIX) ? hubUser.slice(ACCOUNT_PREFIX.length) : null;
}

/** Routes open without the token: liveness and the API docs. */
export function isPublicPath(url: string): boolean {
  const path = url.split('?')[0] ?? url;
  return (
    path === '/health' ||
    path === '/openapi.json' ||
    path === '/docs' ||
    path.startsWith('/docs/') ||
    path === '/api/docs' ||
    path.startsWith('/api/docs/')
  );
}

export function bearer(token: string): string {
  return `Bearer ${token}`;
}
