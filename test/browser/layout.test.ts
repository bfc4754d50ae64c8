/**
 * The dashboard's layout at the widths a user sees it: the side view at VS Code's default side-bar
 * width (300 px) and the editor tab at 1,200 px. Nothing may stick out sideways (no horizontal
 * page scroll, no element past the right edge, the header's title, run id and status badge
 * side by side without overlapping), and the LNS fine-tune's auxiliary-loss chart, a signed sum
 * far outside [0, 1], must draw its lines. Needs `npm run build` first.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { MetricsRecord } from '../../core/protocol';
import { syntheticRun } from '../unit/webview/syntheticRun';
import {
  CHROMIUM,
  DIST,
  ROOT,
  SCREENSHOTS,
  launchChromium,
  openDashboard,
  send,
  startServer,
  type ThemeName,
} from './harness';

/** The synthetic run as an LNS fine-tune: flips vs start, disagreement, a negative Σ ℓ̃. */
function lnsRun(): { runId: string; records: MetricsRecord[] } {
  const run = syntheticRun();
  let i = 0;
  const records = run.records.map((r): MetricsRecord => {
    if (r.event === 'done') {
      return {
        ...r,
        finetune: {
          method: 'lns',
          source: '/work/.bnn-lab/runs/2026-11-21T00-00-00-mnist-cnn/checkpoints/epoch-2',
          testAccuracyBefore: 0.9412,
          testAccuracyAfter: 0.9637,
          layers: run.binaryLayers.map((name, k) => ({
            name,
            flipFromStart: 0.01 * (k + 1),
            quantizationErrorBefore: 0.4213 + 0.01 * k,
            quantizationErrorAfter: 0.4 + 0.01 * k,
            deadWeightRatioBefore: 0.021,
            deadWeightRatioAfter: 0.025,
          })),
        },
      };
    }
    if (r.event !== 'step') return r;
    i++;
    return {
      ...r,
      methodLosses: { lnsAux: -67_000 + 40 * i },
      layers: r.layers.map((l, k) => ({
        ...l,
        flipFromStart: 0.01 * i * (k + 1) * 0.05,
        disagreement: 0.02 + 0.001 * k,
        auxLoss: -900 * (k + 1) + 12 * i,
      })),
    };
  });
  return { runId: '2026-11-22T00-00-00-mnist-cnn-finetune-lns', records };
}

async function showRun(page: Page, runId: string, records: MetricsRecord[]): Promise<void> {
  await send(page, {
    kind: 'snapshot',
    trusted: true,
    run: { runId, dir: `/work/.bnn-lab/runs/${runId}`, status: 'running', records },
  });
  await send(page, { kind: 'status', runId, status: 'completed' });
  await page.waitForFunction(
    () => document.querySelector('.status-badge')?.textContent === 'completed',
  );
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(undefined))));
}

/** Horizontal overflow the user would see, as readable strings (empty when none). */
async function overflows(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const problems: string[] = [];
    const doc = document.documentElement;
    const viewport = doc.clientWidth;
    if (doc.scrollWidth > viewport) {
      problems.push(`page scrolls sideways: ${doc.scrollWidth} > ${viewport}`);
    }
    const header = document.querySelector('header.toolbar');
    if (header && header.scrollWidth > header.clientWidth) {
      problems.push(`header overflows: ${header.scrollWidth} > ${header.clientWidth}`);
    }
    const describe = (e: Element): string =>
      `${e.tagName.toLowerCase()}${e.className && typeof e.className === 'string' ? `.${e.className.split(' ').join('.')}` : ''}${e.children.length === 0 && e.textContent ? ` "${e.textContent.slice(0, 40)}"` : ''}`;
    for (const e of Array.from(document.querySelectorAll('.app *'))) {
      // A wide table scrolls inside its own box (`.table-wrap`), which is fine.
      if (e.closest('.table-wrap') && !e.classList.contains('table-wrap')) continue;
      const r = e.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      if (r.right > viewport + 0.5) {
        problems.push(`${describe(e)} ends at ${Math.round(r.right)} > ${viewport}`);
      }
    }
    // No label cut off with an ellipsis (the layer table's name cells excepted: a name column
    // as wide as the longest name would push the figures out of view).
    for (const e of Array.from(document.querySelectorAll<HTMLElement>('.app *'))) {
      if (e.closest('.overview')) continue;
      const style = getComputedStyle(e);
      if (style.textOverflow === 'ellipsis' && e.scrollWidth > e.clientWidth) {
        problems.push(`${describe(e)} is ellipsized`);
      }
    }
    const title = document.querySelector('.run-title')?.getBoundingClientRect();
    const runId = document.querySelector('.run-id')?.getBoundingClientRect();
    const badge = document.querySelector('.status-badge')?.getBoundingClientRect();
    const overlap = (a: DOMRect, b: DOMRect) =>
      a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
    if (!title || !runId || !badge) problems.push('header lacks title, run id or badge');
    else {
      if (overlap(title, badge)) problems.push('title overlaps the status badge');
      if (overlap(runId, badge)) problems.push('run id overlaps the status badge');
      if (runId.width < 20) problems.push(`run id is hidden (${runId.width} px wide)`);
    }
    return problems.slice(0, 12);
  });
}

/**
 * Saturated pixels in a chart's canvas: layer lines are drawn in depth colours (blue to
 * orange); grid, ticks and labels are grey. An empty chart has none.
 */
async function colouredPixels(page: Page, metric: string): Promise<number> {
  const figure = page.locator(`.multiples-grid .chart-card[data-metric="${metric}"]`);
  await figure.scrollIntoViewIfNeeded();
  await figure.locator('.uplot canvas').waitFor();
  await page.waitForTimeout(700); // the small multiples redraw at most twice a second
  return page.evaluate((m) => {
    const canvas = document.querySelector<HTMLCanvasElement>(
      `.multiples-grid .chart-card[data-metric="${m}"] .uplot canvas`,
    );
    const ctx = canvas?.getContext('2d');
    if (!canvas || !ctx) return -1;
    const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
      if (a > 128 && Math.max(r, g, b) - Math.min(r, g, b) > 80) n++;
    }
    return n;
  }, metric);
}

void test('dashboard layout: side view at 300 px, editor tab at 1,200 px', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip(`${CHROMIUM} is not installed; install Debian's chromium package to run this test`);
    return;
  }
  assert.ok(
    existsSync(join(DIST, 'main.js')),
    'dist/webview/main.js is missing: run `npm run build` first',
  );
  const { server, origin } = await startServer();
  let browser: Browser | undefined;
  const errors: string[] = [];
  try {
    browser = await launchChromium();
    const plain = syntheticRun();
    const lns = lnsRun();
    const cases: [ThemeName, number, 'side' | 'panel'][] = [
      ['dark', 300, 'side'],
      ['dark', 1200, 'panel'],
      ['light', 300, 'side'],
      ['hc', 1200, 'panel'],
    ];
    for (const [theme, width, layout] of cases) {
      await t.test(`${layout} at ${width} px (${theme})`, async () => {
        const page = await openDashboard(browser!, origin, theme, errors, width, undefined, layout);
        await showRun(page, plain.runId, plain.records);
        assert.deepEqual(await overflows(page), [], 'training run');
        if (theme === 'dark' && layout === 'panel') {
          mkdirSync(SCREENSHOTS, { recursive: true });
          await page.setViewportSize({ width, height: 1400 });
          await page.evaluate(() => window.scrollTo(0, 0));
          await page.waitForTimeout(300);
          await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-tab-dark.png') });
          if (process.env.BNN_LAB_DOC_SCREENSHOTS) {
            await page.screenshot({ path: join(ROOT, 'docs', 'images', 'dashboard-tab.png') });
          }
          await page.setViewportSize({ width, height: 900 });
        }
        await showRun(page, lns.runId, lns.records);
        assert.deepEqual(await overflows(page), [], 'LNS fine-tune');
        if (layout === 'panel') {
          // Several layer cards side by side in the editor tab.
          const tops = await page.$$eval('.layer-card:not([hidden])', (cards) =>
            cards.slice(0, 2).map((c) => Math.round(c.getBoundingClientRect().top)),
          );
          assert.equal(tops.length, 2);
          assert.equal(tops[0], tops[1], 'the first two layer cards share a row');
        }
        if (theme === 'dark' && layout === 'side') {
          mkdirSync(SCREENSHOTS, { recursive: true });
          await page.evaluate(() => window.scrollTo(0, 0));
          await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-side-300-dark.png') });
        }
        // The auxiliary loss (about −900 to −3,600) draws one line per layer.
        assert.ok(
          (await colouredPixels(page, 'auxLoss')) > 100,
          'the auxiliary-loss chart draws its lines',
        );
        // The before/after table shows QE as a percentage, like every other view.
        const qeCells = await page.$$eval('.finetune-table tbody tr', (rows) =>
          rows.map((r) => [r.children[2]?.textContent, r.children[3]?.textContent]),
        );
        assert.equal(qeCells.length, 4);
        assert.deepEqual(qeCells[0], ['42.1%', '40.0%']);
        // The method scalars say what lnsAux is.
        assert.match(
          await page.locator('.chart-note').innerText(),
          /lnsAux: LNS, Σ ℓ̃ over every binary weight/,
        );
        // The layers to watch, under the stats: one click opens the layer's card.
        const watch = page.locator('.watch-item');
        assert.equal(await watch.count(), 3, 'most dead, most frozen, fewest flips');
        const watched = await watch.first().getAttribute('data-layer');
        await watch.first().click();
        await page.waitForFunction(
          (name) => document.activeElement?.getAttribute('data-layer') === name,
          watched,
        );
        await page.close();
      });
    }
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await browser?.close();
    server.close();
  }
});
