// Session and accounts: who am I, create an account, sign in and out, change the password.
import { ApiError, accountHubUser, type WebSession, webRoutes } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { WebContext } from '../context.js';
import type { Account } from '../identity/accounts.js';
import { describeWait } from '../identity/sign-in-limiter.js';

export function sessionBody(request: FastifyRequest, ctx: WebContext): WebSession {
  const { identity } = request;
  return {
    session_id: identity.sessionId.slice(0, 8),
    user: identity.account ? { username: identity.account.username, role: identity.account.role } : null,
    csrf_token: identity.csrfToken,
    admin_available: ctx.accounts.adminConfigured,
  };
}

/**
 * A browser that was anonymous until now brings what it submitted along: its experiments are filed under the account
 * it signs in to, so they do not vanish from "My experiments" (and come back after signing out). A hub that cannot be
 * reached does not block the sign-in; the experiments stay with the browser's session.
 */
async function fileUnderAccount(request: FastifyRequest, ctx: WebContext, account: Account): Promise<void> {
  const { identity } = request;
  if (identity.account) return;
  try {
    const moved = await ctx.hub.transferUser(identity.sessionId, accountHubUser(account.username));
    if (moved > 0) request.log.info({ moved, username: account.username }, 'anonymous experiments filed under account');
  } catch (err) {
    request.log.warn({ err, username: account.username }, 'could not file anonymous experiments under the account');
  }
}

export async function accountRoutes(app: Service, ctx: WebContext): Promise<void> {
  app.route({ ...webRoutes.session, handler: async (request) => sessionBody(request, ctx) });

  app.route({
    ...webRoutes.register,
    handler: async (request, reply) => {
      const account = await ctx.accounts.create(request.body.username, request.body.password);
      await fileUnderAccount(request, ctx, account);
      ctx.sessions.signIn(request, reply, account);
      return sessionBody(request, ctx);
    },
  });

  app.route({
    ...webRoutes.login,
    handler: async (request, reply) => {
      const { username, password } = request.body;
      const account = await limited(request, reply, ctx, username, () => ctx.accounts.authenticate(username, password));
      await fileUnderAccount(request, ctx, account);
      ctx.sessions.signIn(request, reply, account);
      return sessionBody(request, ctx);
    },
  });

  app.route({
    ...webRoutes.logout,
    handler: async (request, reply) => {
      ctx.sessions.signOut(request, reply);
      return sessionBody(request, ctx);
    },
  });

  app.route({
    ...webRoutes.changePassword,
    handler: async (request, reply) => {
      const { account } = request.identity;
      if (!account) throw new ApiError('UNAUTHORIZED', 'Sign in first to change your password');
      const { current_password, new_password } = request.body;
      // A wrong current password counts as a failed sign-in, so a borrowed session cannot be used to guess it.
      const changed = await limited(request, reply, ctx, account.username, () =>
        ctx.accounts.changePassword(account.username, current_password, new_password),
      );
      // Every session of the account signed in before is revoked by the new password; this one continues under a
      // new id.
      ctx.sessions.signIn(request, reply, changed);
      request.log.info({ username: changed.username }, 'password changed; other sessions signed out');
      return sessionBody(request, ctx);
    },
  });
}

/**
 * Runs a password check under the sign-in limits: refused with 429 and Retry-After while this client must wait, and
 * counted as a failure when the password is wrong.
 */
async function limited(
  request: FastifyRequest,
  reply: FastifyReply,
  ctx: WebContext,
  username: string,
  check: () => Promise<Account>,
): Promise<Account> {
  const limiter = ctx.signInLimiter;
  // The client's address as Fastify sees it: the connection's peer, or the browser's behind a trusted proxy
  // (BIOREACTOR_TRUST_PROXY).
  const client = request.ip;
  const wait = limiter.check(client, username);
  if (wait) {
    reply.header('retry-after', String(Math.max(1, Math.ceil(wait.waitMs / 1000))));
    const when = describeWait(wait.waitMs);
    const why =
      wait.scope === 'client-name'
        ? `Too many failed sign-ins for "${username}" from your address`
        : wait.scope === 'client'
          ? 'Too many failed sign-ins from your address'
          : `Too many failed sign-ins for "${username}" in the last minutes`;
    throw new ApiError('TOO_MANY_ATTEMPTS', `${why}; wait ${when} and try again`);
  }
  const counted = limiter.failed(client, username);
  let account: Account;
  try {
    account = await check();
  } catch (err) {
    // Only a wrong password is a failed attempt; a request refused before any password was checked (a new password
    // too short, the admin's) is not a guess.
    if (err instanceof ApiError && err.code !== 'UNAUTHORIZED') limiter.withdraw(client, username, counted);
    throw err;
  }
  limiter.succeeded(client, username, counted);
  return account;
}
