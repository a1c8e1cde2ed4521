// Builds the web server (pages, live dashboard, settings) without listening.
import { SYSTEM_VERSION } from '@bioreactor/api';
import { createService, type Service } from '@bioreactor/service-kit';
import type { WebConfig } from './config.js';
import { registerRoutes } from './routes/index.js';

export interface WebDeps {
  logger?: boolean;
  strictResponses?: boolean;
}

export async function buildApp(config: WebConfig, deps: WebDeps = {}): Promise<Service> {
  const app = await createService({
    name: 'bioreactor-web-server',
    version: SYSTEM_VERSION,
    description: 'Bioreactor web server: pages, uploads, live dashboard and settings.',
    logLevel: config.LOG_LEVEL,
    // Browsers never hold the service token: the web server uses it only towards the hub and node.
    apiToken: undefined,
    strictResponses: deps.strictResponses,
    logger: deps.logger,
  });
  await registerRoutes(app, config);
  return app;
}
