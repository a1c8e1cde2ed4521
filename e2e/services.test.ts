// Every service answers /health, /openapi.json and /api/docs, and refuses a bad environment by name.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { buildApp as buildHub } from '../apps/hub/src/app.js';
import { loadConfig as hubConfig } from '../apps/hub/src/config.js';
import { buildApp as buildNode } from '../apps/node/src/app.js';
import { loadConfig as nodeConfig } from '../apps/node/src/config.js';
import { buildApp as buildWeb } from '../apps/web/src/app.js';
import { loadConfig as webConfig } from '../apps/web/src/config.js';

const services = [
  { name: 'node', entry: 'apps/node/src/server.ts', build: () => buildNode(nodeConfig({}), { logger: false }) },
  { name: 'hub', entry: 'apps/hub/src/server.ts', build: () => buildHub(hubConfig({}), { logger: false }) },
  { name: 'web', entry: 'apps/web/src/server.ts', build: () => buildWeb(webConfig({}), { logger: false }) },
];

describe.each(services)('$name service', ({ build, entry }) => {
  it('answers /health, /openapi.json, /api/docs and /docs', async () => {
    const app = await build();
    try {
      // The hub reports `degraded` while no node answers (none runs in this test), and the node `starting` until its
      // sensors have their first samples; each means the service is up.
      const health = await app.inject({ url: '/health' });
      expect(health.statusCode).toBe(200);
      expect(['healthy', 'degraded', 'starting']).toContain(health.json().status);
      const spec = (await app.inject({ url: '/openapi.json' })).json();
      expect(spec.openapi).toBe('3.1.0');
      expect(Object.keys(spec.paths)).toContain('/health');
      expect((await app.inject({ url: '/api/docs/' })).statusCode).toBe(200);
      expect((await app.inject({ url: '/docs' })).headers.location).toBe('/api/docs');
    } finally {
      await app.close();
    }
  });

  it('stops with a message naming each bad variable', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', entry], {
      env: { ...process.env, PORT: 'abc', LOG_LEVEL: 'loud' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('PORT="abc"');
    expect(run.stderr).toContain('LOG_LEVEL="loud"');
  });
});
