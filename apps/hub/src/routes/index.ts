// Every route plugin of the hub, registered explicitly.
import { hubRoutes, SYSTEM_VERSION } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import type { HubConfig } from '../config.js';

export async function registerRoutes(app: Service, _config: HubConfig): Promise<void> {
  const started = Date.now();
  app.route({
    ...hubRoutes.health,
    handler: async () => ({
      status: 'healthy' as const,
      service: 'bioreactor-hub',
      version: SYSTEM_VERSION,
      uptime_s: (Date.now() - started) / 1000,
    }),
  });
}
