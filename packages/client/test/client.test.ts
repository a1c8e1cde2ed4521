// The typed clients against the real hub and web server (in-process, listening on loopback): a script file
// submitted as a form, its status read back, and the web server's JSON upload with the session cookie and CSRF token.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXAMPLE_SCRIPT } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp as buildHub } from '../../../apps/hub/src/app.js';
import { loadConfig as hubConfig } from '../../../apps/hub/src/config.js';
import { buildApp as buildWeb } from '../../../apps/web/src/app.js';
import { loadConfig as webConfig } from '../../../apps/web/src/config.js';
import { createHubClient, createWebClient, formData } from '../src/index.js';

let dir: string;
let hub: Service;
let web: Service;
let hubUrl: string;
let webUrl: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bioreactor-client-'));
  hub = await buildHub(
    hubConfig({ DATA_DIR: join(dir, 'hub'), LOG_LEVEL: 'silent', BIOREACTOR_NODE_API_URL: 'http://127.0.0.1:9' }),
    { logger: false, noDispatch: true },
  );
  hubUrl = await hub.listen({ port: 0, host: '127.0.0.1' });
  web = await buildWeb(
    webConfig({ BIOREACTOR_CONFIG_DIR: join(dir, 'web'), LOG_LEVEL: 'silent', BIOREACTOR_HUB_API_URL: hubUrl }),
    { logger: false },
  );
  webUrl = await web.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await web?.close();
  await hub?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('@bioreactor/client', () => {
  it('submits a script file to the hub as a form and reads its status', async () => {
    const client = createHubClient(hubUrl, { user: 'alice' });
    const script = new Blob([EXAMPLE_SCRIPT], { type: 'text/x-python' });
    const { data, error } = await client.POST('/api/experiments/start', {
      body: { file: script, name: 'od time course', max_duration_s: 3600 },
      bodySerializer: formData,
    });
    expect(error).toBeUndefined();
    expect(data?.status).toBe('queued');
    const id = data?.experiment_id ?? '';
    const status = await client.GET('/api/experiments/{id}/status', { params: { path: { id } } });
    expect(status.data?.experiment).toMatchObject({ name: 'od time course', max_duration_s: 3600, status: 'queued' });
    expect(status.data?.experiment.user_session_id).toBe('alice');
  });

  it('gets the catalogue error, typed', async () => {
    const client = createHubClient(hubUrl);
    const { data, error, response } = await client.GET('/api/experiments/{id}/status', {
      params: { path: { id: 'no-such-experiment' } },
    });
    expect(data).toBeUndefined();
    expect(response.status).toBe(404);
    expect(error?.code).toBe('EXPERIMENT_NOT_FOUND');
  });

  it('uploads through the web server with its session cookie and CSRF token', async () => {
    const first = await fetch(`${webUrl}/api/session`);
    const cookie = first.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const session = (await first.json()) as { csrf_token: string };
    const client = createWebClient(webUrl, {
      csrfToken: () => session.csrf_token,
      headers: { cookie, origin: webUrl },
    });
    const { data, error } = await client.POST('/api/experiments/upload', {
      body: { script_content: EXAMPLE_SCRIPT, name: 'from the web client' },
    });
    expect(error).toBeUndefined();
    expect(data?.status).toBe('queued');
    const mine = await client.GET('/api/experiments/mine');
    expect(mine.data?.experiments.map((e) => e.name)).toContain('from the web client');
    const refused = await createWebClient(webUrl, { csrfToken: () => undefined, headers: { cookie } }).POST(
      '/api/experiments/upload',
      { body: { script_content: EXAMPLE_SCRIPT } },
    );
    expect(refused.response.status).toBe(403);
    expect(refused.error?.code).toBe('CSRF_FAILED');
  });
});
