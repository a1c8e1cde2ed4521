// The browser UI against the three real services in simulation, driven through Debian's Chromium: upload the
// guide's example, watch it queue, run and complete, see live data on the dashboard, change a setting, reorder the
// queue as admin, download and open the zip. Screenshots of every page at desktop and phone width.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, type Stack, startStack } from './stack.js';

const CHROMIUM = process.env.BIOREACTOR_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOTS = join(ROOT, 'test-results', 'screenshots');
const hasChromium = existsSync(CHROMIUM);
const hasPython = spawnSync('python3', ['--version']).status === 0;
if (!hasChromium)
  console.warn(`Skipping the browser tests: no Chromium at ${CHROMIUM} (CI installs Debian's chromium)`);
if (!hasPython) console.warn('Skipping the browser tests: python3 is needed to run experiment scripts');

/** The deployment guide's example script, with a shorter run and measurement interval. */
function guideExample(maxDurationS: number, intervalS: number): string {
  return `from bioreactor_client import Bioreactor, measure_all_data, write_data_to_csv
import time

bioreactor = Bioreactor()
max_duration = ${maxDurationS}
interval = ${intervalS}

start_time = time.time()
next_measurement_time = start_time

while True:
    current_time = time.time()
    elapsed = current_time - start_time

    if elapsed >= max_duration:
        break

    if current_time >= next_measurement_time:
        # Get all sensors + control states
        data = measure_all_data(bioreactor, include_controls=True)
        write_data_to_csv(data)

        print(f"CO2: {data.get('co2_ppm')} ppm")
        print(f"Temperature: {data.get('temperature')}°C")

        next_measurement_time += interval

    time.sleep(0.1)

print("Experiment complete!")
`;
}

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

async function openBrowser(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

async function upload(page: Page, web: string, name: string, script: string): Promise<string> {
  await page.goto(`${web}/upload`);
  await page.getByTestId('upload-file').setInputFiles({
    name: `${name}.py`,
    mimeType: 'text/x-python',
    buffer: Buffer.from(script),
  });
  const firstLine = script.split('\n')[0] ?? '';
  await expect.poll(() => page.locator('.cm-content').textContent()).toContain(firstLine);
  await page.getByTestId('upload-submit').click();
  const id = (await page.getByTestId('upload-experiment-id').textContent({ timeout: 30_000 })) ?? '';
  expect(id).toMatch(/^[A-Za-z0-9_-]+$/);
  return id;
}

async function statusOf(page: Page, id: string): Promise<string | null> {
  return page
    .locator(`[data-testid="experiment-row"][data-experiment-id="${id}"] [data-testid="status-badge"]`)
    .getAttribute('data-status', { timeout: 1000 })
    .catch(() => null);
}

async function screenshotAllPages(page: Page, web: string, experimentId: string, label: string): Promise<void> {
  const pages: [string, string][] = [
    ['home', '/'],
    ['upload', '/upload'],
    ['queue', '/queue'],
    ['my-experiments', '/my-experiments'],
    ['experiment', `/experiment/${experimentId}`],
    ['dashboard', '/dashboard'],
    ['settings', '/settings'],
    ['account', '/account'],
  ];
  for (const [width, suffix] of [
    [1280, 'desktop'],
    [390, 'phone'],
  ] as const) {
    await page.setViewportSize({ width, height: width === 1280 ? 900 : 844 });
    for (const [name, path] of pages) {
      await page.goto(`${web}${path}`);
      await page.locator('main.content h1').first().waitFor();
      await page.screenshot({ path: join(SCREENSHOTS, `${name}-${suffix}${label}.png`), fullPage: true });
    }
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

describe.skipIf(!hasChromium || !hasPython)('browser UI on the real services (simulation)', () => {
  let stack: Stack;
  let user: Awaited<ReturnType<typeof openBrowser>>;
  let admin: Awaited<ReturnType<typeof openBrowser>>;

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'apps/web/ui/dist/index.html'))) {
      execFileSync(
        process.execPath,
        [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', join(ROOT, 'apps/web/ui')],
        {
          stdio: 'inherit',
        },
      );
    }
    mkdirSync(SCREENSHOTS, { recursive: true });
    stack = await startStack();
    user = await openBrowser();
    admin = await openBrowser();
  }, 180_000);

  afterAll(async () => {
    await user?.close();
    await admin?.close();
    await stack?.stop();
  }, 60_000);

  it('runs the guide’s example from upload to download, with live data, settings and an admin reorder', async () => {
    const web = stack.webUrl;
    const page = await user.context.newPage();
    page.on('pageerror', (err) => console.error(`page error: ${err.message}`));

    // A first experiment keeps the node busy (until it is stopped below), so the next ones are seen waiting.
    const first = await upload(page, web, 'long_run', guideExample(600, 1));
    const example = await upload(page, web, 'test_experiment', guideExample(4, 1));
    const third = await upload(page, web, 'third', guideExample(2, 1));

    await page.goto(`${web}/my-experiments`);
    await expect.poll(() => statusOf(page, example), { timeout: 30_000 }).toBe('queued');
    await expect.poll(() => statusOf(page, first), { timeout: 60_000 }).toBe('running');

    // Live data while the first experiment runs: its CSV, through the hub.
    const dash = await user.context.newPage();
    await dash.goto(`${web}/dashboard`);
    await expect.poll(() => dash.getByTestId('connection-state').textContent(), { timeout: 20_000 }).toBe('Connected');
    await expect
      .poll(() => dash.getByTestId('data-source').getAttribute('data-source'), { timeout: 60_000 })
      .toBe('csv');
    await expect.poll(() => dash.getByTestId('data-source').textContent()).toContain('Data Source: CSV');
    const reading = async (id: string) =>
      Number(((await dash.getByTestId(id).textContent()) ?? '').replace(/[^0-9.]/g, ''));
    await expect.poll(() => reading('reading-co2'), { timeout: 30_000 }).toBeGreaterThan(0);
    await expect.poll(() => reading('reading-temperature')).toBeGreaterThan(0);
    await dash.getByTestId('chart-co2').waitFor({ state: 'visible' });
    await dash.getByTestId('chart-temperature').waitFor({ state: 'visible' });

    // The settings are the lab's: a user sees them read-only, with the reason.
    const readOnly = await user.context.newPage();
    await readOnly.goto(`${web}/settings`);
    await expect.poll(() => readOnly.getByTestId('settings-read-only').textContent()).toContain('an admin must');
    expect(await readOnly.getByTestId('setting-interval').isDisabled()).toBe(true);
    await readOnly.close();

    // The admin signs in; a setting the admin changes on /settings applies to the user's open dashboard at once.
    const adminPage = await admin.context.newPage();
    await adminPage.goto(`${web}/account`);
    await adminPage.getByTestId('account-username').fill('admin');
    await adminPage.getByTestId('account-password').fill(stack.adminPassword);
    await adminPage.getByTestId('account-submit').click();
    await expect.poll(() => adminPage.getByTestId('signed-in-as').textContent()).toContain('admin');
    const settings = await admin.context.newPage();
    await settings.goto(`${web}/settings`);
    await settings.getByTestId('setting-stirrer_duty').uncheck();
    await settings.getByTestId('setting-interval').fill('1');
    await settings.getByTestId('settings-save').click();
    await expect.poll(() => settings.getByTestId('settings-message').textContent()).toContain('applied');
    await dash.getByTestId('reading-stirrer').waitFor({ state: 'detached', timeout: 15_000 });
    await expect.poll(() => dash.getByTestId('dashboard-status').textContent()).toContain('every 1 s');
    await settings.close();

    // The admin moves the third experiment ahead of the example.
    await adminPage.goto(`${web}/queue`);
    const row = (id: string) => adminPage.locator(`[data-testid="queue-row"][data-experiment-id="${id}"]`);
    await expect.poll(() => row(third).getAttribute('data-position'), { timeout: 15_000 }).toBe('2');
    await row(third).getByTestId('move-up').click();
    await expect.poll(() => row(third).getAttribute('data-position'), { timeout: 15_000 }).toBe('1');
    await expect.poll(() => row(example).getAttribute('data-position')).toBe('2');
    await adminPage.screenshot({ path: join(SCREENSHOTS, 'queue-admin-desktop.png'), fullPage: true });
    await adminPage.setViewportSize({ width: 390, height: 844 });
    await adminPage.screenshot({ path: join(SCREENSHOTS, 'queue-admin-phone.png'), fullPage: true });
    // Another user sees the queue with ids cut short.
    await page.goto(`${web}/queue`);
    await page.locator('[data-testid="queue-row"]').first().waitFor({ state: 'visible' });

    // The owner stops the long run from My experiments; the queue moves on.
    await page.goto(`${web}/my-experiments`);
    page.once('dialog', (dialog) => void dialog.accept());
    await page
      .locator(`[data-testid="experiment-row"][data-experiment-id="${first}"]`)
      .getByTestId('action-cancel')
      .click();
    await expect.poll(() => statusOf(page, first), { timeout: 60_000 }).toBe('cancelled');

    // The example goes queued → running → completed on My experiments, live.
    await expect.poll(() => statusOf(page, example), { timeout: 120_000, interval: 250 }).toBe('running');
    await expect.poll(() => statusOf(page, example), { timeout: 120_000, interval: 250 }).toBe('completed');

    // Download the zip and read its CSV.
    const exampleRow = page.locator(`[data-testid="experiment-row"][data-experiment-id="${example}"]`);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      exampleRow.getByTestId('action-download').click(),
    ]);
    const zipPath = join(mkdtempSync(join(tmpdir(), 'zip-')), 'results.zip');
    await download.saveAs(zipPath);
    expect(readFileSync(zipPath).subarray(0, 2).toString()).toBe('PK');
    const listing = execFileSync('python3', [
      '-c',
      'import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nname = [n for n in z.namelist() if n.endswith("experiment_data.csv")][0]\nprint(z.read(name).decode())',
      zipPath,
    ]).toString();
    const [header, ...rows] = listing.trim().split('\n');
    expect(header).toContain('timestamp,co2_ppm,temperature');
    expect(rows.length).toBeGreaterThanOrEqual(2);

    // After the runs, the dashboard is back on the hardware.
    await expect
      .poll(() => dash.getByTestId('data-source').getAttribute('data-source'), { timeout: 60_000 })
      .toBe('hardware');
    await expect.poll(() => dash.getByTestId('data-source').textContent()).toContain('Data Source: Hardware');

    await screenshotAllPages(page, web, example, '');
  }, 400_000);

  it('shows a running experiment’s log line by line as the script prints it', async () => {
    const web = stack.webUrl;
    const page = await user.context.newPage();
    // The script moves on only when the test creates a file in its output folder, so each step is a condition.
    const script = `import os, time
print("first line", flush=True)
while not os.path.exists("go"):
    time.sleep(0.05)
print("second line", flush=True)
while not os.path.exists("end"):
    time.sleep(0.05)
print("done", flush=True)
`;
    const id = await upload(page, web, 'live-log', script);
    const output = join(stack.nodeDataDir, 'experiments', id, 'output');
    await page.goto(`${web}/experiment/${id}`);
    const status = () => page.getByTestId('experiment-status').textContent();
    const log = () => page.getByTestId('experiment-log').textContent();
    await expect.poll(status, { timeout: 90_000 }).toBe('running');
    await expect.poll(log, { timeout: 20_000 }).toContain('first line');
    await expect.poll(() => page.getByTestId('log-live').textContent()).toBe('(live)');
    writeFileSync(join(output, 'go'), '');
    await expect.poll(log, { timeout: 10_000 }).toContain('second line');
    // Still running: the line came over the stream, not from a read after the end.
    expect(await status()).toBe('running');
    writeFileSync(join(output, 'end'), '');
    await expect.poll(status, { timeout: 30_000 }).toBe('completed');
    await expect.poll(log).toContain('done');
    await page.close();
  }, 180_000);

  it('shows a safety interlock on the dashboard while it holds', async () => {
    const page = await user.context.newPage();
    await page.goto(`${stack.webUrl}/dashboard`);
    await expect.poll(() => page.getByTestId('connection-state').textContent(), { timeout: 20_000 }).toBe('Connected');
    const banner = page.getByTestId('safety-interlocks');
    expect(await banner.count()).toBe(0);
    // The inflow alone at 0.2 mL/s (the pumps' calibrated maximum) passes the node's 1 mL overflow limit in 5 s.
    const pump = (pump_name: string, velocity: number) =>
      fetch(`${stack.nodeUrl}/api/v3/pumps/control`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ pump_name, velocity }),
      });
    expect((await pump('inflow', 0.2)).status).toBe(200);
    await banner.waitFor({ state: 'visible', timeout: 20_000 });
    expect(await banner.textContent()).toMatch(
      /Adding liquid refused: .*overflow_guard\.max_excess_inflow_ml \(1 mL\)/,
    );
    // The outflow takes the excess back out; the banner goes.
    expect((await pump('outflow', 0.2)).status).toBe(200);
    await banner.waitFor({ state: 'detached', timeout: 20_000 });
    expect((await pump('outflow', 0)).status).toBe(200);
    await page.close();
  }, 90_000);
});
