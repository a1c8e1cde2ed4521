// Who each request comes from: a signed browser session cookie, an optional signed sign-in cookie, and CSRF checks.
//
// Signing in (or creating an account, or changing the password) gives the browser a new session id, so an id known
// before (planted by someone else, or seen on a shared computer) never becomes a signed-in session. The sign-in
// cookie names the session it belongs to, the account's session generation and an HMAC of the account's credential;
// it counts only with that session cookie, while the generation and credential are the account's current ones, and
// while the session is not on the server's list of signed-out sessions (SessionRevocations, kept on disk).
import { randomUUID } from 'node:crypto';
import { ApiError, accountHubUser, CSRF_HEADER } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import cookie from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Account, AccountStore } from './accounts.js';
import type { SessionRevocations } from './revocations.js';
import type { SigningKey } from './signing-key.js';

export const SESSION_COOKIE = 'session_id';
export const AUTH_COOKIE = 'bioreactor_auth';
export const CSRF_COOKIE = 'csrf_token';
/** Browsers cap cookie lifetimes at 400 days; a lab's anonymous users keep their experiments that long. */
const COOKIE_MAX_AGE_S = 400 * 24 * 3600;
/** A sign-in lasts 30 days, then the user signs in again. */
export const AUTH_MAX_AGE_S = 30 * 24 * 3600;
const AUTH_FORMAT = 'v2';
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
  revocations: SessionRevocations;
  secureCookies: boolean;
  now?: () => number;
}

export interface SessionControl {
  /** Signs the browser in to the account under a new session id. */
  signIn(request: FastifyRequest, reply: FastifyReply, account: Account): void;
  /** Revokes the signed-in session on the server and gives the browser a new anonymous one. */
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
  const { key, accounts, revocations } = opts;
  const now = opts.now ?? Date.now;
  await app.register(cookie);
  const base = { path: '/', sameSite: 'lax' as const, secure: opts.secureCookies };

  const identify = (sessionId: string, account: Account | undefined): Identity => ({
    sessionId,
    account,
    hubUser: account ? accountHubUser(account.username) : sessionId,
    role: account?.role ?? 'user',
    csrfToken: key.mac('csrf', sessionId),
  });
  const credentialMac = (secret: string) => key.mac('credential', secret).slice(0, 22);

  const setSession = (reply: FastifyReply, sessionId: string) =>
    reply.setCookie(SESSION_COOKIE, key.sign('session', sessionId), {
      ...base,
      httpOnly: true,
      maxAge: COOKIE_MAX_AGE_S,
    });
  // Readable by the page's script, which echoes it in X-CSRF-Token; another site can neither read nor forge it.
  const setCsrf = (reply: FastifyReply, identity: Identity) =>
    reply.setCookie(CSRF_COOKIE, identity.csrfToken, { ...base, httpOnly: false, maxAge: COOKIE_MAX_AGE_S });

  /** The account a sign-in cookie stands for, when it is still valid for this session. */
  const signedIn = (value: string | undefined, sessionId: string): Account | undefined => {
    const [format, username, session, issued, generation, credential] = value?.split('|') ?? [];
    if (format !== AUTH_FORMAT || !username || session !== sessionId) return undefined;
    if (!(Number(issued) + AUTH_MAX_AGE_S * 1000 > now())) return undefined;
    const current = accounts.credential(username);
    if (!current || credential !== credentialMac(current.secret)) return undefined;
    if (Number(generation) !== revocations.generation(username) || revocations.isRevoked(username, sessionId))
      return undefined;
    return current.account;
  };

  app.decorateRequest('identity', null as unknown as Identity);
  app.addHook('onRequest', async (request, reply) => {
    let sessionId = key.unsign('session', request.cookies[SESSION_COOKIE]);
    if (!sessionId) {
      sessionId = randomUUID();
      setSession(reply, sessionId);
    }
    let account: Account | undefined;
    if (request.cookies[AUTH_COOKIE] !== undefined) {
      account = signedIn(key.unsign('auth', request.cookies[AUTH_COOKIE]), sessionId);
      if (!account) reply.clearCookie(AUTH_COOKIE, base);
    }
    request.identity = identify(sessionId, account);
    if (request.cookies[CSRF_COOKIE] !== request.identity.csrfToken) setCsrf(reply, request.identity);
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
      const current = accounts.credential(account.username);
      if (!current) throw new ApiError('UNAUTHORIZED', 'This account no longer exists');
      // A browser signed in already (to another account, or changing its password) leaves that session behind.
      const before = request.identity;
      if (before.account) revocations.revoke(before.account.username, before.sessionId, now() + AUTH_MAX_AGE_S * 1000);
      const sessionId = randomUUID();
      const value = [
        AUTH_FORMAT,
        account.username,
        sessionId,
        now(),
        revocations.generation(account.username),
        credentialMac(current.secret),
      ].join('|');
      setSession(reply, sessionId);
      reply.setCookie(AUTH_COOKIE, key.sign('auth', value), { ...base, httpOnly: true, maxAge: AUTH_MAX_AGE_S });
      request.identity = identify(sessionId, current.account);
      setCsrf(reply, request.identity);
    },
    signOut(request, reply) {
      const { account, sessionId } = request.identity;
      reply.clearCookie(AUTH_COOKIE, base);
      // An anonymous browser keeps its session (and so its experiments).
      if (!account) return;
      // Listed until the sign-in cookie would have expired anyway (it was issued at most AUTH_MAX_AGE ago).
      revocations.revoke(account.username, sessionId, now() + AUTH_MAX_AGE_S * 1000);
      const fresh = randomUUID();
      setSession(reply, fresh);
      request.identity = identify(fresh, undefined);
      setCsrf(reply, request.identity);
    },
  };
}
