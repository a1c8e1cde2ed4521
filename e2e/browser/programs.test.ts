// Programs and pre-flights in Debian's Chromium against the real services (simulation): a reactor and a twin (a
// node with BIOREACTOR_TIME_SCALE), in a lab that requires a pre-flight (BIOREACTOR_REQUIRE_PREFLIGHT). A program
// typed into the upload page is drawn as its timeline while it is typed and a value its node refuses is listed at its
// path; the run is refused in the hub's words, with the pre-flight one click away; sent as a pre-flight at 600x it
// ends with its report on the experiment page, after which the same program is queued as a run. The lists tag it, and
// axe-core finds no serious or critical violation on the new UI.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, type Stack, startStack } from './stack.js';

const CHROMIUM = process.env.BIOREACTOR_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'e2e', 'browser', 'artifacts');
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`Skipping the program browser tests: no Chromium at ${CHROMIUM}`);
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

/** Twenty minutes of stirring in two steps: at 600× the twin runs it in about 2 s. */
function program(secondDuty: number): string {
  return JSON.stringify({
    name: 'stir in two steps',
    tracks: [
      {
        component: 'stirrer',
        steps: [
          { duration: '10m', set: { duty_cycle: 40 } },
          { duration: '10m', set: { duty_cycle: secondDuty } },
        ],
      },
    ],
    limits: { duration: '20m' },
  });
}

async function axeProblems(page: Page): Promise<string[]> {
  // Evaluated over the DevTools protocol, which the page's Content-Security-Policy does not govern.
  await page.evaluate(AXE);
  const result = (await page.evaluate(
    "axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })",
  )) as { violations: { id: string; impact: string; nodes: { target: string[] }[]; help: string }[] };
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/** Replaces what the program editor holds by `text`, typed as a user would (one line: no auto-indent involved). */
async function typeProgram(page: Page, text: string): Promise<void> {
  await page.getByTestId('program-editor').click();
  await page.keyboard.press('Control+a');
  await page.keyboard.press('Delete');
  await page.keyboard.type(text);
}

describe.skipIf(!hasChromium)('programs and pre-flights in Chromium (a reactor and a twin)', () => {
  let stack: Stack;
  let context: BrowserContext;
  let profile: string;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    stack = await startStack({
      nodes: 2,
      nodeEnv: [{}, { BIOREACTOR_TIME_SCALE: '60' }],
      env: { hub: { BIOREACTOR_REQUIRE_PREFLIGHT: '1' } },
    });
    profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 1280, height: 900 },
    });
  }, 180_000);

  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await stack?.stop();
  });

  it('previews a typed program, lists a refused value at its path, pre-flights it and shows the report', async () => {
    const web = stack.webUrl;
    const page = await context.newPage();
    await page.goto(`${web}/upload`);
    await page.locator('.cm-content').waitFor();
    await page.getByTestId('kind-program').check();
    await page.getByTestId('program-editor').waitFor();

    // The example: a lane per track (the ring light's bands in its colours) and the thermostat as a labelled span.
    await page.getByTestId('insert-example-program').click();
    await page.locator('[data-testid="timeline-lane"][data-lane="ring_light"]').waitFor({ timeout: 20_000 });
    expect(await page.locator('[data-testid="timeline-lane"]').count()).toBe(2);
    const thermostat = page.locator('[data-testid="timeline-automation"][data-kind="thermostat"]');
    expect(await thermostat.textContent()).toContain('30 °C, 37 °C from 24 h');
    const uploadAxe: string[] = [];
    for (const vp of [
      { name: 'phone', width: 390, height: 844 },
      { name: 'desktop', width: 1280, height: 900 },
    ]) {
      await page.setViewportSize({ width: vp.width, height: vp.height });
      await page.screenshot({ path: join(ARTIFACTS, `program-example-${vp.name}.png`), fullPage: true });
      uploadAxe.push(...(await axeProblems(page)).map((p) => `${vp.name}: ${p}`));
    }

    // The timeline as it is typed: one lane, the stirrer, with its two steps.
    await typeProgram(page, program(60));
    const lane = page.locator('[data-testid="timeline-lane"][data-lane="stirrer"]');
    // (The example's stirrer lane had one step: the new one has two, and the ring light's lane is gone.)
    await expect.poll(() => lane.locator('rect.pt-band').count(), { timeout: 20_000 }).toBe(2);
    expect(await page.locator('[data-testid="timeline-lane"]').count()).toBe(1);
    await expect
      .poll(() => page.getByTestId('preview-status').textContent(), { timeout: 15_000 })
      .toMatch(/takes the program; it lasts 20 min/);
    await page.locator('summary', { hasText: 'The timeline as a table' }).click();
    expect(await page.getByTestId('program-timeline-table').textContent()).toContain('duty_cycle 60');

    // A duty cycle the stirrer refuses: listed at its path under program, no queueing needed to learn it.
    await typeProgram(page, program(150));
    const problem = page.locator(
      '[data-testid="preview-problems"] li[data-field="program.tracks[0].steps[1].set.duty_cycle"]',
    );
    await problem.waitFor({ timeout: 20_000 });
    expect(await problem.getByTestId('problem-path').textContent()).toBe('program.tracks[0].steps[1].set.duty_cycle');
    await page.screenshot({ path: join(ARTIFACTS, 'program-preview-problem-desktop.png'), fullPage: true });
    uploadAxe.push(...(await axeProblems(page)));

    // Fixed, and sent to the twin at 600×: the form says what that speed-up makes of the program's 20 minutes.
    await typeProgram(page, program(60));
    await page.getByTestId('preview-problems').waitFor({ state: 'detached', timeout: 20_000 });
    const preflight = page.getByTestId('upload-preflight');
    await expect.poll(() => preflight.isEnabled(), { timeout: 20_000 }).toBe(true);
    // The lab requires a passed pre-flight: the hub's refusal is shown as it is, with the way out one click away.
    await page.getByTestId('upload-submit').click();
    await expect
      .poll(() => page.getByTestId('upload-error').textContent(), { timeout: 20_000 })
      .toContain('BIOREACTOR_REQUIRE_PREFLIGHT');
    await page.getByTestId('choose-preflight').click();
    expect(await preflight.isChecked()).toBe(true);
    await page.getByTestId('upload-time-scale').fill('600');
    await expect
      .poll(() => page.getByTestId('preflight-help').textContent())
      .toMatch(/At 600×, this 20 min run takes 2 s/);
    uploadAxe.push(...(await axeProblems(page)));
    await page.getByTestId('upload-name').fill('stirring pre-flight');
    await page.getByTestId('upload-submit').click();
    await page.locator('[data-testid="upload-result"], [data-testid="upload-error"]').first().waitFor();
    expect(await page.getByTestId('upload-error').count(), await page.content()).toBe(0);
    const id = (await page.getByTestId('upload-experiment-id').textContent()) ?? '';
    expect(id).not.toBe('');

    // The queue and the experiment page tag it; the page shows the program, its timeline, and then its report.
    await page.goto(`${web}/my-experiments`);
    const row = page.locator(`[data-testid="experiment-row"][data-experiment-id="${id}"]`);
    await expect.poll(() => row.getByTestId('tag-preflight').textContent(), { timeout: 20_000 }).toMatch(/600×/);
    expect(await row.getByTestId('tag-program').textContent()).toBe('program');
    await page.goto(`${web}/experiment/${id}`);
    await expect.poll(() => page.getByTestId('experiment-kind').textContent()).toMatch(/program.*600×/);
    await page.locator('[data-testid="experiment-timeline"] [data-lane="stirrer"]').waitFor({ timeout: 20_000 });
    const verdict = page.getByTestId('preflight-verdict');
    await verdict.waitFor({ timeout: 120_000 });
    expect(
      await verdict.getAttribute('data-passed'),
      (await page.getByTestId('preflight-report').textContent()) ?? '',
    ).toBe('true');
    expect(await page.getByTestId('preflight-scale').textContent()).toMatch(/^600× asked/);
    expect(await page.getByTestId('preflight-simulated').textContent()).toMatch(/^20 min/);
    expect(await page.getByTestId('preflight-temperature').textContent()).toMatch(/°C/);
    expect(await page.getByTestId('preflight-refused').textContent()).toBe('none');
    await page.screenshot({ path: join(ARTIFACTS, 'program-preflight-report-desktop.png'), fullPage: true });
    const reportAxe = await axeProblems(page);
    expect([...uploadAxe, ...reportAxe]).toEqual([]);

    // Passed: the same program, opened again from its page, is now queued as a run.
    await page.getByTestId('edit-resubmit').click();
    await expect.poll(() => page.getByTestId('kind-program').isChecked(), { timeout: 20_000 }).toBe(true);
    await expect.poll(() => page.getByTestId('program-editor').textContent()).toContain('stir in two steps');
    await page.getByTestId('upload-submit').click();
    await page.locator('[data-testid="upload-result"], [data-testid="upload-error"]').first().waitFor();
    expect(await page.getByTestId('upload-error').count(), await page.content()).toBe(0);
    await page.close();
  }, 240_000);

  it('reports a Python script’s failed pre-flight with its reasons and its exception', async () => {
    const web = stack.webUrl;
    const page = await context.newPage();
    await page.goto(`${web}/upload`);
    await page.locator('.cm-content').waitFor();
    await page.getByTestId('kind-script').check();
    // Ten minutes of the twin's time (a second at 600x), then an error.
    const script = 'import time\n\ntime.sleep(600)\nraise RuntimeError("the culture ran dry")\n';
    await page.getByTestId('upload-file').setInputFiles({
      name: 'dry.py',
      mimeType: 'text/x-python',
      buffer: Buffer.from(script),
    });
    const preflight = page.getByTestId('upload-preflight');
    await expect.poll(() => preflight.isEnabled(), { timeout: 20_000 }).toBe(true);
    await preflight.check();
    await page.getByTestId('upload-time-scale').fill('600');
    await page.getByTestId('upload-max-duration').fill('30');
    await expect.poll(() => page.getByTestId('preflight-help').textContent()).toMatch(/this 30 min run takes 3 s/);
    await page.getByTestId('upload-submit').click();
    await page.locator('[data-testid="upload-result"], [data-testid="upload-error"]').first().waitFor();
    expect(await page.getByTestId('upload-error').count(), await page.content()).toBe(0);
    const id = (await page.getByTestId('upload-experiment-id').textContent()) ?? '';
    await page.goto(`${web}/experiment/${id}`);
    expect(await page.getByTestId('experiment-kind').textContent()).toMatch(/Python script.*600×/);
    const verdict = page.getByTestId('preflight-verdict');
    await verdict.waitFor({ timeout: 120_000 });
    expect(await verdict.getAttribute('data-passed')).toBe('false');
    expect(await page.getByTestId('preflight-reasons').textContent()).not.toBe('');
    expect(await page.getByTestId('preflight-exit').textContent()).toContain('RuntimeError');
    await expect.poll(() => page.getByTestId('tag-preflight').textContent()).toBe('pre-flight 600×: failed');
    await page.screenshot({ path: join(ARTIFACTS, 'script-preflight-failed-desktop.png'), fullPage: true });
    expect(await axeProblems(page)).toEqual([]);
    await page.close();
  }, 180_000);
});
