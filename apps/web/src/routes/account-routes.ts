// Session and accounts: who am I, create an account, sign in and out.
import { type WebSession, webRoutes } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import type { FastifyRequest } from 'fastify';
import type { WebContext } from '../context.js';

export function sessionBody(request: FastifyRequest, ctx: WebContext): WebSession {
  const { identity } = request;
  return {
    session_id: identity.sessionId.slice(0, 8),
    user: identity.account ? { username: identity.account.username, role: identity.account.role } : null,
    csrf_token: identity.csrfToken,
    admin_available: ctx.accounts.adminConfigured,
  };
}

export async function accountRoutes(app: Service, ctx: WebContext): Promise<void> {
  app.route({ ...webRoutes.session, handler: async (request) => sessionBody(request, ctx) });

  app.route({
    ...webRoutes.register,
    handler: async (request, reply) => {
      const account = await ctx.accounts.create(request.body.username, request.body.password);
      ctx.sessions.signIn(request, reply, account);
      return sessionBody(request, ctx);
    },
  });

  app.route({
    ...webRoutes.login,
    handler: async (request, reply) => {
      const account = await ctx.accounts.authenticate(request.body.username, request.body.password);
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
