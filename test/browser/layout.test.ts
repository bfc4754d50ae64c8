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
  posted,
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
    // Nor clipped without an ellipsis: a leaf label wider than its own box under overflow:hidden.
    for (const e of Array.from(document.querySelectorAll<HTMLElement>('.app *'))) {
      if (e.closest('.overview') || e.children.length > 0 || !e.textContent?.trim()) continue;
      const style = getComputedStyle(e);
      if (style.overflowX === 'visible' || e.clientWidth === 0) continue;
      if (e.scrollWidth > e.clientWidth + 1) {
        problems.push(`${describe(e)} is clipped (${e.scrollWidth} > ${e.clientWidth})`);
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

/**
 * A screenshot under out/screenshots; the dark and light ones also in docs/images when
 * BNN_LAB_DOC_SCREENSHOTS is set (how the README's pictures are made).
 */
async function screenshot(
  page: Page,
  name: string,
  size: { width: number; height: number },
): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const before = page.viewportSize();
  await page.setViewportSize(size);
  await page.evaluate(() => window.scrollTo(0, 0));
  // The resting page: no hover left on the last control a check clicked.
  await page.mouse.move(0, 0);
  await page.waitForTimeout(400);
  await page.screenshot({ path: join(SCREENSHOTS, name) });
  if (process.env.BNN_LAB_DOC_SCREENSHOTS && /-(dark|light)\.png$/.test(name)) {
    await page.screenshot({ path: join(ROOT, 'docs', 'images', name) });
  }
  if (before) await page.setViewportSize(before);
}

/**
 * What makes a chart readable on its own, as problems (empty when none): every step chart names
 * both axes, every drawn histogram has a count axis, every drawn heatmap a colour scale, every
 * per-layer chart a legend entry per line with a style of its own (in high contrast themes, more
 * than one colour), and charts are outlined in high contrast. `full`: the page must show the
 * training charts, the small multiples and a layer card (the editor tab does; a compact side view
 * need not, and is checked for whatever charts it has).
 */
async function chartsExplained(page: Page, theme: ThemeName, full: boolean): Promise<string[]> {
  // Layer cards draw only on screen: bring the first one into view.
  const card = page.locator('.layer-card:not([hidden])').first();
  if ((await card.count()) > 0) await card.scrollIntoViewIfNeeded();
  await page.waitForTimeout(700); // the small multiples redraw at most twice a second
  return page.evaluate(
    ([hc, full]) => {
      const problems: string[] = [];
      const plots = Array.from(document.querySelectorAll<HTMLElement>('.app .uplot'));
      if (full && plots.length < 7) problems.push(`only ${plots.length} step charts`);
      for (const u of plots) {
        const titles = (u.dataset.axes ?? '').split(' | ').filter((t) => t.trim() !== '');
        if (titles.length < 2) {
          problems.push(
            `${(u.getAttribute('aria-label') ?? '').split('.')[0]}: axis titles ${JSON.stringify(titles)}`,
          );
        }
        if (hc && getComputedStyle(u).outlineStyle === 'none') {
          problems.push(
            `${(u.getAttribute('aria-label') ?? '').split('.')[0]}: no outline in high contrast`,
          );
        }
      }
      // A canvas gets its CSS size when first drawn (CanvasChart.context).
      const drawn = (c: HTMLCanvasElement): boolean =>
        c.style.width !== '' && !c.closest('[hidden]');
      const hists = Array.from(document.querySelectorAll<HTMLCanvasElement>('.hist-canvas'));
      if (full && !hists.some(drawn)) problems.push('no histogram drawn');
      for (const c of hists.filter(drawn)) {
        if (!/count/.test(c.dataset.axes ?? '')) problems.push(`histogram axes: ${c.dataset.axes}`);
      }
      const heatmaps = Array.from(
        document.querySelectorAll<HTMLCanvasElement>('.over-time-canvas[data-mode="heatmap"]'),
      ).filter((c) => drawn(c) && Number(c.dataset.frames) > 0);
      if (full && heatmaps.length === 0) problems.push('no heatmap drawn');
      for (const c of heatmaps) {
        if (!c.dataset.colourScale) problems.push('a heatmap without a colour scale');
      }
      for (const u of Array.from(
        document.querySelectorAll<HTMLElement>('.multiples-grid .uplot'),
      )) {
        const host = u.parentElement;
        const items = Array.from(host?.querySelectorAll<HTMLElement>('.chart-legend-item') ?? []);
        const layers = Number(u.dataset.layers);
        const metric = u.dataset.metric ?? '?';
        if (items.length !== layers) {
          problems.push(`${metric}: ${items.length} legend entries for ${layers} lines`);
        }
        const styles = new Set(items.map((i) => `${i.dataset.color}/${i.dataset.dash}`));
        if (styles.size !== items.length) problems.push(`${metric}: two layers drawn alike`);
        const colours = new Set(items.map((i) => i.dataset.color));
        if (hc && items.length > 1 && colours.size < Math.min(items.length, 3)) {
          problems.push(`${metric}: ${colours.size} colours for ${items.length} layers`);
        }
      }
      return problems;
    },
    [theme === 'hc' || theme === 'hcLight', full] as const,
  );
}

/** The zoom window of every step chart (`''` when showing every step). */
async function zooms(page: Page): Promise<string[]> {
  return page.$$eval('.app .uplot', (plots) =>
    plots.map((u) => (u as HTMLElement).dataset.zoom ?? ''),
  );
}

/** Zoom, pan and smoothing on the loss and accuracy charts, shared by every step chart. */
async function zoomAndSmoothing(page: Page): Promise<void> {
  const loss = page.locator('.uplot[aria-label^="Training and test loss"]');
  const accuracy = page.locator('.uplot[aria-label^="Training and test accuracy"]');
  await loss.scrollIntoViewIfNeeded();
  // Keyboard: + zooms in about the centre, → pans, 0 shows every step again.
  await loss.focus();
  await page.keyboard.press('+');
  const zoomed = await zooms(page);
  assert.ok(zoomed[0] !== '', 'the loss chart zooms in');
  assert.ok(
    zoomed.every((z) => z === zoomed[0]),
    `every step chart follows: ${zoomed.join(' ; ')}`,
  );
  const [lo, hi] = zoomed[0].split(',').map(Number);
  assert.ok(hi - lo < 600 * 0.85, `narrower than all 600 steps: ${zoomed[0]}`);
  await page.keyboard.press('ArrowRight');
  const [lo2] = (await zooms(page))[0].split(',').map(Number);
  assert.ok(lo2 > lo, 'ArrowRight pans to later steps');
  await page.keyboard.press('0');
  assert.ok(
    (await zooms(page)).every((z) => z === ''),
    '0 shows every step',
  );

  // Mouse: drag across a third of the plot zooms into those steps; double-click resets.
  const over = accuracy.locator('.u-over');
  const box = await over.boundingBox();
  assert.ok(box);
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * 0.3, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.5, y, { steps: 4 });
  await page.mouse.move(box.x + box.width * 0.63, y, { steps: 4 });
  await page.mouse.up();
  const dragged = (await zooms(page))[0].split(',').map(Number);
  assert.equal(dragged.length, 2, 'the drag zoomed in');
  assert.ok(dragged[1] - dragged[0] < 600 * 0.5, `the window is the dragged third: ${dragged}`);
  assert.equal(await accuracy.locator('.chart-reset').count(), 0); // the button is beside it
  assert.ok(await page.locator('.chart-reset:not([hidden])').first().isVisible());
  await over.dblclick();
  assert.ok(
    (await zooms(page)).every((z) => z === ''),
    'double-click shows every step',
  );

  // Ctrl+wheel zooms about the pointer; "Show all steps" resets.
  await page.mouse.move(box.x + box.width * 0.8, y);
  await page.keyboard.down('Control');
  await page.mouse.wheel(0, -200);
  await page.keyboard.up('Control');
  await page.waitForFunction(() =>
    Array.from(document.querySelectorAll<HTMLElement>('.app .uplot')).every((u) => u.dataset.zoom),
  );
  await page.locator('.chart-reset:not([hidden])').first().click();
  assert.ok(
    (await zooms(page)).every((z) => z === ''),
    '"Show all steps" resets',
  );

  // Smoothing: the loss slider smooths the train curve, and the accuracy slider follows.
  const trainValue = loss.locator('.u-series').nth(1).locator('.u-value');
  const raw = await trainValue.innerText();
  await page.mouse.move(0, 0);
  await loss.locator('xpath=..').locator('.chart-smoothing-slider').fill('0.9');
  await page.waitForFunction(
    (el) => (el as HTMLInputElement).value === '0.9',
    await accuracy.locator('xpath=..').locator('.chart-smoothing-slider').elementHandle(),
  );
  const smoothed = await trainValue.innerText();
  assert.notEqual(smoothed, raw, `the legend shows the smoothed value (${raw} → ${smoothed})`);
  assert.equal(
    await loss.locator('xpath=..').locator('.chart-smoothing-value').innerText(),
    '0.90',
  );
  await loss.locator('xpath=..').locator('.chart-smoothing-slider').fill('0');
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
    const themes: ThemeName[] = ['dark', 'light', 'hc', 'hcLight'];
    const cases: [ThemeName, number, 'side' | 'panel'][] = themes.flatMap((theme) => [
      [theme, 300, 'side'] as [ThemeName, number, 'side'],
      [theme, 1200, 'panel'] as [ThemeName, number, 'panel'],
    ]);
    for (const [theme, width, layout] of cases) {
      await t.test(`${layout} at ${width} px (${theme})`, async () => {
        const page = await openDashboard(browser!, origin, theme, errors, width, undefined, layout);
        await showRun(page, plain.runId, plain.records);
        assert.deepEqual(await overflows(page), [], 'training run');
        const summary = page.locator('.side-summary');
        if (layout === 'side') {
          // The side view's live summary: a loss and accuracy sparkline with their latest
          // values, and a button that moves to the editor tab.
          assert.equal(await summary.isVisible(), true, 'the side view shows its summary');
          const lines = await summary
            .locator('polyline')
            .evaluateAll((ls) => ls.map((l) => (l.getAttribute('points') ?? '').split(' ').length));
          assert.equal(lines.length, 2, 'loss and accuracy lines');
          assert.ok(
            lines.every((n) => n > 10),
            `both lines drawn through the reports: ${lines.join(', ')}`,
          );
          const box = await summary.locator('svg.sparkline').boundingBox();
          assert.ok(box && box.width > 200, `the sparkline spans the side bar: ${box?.width}`);
          assert.match(
            await summary.locator('.sparkline-caption').innerText(),
            /^loss \d[\d.]* · train accuracy \d+\.\d\d%$/,
          );
          await summary.locator('vscode-button.open-editor').click();
          assert.deepEqual((await posted(page)).at(-1), {
            kind: 'command',
            command: 'openDashboard',
          });
        } else {
          assert.equal(await summary.isVisible(), false, 'the editor tab has the charts instead');
        }
        assert.deepEqual(
          await chartsExplained(page, theme, layout === 'panel'),
          [],
          'charts explain themselves',
        );
        if (layout === 'panel') {
          await screenshot(page, `dashboard-tab-${theme}.png`, { width, height: 1400 });
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
        assert.deepEqual(
          await chartsExplained(page, theme, layout === 'panel'),
          [],
          'charts explain themselves (LNS)',
        );
        if (layout === 'side') {
          await screenshot(page, `dashboard-side-300-${theme}.png`, { width, height: 1400 });
        }
        if (theme === 'dark' && layout === 'panel') await zoomAndSmoothing(page);
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
