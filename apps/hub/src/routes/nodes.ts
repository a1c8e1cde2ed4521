// Node routes: the nodes the hub drives, and adding or removing one at runtime (admin).
import { ApiError, hubRoutes } from '@bioreactor/api';
import { openEventStream, type Service } from '@bioreactor/service-kit';
import type { Hub } from '../hub.js';
import { requireAdmin, viewerOf } from './identity.js';

/** A follower this far behind is cut off; it comes back with Last-Event-ID and gets what it missed from the ring. */
const MAX_FOLLOWER_BACKLOG_BYTES = 8 * 1024 * 1024;

export async function nodeRoutes(app: Service, hub: Hub): Promise<void> {
  const { registry } = hub;
  app.route({
    ...hubRoutes.nodes,
    handler: async () => ({ nodes: registry.list().map((n) => registry.info(n)) }),
  });

  app.route({
    ...hubRoutes.addNode,
    handler: async (request) => {
      requireAdmin(viewerOf(request), 'add a node');
      return registry.info(registry.add(request.body.name, request.body.url));
    },
  });

  app.route({
    ...hubRoutes.drainNode,
    handler: async (request) => {
      const viewer = viewerOf(request);
      requireAdmin(viewer, request.body.drained ? 'drain a node' : 'enable a drained node');
      const entry = registry.setDrained(request.params.name, request.body.drained);
      request.log.info({ node: entry.name, drained: entry.drained, by: viewer.userId ?? 'operator' }, 'node drain set');
      if (!entry.drained) hub.dispatcher.kick();
      return registry.info(entry);
    },
  });

  app.route({
    ...hubRoutes.removeNode,
    handler: async (request) => {
      requireAdmin(viewerOf(request), 'remove a node');
      const pinned = hub.queue.waiting().filter((r) => r.node_pin === request.params.name);
      if (pinned.length > 0) {
        throw new ApiError(
          'INVALID_STATE',
          `${pinned.length} waiting experiment(s) asked for node '${request.params.name}' (first: ${pinned[0]?.id}); cancel them first, or they would wait forever`,
        );
      }
      const entry = registry.remove(request.params.name);
      const note =
        entry.source === 'config'
          ? '; it is listed in BIOREACTOR_NODE_API_URL, so it returns when the hub restarts'
          : '';
      return { success: true as const, message: `Node ${entry.name} removed${note}` };
    },
  });

  app.route({
    ...hubRoutes.nodeStream,
    handler: async (request, reply) => {
      const { name } = request.params;
      requireAdmin(
        viewerOf(request),
        `follow the live stream of node '${name}': it carries every user's experiment rows (the web server shows each user what is theirs)`,
      );
      registry.mustGet(name);
      const stream = openEventStream(request, reply);
      const leave = hub.nodeStreams.follow(name, stream.lastEventId || request.query.last_event_id || undefined, {
        send: (event, data, id) => {
          stream.send(event, data, id);
          if (reply.raw.writableLength > MAX_FOLLOWER_BACKLOG_BYTES) {
            request.log.warn({ node: name }, 'a follower of a node stream fell too far behind; its stream is closed');
            stream.close();
          }
        },
        end: () => stream.close(),
      });
      stream.onClose(leave);
    },
  });
}
