// Who each request comes from: a signed browser session cookie, an optional signed sign-in cookie, and CSRF checks.
import { randomUUID } from 'node:crypto';
import { ApiError, accountHubUser } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import cookie from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Account, AccountStore } from './accounts.js';
import type { SigningKey } from './signing-key.js';

export const SESSION_COOKIE = 'session_id';
export const AUTH_COOKIE = 'bioreactor_auth';
export const CSRF_COOKIE = 'csrf_token';
export const CSRF_HEADER = 'x-csrf-token';
/** Browsers cap cookie lifetimes at 400 days; a lab's anonymous users keep their experiments that long. */
const COOKIE_MAX_AGE_S = 400 * 24 * 3600;
/** A sign-in lasts 30 days, then the user signs in again. */
const AUTH_MAX_AGE_S = 30 * 24 * 3600;
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface Identity {
  /** The browser's anonymous session id (full; never shown to other users). */
  sessionId: string;
  account: Account | undefined;
  /** What the hub knows the user as (its X-Session-ID). */
  hubUser: string;
  role: 'user' | 'admin';
  csrfToken: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    identity: Identity;
  }
}

export interface SessionOptions {
  key: SigningKey;
  accounts: AccountStore;
  secureCookies: boolean;
}

export interface SessionControl {
  signIn(request: FastifyRequest, reply: FastifyReply, account: Account): void;
  signOut(request: FastifyRequest, reply: FastifyReply): void;
}

function sameOrigin(request: FastifyRequest): boolean {
  const origin = request.headers.origin;
  if (origin !== undefined && origin !== 'null') {
    try {
      if (new URL(origin).host !== request.headers.host) return false;
    } catch {
      return false;
    }
  } else if (origin === 'null') return false;
  // Browsers that send Fetch Metadata tell us outright when a request comes from another site.
  return request.headers['sec-fetch-site'] !== 'cross-site';
}

export async function registerSessions(app: Service, opts: SessionOptions): Promise<SessionControl> {
  const { key, accounts } = opts;
  await app.register(cookie);
  const base = { path: '/', sameSite: 'lax' as const, secure: opts.secureCookies };

  const identify = (sessionId: string, account: Account | undefined): Identity => ({
    sessionId,
    account,
    hubUser: account ? accountHubUser(account.username) : sessionId,
    role: account?.role ?? 'user',
    csrfToken: key.mac('csrf', sessionId),
  });

  app.decorateRequest('identity', null as unknown as Identity);
  app.addHook('onRequest', async (request, reply) => {
    let sessionId = key.unsign('session', request.cookies[SESSION_COOKIE]);
    if (!sessionId) {
      sessionId = randomUUID();
      reply.setCookie(SESSION_COOKIE, key.sign('session', sessionId), {
        ...base,
        httpOnly: true,
        maxAge: COOKIE_MAX_AGE_S,
      });
    }
    let account: Account | undefined;
    const auth = key.unsign('auth', request.cookies[AUTH_COOKIE]);
    if (auth) {
      const [username, issued] = auth.split('|');
      if (username && Number(issued) + AUTH_MAX_AGE_S * 1000 > Date.now()) account = accounts.lookup(username);
      if (!account) reply.clearCookie(AUTH_COOKIE, base);
    }
    request.identity = identify(sessionId, account);
    if (request.cookies[CSRF_COOKIE] !== request.identity.csrfToken) {
      // Readable by the page's script, which echoes it in X-CSRF-Token; another site can neither read nor forge it.
      reply.setCookie(CSRF_COOKIE, request.identity.csrfToken, { ...base, httpOnly: false, maxAge: COOKIE_MAX_AGE_S });
    }
    if (UNSAFE_METHODS.has(request.method)) {
      if (!sameOrigin(request))
        throw new ApiError(
          'CSRF_FAILED',
          'Cross-site request refused: submit the form from this web server’s own pages',
        );
      if (request.headers[CSRF_HEADER] !== request.identity.csrfToken)
        throw new ApiError(
          'CSRF_FAILED',
          'Missing or stale CSRF token: reload the page and try again (the X-CSRF-Token header must echo the csrf_token cookie)',
        );
    }
  });

  return {
    signIn(request, reply, account) {
      reply.setCookie(AUTH_COOKIE, key.sign('auth', `${account.username}|${Date.now()}`), {
        ...base,
        httpOnly: true,
        maxAge: AUTH_MAX_AGE_S,
      });
      request.identity = identify(request.identity.sessionId, account);
    },
    signOut(request, reply) {
      reply.clearCookie(AUTH_COOKIE, base);
      request.identity = identify(request.identity.sessionId, undefined);
    },
  };
}
