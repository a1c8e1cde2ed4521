// Moving experiments in line and removing finished ones: reorder (a user among their own places, an admin anywhere),
// run-now (admin; the reply says what it did to a running experiment) and delete (the owner or an admin).
import { formatSeconds, hubRoutes } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import type { Hub } from '../hub.js';
import { requireAdmin, requireOwner, viewerOf } from './identity.js';

export async function queueActionRoutes(app: Service, hub: Hub, log: Service['log']): Promise<void> {
  const { queue, dispatcher, views, registry } = hub;

  app.route({
    ...hubRoutes.reorder,
    handler: async (request) => {
      const viewer = viewerOf(request);
      const row = queue.mustGet(request.params.id);
      requireOwner(viewer, row, 'move it in the queue');
      // Fairness: a user reorders their own experiments among the places they hold; an admin anywhere.
      const moved = queue.reorder(row.id, request.query.new_position, viewer.admin ? null : row.user_id);
      const view = views.experiment(moved, viewer);
      return {
        success: true as const,
        message: `Experiment ${moved.id} moved to position ${view.queue_position ?? '?'}`,
        experiment: view,
      };
    },
  });

  app.route({
    ...hubRoutes.runNow,
    handler: async (request) => {
      const viewer = viewerOf(request);
      queue.mustGet(request.params.id);
      requireAdmin(viewer, 'run an experiment ahead of the queue');
      const result = dispatcher.runNow(request.params.id);
      return {
        success: true as const,
        message: result.message,
        experiment: views.experiment(result.row, viewer),
        preempted: result.preempted,
      };
    },
  });

  app.route({
    ...hubRoutes.remove,
    handler: async (request) => {
      const viewer = viewerOf(request);
      const row = queue.mustGet(request.params.id);
      requireOwner(viewer, row, 'delete it');
      queue.remove(row.id);
      const by = viewer.userId === null ? 'an operator' : viewer.userId === row.user_id ? 'its owner' : 'an admin';
      let nodeFilesRemoved = false;
      let where = '';
      const node = row.node ? registry.get(row.node) : undefined;
      if (row.node && !node) where = `; node ${row.node} is no longer registered, so its files there stay`;
      if (node) {
        try {
          await node.client.remove(row.id);
          nodeFilesRemoved = true;
          where = `; its files on node ${node.name} were removed`;
        } catch (err) {
          where = `; its files on node ${node.name} stay there (the node did not answer: ${(err as Error).message})`;
        }
      }
      const ago =
        row.ended_mono === null ? '' : ` (it ended ${formatSeconds((queue.mono() - row.ended_mono) / 1000)} ago)`;
      log.info(
        {
          experiment_id: row.id,
          user_id: row.user_id,
          status: row.status,
          deleted_by: by,
          node: row.node,
          node_files_removed: nodeFilesRemoved,
        },
        `experiment ${row.id} deleted by ${by}${ago}${where}`,
      );
      return {
        success: true as const,
        message: `Experiment ${row.id} deleted${where}`,
        node_files_removed: nodeFilesRemoved,
      };
    },
  });
}
