// Service-to-service trust and user identity, shared by all three services.

/** Environment variable holding the shared service token. Unset means open (development). */
export const API_TOKEN_ENV = 'BIOREACTOR_API_TOKEN';

/** The guide's user header: the web server forwards the browser's session (or account) id in it. */
export const SESSION_HEADER = 'x-session-id';

/** Role of the user on whose behalf a token holder calls the hub: `user` (default) or `admin`. */
export const ROLE_HEADER = 'x-user-role';

export const USER_ROLES = ['user', 'admin'] as const;
export type UserRole = (typeof USER_ROLES)[number];

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
