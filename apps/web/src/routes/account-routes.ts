// Session and accounts: who am I, create an account, sign in and out.
import { ApiError, accountHubUser, type WebSession, webRoutes } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import type { FastifyRequest } from 'fastify';
import type { WebContext } from '../context.js';
import type { Account } from '../identity/accounts.js';
import { SignInLimiter } from '../identity/sign-in-limiter.js';

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

  const limiter = new SignInLimiter();
  app.route({
    ...webRoutes.login,
    handler: async (request, reply) => {
      const { username, password } = request.body;
      const wait = limiter.retryAfterS(username);
      if (wait > 0) {
        reply.header('retry-after', String(wait));
        throw new ApiError(
          'TOO_MANY_ATTEMPTS',
          `Too many failed sign-ins for "${username}"; try again in ${Math.ceil(wait / 60)} minute(s)`,
        );
      }
      let account: Account;
      try {
        account = await ctx.accounts.authenticate(username, password);
      } catch (err) {
        limiter.failed(username);
        throw err;
      }
      limiter.succeeded(username);
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
}
