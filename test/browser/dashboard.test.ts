/**
 * The dashboard bundle in a real Chromium: serves dist/webview with the production HTML shell
 * (strict CSP, nonce'd script), stubs `acquireVsCodeApi`, replays a synthetic run and checks
 * the DOM. Screenshots land in out/screenshots/. Needs `npm run build` first.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import type { MetricsRecord, RunStatus } from '../../core/protocol';
import { syntheticRun } from '../unit/webview/syntheticRun';
import {
  CHROMIUM,
  DIST,
  SCREENSHOTS,
  launchChromium,
  openDashboard,
  posted,
  send,
  startServer,
  type StubWindow,
} from './harness';

/** Streams a run: snapshot with `start`, then record batches, a status change and `done`. */
async function replay(page: Page, records: MetricsRecord[], runId: string): Promise<void> {
  const [start, ...rest] = records;
  await send(page, {
    kind: 'snapshot',
    trusted: true,
    run: { runId, dir: `/work/.bnn-lab/runs/${runId}`, status: 'running', records: [start] },
  });
  const done = rest.pop();
  for (let i = 0; i < rest.length; i += 4) {
    await send(page, { kind: 'records', runId, records: rest.slice(i, i + 4) });
  }
  assert.ok(done && done.event === 'done');
  await send(page, { kind: 'records', runId, records: [done] });
  await send(page, { kind: 'status', runId, status: done.status as RunStatus });
}

/**
 * A full-page screenshot. Layer cards draw only on screen (and `content-visibility: auto` skips
 * the ones far from it), so the viewport is made as tall as the page for the capture, as if the
 * user had a very tall panel, then restored.
 */
async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const frame = () => page.evaluate(() => new Promise((r) => requestAnimationFrame(r)));
  const viewport = page.viewportSize() ?? { width: 960, height: 900 };
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.setViewportSize({ width: viewport.width, height: Math.max(viewport.height, height) });
  await frame();
  await frame();
  await page.waitForTimeout(100);
  await page.screenshot({ path: join(SCREENSHOTS, name), fullPage: true });
  await page.setViewportSize(viewport);
  await frame();
}

// node:test schedules the test itself; the returned promise is voided on purpose.
void test('dashboard renders a streamed run in Chromium', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip(`${CHROMIUM} is not installed; install Debian's chromium package to run this test`);
    return;
  }
  assert.ok(
    existsSync(join(DIST, 'main.js')) && existsSync(join(DIST, 'main.css')),
    'dist/webview/main.js and main.css are missing: run `npm run build` first',
  );
  const { server, origin } = await startServer();
  const browser = await launchChromium();
  const errors: string[] = [];
  const run = syntheticRun();
  const expectedTestAccuracy = '96.37%';
  assert.equal(run.finalTestAccuracy, 0.9637);
  try {
    await t.test('empty state, then a live run (light theme)', async () => {
      const page = await openDashboard(browser, origin, 'light', errors);
      assert.deepEqual(
        (await posted(page)).filter((m) => m.kind === 'ready'),
        [{ kind: 'ready' }],
        'ready is posted exactly once',
      );

      await send(page, { kind: 'snapshot', trusted: true, run: undefined });
      const empty = page.locator('.empty-state');
      await empty.waitFor({ state: 'visible' });
      assert.match(await empty.innerText(), /Run 'BNN Lab: Train BNN'/);
      await screenshot(page, 'dashboard-empty-light.png');
      await empty.locator('vscode-button').click();
      assert.deepEqual((await posted(page)).at(-1), { kind: 'command', command: 'train' });

      await replay(page, run.records, run.runId);
      const testAcc = page.locator('[data-metric="testAccuracy"]');
      await page.waitForFunction(
        (v) =>
          document.querySelector('[data-metric="testAccuracy"]')?.getAttribute('data-value') === v,
        String(run.finalTestAccuracy),
      );
      assert.equal(await testAcc.locator('.stat-value').innerText(), expectedTestAccuracy);
      assert.equal(await page.locator('.empty-state').isVisible(), false);
      assert.equal(await page.locator('.status-badge').textContent(), 'completed');

      const cards = page.locator('.layer-card');
      assert.equal(await cards.count(), run.binaryLayers.length, 'one card per binary layer');
      // The page tells the host what it shows (the desktop integration test reads this).
      const rendered = (await posted(page)).filter((m) => m.kind === 'rendered').at(-1);
      assert.ok(rendered?.kind === 'rendered', 'a rendered report was posted');
      assert.equal(rendered.status, 'completed');
      assert.deepEqual(rendered.layerCards, run.binaryLayers);
      for (const name of run.binaryLayers) {
        const card = page.locator(`.layer-card[data-layer="${name}"]`);
        // Charts are built when a card first comes on screen.
        await card.scrollIntoViewIfNeeded();
        await card.locator('.uplot canvas').waitFor();
        assert.equal(await card.locator('.uplot canvas').count(), 1, `${name}: line chart`);
        assert.equal(await card.locator('canvas.hist-canvas').count(), 1, `${name}: histogram`);
        const box = await card.locator('canvas.hist-canvas').boundingBox();
        assert.ok(box && box.width > 100 && box.height > 40, `${name}: histogram has a size`);
      }
      // The model summary lists every layer with weights; binary ones are clickable.
      assert.equal(await page.locator('.overview tbody tr').count(), 5);
      assert.equal(
        await page.locator('.overview tbody tr[tabindex]').count(),
        run.binaryLayers.length,
      );
      // Full-precision layers are not charted.
      assert.equal(await page.locator('.layer-card[data-layer="batch_norm_1"]').count(), 0);
      // Loss, accuracy, learning rate and the four per-metric small multiples; no method chart
      // (the stream has no tau or methodLosses).
      assert.equal(await page.locator('.chart-card .uplot').count(), 7);
      const legendRows = await page.evaluate(() =>
        Array.from(document.querySelectorAll('.chart-card .uplot'), (u) =>
          Array.from(u.querySelectorAll('.u-series th'), (th) => th.textContent),
        ).filter((rows) => rows.length > 0),
      );
      assert.deepEqual(legendRows, [
        ['step', 'train', 'test'],
        ['step', 'train', 'test'],
        ['step', 'learning rate'],
      ]);
      // One line per binary layer in every small multiple.
      for (const metric of ['quantizationError', 'deadWeightRatio', 'flipRate', 'frozenRatio']) {
        const figure = page.locator(`.multiples-grid .chart-card[data-metric="${metric}"]`);
        assert.equal(
          await figure.locator('.uplot').getAttribute('data-layers'),
          String(run.binaryLayers.length),
          metric,
        );
      }
      // Histogram over time: a heatmap canvas per layer holding every report; the ±α view.
      for (const name of run.binaryLayers) {
        const card = page.locator(`.layer-card[data-layer="${name}"]`);
        const heat = card.locator('canvas.over-time-canvas');
        assert.equal(await heat.count(), 1, `${name}: over-time canvas`);
        // Cards off screen draw when scrolled into view.
        await card.scrollIntoViewIfNeeded();
        await page.waitForFunction(
          (n) =>
            document
              .querySelector(`.layer-card[data-layer="${n}"] canvas.over-time-canvas`)
              ?.getAttribute('data-frames') === '30',
          name,
        );
        assert.equal(await heat.getAttribute('data-mode'), 'heatmap');
        assert.equal(await heat.getAttribute('data-frames'), '30', `${name}: 30 reports`);
        const box = await heat.boundingBox();
        assert.ok(box && box.width > 100 && box.height > 60, `${name}: heatmap has a size`);
        assert.equal(await card.locator('canvas.binary-canvas').count(), 1, `${name}: ±α view`);
      }
      // The heatmap is drawn: its pixels are not all the same colour.
      const distinct = await page.evaluate(() => {
        const canvas = document.querySelector('.layer-card canvas.over-time-canvas');
        const ctx = (canvas as HTMLCanvasElement).getContext('2d');
        const { data } = ctx!.getImageData(0, 0, (canvas as HTMLCanvasElement).width, 60);
        const colours = new Set<number>();
        for (let i = 0; i < data.length; i += 4) {
          colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
        }
        return colours.size;
      });
      assert.ok(distinct > 8, `heatmap shows a gradient (${distinct} colours)`);

      // Hovering a histogram bar names its range and count.
      const hist = page.locator('.layer-card').first().locator('canvas.hist-canvas');
      await hist.hover({ position: { x: 60, y: 70 } }); // right of the count axis
      await page.waitForFunction(() =>
        / weights$/.test(document.querySelector('.layer-card .hist-caption')?.textContent ?? ''),
      );
      // The cursor is shared: every chart's legend shows the step under the mouse.
      await page
        .locator('.chart-card .u-over')
        .first()
        .hover({ position: { x: 40, y: 40 } });
      const cursorSteps = await page.$$eval('.uplot .u-series:first-child .u-value', (cells) =>
        cells.map((c) => c.textContent),
      );
      assert.equal(cursorSteps.length, 7, 'legends of loss, accuracy, learning rate, 4 layers');
      assert.ok(
        cursorSteps.every((v) => v === cursorSteps[0] && v !== '600'),
        `synced cursor: ${cursorSteps.join(', ')}`,
      );
      await page.mouse.move(1, 1);

      // Focus one layer from the overview table; the choice is kept in the view state.
      const row = page.locator(`.overview tbody tr[data-layer="${run.binaryLayers[1]}"]`);
      await row.click();
      await page.waitForFunction(
        () => document.querySelectorAll('.layer-card:not([hidden])').length === 1,
      );
      const state = await page.evaluate(() => (window as unknown as StubWindow).__state);
      assert.equal((state as { selectedLayer: string }).selectedLayer, run.binaryLayers[1]);
      await row.click();
      await page.waitForFunction(
        () => document.querySelectorAll('.layer-card:not([hidden])').length === 4,
      );

      // The same through the layer selector (a vscode-single-select).
      await page.locator('.section-head vscode-single-select').click();
      await page.locator('vscode-single-select li[role="option"]', { hasText: 'dense_1' }).click();
      await page.waitForFunction(
        () =>
          document.querySelectorAll('.layer-card:not([hidden])').length === 1 &&
          !(document.querySelector('.layer-card[data-layer="dense_1"]') as HTMLElement).hidden,
      );
      await screenshot(page, 'dashboard-single-layer-light.png');
      await page.locator('.section-head vscode-single-select').click();
      await page
        .locator('vscode-single-select li[role="option"]', { hasText: 'All layers' })
        .click();
      await page.waitForFunction(
        () => document.querySelectorAll('.layer-card:not([hidden])').length === 4,
      );

      // Sorting: by params, descending first, then ascending; missing values stay last.
      const order = () =>
        page.$$eval('.overview tbody tr', (rows) => rows.map((r) => r.getAttribute('data-layer')));
      await page.locator('.overview th[data-column="params"] button').click();
      await page.waitForFunction(
        () =>
          document
            .querySelector('.overview th[data-column="params"]')
            ?.getAttribute('aria-sort') === 'descending',
      );
      assert.deepEqual(await order(), [
        'dense_1',
        'conv2d_2',
        'dense_2',
        'conv2d_1',
        'batch_norm_1',
      ]);
      await page.locator('.overview th[data-column="params"] button').press('Enter');
      await page.waitForFunction(
        () =>
          document
            .querySelector('.overview th[data-column="params"]')
            ?.getAttribute('aria-sort') === 'ascending',
      );
      assert.deepEqual(await order(), [
        'batch_norm_1',
        'conv2d_1',
        'dense_2',
        'conv2d_2',
        'dense_1',
      ]);
      // By a metric: the full-precision layer has none and sorts last either way.
      await page.locator('.overview th[data-column="quantizationError"] button').click();
      await page.waitForFunction(
        () =>
          document.querySelector('.overview tbody tr')?.getAttribute('data-layer') === 'dense_2',
      );
      assert.equal((await order()).at(-1), 'batch_norm_1');
      const qeCell = await page
        .locator('.overview tbody tr[data-layer="dense_2"] td[data-column="quantizationError"]')
        .innerText();
      const lastStep = run.records.filter((r) => r.event === 'step').at(-1);
      assert.ok(lastStep && lastStep.event === 'step');
      assert.equal(qeCell, `${(lastStep.layers[3].quantizationError * 100).toFixed(1)}%`);

      // Export: PNG and SVG of a chart, CSV of the run, each posted to the host.
      await page.locator('.chart-card').first().hover();
      await page.locator('.chart-card').first().locator('vscode-button[data-format="png"]').click();
      let last = (await posted(page)).at(-1);
      assert.ok(last?.kind === 'export' && last.format === 'png', 'png export posted');
      assert.equal(last.name, `${run.runId}-Loss.png`);
      assert.ok(Buffer.from(last.data, 'base64').subarray(1, 4).toString() === 'PNG');
      await page.locator('.chart-card').first().locator('vscode-button[data-format="svg"]').click();
      last = (await posted(page)).at(-1);
      assert.ok(last?.kind === 'export' && last.format === 'svg', 'svg export posted');
      assert.match(last.data, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      assert.equal((last.data.match(/<path /g) ?? []).length, 2, 'train and test paths');
      const heatCard = page.locator('.layer-card').first();
      await heatCard.hover();
      await heatCard.locator('vscode-button[data-format="png"]').click();
      last = (await posted(page)).at(-1);
      assert.ok(last?.kind === 'export' && last.name.endsWith('heatmap.png'), 'heatmap png');
      await page.locator('.toolbar vscode-button.csv-button').click();
      last = (await posted(page)).at(-1);
      assert.ok(last?.kind === 'export' && last.format === 'csv', 'csv export posted');
      const csvLines = last.data.trim().split('\n');
      assert.equal(csvLines.length, 1 + 30, 'header and one row per report');
      assert.match(csvLines[0], /^step,reports,loss,accuracy,learningRate,epoch,testLoss,/);

      // Ridgeline mode, kept in the view state.
      await page.locator('vscode-radio[data-value="ridgeline"]').click();
      await page.waitForFunction(
        () =>
          document.querySelectorAll('canvas.over-time-canvas[data-mode="ridgeline"]').length === 4,
      );
      const ridgeState = await page.evaluate(() => (window as unknown as StubWindow).__state);
      assert.equal((ridgeState as { overTimeMode: string }).overTimeMode, 'ridgeline');
      await screenshot(page, 'dashboard-ridgeline-light.png');
      await page.locator('vscode-radio[data-value="heatmap"]').click();

      // Log scale on the small multiples, and click-through from a line to its layer.
      await page.locator('.section-head vscode-checkbox').click();
      await page.waitForFunction(
        () => document.querySelectorAll('.multiples-grid .uplot[data-log="true"]').length === 4,
      );
      const over = page.locator(
        '.multiples-grid .chart-card[data-metric="quantizationError"] .u-over',
      );
      await over.scrollIntoViewIfNeeded();
      const overBox = await over.boundingBox();
      assert.ok(overBox);
      // Sweep down the right edge until a line is close enough to be highlighted.
      const x = overBox.x + overBox.width - 3;
      let hitY: number | undefined;
      for (let y = overBox.y + 2; y < overBox.y + overBox.height && hitY === undefined; y += 4) {
        await page.mouse.move(x, y);
        const text = await page.locator('.multiples-readout').first().innerText();
        if (/click to open/.test(text)) hitY = y;
      }
      assert.ok(hitY !== undefined, 'a layer line is highlighted under the cursor');
      const readout = await page.locator('.multiples-readout').first().innerText();
      const picked = /^(\S+) · step/.exec(readout)?.[1];
      assert.ok(picked && run.binaryLayers.includes(picked), `readout names a layer: ${readout}`);
      await page.mouse.click(x, hitY);
      await page.waitForFunction(
        (name) =>
          document.querySelectorAll('.layer-card:not([hidden])').length === 1 &&
          document.activeElement?.getAttribute('data-layer') === name,
        picked,
      );
      await page.locator('.section-head vscode-checkbox').click();
      await page.locator('.overview tbody tr.selected').click();
      await page.waitForFunction(
        () => document.querySelectorAll('.layer-card:not([hidden])').length === 4,
      );

      // Three runs overlaid on the one in view: every chart, one colour per run, a legend and
      // the config diff; Pin and Stop comparing post to the host; an empty comparison ends it.
      const compared = [
        { runId: 'baseline', name: 'baseline', seed: 1, learningRate: 0.001, acc: [0.9, 0.92] },
        { runId: 'r-lr', name: 'lr-sweep', seed: 42, learningRate: 0.01, acc: [0.8, 0.85] },
        { runId: 'r-seed', name: 'r-seed', seed: 7, learningRate: 0.001, acc: [0.7, 0.75] },
      ];
      await send(page, {
        kind: 'comparison',
        pinned: false,
        runs: compared.map((c) => {
          const other = syntheticRun({ testAccuracies: c.acc });
          const records = other.records.map((r) =>
            r.event === 'start'
              ? { ...r, config: { ...r.config, seed: c.seed, learningRate: c.learningRate } }
              : r,
          );
          return {
            run: {
              runId: c.runId,
              name: c.name,
              dir: `/runs/${c.runId}`,
              status: 'completed' as const,
              records,
            },
          };
        }),
      });
      await page.locator('.compare-bar').waitFor({ state: 'visible' });
      assert.match(
        await page.locator('.compare-bar').innerText(),
        /Comparing with baseline, r-lr, r-seed/,
      );
      const names = [run.runId, 'baseline', 'lr-sweep', 'r-seed'];
      assert.deepEqual(
        await page.$$eval('.compare-legend .compare-name', (items) =>
          items.map((i) => i.textContent),
        ),
        [`${run.runId} (in view)`, 'baseline', 'lr-sweep', 'r-seed'],
      );
      const legendOf = (title: string): Promise<string[]> =>
        page.$$eval(
          '.chart-card',
          (cards, t) => {
            const card = cards.find((c) => c.querySelector('.chart-title-text')?.textContent === t);
            return Array.from(card?.querySelectorAll('.u-series th') ?? [], (th) =>
              (th.textContent ?? '').trim(),
            );
          },
          title,
        );
      assert.deepEqual(await legendOf('Loss'), [
        'step',
        ...names.flatMap((n) => [`${n} train`, `${n} test`]),
      ]);
      assert.deepEqual(await legendOf('Accuracy (%)'), [
        'step',
        ...names.flatMap((n) => [`${n} train`, `${n} test`]),
      ]);
      assert.deepEqual(await legendOf('Learning rate'), ['step', ...names]);
      for (const title of [
        'Quantization error (%)',
        'Dead weights (%)',
        'Flip rate (%)',
        'Frozen weights (%)',
      ]) {
        assert.deepEqual(await legendOf(title), ['step', ...names], `${title} overlays every run`);
      }
      // Each layer card overlays the same layer of every compared run.
      const cardLegend = await page.$$eval('.layer-card', (cards) =>
        Array.from(cards[0].querySelectorAll('.u-series th'), (th) =>
          (th.textContent ?? '').trim(),
        ),
      );
      for (const n of ['baseline', 'lr-sweep', 'r-seed']) {
        assert.ok(cardLegend.includes(`${n} QE`), `the layer card overlays ${n}: ${cardLegend}`);
        assert.ok(cardLegend.includes(`${n} Dead`));
      }
      const diff = await page.$$eval('.config-diff tbody tr', (rows) =>
        rows.map((r) => Array.from((r as HTMLTableRowElement).cells, (c) => c.textContent)),
      );
      assert.deepEqual(
        diff.map((r) => r[0]),
        ['learningRate', 'seed'],
        'the config diff lists the differing fields only',
      );
      assert.deepEqual(
        diff.find((r) => r[0] === 'seed'),
        ['seed', '42', '1', '42', '7'],
      );
      await screenshot(page, 'dashboard-compare-light.png');
      await page.locator('.compare-bar vscode-checkbox').click();
      assert.deepEqual((await posted(page)).at(-1), { kind: 'pinComparison', pinned: true });
      await page.locator('.compare-bar vscode-button').click();
      assert.deepEqual((await posted(page)).at(-1), { kind: 'clearComparison' });
      await send(page, { kind: 'comparison', runs: [], pinned: false });
      await page.locator('.compare-bar').waitFor({ state: 'hidden' });
      assert.deepEqual(await legendOf('Loss'), ['step', 'train', 'test'], 'back to one run');

      await screenshot(page, 'dashboard-light.png');
      await page.setViewportSize({ width: 380, height: 900 });
      await page.waitForTimeout(100);
      await screenshot(page, 'dashboard-narrow-light.png');
      await page.close();
    });

    await t.test('dark theme, failed and untrusted states', async () => {
      const page = await openDashboard(browser, origin, 'dark', errors);
      await replay(page, run.records, run.runId);
      await page.waitForFunction(
        (v) =>
          document.querySelector('[data-metric="testAccuracy"]')?.getAttribute('data-value') === v,
        String(run.finalTestAccuracy),
      );
      assert.equal(
        await page.locator('[data-metric="testAccuracy"] .stat-value').innerText(),
        expectedTestAccuracy,
      );
      for (const name of run.binaryLayers) {
        const card = page.locator(`.layer-card[data-layer="${name}"]`);
        await card.scrollIntoViewIfNeeded();
        await card.locator('.uplot').waitFor();
      }
      assert.equal(await page.locator('.layer-card .uplot').count(), run.binaryLayers.length);
      await page.evaluate(() => window.scrollTo(0, 0));
      await screenshot(page, 'dashboard-dark.png');

      // VS Code switches theme under a live page: charts are rebuilt with the new colours.
      await page.evaluate(async () => {
        const link = document.getElementById('theme') as HTMLLinkElement;
        await new Promise((loaded) => {
          link.addEventListener('load', loaded, { once: true });
          link.href = '/theme-hc.css';
        });
        document.body.className = 'vscode-high-contrast';
      });
      await page.waitForFunction(() => {
        const fg = getComputedStyle(document.documentElement).getPropertyValue(
          '--vscode-foreground',
        );
        return fg.trim() === '#ffffff' && document.querySelectorAll('.uplot').length === 11;
      });
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(null))));
      assert.equal(await page.locator('.layer-card canvas.hist-canvas').count(), 4);
      await screenshot(page, 'dashboard-hc.png');

      // A method with its own scalars (ReCU's τ, an auxiliary loss): a chart for them appears.
      const withScalars = run.records.map((r, i) =>
        r.event === 'step' ? { ...r, tau: 0.9 + i / 1000, methodLosses: { aux: 0.05 * i } } : r,
      );
      await send(page, {
        kind: 'snapshot',
        trusted: true,
        run: { runId: 'recu', dir: '/tmp/recu', status: 'completed', records: withScalars },
      });
      await page.waitForFunction(() => {
        const figures = Array.from(document.querySelectorAll('.chart-card'));
        const method = figures.find((f) => f.textContent?.startsWith('Method scalars'));
        return method && !(method as HTMLElement).hidden && method.querySelector('.uplot');
      });
      const methodLegend = await page.evaluate(() => {
        const figures = Array.from(document.querySelectorAll('.chart-card'));
        const method = figures.find((f) => f.textContent?.startsWith('Method scalars'));
        return Array.from(method?.querySelectorAll('.u-series th') ?? [], (th) => th.textContent);
      });
      assert.deepEqual(methodLegend, ['step', 'τ', 'aux']);

      // A run that has just started: no report yet, but no blank panel either.
      await send(page, {
        kind: 'snapshot',
        trusted: true,
        run: { runId: 'new-run', dir: '/tmp/new-run', status: 'running', records: [] },
      });
      await page.locator('.layers-empty').waitFor({ state: 'visible' });
      assert.equal(await page.locator('.progress-text').innerText(), 'Starting… · step 0');
      assert.equal(await page.locator('.toolbar vscode-button.action-button').innerText(), 'Stop');
      await page.locator('.toolbar vscode-button.action-button').click();
      assert.deepEqual((await posted(page)).at(-1), { kind: 'command', command: 'stop' });

      // A fine-tune before its first step: what it does, and the time since it started.
      const start = run.records[0];
      const phase = (name: string, done: number, total: number, dt: number) =>
        ({ event: 'phase', phase: name, done, total, time: start.time + dt }) as MetricsRecord;
      await send(page, {
        kind: 'snapshot',
        trusted: true,
        run: {
          runId: 'ft',
          dir: '/tmp/ft',
          status: 'running',
          records: [start, phase('evaluateSource', 4000, 10000, 3000)],
        },
      });
      const progressText = page.locator('.progress-text');
      await page.waitForFunction(() =>
        document.querySelector('.progress-text')?.textContent?.startsWith('Evaluating'),
      );
      assert.match(
        await progressText.innerText(),
        /^Evaluating the checkpoint before fine-tuning, 4,000\/10,000 test images · step 0 \/ /,
      );
      await send(page, {
        kind: 'records',
        runId: 'ft',
        records: [phase('mapperWarmup', 120, 200, 9000)],
      });
      await page.waitForFunction(
        () => document.querySelector('.progress')?.getAttribute('data-phase') === 'mapperWarmup',
      );
      assert.match(
        await progressText.innerText(),
        /^Warming up the LNS mappers, step 120\/200 · step 0 \/ /,
      );
      assert.equal(await page.locator('[data-metric="elapsed"] .stat-value').innerText(), '9.0 s');
      const firstStep = run.records.find((r) => r.event === 'step')!;
      await send(page, {
        kind: 'records',
        runId: 'ft',
        records: [{ ...firstStep, time: start.time + 13_000 }],
      });
      await page.waitForFunction(() =>
        document.querySelector('.progress-text')?.textContent?.startsWith('Epoch 1'),
      );
      assert.equal(await page.locator('.progress').getAttribute('data-phase'), '');

      // A run that fails mid-way: error banner with the message and a Show Log link.
      const partial = run.records.slice(0, 12);
      await send(page, {
        kind: 'snapshot',
        trusted: true,
        run: { runId: 'failed-run', dir: '/tmp/failed-run', status: 'running', records: partial },
      });
      await send(page, {
        kind: 'status',
        runId: 'failed-run',
        status: 'failed',
        message: 'trainModel: loss became NaN at step 220',
      });
      const banner = page.locator('.banner[data-kind="error"]');
      await banner.waitFor({ state: 'visible' });
      assert.match(await banner.innerText(), /loss became NaN at step 220/);
      await banner.locator('a', { hasText: 'Show Log' }).click();
      assert.deepEqual((await posted(page)).at(-1), { kind: 'command', command: 'showLog' });
      await screenshot(page, 'dashboard-failed-dark.png');

      // Cancelled run: informational banner, charts stay.
      await send(page, {
        kind: 'snapshot',
        trusted: true,
        run: { runId: 'cancelled-run', dir: '/tmp/c', status: 'cancelled', records: partial },
      });
      const info = page.locator('.banner[data-kind="info"]');
      await info.waitFor({ state: 'visible' });
      assert.match(await info.innerText(), /cancelled at step/);

      // Untrusted workspace without a run.
      await send(page, { kind: 'snapshot', trusted: false, run: undefined });
      await page.waitForFunction(() =>
        /trusted workspace/.test(document.querySelector('.empty-state')?.textContent ?? ''),
      );
      assert.equal(await page.locator('.empty-state vscode-button').isVisible(), false);
      await screenshot(page, 'dashboard-untrusted-dark.png');

      // A metrics.jsonl read with a cut-off last line and a bad line: everything before is
      // shown, and the panel says what it skipped.
      await send(page, {
        kind: 'snapshot',
        trusted: true,
        run: { runId: run.runId, dir: '/tmp/damaged', status: 'failed', records: partial },
        skipped: { badLines: 1, truncatedLastLine: true },
      });
      const notice = page.locator('.notice');
      await notice.waitFor({ state: 'visible' });
      assert.match(
        await notice.innerText(),
        /Skipped 1 unreadable line and a cut-off last line .*metrics\.jsonl/,
      );
      assert.equal(await page.locator('.layer-card').count(), run.binaryLayers.length);
      // The folder is deleted while open: the view says so and keeps the charts.
      await send(page, { kind: 'runMissing', runId: run.runId, dir: '/tmp/damaged' });
      await page.waitForFunction(() =>
        /was deleted/.test(document.querySelector('.notice')?.textContent ?? ''),
      );
      assert.equal(await page.locator('.layer-card').count(), run.binaryLayers.length);
      await screenshot(page, 'dashboard-skipped-dark.png');

      // Anything else posted to the window is ignored.
      await page.evaluate(() => window.postMessage({ hello: 'world' }, '*'));
      await page.evaluate(() => window.postMessage({ kind: 'nonsense' }, '*'));
      await page.close();
    });

    assert.deepEqual(errors, [], 'no console errors or page errors (includes CSP violations)');
  } finally {
    await browser.close();
    await new Promise<void>((done) => server.close(() => done()));
  }
});
