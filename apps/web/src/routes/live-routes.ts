// Live data: Server-Sent Events (snapshot, then samples; resumable) or one JSON sample; and dashboard settings.
import { ApiError, webRoutes } from '@bioreactor/api';
import { openEventStream, type Service, wantsEventStream } from '@bioreactor/service-kit';
import type { WebContext } from '../context.js';

export async function liveRoutes(app: Service, ctx: WebContext): Promise<void> {
  app.route({
    ...webRoutes.liveData,
    handler: async (request, reply) => {
      ctx.live.start();
      if (!wantsEventStream(request)) {
        // A client without an event stream (curl, a script) gets the latest sample, fetched now if there is none.
        if (ctx.live.latestSample.source === 'unknown') await ctx.live.tick();
        return ctx.live.latestSample;
      }
      const stream = openEventStream(request, reply);
      const missed = ctx.live.missedSince(stream.lastEventId);
      if (missed) for (const e of missed) stream.send(e.event, e.data, e.id);
      else {
        const first = ctx.live.snapshotEvent();
        stream.send(first.event, first.data, first.id);
      }
      const unsubscribe = ctx.live.subscribe((e) => {
        stream.send(e.event, e.data, e.id);
      });
      stream.onClose(unsubscribe);
    },
  });

  app.route({ ...webRoutes.getSettings, handler: async () => ctx.settings.get() });

  app.route({
    ...webRoutes.saveSettings,
    handler: async (request) => {
      // The settings apply to every dashboard in the lab, so only the admin changes them.
      if (request.identity.role !== 'admin')
        throw new ApiError(
          'FORBIDDEN',
          ctx.accounts.adminConfigured
            ? 'The dashboard settings apply to the whole lab: an admin must change them (sign in as the admin on /account)'
            : 'The dashboard settings apply to the whole lab: an admin must change them, and no admin is configured (set BIOREACTOR_ADMIN_PASSWORD)',
        );
      const settings = ctx.settings.save(request.body);
      return { status: 'success' as const, message: 'Settings saved and applied', settings };
    },
  });
}
