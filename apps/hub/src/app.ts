// Builds the hub service (durable queue + dispatcher to nodes) without listening.
import { SYSTEM_VERSION } from '@bioreactor/api';
import { createService, type Service } from '@bioreactor/service-kit';
import type { Clock } from './clock.js';
import type { HubConfig } from './config.js';
import { Hub, type HubOptions } from './hub.js';
import { registerRoutes } from './routes/index.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The hub's domain parts (tests and benchmarks reach the queue through it). */
    hub: Hub;
  }
}

export interface HubDeps {
  logger?: boolean;
  strictResponses?: boolean;
  /** Wall and monotonic clocks (tests move them, together or the wall clock alone). */
  clock?: Clock;
  /** A wall clock alone, in ms since the epoch, over the system's monotonic clock. */
  now?: () => number;
  /** Leave the dispatcher stopped (tests that look at the queue alone). */
  noDispatch?: boolean;
  /** Shorter waits for the relayed node streams (tests). */
  nodeStream?: HubOptions['nodeStream'];
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
    // A script of the largest size, JSON-escaped, plus the envelope.
    bodyLimit: config.BIOREACTOR_MAX_SCRIPT_BYTES * 2 + 64 * 1024,
  });
  let hub: Hub;
  try {
    hub = new Hub(config, {
      log: {
        info: (o, m) => app.log.info(o, m),
        warn: (o, m) => app.log.warn(o, m),
        error: (o, m) => app.log.error(o, m),
      },
      ...(deps.now ? { now: deps.now } : {}),
      ...(deps.clock ? { clock: deps.clock } : {}),
      ...(deps.nodeStream ? { nodeStream: deps.nodeStream } : {}),
    });
  } catch (err) {
    // An empty or damaged database file (DatabaseFileError) stops the hub before anything listens.
    await app.close();
    throw err;
  }
  app.decorate('hub', hub);
  await registerRoutes(app, config, hub);
  app.addHook('onReady', async () => {
    if (!deps.noDispatch) hub.start();
  });
  app.addHook('onClose', async () => hub.stop());
  return app;
}
