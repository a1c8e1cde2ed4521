// Queue-wide routes: the status the guide shows, the original experiment_queue.json as an export or import, and
// moving a user's experiments to another user id.
import { ApiError, hubRoutes } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import type { HubConfig } from '../config.js';
import type { Hub } from '../hub.js';
import { exportOriginal, importOriginal, type OriginalQueueFile } from '../queue/original-json.js';
import { requireAdmin, viewerOf } from './identity.js';

export async function queueRoutes(app: Service, _config: HubConfig, hub: Hub): Promise<void> {
  app.route({
    ...hubRoutes.queueStatus,
    // Plain JSON.stringify: the schema serialiser picks each nullable field's branch by validating it, which costs
    // several times the work of building the reply when a thousand experiments wait.
    serializerCompiler: () => (data) => JSON.stringify(data),
    handler: async (request) => hub.views.queueStatus(viewerOf(request)),
  });

  app.route({
    ...hubRoutes.exportQueue,
    handler: async (request, reply) => {
      // It holds every user's script.
      requireAdmin(viewerOf(request), 'export the queue');
      reply.header('content-disposition', 'attachment; filename="experiment_queue.json"');
      return exportOriginal(hub.queue);
    },
  });

  app.route({
    ...hubRoutes.importQueue,
    handler: async (request) => {
      requireAdmin(viewerOf(request), 'import a queue file');
      const result = importOriginal(
        hub.queue,
        request.body as unknown as OriginalQueueFile,
        hub.durations.decide(undefined).maxDurationS,
      );
      return {
        success: true as const,
        imported: result.imported,
        skipped: result.skipped,
        message:
          result.imported === 0 && result.skipped.length === 0
            ? 'Nothing imported: this hub has already imported an original queue file (it is done once)'
            : `Imported ${result.imported} experiments`,
      };
    },
  });

  app.route({
    ...hubRoutes.transferUser,
    handler: async (request) => {
      requireAdmin(viewerOf(request), 'move experiments between users');
      const { from_user: from, to_user: to } = request.body;
      if (from === to) throw new ApiError('VALIDATION_FAILED', 'from_user and to_user are the same user id');
      const moved = hub.queue.transferUser(from, to).length;
      return { success: true as const, moved, message: `Moved ${moved} experiments to ${to}` };
    },
  });
}
