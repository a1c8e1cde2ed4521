// Live data of a lab with two reactors in Debian's Chromium, against the real services (simulation) behind a proxy on
// 127.0.0.1 that the test can switch to answering 502: one stream per browser however many tabs are open (a
// SharedWorker), a panel per reactor with its source and age, the page finding its stream again by itself after the
// proxy's 502s, a panel turning stale when its node stops, the upload's reactor picker, and axe-core on the dashboard.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from './stack.js';
import { type SwitchProxy, startSwitchProxy } from './switch-proxy.js';

const CHROMIUM = process.env.BIOREACTOR_CHROMIUM ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`Skipping the live stream browser tests: no Chromium at ${CHROMIUM}`);
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

async function openBrowser(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** axe-core's serious and critical violations on the page as it is (run over the DevTools protocol, CSP aside). */
async function axeProblems(page: Page): Promise<string[]> {
  await page.evaluate(AXE);
  const result = (await page.evaluate(
    "axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })",
  )) as { violations: { id: string; impact: string; nodes: { target: string[] }[]; help: string }[] };
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

const panel = (page: Page, node: string) => page.locator(`[data-testid="reactor-panel"][data-node="${node}"]`);
const connection = (page: Page) => page.getByTestId('connection-state');

/** The dashboard open and live: connected, a panel per reactor, each with a temperature and not stale. */
async function openDashboard(context: BrowserContext, web: string, nodes: string[]): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${web}/dashboard`);
  await expect.poll(() => connection(page).textContent(), { timeout: 20_000 }).toBe('Connected');
  for (const node of nodes) {
    await expect.poll(() => panel(page, node).getAttribute('data-stale'), { timeout: 20_000 }).toBe('false');
    await expect
      .poll(() => panel(page, node).getByTestId('reading-temperature').textContent(), { timeout: 20_000 })
      .toMatch(/\d/);
  }
  return page;
}

describe.skipIf(!hasChromium)('live data of two reactors in Chromium, one stream per browser', () => {
  let stack: Stack;
  let proxy: SwitchProxy;
  let browser: Awaited<ReturnType<typeof openBrowser>>;
  /** The hub's node names, in the order of stack.nodeUrls. */
  let nodes: string[] = [];

  beforeAll(async () => {
    stack = await startStack({ nodes: 2 });
    proxy = await startSwitchProxy(stack.webUrl);
    browser = await openBrowser();
    const listed = (await (await fetch(`${stack.hubUrl}/api/nodes`)).json()) as {
      nodes: { name: string; url: string }[];
    };
    nodes = stack.nodeUrls.map((url) => listed.nodes.find((n) => n.url.replace(/\/$/, '') === url)?.name ?? '');
    expect(nodes.every(Boolean)).toBe(true);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await stack?.stop();
  }, 60_000);

  it('shows a card and a panel per reactor, each with its source and age', async () => {
    const page = await openDashboard(browser.context, proxy.url, nodes);
    expect(await page.getByTestId('reactor-panel').count()).toBe(2);
    expect(await page.getByTestId('reactor-card').count()).toBe(2);
    for (const node of nodes) {
      const p = panel(page, node);
      expect(await p.getByTestId('no-live-data').count()).toBe(0);
      expect(await p.getByTestId('data-source').getAttribute('data-source')).toBe('hardware');
      expect(await p.getByTestId('data-age').textContent()).toMatch(/^updated (just now|\d+ s ago)$/);
      expect(await p.getByTestId('reactor-state').getAttribute('data-state')).toBe('idle');
    }
    await page.close();
  }, 90_000);

  it('opens one stream for three tabs, and a new tab has the reactors’ values at once', async () => {
    const before = proxy.seen('/api/stream').length;
    const tabs = [await openDashboard(browser.context, proxy.url, nodes)];
    // The first tab's worker opened the stream (or the worker of the test before still held it, if the browser kept
    // it a moment after its last tab closed).
    const streams = proxy.seen('/api/stream').length;
    expect(streams - before).toBeLessThanOrEqual(1);
    expect(streams).toBeGreaterThanOrEqual(1);
    for (let i = 0; i < 2; i++) tabs.push(await openDashboard(browser.context, proxy.url, nodes));
    // The other tabs joined it: none opened a stream of its own.
    expect(proxy.seen('/api/stream').length).toBe(streams);
    // Other pages (the queue) share it too.
    const queue = await browser.context.newPage();
    await queue.goto(`${proxy.url}/queue`);
    await queue.getByTestId('hub-connection').and(queue.locator('.dot-ok')).waitFor({ timeout: 20_000 });
    expect(proxy.seen('/api/stream').length).toBe(streams);
    for (const tab of [...tabs, queue]) await tab.close();
  }, 120_000);

  it('finds its stream again by itself after the proxy answered 502 for a while, resuming from its last event', async () => {
    const page = await openDashboard(browser.context, proxy.url, nodes);
    const other = await openDashboard(browser.context, proxy.url, nodes);
    const before = proxy.seen('/api/stream').length;
    proxy.fail();
    await expect.poll(() => connection(page).getAttribute('data-state'), { timeout: 20_000 }).toBe('retrying');
    expect(await connection(page).textContent()).toMatch(/^Connection lost: retrying (in \d+ s|now…)$/);
    for (const node of nodes) {
      await expect.poll(() => panel(page, node).getAttribute('data-stale')).toBe('true');
      expect(await panel(page, node).getByTestId('stale-label').textContent()).toContain('lost its connection');
    }
    // Several attempts, each answered 502: the page keeps trying instead of giving up as a bare EventSource does.
    await expect.poll(() => proxy.seen('/api/stream').length - before, { timeout: 30_000 }).toBeGreaterThanOrEqual(2);
    proxy.recover();
    await expect.poll(() => connection(page).textContent(), { timeout: 45_000 }).toBe('Connected');
    await expect.poll(() => connection(other).textContent(), { timeout: 45_000 }).toBe('Connected');
    for (const node of nodes)
      await expect.poll(() => panel(page, node).getAttribute('data-stale'), { timeout: 20_000 }).toBe('false');
    const retries = proxy.seen('/api/stream').slice(before);
    expect(retries.every((u) => /[?&]last_event_id=[^&]+/.test(u))).toBe(true);
    await page.close();
    await other.close();
  }, 150_000);

  it('lets the user send an experiment to one reactor, and My experiments says where it went', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${proxy.url}/upload`);
    await page.locator('.cm-content').waitFor();
    const picker = page.getByTestId('upload-node');
    await expect.poll(() => picker.locator('option').count(), { timeout: 20_000 }).toBe(1 + nodes.length);
    expect(await picker.locator('option').first().textContent()).toBe('Any reactor (the queue decides)');
    const target = nodes[1] ?? '';
    await picker.selectOption(target);
    await page.getByTestId('upload-file').setInputFiles({
      name: 'pinned.py',
      mimeType: 'text/x-python',
      buffer: Buffer.from('print("on the second reactor")\n'),
    });
    await expect.poll(() => page.locator('.cm-content').textContent()).toContain('second reactor');
    await page.getByTestId('upload-submit').click();
    await page
      .locator('[data-testid="upload-result"], [data-testid="upload-error"]')
      .first()
      .waitFor({ timeout: 30_000 });
    expect(
      await page.getByTestId('upload-error').count(),
      await page
        .getByTestId('upload-error')
        .first()
        .textContent()
        .then(
          (t) => t ?? '',
          () => '',
        ),
    ).toBe(0);
    const id = (await page.getByTestId('upload-experiment-id').textContent()) ?? '';
    expect(await page.getByTestId('upload-result-node').textContent()).toBe(target);
    const hubNode = async () =>
      (
        (await (await fetch(`${stack.hubUrl}/api/experiments/${id}/status`)).json()) as {
          experiment: { node: string | null };
        }
      ).experiment.node;
    await expect.poll(hubNode, { timeout: 30_000 }).toBe(target);
    await page.goto(`${proxy.url}/my-experiments`);
    const row = page.locator(`[data-testid="experiment-row"][data-experiment-id="${id}"]`);
    await expect.poll(() => row.getByTestId('experiment-node').textContent(), { timeout: 20_000 }).toMatch(target);
    await page.close();
  }, 120_000);

  it('turns a reactor’s panel stale when its node stops, the other staying live; no serious axe-core violation', async () => {
    const page = await openDashboard(browser.context, proxy.url, nodes);
    const [live, stopped] = [nodes[0] ?? '', nodes[1] ?? ''];
    await stack.stopNode(1);
    await expect.poll(() => panel(page, stopped).getAttribute('data-stale'), { timeout: 30_000 }).toBe('true');
    expect(await panel(page, stopped).getByTestId('stale-label').textContent()).toMatch(/^Stale/);
    await expect
      .poll(
        () =>
          page
            .locator(`[data-testid="reactor-card"][data-node="${stopped}"]`)
            .getByTestId('card-stale-label')
            .isVisible(),
        { timeout: 20_000 },
      )
      .toBe(true);
    // The running reactor's values still come: its panel is live after the other's went stale.
    expect(await panel(page, live).getAttribute('data-stale')).toBe('false');
    expect(await connection(page).textContent()).toBe('Connected');
    expect(await axeProblems(page)).toEqual([]);
    await page.close();
  }, 120_000);
});
