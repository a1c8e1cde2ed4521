// Every route plugin of the web server, registered explicitly.
import { ServiceHealth, SYSTEM_VERSION } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import type { WebConfig } from '../config.js';

export async function registerRoutes(app: Service, _config: WebConfig): Promise<void> {
  const started = Date.now();
  app.get('/health', { schema: { tags: ['service'], response: { 200: ServiceHealth } } }, async () => ({
    status: 'healthy' as const,
    service: 'bioreactor-web-server',
    version: SYSTEM_VERSION,
    uptime_s: (Date.now() - started) / 1000,
  }));
}
