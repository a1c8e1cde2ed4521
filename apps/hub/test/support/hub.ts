// Test helpers: a hub on a fresh SQLite file, and waiting on its own change events instead of sleeping.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Service } from '@bioreactor/service-kit';
import { buildApp, type HubDeps } from '../../src/app.js';
import type { Clock } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import type { Hub } from '../../src/hub.js';

export interface TestHub {
  app: Service;
  hub: Hub;
  dir: string;
  close: () => Promise<void>;
}

export async function makeHub(
  opts: {
    nodes?: string[];
    env?: Record<string, string>;
    now?: () => number;
    clock?: Clock;
    noDispatch?: boolean;
    dir?: string;
    nodeStream?: HubDeps['nodeStream'];
  } = {},
): Promise<TestHub> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'hub-test-'));
  const config = loadConfig({
    DATA_DIR: dir,
    BIOREACTOR_NODE_API_URL: (opts.nodes ?? ['http://127.0.0.1:9']).join(','),
    BIOREACTOR_NODE_HEALTH_INTERVAL_MS: '100',
    BIOREACTOR_NODE_POLL_MS: '100',
    LOG_LEVEL: 'silent',
    ...opts.env,
  });
  const app = await buildApp(config, {
    logger: false,
    strictResponses: true,
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.noDispatch ? { noDispatch: true } : {}),
    ...(opts.nodeStream ? { nodeStream: opts.nodeStream } : {}),
  });
  await app.ready();
  return {
    app,
    hub: app.hub,
    dir,
    close: async () => {
      await app.close();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves with the check's value once it is truthy, re-checking on every queue or node change. */
export function waitFor<T>(
  hub: Hub,
  check: () => T | undefined | null | false,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const done = () => {
      hub.queue.off('experiment', test);
      hub.registry.off('node', test);
      clearTimeout(timer);
    };
    const test = () => {
      let value: T | undefined | null | false;
      try {
        value = check();
      } catch (err) {
        done();
        reject(err);
        return;
      }
      if (value) {
        done();
        resolve(value);
      }
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`timed out waiting for ${what}`));
    }, timeoutMs);
    hub.queue.on('experiment', test);
    hub.registry.on('node', test);
    test();
  });
}

export function waitForState(hub: Hub, id: string, status: string, timeoutMs?: number) {
  return waitFor(
    hub,
    () => {
      const row = hub.queue.get(id);
      return row?.status === status ? row : undefined;
    },
    `${id} to be ${status} (it is ${hub.queue.get(id)?.status})`,
    timeoutMs,
  );
}

export const GOOD_SCRIPT = 'import time\nfrom bioreactor_client import Bioreactor\nprint("hello")\n';

/** Running and accepted by its node (a claimed run is `running` a moment before the node has it). */
export function waitForStarted(hub: Hub, id: string, timeoutMs?: number) {
  return waitFor(
    hub,
    () => {
      const row = hub.queue.get(id);
      return row?.status === 'running' && row.dispatched === 1 ? row : undefined;
    },
    `${id} to be started on a node`,
    timeoutMs,
  );
}

/**
 * A clock tests move by hand: advance() moves real time (wall and monotonic together), stepWall() moves only the
 * wall clock, as NTP or an operator setting the date does.
 */
export class TestClock implements Clock {
  readonly boot = 'test-boot';
  private wallMs: number;
  private monoMs = 1_000_000;

  constructor(wall = Date.parse('2026-03-01T12:00:00Z')) {
    this.wallMs = wall;
  }

  wall(): number {
    return this.wallMs;
  }

  mono(): number {
    return this.monoMs;
  }

  advance(ms: number): void {
    this.wallMs += ms;
    this.monoMs += ms;
  }

  stepWall(ms: number): void {
    this.wallMs += ms;
  }
}
