// Every route plugin of the hub, registered explicitly.
import { hubRoutes, SYSTEM_VERSION } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import type { HubConfig } from '../config.js';
import type { Hub } from '../hub.js';
import { eventRoutes } from './events.js';
import { experimentRoutes } from './experiments.js';
import { nodeRoutes } from './nodes.js';
import { programRoutes } from './programs.js';
import { queueRoutes } from './queue.js';
import { queueActionRoutes } from './queue-actions.js';

export async function registerRoutes(app: Service, config: HubConfig, hub: Hub): Promise<void> {
  const started = performance.now();
  app.route({
    ...hubRoutes.health,
    handler: async () => {
      const nodes = hub.registry.list();
      const online = nodes.filter((n) => n.online === true).length;
      const disks = nodes.filter((n) => n.online === true && n.storageProblem);
      return {
        status: online > 0 && disks.length === 0 ? ('healthy' as const) : ('degraded' as const),
        service: 'bioreactor-hub',
        version: SYSTEM_VERSION,
        uptime_s: (performance.now() - started) / 1000,
        checks: {
          database: { ok: true },
          nodes: { ok: online > 0, message: `${online} of ${nodes.length} nodes online` },
          ...(disks.length > 0
            ? {
                node_storage: {
                  ok: false,
                  message: disks.map((n) => `node ${n.name}: ${n.storageProblem}`).join('; '),
                },
              }
            : {}),
          ...(hub.timeline.lastStep
            ? {
                clock: {
                  ok: true,
                  message: `the wall clock last stepped by ${Math.round(hub.timeline.lastStep.step_ms / 1000)} s (to ${hub.timeline.lastStep.wall_after}); run times and timeouts are monotonic and did not move`,
                },
              }
            : {}),
          ...(hub.notifier ? { notifications: hub.notifier.health() } : {}),
        },
      };
    },
  });
  await experimentRoutes(app, config, hub);
  await queueRoutes(app, config, hub);
  await queueActionRoutes(app, hub, app.log);
  await nodeRoutes(app, hub);
  await programRoutes(app, config, hub);
  await eventRoutes(app, hub);
}
