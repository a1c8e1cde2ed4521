// Swagger UI's "Try it out" submits a script file: the hub's POST /api/experiments/start and the web server's
// POST /api/experiments/upload as multipart forms with the file chosen in the page, driven through Debian's Chromium.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXAMPLE_SCRIPT } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp as buildHub } from '../../apps/hub/src/app.js';
import { loadConfig as hubConfig } from '../../apps/hub/src/config.js';
import { buildApp as buildWeb } from '../../apps/web/src/app.js';
import { loadConfig as webConfig } from '../../apps/web/src/config.js';

const CHROMIUM = process.env.BIOREACTOR_CHROMIUM ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);

let dir: string;
let hub: Service;
let web: Service;
let hubUrl: string;
let webUrl: string;
let context: BrowserContext;

beforeAll(async () => {
  if (!hasChromium) return;
  dir = mkdtempSync(join(tmpdir(), 'bioreactor-swagger-'));
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
  context = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}, 60_000);

afterAll(async () => {
  await context?.close();
  await web?.close();
  await hub?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Opens an operation in Swagger UI, fills the form with a script file and executes it; the status shown. */
async function tryItOut(page: Page, docsUrl: string, operation: string, header?: [string, string]): Promise<string> {
  await page.goto(docsUrl);
  const op = page.locator(`[id$="-${operation}"]`).first();
  await op.locator('.opblock-summary').first().click();
  await op.locator('.try-out__btn').click();
  await op.locator('.opblock-section-request-body select').selectOption('multipart/form-data');
  await op.locator('input[type=file]').setInputFiles({
    name: 'od_time_course.py',
    mimeType: 'text/x-python',
    buffer: Buffer.from(EXAMPLE_SCRIPT),
  });
  if (header) await op.locator(`tr[data-param-name="${header[0]}"] input`).fill(header[1]);
  await op.locator('button.execute').click();
  const status = op.locator('.live-responses-table tbody .response-col_status').first();
  await status.waitFor({ timeout: 15_000 });
  const body = await op.locator('.live-responses-table tbody .response-col_description').first().textContent();
  const code = ((await status.textContent()) ?? '').trim();
  return `${code} ${body?.includes('"experiment_id"') ? 'queued' : body?.slice(0, 400)}`;
}

describe.skipIf(!hasChromium)('Swagger UI: Try it out', () => {
  it('queues a script file on the hub (POST /api/experiments/start, multipart)', async () => {
    const page = await context.newPage();
    expect(await tryItOut(page, `${hubUrl}/api/docs`, 'submit', ['x-session-id', 'swagger-user'])).toBe('200 queued');
    const queued = hub.hub.queue.all();
    expect(queued).toHaveLength(1);
    expect(queued[0]?.user_id).toBe('swagger-user');
    expect(queued[0]?.name).toBe('od_time_course.py');
    await page.close();
  });

  it('uploads a script file to the web server, the CSRF header filled in from the cookie', async () => {
    const page = await context.newPage();
    expect(await tryItOut(page, `${webUrl}/api/docs`, 'upload')).toBe('200 queued');
    expect(hub.hub.queue.all()).toHaveLength(2);
    await page.close();
  });
});
