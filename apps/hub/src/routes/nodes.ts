// Node routes: the nodes the hub drives, and adding or removing one at runtime (admin).
import { ApiError, hubRoutes } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import type { Hub } from '../hub.js';
import { requireAdmin, viewerOf } from './identity.js';

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
}
