// The lab manager's routes (accounts: roles and disabling; the lab's settings) and each user's notification choices.
import { ApiError, webRoutes } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import type { FastifyRequest } from 'fastify';
import type { WebContext } from '../context.js';
import { notificationKey } from '../store/lab-store.js';

function requireAdmin(request: FastifyRequest, what: string): void {
  if (request.identity.role !== 'admin')
    throw new ApiError('FORBIDDEN', `Only an admin may ${what}: sign in with an admin account on /account`);
}

const prefsKey = (request: FastifyRequest) => notificationKey(request.identity.hubUser);

export async function adminRoutes(app: Service, ctx: WebContext): Promise<void> {
  app.route({
    ...webRoutes.users,
    handler: async (request) => {
      requireAdmin(request, 'list the accounts');
      return { users: ctx.accounts.list() };
    },
  });

  app.route({
    ...webRoutes.updateUser,
    handler: async (request) => {
      requireAdmin(request, 'change an account');
      const { username } = request.params;
      if (request.identity.account?.username === username && request.body.disabled === true)
        throw new ApiError('FORBIDDEN', 'You cannot disable your own account');
      const user = await ctx.accounts.update(username, request.body);
      request.log.info(
        { username, role: user.role, disabled: user.disabled, by: request.identity.account?.username },
        'account changed by an admin',
      );
      return user;
    },
  });

  app.route({ ...webRoutes.getLabSettings, handler: async () => ctx.lab.get() });

  app.route({
    ...webRoutes.saveLabSettings,
    handler: async (request) => {
      requireAdmin(request, 'change the lab settings');
      return ctx.lab.save(request.body);
    },
  });

  app.route({
    ...webRoutes.getNotifications,
    handler: async (request) => ({
      ...ctx.notifications.get(prefsKey(request)),
      email_available: ctx.mailer !== undefined,
    }),
  });

  app.route({
    ...webRoutes.saveNotifications,
    handler: async (request) => {
      if (request.body.email_on_end && !ctx.mailer)
        throw new ApiError(
          'VALIDATION_FAILED',
          'This lab has no mail server set up (BIOREACTOR_SMTP_URL): ask the lab manager',
          [{ field: 'email_on_end', message: 'no mail server' }],
        );
      return { ...ctx.notifications.save(prefsKey(request), request.body), email_available: ctx.mailer !== undefined };
    },
  });
}
