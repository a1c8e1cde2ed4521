// A hub built in this process on a fresh data folder and listening on a free loopback port: the benchmarks that
// measure the hub alone (bench/hub.ts, the queue-status section) start it this way.
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Service } from '@bioreactor/service-kit';
import { buildApp } from '../../apps/hub/src/app.js';
import { loadConfig } from '../../apps/hub/src/config.js';
import type { Hub } from '../../apps/hub/src/hub.js';

export interface InProcessHub {
  app: Service;
  hub: Hub;
  url: string;
  close(): Promise<void>;
}

/** `noDispatch` leaves the queue alone (nothing is started on a node), so a full line stays full. */
export async function startInProcessHub(nodeUrl: string, opts: { noDispatch: boolean }): Promise<InProcessHub> {
  const dir = mkdtempSync(join(tmpdir(), 'hub-bench-'));
  const config = loadConfig({ DATA_DIR: dir, BIOREACTOR_NODE_API_URL: nodeUrl, LOG_LEVEL: 'silent' });
  const app = await buildApp(config, { logger: false, noDispatch: opts.noDispatch });
  try {
    await app.listen({ port: 0, host: '127.0.0.1' });
  } catch (err) {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    app,
    hub: app.hub,
    url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
    close: async () => {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
