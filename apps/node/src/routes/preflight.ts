// GET /api/experiments/:id/preflight: the report of a run on the twin at accelerated time (experiments/preflight.ts).
import { ApiError, nodeExperimentRoutes as routes } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import { type ExperimentManager, isLive } from '../experiments/manager.js';
import { readPreflight } from '../experiments/preflight.js';
import type { ExperimentStore } from '../experiments/store.js';

export function registerPreflightRoutes(app: Service, deps: { manager: ExperimentManager; store: ExperimentStore }) {
  const { manager, store } = deps;
  app.route({
    ...routes.preflight,
    handler: async (request) => {
      const { id } = request.params;
      const run = await manager.get(id);
      if (!run.accelerated)
        throw new ApiError(
          'FILE_NOT_FOUND',
          `Experiment ${id} was not a pre-flight: start it with time_scale on a simulation node (docs/preflight.md)`,
        );
      if (isLive(run.status))
        throw new ApiError(
          'INVALID_STATE',
          `Experiment ${id} is ${run.status}: its pre-flight report is written when it ends`,
        );
      const report = await readPreflight(store.preflightPath(id));
      if (!report)
        throw new ApiError(
          'FILE_NOT_FOUND',
          `Experiment ${id} has no pre-flight report: the node restarted during the run, or could not write the report (see the node's log)`,
        );
      return { status: 'success' as const, preflight: report };
    },
  });
}
