// Every route plugin of the web server, registered explicitly.
import { SYSTEM_VERSION, webRoutes } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import type { WebConfig } from '../config.js';
import type { WebContext } from '../context.js';
import { accountRoutes } from './account-routes.js';
import { adminRoutes } from './admin-routes.js';
import { experimentRoutes } from './experiment-routes.js';
import { liveRoutes } from './live-routes.js';
import { pageRoutes } from './page-routes.js';

export async function registerRoutes(app: Service, _config: WebConfig, ctx: WebContext): Promise<void> {
  const started = Date.now();
  app.route({
    ...webRoutes.health,
    handler: async () => ({
      status: 'healthy' as const,
      service: 'bioreactor-web-server',
      version: SYSTEM_VERSION,
      uptime_s: (Date.now() - started) / 1000,
    }),
  });
  await accountRoutes(app, ctx);
  await experimentRoutes(app, ctx);
  await liveRoutes(app, ctx);
  await adminRoutes(app, ctx);
  await pageRoutes(app, ctx);
}
