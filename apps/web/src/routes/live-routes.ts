// Live data: the browser's one stream of every reactor (GET /api/stream), one reactor's latest sample as JSON or
// as the older event stream (GET /api/live-data), and the dashboard settings.
import { ApiError, EVENT_TYPES, type LiveSample, webRoutes } from '@bioreactor/api';
import { openEventStream, type Service, wantsEventStream } from '@bioreactor/service-kit';
import type { WebContext } from '../context.js';
import type { LiveSubscriber, Viewer } from '../live/live-hub.js';

/** A browser this far behind is cut off; it reconnects with Last-Event-ID and catches up from the replay. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** How long a JSON reader waits for a reactor's first reading right after the web server started. */
const FIRST_SAMPLE_WAIT_MS = 3000;

export async function liveRoutes(app: Service, ctx: WebContext): Promise<void> {
  app.route({
    ...webRoutes.stream,
    handler: async (request, reply) => {
      ctx.live.start();
      const viewer: Viewer = { hubUser: request.identity.hubUser, role: request.identity.role };
      const { nodes, last_event_id } = request.query;
      const wanted = nodes ? new Set(nodes.split(',').filter(Boolean)) : undefined;
      const stream = openEventStream(request, reply);
      const sub: LiveSubscriber = {
        viewer,
        nodes: wanted && wanted.size > 0 ? wanted : undefined,
        send: (event, data, id) => {
          stream.send(event, data, id);
          if (reply.raw.writableLength > MAX_BUFFERED_BYTES) stream.close();
        },
      };
      ctx.live.greet(sub, stream.lastEventId ?? last_event_id);
      stream.onClose(ctx.live.subscribe(sub));
    },
  });

  app.route({
    ...webRoutes.liveData,
    handler: async (request, reply) => {
      ctx.live.start();
      const viewer: Viewer = { hubUser: request.identity.hubUser, role: request.identity.role };
      const { node } = request.query;
      await ctx.live.firstEvent(node, FIRST_SAMPLE_WAIT_MS);
      if (node && !ctx.live.nodeNames.includes(node))
        throw new ApiError(
          'NODE_NOT_FOUND',
          `No reactor "${node}": the hub's nodes are ${ctx.live.nodeNames.join(', ') || 'none yet'}`,
        );
      // A client without an event stream (curl, a script) gets the latest sample.
      if (!wantsEventStream(request)) return ctx.live.latestSample(viewer, node);
      const first = node ?? ctx.live.nodeNames[0];
      const stream = openEventStream(request, reply);
      stream.send(EVENT_TYPES.snapshot, ctx.live.legacySnapshot(viewer, first));
      const unsubscribe = ctx.live.subscribe({
        viewer,
        nodes: first ? new Set([first]) : undefined,
        send: () => undefined,
        raw: (e) => {
          if (!first) return;
          if (e.event === EVENT_TYPES.liveSamples) {
            const sample = (e.payload as { samples: Record<string, LiveSample> }).samples[first];
            // While the viewer sees the run's rows, the chart is the CSV's, as it always was.
            if (sample && !ctx.live.showsRows(viewer, first)) stream.send(EVENT_TYPES.sample, sample, e.id);
          } else if (e.event === EVENT_TYPES.liveSafety && e.node === first) {
            stream.send(EVENT_TYPES.safety, { interlocks: (e.payload as { interlocks: string[] }).interlocks }, e.id);
          } else if (e.event === EVENT_TYPES.liveRows && e.node === first) {
            for (const row of (e.payload as { rows: LiveSample[] }).rows) stream.send(EVENT_TYPES.sample, row, e.id);
          } else if (e.event === EVENT_TYPES.liveSnapshot && e.node === first) {
            stream.send(EVENT_TYPES.snapshot, ctx.live.legacySnapshot(viewer, first), e.id);
          }
        },
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
