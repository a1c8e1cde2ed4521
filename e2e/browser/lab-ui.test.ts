// The web app a scientist and a lab manager live in, in Debian's Chromium against the three real services
// (simulation): failure summaries, node readiness in words, the 404 page, the favicon, compressed assets, contrast
// and focus, long names on a phone, paging, drafts, live checking, run again and edit and resubmit, charts (zoom
// kept, ranges, export, time zone), the lab manager's pages, notes and labels, and notifications (browser and e-mail). Every page is
// screenshot at 1280×800 and 390×844 into e2e/browser/artifacts/ and checked with axe-core (no serious or critical
// violation).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SmtpSink, startSmtpSink } from '../../apps/web/test/smtp-sink.js';
import { ROOT, type Stack, startStack } from './stack.js';

const CHROMIUM = process.env.BIOREACTOR_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'e2e', 'browser', 'artifacts');
const hasChromium = existsSync(CHROMIUM);
const hasPython = spawnSync('python3', ['--version']).status === 0;
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const VIEWPORTS = [
  { name: 'desktop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 },
] as const;

/** Fails in main(), three frames deep in the log: the summary names the exception and line 3. */
const FAILING = `import time

def main():
    print("row 0")
    raise ValueError("row 3 has no OD reading")

main()
`;

/** Writes a few CSV rows with a pause in the middle (a gap), then waits for the test's file before ending. */
const WITH_DATA = `import csv, os, time
from datetime import datetime, timezone, timedelta

start = datetime.now(timezone.utc) - timedelta(minutes=30)
with open("experiment_data.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["timestamp", "co2_ppm", "temperature"])
    for i in list(range(0, 10)) + list(range(20, 30)):
        w.writerow([(start + timedelta(seconds=10 * i)).isoformat(), 400 + i, 30 + i / 10])
print("rows written", flush=True)
while not os.path.exists("end"):
    time.sleep(0.1)
`;

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

interface Browser {
  context: BrowserContext;
  close: () => Promise<void>;
}

async function openBrowser(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 800 },
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

async function signIn(page: Page, web: string, username: string, password: string, register = false) {
  await page.goto(`${web}/account`);
  await page.locator('main h1').first().waitFor();
  if (
    (
      await page
        .getByTestId('signed-in-as')
        .textContent()
        .catch(() => '')
    )?.includes(username)
  )
    return;
  if (register) await page.getByRole('button', { name: 'Create account' }).first().click();
  await page.getByTestId('account-username').fill(username);
  await page.getByTestId('account-password').fill(password);
  await page.getByTestId('account-submit').click();
  await page.getByTestId('signed-in-as').filter({ hasText: username }).waitFor({ timeout: 15_000 });
}

/** Types a script into the (empty) editor of /upload and queues it; returns the experiment id. */
async function submitScript(page: Page, web: string, script: string, name?: string): Promise<string> {
  await page.goto(`${web}/upload`);
  await discardDraft(page);
  await page.getByTestId('upload-file').setInputFiles({
    name: `${name ?? 'script'}.py`,
    mimeType: 'text/x-python',
    buffer: Buffer.from(script),
  });
  if (name) await page.getByTestId('upload-name').fill(name);
  await page.getByTestId('upload-submit').click();
  await page
    .locator('[data-testid="upload-result"], [data-testid="upload-error"]')
    .first()
    .waitFor({ timeout: 30_000 });
  const refused = await page
    .getByTestId('upload-error')
    .textContent()
    .catch(() => null);
  expect(refused, 'the upload was refused').toBeNull();
  const id = (await page.getByTestId('upload-experiment-id').textContent()) ?? '';
  expect(id).toMatch(/^[A-Za-z0-9_-]+$/);
  return id;
}

/** Once the upload page shows its editor: a draft left by an earlier test is discarded. */
async function discardDraft(page: Page): Promise<void> {
  await page.locator('.cm-content').waitFor();
  const discard = page.getByTestId('draft-discard');
  if (await discard.isVisible()) await discard.click();
}

async function hubStatus(stack: Stack, id: string): Promise<string> {
  const res = await fetch(`${stack.hubUrl}/api/experiments/${id}/status`);
  return ((await res.json()) as { experiment: { status: string } }).experiment.status;
}

/** axe-core on the page as it is: the serious and critical violations, described. */
async function axeProblems(page: Page): Promise<string[]> {
  // Evaluated over the DevTools protocol, which the page's Content-Security-Policy does not govern. The browser-side
  // code is a string: this project compiles without the DOM's types.
  await page.evaluate(AXE);
  const result = (await page.evaluate(
    "axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })",
  )) as { violations: { id: string; impact: string; nodes: { target: string[] }[]; help: string }[] };
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/** Every page at both widths: a full-page screenshot, and axe-core's verdict. */
async function screenshotAndAxe(page: Page, web: string, pages: [string, string][], label: string) {
  const problems: string[] = [];
  for (const vp of VIEWPORTS) {
    await page.setViewportSize({ width: vp.width, height: vp.height });
    for (const [name, path] of pages) {
      await page.goto(`${web}${path}`);
      await page.locator('main h1').first().waitFor();
      // Loaded: the live updates are on and nothing says "Loading…". (Not "networkidle": the browser's one stream
      // is held by a shared worker, whose script request Chromium never reports as finished to the page.)
      await page.getByTestId('hub-connection').and(page.locator('.dot-ok')).waitFor({ timeout: 20_000 });
      await page
        .waitForFunction("!document.querySelector('main').textContent.includes('Loading…')", undefined, {
          timeout: 20_000,
        })
        .catch(() => undefined);
      await page.screenshot({ path: join(ARTIFACTS, `${label}-${name}-${vp.name}.png`), fullPage: true });
      for (const p of await axeProblems(page)) problems.push(`${label} ${name} ${vp.name}: ${p}`);
    }
  }
  await page.setViewportSize({ width: 1280, height: 800 });
  return problems;
}

/** WCAG relative-luminance contrast of an element's text against the first opaque background behind it. */
async function contrastOf(page: Page, selector: string): Promise<number> {
  return (await page.evaluate(`(() => {
    const el = document.querySelector(${JSON.stringify(selector)});
    const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
    const f = (v) => { const s = v / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; };
    const lum = ([r, g, b]) => 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    let bg = [255, 255, 255];
    for (let n = el; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length >= 3 && (c[3] === undefined || c[3] === 1)) { bg = c; break; }
    }
    const a = lum(rgb(getComputedStyle(el).color));
    const b = lum(bg);
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  })()`)) as number;
}

describe.skipIf(!hasChromium || !hasPython)('the lab web app in Chromium (real services, simulation)', () => {
  let stack: Stack;
  let smtp: SmtpSink;
  let user: Browser;
  let admin: Browser;
  const axe: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    // A per-user limit high enough to fill two pages of My experiments.
    // The lab's mail server: a sink on 127.0.0.1 that keeps what it gets.
    smtp = await startSmtpSink();
    stack = await startStack({
      env: { hub: { BIOREACTOR_MAX_ACTIVE_PER_USER: '100' }, web: { BIOREACTOR_SMTP_URL: smtp.url } },
    });
    user = await openBrowser();
    admin = await openBrowser();
    const page = await admin.context.newPage();
    await signIn(page, stack.webUrl, 'admin', stack.adminPassword);
    await page.close();
  }, 180_000);

  afterAll(async () => {
    await user?.close();
    await admin?.close();
    await stack?.stop();
    await smtp?.close();
  }, 60_000);

  it('serves the favicon, compressed assets, and an HTML 404 page (JSON for the API)', async () => {
    const web = stack.webUrl;
    const page = await user.context.newPage();
    const notFound = await page.goto(`${web}/no/such/page`);
    expect(notFound?.status()).toBe(404);
    await page.getByTestId('not-found').waitFor();
    expect(await page.getByTestId('not-found').textContent()).toContain('There is no page at /no/such/page');
    const icon = await fetch(`${web}/favicon.ico`);
    expect(icon.status).toBe(200);
    expect(icon.headers.get('content-type')).toBe('image/x-icon');
    const api = await fetch(`${web}/api/nothing`, { headers: { accept: 'text/html' } });
    expect(api.status).toBe(404);
    expect(((await api.json()) as { code: string }).code).toBe('NOT_FOUND');
    const html = await (await fetch(`${web}/`)).text();
    const script = html.match(/src="(\/assets\/[^"]+\.js)"/)?.[1] ?? '';
    const asset = await fetch(`${web}${script}`, { headers: { 'accept-encoding': 'br, gzip' } });
    expect(asset.headers.get('content-encoding')).toBe('br');
    await page.screenshot({ path: join(ARTIFACTS, 'not-found-desktop.png') });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(ARTIFACTS, 'not-found-phone.png') });
    axe.push(...(await axeProblems(page)).map((p) => `not-found: ${p}`));
    await page.close();
  }, 60_000);

  it('has AA contrast for muted text and a visible focus outline on text fields', async () => {
    const page = await user.context.newPage();
    await page.goto(`${stack.webUrl}/my-experiments`);
    await page.locator('.page-head .muted').first().waitFor();
    const muted = await contrastOf(page, '.page-head .muted');
    expect(muted).toBeGreaterThanOrEqual(4.5);
    await page.keyboard.press('Tab');
    await page.getByTestId('mine-search').focus();
    const outline = (await page.evaluate(`(() => {
      const s = getComputedStyle(document.activeElement);
      return { width: Number.parseFloat(s.outlineWidth), style: s.outlineStyle, color: s.outlineColor };
    })()`)) as { width: number; style: string; color: string };
    expect(outline.style).toBe('solid');
    expect(outline.width).toBeGreaterThanOrEqual(2);
    console.log(`muted text contrast ${muted.toFixed(2)}:1; focus outline ${outline.width}px ${outline.color}`);
    await page.close();
  }, 30_000);

  it('summarises a failed run by its exception on My experiments, the queue page and the experiment page', async () => {
    const web = stack.webUrl;
    const page = await user.context.newPage();
    const id = await submitScript(page, web, FAILING, 'fails in main');
    await expect.poll(() => hubStatus(stack, id), { timeout: 90_000 }).toBe('failed');
    await page.goto(`${web}/my-experiments`);
    const row = page.locator(`[data-testid="experiment-row"][data-experiment-id="${id}"]`);
    await expect
      .poll(() => row.getByTestId('failure-summary').textContent(), { timeout: 20_000 })
      .toBe('ValueError: row 3 has no OD reading (line 5, in main)');
    await page.goto(`${web}/queue`);
    await expect
      .poll(() => page.locator(`[data-testid="recent-run"][data-experiment-id="${id}"]`).textContent())
      .toContain('ValueError: row 3 has no OD reading');
    await page.goto(`${web}/experiment/${id}`);
    const details = page.getByTestId('failure-details');
    await details.waitFor();
    expect(await details.textContent()).toContain('ValueError: row 3 has no OD reading');
    await details.locator('summary').click();
    expect(await details.textContent()).toContain('raise ValueError');
    await page.close();
  }, 150_000);

  it('keeps a draft as it is typed, checks it live with the hub’s validator, and queues once per click', async () => {
    const web = stack.webUrl;
    const page = await user.context.newPage();
    await page.goto(`${web}/upload`);
    await discardDraft(page);
    await page.locator('.cm-content').click();
    await page.keyboard.type('import time\nimport not_a_real_module\nprint("hello")\n');
    // Checked without pressing anything: the problem is listed and marked at its line.
    await expect
      .poll(() => page.getByTestId('check-problems').textContent(), { timeout: 15_000 })
      .toMatch(/line 2.*not_a_real_module/);
    await page.locator('.cm-lint-marker-error').first().waitFor();
    const before = (await (await fetch(`${stack.hubUrl}/api/queue/status`)).json()) as { queue: unknown[] };
    // A reload and another page lose nothing.
    await page.reload();
    await expect.poll(() => page.locator('.cm-content').textContent()).toContain('not_a_real_module');
    await page.getByTestId('draft-restored').waitFor();
    await page.goto(`${web}/queue`);
    await page.goto(`${web}/upload`);
    await expect.poll(() => page.locator('.cm-content').textContent()).toContain('not_a_real_module');
    await page.screenshot({ path: join(ARTIFACTS, 'upload-draft-checked-desktop.png'), fullPage: true });
    // Fixed: "Check" says so at once; checking queued nothing.
    await page.locator('.cm-content').click();
    await page.keyboard.press('Control+a');
    await page.keyboard.type('import time\nprint("hello")\n');
    await page.getByTestId('upload-check').click();
    await expect
      .poll(() => page.getByTestId('check-status').textContent(), { timeout: 15_000 })
      .toContain('No problems found');
    const after = (await (await fetch(`${stack.hubUrl}/api/queue/status`)).json()) as { queue: unknown[] };
    expect(after.queue.length).toBe(before.queue.length);
    // Each click of "Check and queue" sends a fresh Idempotency-Key.
    const keys: string[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/api/experiments/upload')) keys.push(r.headers()['idempotency-key'] ?? '');
    });
    await page.getByTestId('upload-submit').click();
    await page.getByTestId('upload-result').waitFor({ timeout: 30_000 });
    await page.getByTestId('upload-submit').click();
    await expect.poll(() => keys.length, { timeout: 30_000 }).toBe(2);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).not.toBe(keys[0]);
    // Queued: the draft is gone.
    await page.reload();
    await page.locator('.cm-content').waitFor();
    expect(await page.getByTestId('draft-restored').count()).toBe(0);
    await page.close();
  }, 120_000);

  it('runs a finished experiment again and opens it for editing; keeps notes and labels', async () => {
    const web = stack.webUrl;
    const page = await user.context.newPage();
    const id = await submitScript(page, web, 'print("quick")\n', 'quick run');
    await expect.poll(() => hubStatus(stack, id), { timeout: 90_000 }).toBe('completed');
    await page.goto(`${web}/experiment/${id}`);
    await page.getByTestId('submitted-script').getByText('Show the script').click();
    expect(await page.getByTestId('script-text').textContent()).toBe('print("quick")\n');
    await page.getByTestId('notes-input').fill('second inoculum');
    await page.getByTestId('labels-input').fill('E. coli, growth');
    await page.getByTestId('notes-save').click();
    await expect.poll(() => page.getByTestId('notes-message').textContent()).toBe('Saved');
    await expect.poll(() => page.locator('.page-head [data-testid="labels"]').textContent()).toBe('E. coligrowth');
    await page.getByTestId('run-again').click();
    await page.waitForURL((url) => url.pathname.startsWith('/experiment/') && !url.pathname.endsWith(id));
    const again = new URL(page.url()).pathname.split('/').pop() ?? '';
    expect(again).not.toBe(id);
    expect(await page.locator('main h1').first().textContent()).toContain('quick run');
    await page.goto(`${web}/experiment/${id}`);
    await page.getByTestId('edit-resubmit').click();
    await page.waitForURL(`${web}/upload?from=${id}`);
    await expect.poll(() => page.locator('.cm-content').textContent()).toContain('print("quick")');
    expect(await page.getByTestId('upload-name').inputValue()).toBe('quick run');
    await page.getByTestId('loaded-from').waitFor();
    await page.goto(`${web}/my-experiments`);
    await page.getByTestId('mine-search').fill('growth');
    await expect.poll(() => page.getByTestId('experiment-row').count()).toBe(1);
    await page.close();
  }, 180_000);

  it('draws an experiment’s data with gaps, keeps a zoom across updates, sets ranges, exports, labels the zone', async () => {
    const web = stack.webUrl;
    const page = await user.context.newPage();
    const id = await submitScript(page, web, WITH_DATA, 'charted');
    await expect.poll(() => hubStatus(stack, id), { timeout: 90_000 }).toBe('running');
    await page.goto(`${web}/experiment/${id}`);
    const chart = page.getByTestId('chart-co2');
    await chart.waitFor({ timeout: 30_000 });
    expect(await chart.getByTestId('chart-zone').textContent()).toMatch(/\((lab|this browser)\)$/);
    // A drag over the plot zooms; the next refreshes (every 3 s while it runs) keep it.
    const over = chart.locator('.u-over');
    await over.scrollIntoViewIfNeeded();
    const box = await over.boundingBox();
    if (!box) throw new Error('no plot area');
    await page.mouse.move(box.x + box.width * 0.2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    await chart.getByTestId('chart-zoomed').waitFor();
    const axisText = () => chart.locator('.u-axis').first().textContent();
    const zoomedAxis = await axisText();
    await page.waitForTimeout(7000);
    expect(await chart.getByTestId('chart-zoomed').count()).toBe(1);
    expect(await axisText()).toBe(zoomedAxis);
    // CSV of the visible range, and a PNG.
    const [csv] = await Promise.all([page.waitForEvent('download'), chart.getByTestId('chart-export-csv').click()]);
    const csvPath = join(mkdtempSync(join(tmpdir(), 'csv-')), 'chart.csv');
    await csv.saveAs(csvPath);
    const lines = readFileSync(csvPath, 'utf8').trim().split('\n');
    expect(lines[0]).toMatch(/^timestamp_utc,time_[A-Za-z_/+-]+,CO2 \(ppm\)$/);
    expect(lines.length - 1).toBeGreaterThan(0);
    expect(lines.length - 1).toBeLessThan(20);
    const [png] = await Promise.all([page.waitForEvent('download'), chart.getByTestId('chart-export-png').click()]);
    expect(png.suggestedFilename()).toMatch(/\.png$/);
    const pngPath = join(mkdtempSync(join(tmpdir(), 'png-')), 'chart.png');
    await png.saveAs(pngPath);
    expect(readFileSync(pngPath).subarray(1, 4).toString()).toBe('PNG');
    // A range preset replaces the zoom; "All" shows the whole run.
    await chart.getByTestId('chart-range-5m').click();
    expect(await chart.getByTestId('chart-zoomed').count()).toBe(0);
    expect(await chart.getByTestId('chart-range-5m').getAttribute('aria-pressed')).toBe('true');
    // The gap (100 s without a row) is a break in the line: the data holds a null row between the two runs of rows.
    await page.screenshot({ path: join(ARTIFACTS, 'experiment-chart-desktop.png'), fullPage: true });
    // The page's zone: switch to the browser's and back.
    const zone = page.getByTestId('time-zone').first();
    const before = await zone.textContent();
    await page.getByTestId('time-zone-switch').first().click();
    await expect.poll(() => page.getByTestId('time-zone').first().textContent()).not.toBe(before);
    await page.getByTestId('time-zone-switch').first().click();
    writeFileSync(join(stack.nodeDataDir, 'experiments', id, 'output', 'end'), '');
    await expect.poll(() => hubStatus(stack, id), { timeout: 60_000 }).toBe('completed');
    await page.close();
  }, 240_000);

  it('shows on a phone the status and Cancel of an experiment with a long name without spaces', async () => {
    const web = stack.webUrl;
    const page = await user.context.newPage();
    // A run that waits keeps the node busy, so the long-named one stays queued with its Cancel.
    const blocker = await submitScript(page, web, 'import time\ntime.sleep(120)\n', 'blocker');
    const long = 'growth_curve_of_E_coli_K12_in_M9_glucose_at_37C_with_OD_every_ten_seconds_replicate_3';
    const id = await submitScript(page, web, 'print(1)\n', long);
    await page.setViewportSize({ width: 390, height: 844 });
    for (const path of ['/queue', '/my-experiments']) {
      await page.goto(`${web}${path}`);
      const row = page.locator(`[data-experiment-id="${id}"]`).first();
      await row.waitFor({ timeout: 20_000 });
      for (const part of [row.getByTestId('status-badge'), row.getByTestId('action-cancel')]) {
        const b = await part.boundingBox();
        expect(b, path).not.toBeNull();
        expect((b?.x ?? 0) + (b?.width ?? 0), path).toBeLessThanOrEqual(390);
        expect(b?.x ?? -1, path).toBeGreaterThanOrEqual(0);
      }
      const scrolls = (await page.evaluate('document.documentElement.scrollWidth')) as number;
      expect(scrolls, path).toBeLessThanOrEqual(390);
      await page.screenshot({ path: join(ARTIFACTS, `long-name${path.replace('/', '-')}-phone.png`), fullPage: true });
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    for (const x of [id, blocker]) await fetch(`${stack.hubUrl}/api/experiments/${x}/cancel`, { method: 'POST' });
    await page.close();
  }, 120_000);

  it('pages a long list of experiments', async () => {
    const web = stack.webUrl;
    const page = await user.context.newPage();
    await signIn(page, web, 'pat', 'pat-password-1', true);
    // 30 experiments of pat's, queued straight at the hub and cancelled, so none needs the node.
    for (let i = 0; i < 30; i++) {
      const res = await fetch(`${stack.hubUrl}/api/experiments/start?name=bulk-${i}`, {
        method: 'POST',
        headers: { 'x-session-id': 'account-pat', 'content-type': 'text/x-python' },
        body: 'print(1)\n',
      });
      const { experiment_id } = (await res.json()) as { experiment_id: string };
      await fetch(`${stack.hubUrl}/api/experiments/${experiment_id}/cancel`, { method: 'POST' });
    }
    // What this browser submitted before signing up came along into the account.
    const all = (await (
      await fetch(`${stack.hubUrl}/api/experiments/user`, { headers: { 'x-session-id': 'account-pat' } })
    ).json()) as { experiments: unknown[] };
    const total = all.experiments.length;
    expect(total).toBeGreaterThanOrEqual(30);
    await page.goto(`${web}/my-experiments`);
    await expect.poll(() => page.getByTestId('experiment-row').count(), { timeout: 20_000 }).toBe(25);
    expect(await page.getByTestId('pager-range').textContent()).toBe(`1–25 of ${total}`);
    await page.getByTestId('pager-next').click();
    await expect.poll(() => page.getByTestId('experiment-row').count()).toBe(Math.min(25, total - 25));
    expect(await page.getByTestId('pager-range').textContent()).toBe(`26–${Math.min(50, total)} of ${total}`);
    await page.screenshot({ path: join(ARTIFACTS, 'my-experiments-paged-desktop.png'), fullPage: true });
    await page.close();
  }, 120_000);

  it('says in words when no node can run experiments, and lets the lab manager drain and enable the node', async () => {
    const web = stack.webUrl;
    const adminPage = await admin.context.newPage();
    await adminPage.goto(`${web}/admin/nodes`);
    const nodeRow = adminPage.getByTestId('node-row').first();
    await nodeRow.waitFor();
    await expect.poll(() => nodeRow.getByTestId('node-readiness').textContent()).toMatch(/ready for the next|running/);
    await nodeRow.getByTestId('node-drain').click();
    await expect
      .poll(() => nodeRow.getByTestId('node-readiness').getAttribute('data-readiness'), { timeout: 15_000 })
      .toBe('drained');
    const page = await user.context.newPage();
    const id = await submitScript(page, web, 'print(1)\n', 'waits for a node');
    await page.goto(`${web}/queue`);
    await page.getByTestId('queue-not-ready').waitFor({ timeout: 15_000 });
    const starts = page.locator(`[data-experiment-id="${id}"] [data-testid="queue-starts"]`);
    await expect.poll(() => starts.textContent()).toBe('waiting: no node can run experiments now');
    await page.screenshot({ path: join(ARTIFACTS, 'queue-no-node-desktop.png'), fullPage: true });
    await page.goto(`${web}/`);
    const home = page.getByTestId('home-node');
    await expect.poll(() => home.textContent()).toContain('drained');
    expect(await home.textContent()).not.toContain('ready for the next');
    await page.screenshot({ path: join(ARTIFACTS, 'home-drained-desktop.png'), fullPage: true });
    await nodeRow.getByTestId('node-drain').click();
    await expect.poll(() => hubStatus(stack, id), { timeout: 90_000 }).toBe('completed');
    await page.close();
    await adminPage.close();
  }, 180_000);

  it('gives the lab manager every run, the users and the lab’s time zone; a user sees the pages are not theirs', async () => {
    const web = stack.webUrl;
    const page = await admin.context.newPage();
    await page.goto(`${web}/admin/runs`);
    await page.getByTestId('run-row').first().waitFor();
    await page.getByTestId('runs-search').fill('fails in main');
    await expect.poll(() => page.getByTestId('run-row').count()).toBe(1);
    expect(await page.getByTestId('run-row').first().getByTestId('failure-summary').textContent()).toContain(
      'ValueError',
    );
    await page.goto(`${web}/admin/users`);
    const pat = page.locator('[data-testid="user-row"][data-username="pat"]');
    await pat.waitFor();
    page.once('dialog', (d) => void d.accept());
    await pat.getByTestId('user-disable').click();
    await expect.poll(() => pat.textContent()).toContain('disabled');
    const patPage = await user.context.newPage();
    await patPage.goto(`${web}/account`);
    await patPage.getByTestId('account-username').waitFor();
    await patPage.close();
    await pat.getByTestId('user-disable').click();
    await expect.poll(() => pat.textContent()).toContain('active');
    await page.goto(`${web}/admin/settings`);
    await page.getByTestId('lab-time-zone').fill('Asia/Tokyo');
    await page.getByTestId('lab-save').click();
    await expect.poll(() => page.getByTestId('lab-message').textContent()).toContain('Saved');
    await page.goto(`${web}/my-experiments`);
    await expect.poll(() => page.getByTestId('time-zone').textContent()).toContain('Asia/Tokyo');
    const other = await user.context.newPage();
    await other.goto(`${web}/admin/users`);
    await other.getByTestId('admin-only').waitFor();
    await other.close();
    await page.close();
  }, 120_000);

  it('notifies the user in the browser when their experiment ends, if they chose it', async () => {
    const web = stack.webUrl;
    await user.context.grantPermissions(['notifications'], { origin: web });
    // Notifications are recorded instead of shown (a headless browser shows none).
    await user.context.addInitScript(`
      window.shownNotifications = [];
      window.Notification = class {
        static permission = 'granted';
        static requestPermission = async () => 'granted';
        constructor(title) { window.shownNotifications.push(title); }
      };
    `);
    const page = await user.context.newPage();
    await signIn(page, web, 'pat', 'pat-password-1');
    // Turned on once the server has the choice (the box follows the saved state).
    await page.getByTestId('notify-on-end').click();
    await expect.poll(() => page.getByTestId('notify-on-end').isChecked()).toBe(true);
    await expect.poll(() => page.getByTestId('notify-message').textContent()).toContain('You will be notified');
    // And an e-mail, through the lab's mail server.
    await page.getByTestId('notify-email').fill('pat@lab.example');
    await page.getByTestId('notify-email-on-end').click();
    await expect.poll(() => page.getByTestId('notify-message').textContent()).toContain('You will get an e-mail');
    await page.screenshot({ path: join(ARTIFACTS, 'account-notifications-desktop.png'), fullPage: true });
    const watcher = await user.context.newPage();
    await watcher.goto(`${web}/queue`);
    const id = await submitScript(page, web, 'print(1)\n', 'tell me');
    await expect.poll(() => hubStatus(stack, id), { timeout: 90_000 }).toBe('completed');
    await expect
      .poll(() => watcher.evaluate('window.shownNotifications') as Promise<string[]>, { timeout: 20_000 })
      .toContain('Experiment tell me completed');
    await expect.poll(() => smtp.mails.map((m) => m.to.join()), { timeout: 20_000 }).toContain('<pat@lab.example>');
    expect(smtp.mails.find((m) => m.to.includes('<pat@lab.example>'))?.data).toMatch(
      /Subject: Experiment tell me completed/,
    );
    await watcher.close();
    await page.close();
  }, 150_000);

  it('opens the one stream again as the user who signs in, for every tab it serves', async () => {
    const web = stack.webUrl;
    const fresh = await openBrowser();
    try {
      await fresh.context.grantPermissions(['notifications'], { origin: web });
      await fresh.context.addInitScript(`
        window.shownNotifications = [];
        window.Notification = class {
          static permission = 'granted';
          static requestPermission = async () => 'granted';
          constructor(title) { window.shownNotifications.push(title); }
        };
      `);
      // An anonymous tab holds the shared worker, and its stream, open across the other tab's sign-in.
      const holder = await fresh.context.newPage();
      await holder.goto(`${web}/queue`);
      await holder.getByRole('heading', { level: 1 }).first().waitFor();
      const page = await fresh.context.newPage();
      // pat asked for browser notifications in the test before; they come from the stream's own view of the run.
      await signIn(page, web, 'pat', 'pat-password-1');
      const id = await submitScript(page, web, 'print(2)\n', 'seen as pat');
      await expect.poll(() => hubStatus(stack, id), { timeout: 90_000 }).toBe('completed');
      await expect
        .poll(() => page.evaluate('window.shownNotifications') as Promise<string[]>, { timeout: 20_000 })
        .toContain('Experiment seen as pat completed');
    } finally {
      await fresh.close();
    }
  }, 150_000);

  it('screenshots every page at 1280×800 and 390×844, with no serious or critical axe-core violation', async () => {
    const web = stack.webUrl;
    const mine = (await (
      await fetch(`${stack.hubUrl}/api/experiments?limit=50`, {
        headers: { 'x-user-role': 'admin', 'x-session-id': 'x' },
      })
    ).json()) as { experiments: { experiment_id: string; status: string; name: string | null }[] };
    const failed = mine.experiments.find((e) => e.name === 'fails in main')?.experiment_id ?? '';
    const charted = mine.experiments.find((e) => e.name === 'charted')?.experiment_id ?? '';
    const pages: [string, string][] = [
      ['home', '/'],
      ['upload', '/upload'],
      ['queue', '/queue'],
      ['my-experiments', '/my-experiments'],
      ['experiment-failed', `/experiment/${failed}`],
      ['experiment-chart', `/experiment/${charted}`],
      ['dashboard', '/dashboard'],
      ['settings', '/settings'],
      ['account', '/account'],
    ];
    const userPage = await user.context.newPage();
    axe.push(...(await screenshotAndAxe(userPage, web, pages, 'user')));
    await userPage.close();
    const adminPage = await admin.context.newPage();
    axe.push(
      ...(await screenshotAndAxe(
        adminPage,
        web,
        [
          ['admin-runs', '/admin/runs'],
          ['admin-users', '/admin/users'],
          ['admin-nodes', '/admin/nodes'],
          ['admin-settings', '/admin/settings'],
          ['queue', '/queue'],
        ],
        'admin',
      )),
    );
    await adminPage.close();
    writeFileSync(join(ARTIFACTS, 'axe-report.txt'), `${axe.join('\n')}\n`);
    expect(axe).toEqual([]);
  }, 300_000);
});
