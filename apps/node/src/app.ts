// Builds the node service (hardware API + experiment runs) without listening.
import { SYSTEM_VERSION } from '@bioreactor/api';
import { createService, type Service } from '@bioreactor/service-kit';
import type { NodeConfig } from './config.js';
import { registerRoutes } from './routes/index.js';

export interface NodeDeps {
  /** Quiet logs in tests. */
  logger?: boolean;
  strictResponses?: boolean;
}

export async function buildApp(config: NodeConfig, deps: NodeDeps = {}): Promise<Service> {
  const app = await createService({
    name: 'bioreactor-node',
    version: SYSTEM_VERSION,
    description: 'Bioreactor node: hardware API (v3 and v2) and experiment containers.',
    logLevel: config.LOG_LEVEL,
    apiToken: config.BIOREACTOR_API_TOKEN,
    strictResponses: deps.strictResponses,
    logger: deps.logger,
  });
  await registerRoutes(app, config);
  return app;
}
