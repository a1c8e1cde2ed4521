// Builds the hub service (durable queue + dispatcher to nodes) without listening.
import { SYSTEM_VERSION } from '@bioreactor/api';
import { createService, type Service } from '@bioreactor/service-kit';
import type { HubConfig } from './config.js';
import { registerRoutes } from './routes/index.js';

export interface HubDeps {
  logger?: boolean;
  strictResponses?: boolean;
}

export async function buildApp(config: HubConfig, deps: HubDeps = {}): Promise<Service> {
  const app = await createService({
    name: 'bioreactor-hub',
    version: SYSTEM_VERSION,
    description: 'Bioreactor hub: the durable experiment queue that drives one or many nodes.',
    logLevel: config.LOG_LEVEL,
    apiToken: config.BIOREACTOR_API_TOKEN,
    strictResponses: deps.strictResponses,
    logger: deps.logger,
  });
  await registerRoutes(app, config);
  return app;
}
