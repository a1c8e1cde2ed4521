// Every route plugin of the node, registered explicitly.
import { nodeRoutes, SYSTEM_VERSION } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import type { NodeConfig } from '../config.js';
import type { Hardware } from '../hardware/index.js';
import { type ExperimentRouteDeps, registerExperimentRoutes } from './experiments.js';
import { registerHardwareRoutes } from './hardware.js';
import { type ExperimentStatusProvider, registerStatusRoutes } from './status.js';

export interface RouteDeps {
  experiments?: ExperimentRouteDeps;
  hardware?: Hardware;
  experimentStatus?: () => ExperimentStatusProvider | undefined;
}

export async function registerRoutes(app: Service, config: NodeConfig, deps: RouteDeps = {}): Promise<void> {
  if (deps.hardware) {
    await registerStatusRoutes(app, deps.hardware, deps.experimentStatus ?? (() => undefined), {
      max_duration_s: config.BIOREACTOR_EXPERIMENT_MAX_DURATION_S,
    });
    await registerHardwareRoutes(app, deps.hardware, { source: 'api', faultInjection: true });
  } else {
    registerHealthOnly(app, config);
  }
  if (deps.experiments) await registerExperimentRoutes(app, deps.experiments);
}

function registerHealthOnly(app: Service, config: NodeConfig): void {
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
      ready: true,
      waiting_for: [],
    }),
  });
}
