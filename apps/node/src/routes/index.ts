// Every route plugin of the node, registered explicitly.
import { nodeRoutes, SYSTEM_VERSION } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import type { NodeConfig } from '../config.js';
import { type ExperimentRouteDeps, registerExperimentRoutes } from './experiments.js';

export interface RouteDeps {
  experiments?: ExperimentRouteDeps;
}

export async function registerRoutes(app: Service, config: NodeConfig, deps: RouteDeps = {}): Promise<void> {
  const mode = config.HARDWARE_MODE ?? 'simulation';
  app.route({
    ...nodeRoutes.health,
    handler: async () => ({
      status: 'healthy' as const,
      version: SYSTEM_VERSION,
      hardware_mode: mode,
      hardware_available: false,
      initialized_components: {},
      component_count: 0,
    }),
  });
  if (deps.experiments) await registerExperimentRoutes(app, deps.experiments);
}
