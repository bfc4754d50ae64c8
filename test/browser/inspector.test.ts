/**
 * The checkpoint inspector page (dist/webview/inspector.js) in a real Chromium, with the
 * production HTML shell (strict CSP, nonce'd script) and a recording `acquireVsCodeApi` stub.
 * Reports are real: the core inspects the checkpoint fixtures in this process. Screenshots land
 * in out/screenshots/. Needs `npm run build` first.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { checkpointSeries, compareCheckpoints, inspectCheckpoint } from '../../core/checkpoints';
import type { FromInspector, InspectLayer, ToInspector } from '../../core/protocol';
import { dashboardHtml, makeNonce } from '../../extension/panels/dashboardHtml';
import {
  CHROMIUM,
  DIST,
  SCREENSHOTS,
  THEMES,
  launchChromium,
  themeCss,
  type ThemeName,
} from './harness';

const FIXTURES = resolve(__dirname, '../../../test/fixtures/checkpoints');

interface Stub {
  __posted: FromInspector[];
  __state: unknown;
  acquireVsCodeApi: () => unknown;
}

/** Serves the inspector page, its bundle and the theme CSS on 127.0.0.1. */
async function startServer(): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const theme = (url.searchParams.get('theme') ?? 'light') as ThemeName;
    if (url.pathname === '/') {
      const html = dashboardHtml({
        cspSource: origin,
        scriptUri: `${origin}/webview/inspector.js`,
        styleUri: `${origin}/webview/inspector.css`,
        nonce: makeNonce(),
      })
        .replace('</head>', `<link rel="stylesheet" href="/theme-${theme}.css">\n</head>`)
        .replace('<body>', `<body class="${THEMES[theme].bodyClass}">`);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
      return;
    }
    const themeMatch = /^\/theme-(light|dark|hc)\.css$/.exec(url.pathname);
    if (themeMatch) {
      res.writeHead(200, { 'content-type': 'text/css' }).end(themeCss(themeMatch[1] as ThemeName));
      return;
    }
    const file = /^\/webview\/(inspector\.(js|css))$/.exec(url.pathname);
    if (file) {
      res
        .writeHead(200, { 'content-type': file[2] === 'js' ? 'text/javascript' : 'text/css' })
        .end(readFileSync(join(DIST, file[1])));
      return;
    }
    res.writeHead(url.pathname === '/favicon.ico' ? 204 : 404).end();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function openPage(
  browser: Browser,
  origin: string,
  theme: ThemeName,
  errors: string[],
  width = 1200,
): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height: 900 } });
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`[${theme}] console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => errors.push(`[${theme}] page error: ${err.message}`));
  await page.addInitScript(() => {
    const w = window as unknown as Stub;
    w.__posted = [];
    w.__state = undefined;
    w.acquireVsCodeApi = () => ({
      postMessage: (msg: FromInspector) => w.__posted.push(JSON.parse(JSON.stringify(msg))),
      getState: () => w.__state,
      setState: (s: unknown) => (w.__state = s),
    });
  });
  await page.goto(`${origin}/?theme=${theme}`);
  await page.waitForFunction(() =>
    (window as unknown as Stub).__posted.some((m) => m.kind === 'inspectorReady'),
  );
  return page;
}

async function send(page: Page, msg: ToInspector): Promise<void> {
  await page.evaluate((m) => window.postMessage(m, '*'), msg);
}

async function posted(page: Page): Promise<FromInspector[]> {
  return page.evaluate(() => (window as unknown as Stub).__posted);
}

async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, name), fullPage: true });
}

/**
 * A ResNet-18 state dict as torchvision names it (122 tensors: convs, batch norms with their
 * running statistics and counters, downsample paths, fc), the binary 3×3 convs of the blocks
 * marked binary. Statistics are borrowed from a real tensor of the fixture.
 */
function resnet18(template: InspectLayer): InspectLayer[] {
  const layers: InspectLayer[] = [];
  const conv = (name: string, shape: number[], binary: boolean): void => {
    layers.push({
      name: `${name}.weight`,
      shape,
      dtype: 'float32',
      binary,
      binaryReason: binary ? 'ReCU ResNet-18 profile: block conv' : 'stem, downsample or fc',
      stats: template.stats,
    });
  };
  const bn = (name: string, c: number): void => {
    for (const p of ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']) {
      layers.push({
        name: `${name}.${p}`,
        shape: p === 'num_batches_tracked' ? [] : [c],
        dtype: p === 'num_batches_tracked' ? 'int64' : 'float32',
        binary: false,
        binaryReason: 'rank-1 tensor: only rank-2 and rank-4 weights are analysed',
        stats: null,
      });
    }
  };
  conv('conv1', [64, 3, 7, 7], false);
  bn('bn1', 64);
  const widths = [64, 128, 256, 512];
  widths.forEach((c, i) => {
    for (const block of [0, 1]) {
      const prefix = `layer${i + 1}.${block}`;
      const cin = block === 0 && i > 0 ? widths[i - 1] : c;
      conv(`${prefix}.conv1`, [c, cin, 3, 3], true);
      bn(`${prefix}.bn1`, c);
      conv(`${prefix}.conv2`, [c, c, 3, 3], true);
      bn(`${prefix}.bn2`, c);
      if (block === 0 && i > 0) {
        conv(`${prefix}.downsample.0`, [c, cin, 1, 1], false);
        bn(`${prefix}.downsample.1`, c);
      }
    }
  });
  conv('fc', [10, 512], false);
  layers.push({ ...layers[layers.length - 1], name: 'fc.bias', shape: [10], stats: null });
  return layers;
}

/** The key metric columns the issue saw hidden behind a horizontal scrollbar. */
const KEY_COLUMNS = [
  'absMean',
  'quantizationError',
  'deadWeightRatio',
  'starvedWeightRatio',
  'signBalance',
  'signEntropyBits',
];

// node:test schedules the test itself; the returned promise is voided on purpose.
void test('inspector page shows a checkpoint, a comparison and a series in Chromium', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip(`${CHROMIUM} is not installed; install Debian's chromium package to run this test`);
    return;
  }
  assert.ok(
    existsSync(join(DIST, 'inspector.js')) && existsSync(join(DIST, 'inspector.css')),
    'dist/webview/inspector.js and inspector.css are missing: run `npm run build` first',
  );
  const file = join(FIXTURES, 'torch_state.pt');
  const report = await inspectCheckpoint(file);
  const withStats = report.layers.filter((l) => l.stats);
  assert.ok(withStats.length >= 2, 'the fixture has at least two weight tensors');
  const { server, origin } = await startServer();
  const browser = await launchChromium();
  const errors: string[] = [];
  try {
    await t.test('a checkpoint: summary, sortable table, layer details (light)', async () => {
      const page = await openPage(browser, origin, 'light', errors);
      assert.equal((await posted(page)).filter((m) => m.kind === 'inspectorReady').length, 1);
      await send(page, { kind: 'loading', file });
      await page.locator('.notice', { hasText: 'Reading' }).waitFor();
      await send(page, {
        kind: 'content',
        content: { mode: 'checkpoint', file, report, deadTau: 0.99 },
      });
      await page.locator('.layer-table').waitFor();
      // Buffers (BN running statistics, num_batches_tracked) are hidden until asked for.
      const buffers = report.layers.filter((l) => /running_|num_batches_tracked/.test(l.name));
      assert.equal(buffers.length, 2, 'the fixture has two buffers');
      assert.equal(await page.locator('.layer-row').count(), report.layers.length - 2);
      assert.match(await page.locator('.table-count').innerText(), /2 buffers hidden/);
      assert.equal(await page.locator('.summary-item').count(), 5);
      assert.match(await page.locator('.inspector-title').innerText(), /torch_state\.pt/);
      // The first weight tensor that may be binary is selected, with its charts.
      const first = report.layers.find((l) => l.stats && l.binary !== false) ?? withStats[0];
      assert.equal(await page.locator('.details-title').innerText(), first.name);
      for (const cls of ['hist-canvas', 'binary-canvas', 'alpha-canvas']) {
        assert.equal(await page.locator(`.details canvas.${cls}`).count(), 1, cls);
      }
      assert.equal(
        await page.locator('.alpha-canvas').getAttribute('data-channels'),
        String(first.stats?.alpha.length),
      );
      await screenshot(page, 'inspector-checkpoint-light.png');

      // Sorting by QE (descending first) puts the largest QE on top.
      await page.locator('th[data-column="quantizationError"] button').click();
      const topName = await page.locator('.layer-row').first().getAttribute('data-name');
      const maxQe = Math.max(...withStats.map((l) => l.stats?.quantizationError ?? -1));
      assert.equal(report.layers.find((l) => l.name === topName)?.stats?.quantizationError, maxQe);
      assert.equal(
        await page.locator('th[data-column="quantizationError"]').getAttribute('aria-sort'),
        'descending',
      );

      // A click selects a layer and tells the host (for the Layers view).
      const other = withStats.find((l) => l.name !== first.name) ?? withStats[0];
      await page.locator(`.layer-row[data-name="${other.name}"]`).click();
      assert.deepEqual((await posted(page)).at(-1), { kind: 'layerSelected', name: other.name });
      assert.equal(await page.locator('.details-title').innerText(), other.name);
      // The Layers view selects one: the page follows without echoing it back.
      const count = (await posted(page)).length;
      await send(page, { kind: 'selectLayer', name: first.name });
      await page.locator(`.layer-row.selected[data-name="${first.name}"]`).waitFor();
      assert.equal((await posted(page)).length, count);
      await page.close();
    });

    await t.test(
      'ResNet-18 at 1,150 px: key columns visible, groups, filter, buffers (dark)',
      async () => {
        const page = await openPage(browser, origin, 'dark', errors, 1150);
        const layers = resnet18(withStats[0]);
        assert.equal(layers.length, 122);
        const big = { ...report, layers, profile: undefined };
        await send(page, {
          kind: 'content',
          content: { mode: 'checkpoint', file: '/models/resnet18.pth', report: big, deadTau: 0.99 },
        });
        await page.locator('.layer-table').waitFor();

        // Every key column lies inside the table's box, with no horizontal scrolling, and the
        // details pane sits beside the table.
        const fits = async (): Promise<void> => {
          const box = await page.locator('.table-box').boundingBox();
          assert.ok(box);
          for (const column of KEY_COLUMNS) {
            const th = await page.locator(`th[data-column="${column}"]`).boundingBox();
            assert.ok(th && th.width >= 30, `${column} has room`);
            assert.ok(th.x >= box.x && th.x + th.width <= box.x + box.width + 0.5, column);
          }
          // No metric value is cut short (ellipsized) either.
          const cut = await page
            .locator('.layer-row td.num')
            .evaluateAll((cells) =>
              cells
                .filter((c) => c.scrollWidth > c.clientWidth)
                .map((c) => `${c.parentElement?.dataset.name}: ${c.textContent}`),
            );
          assert.deepEqual(cut, [], 'metric cells shown in full');
          const overflow = await page
            .locator('.table-box')
            .evaluate((el) => el.scrollWidth - el.clientWidth);
          assert.ok(overflow <= 0, `no horizontal scrollbar (overflow ${overflow}px)`);
          const details = await page.locator('.details').boundingBox();
          assert.ok(details && details.x >= box.x + box.width, 'details pane to the right');
        };
        await fits();
        await screenshot(page, 'inspector-resnet18-dark.png');

        // Buffers hidden: running_mean, running_var and num_batches_tracked of 20 batch norms.
        const buffers = layers.filter((l) => /running_|num_batches_tracked/.test(l.name));
        assert.equal(buffers.length, 60);
        assert.equal(await page.locator('.layer-row[data-name$="running_mean"]').count(), 0);
        assert.match(
          await page.locator('.table-count').innerText(),
          /62 of 122 tensors · 60 buffers hidden/,
        );

        // Module groups: layer1 › layer1.0 › conv1.weight, collapsible.
        const layer1 = page.locator('tr.group-row[data-group="layer1"]');
        assert.equal(await layer1.getAttribute('aria-expanded'), 'true');
        assert.match(await layer1.innerText(), /layer1/);
        assert.equal(await page.locator('tr.group-row[data-group="layer1.0"]').count(), 1);
        const conv = page.locator('.layer-row[data-name="layer1.0.conv1.weight"]');
        assert.equal((await conv.innerText()).split('\t')[0].trim(), 'conv1.weight');
        await layer1.click();
        assert.equal(
          await page.locator('tr.group-row[data-group="layer1"]').getAttribute('aria-expanded'),
          'false',
        );
        assert.equal(await page.locator('.layer-row[data-name^="layer1."]').count(), 0);
        // The Layers view selecting a tensor inside a collapsed group opens the group.
        await send(page, { kind: 'selectLayer', name: 'layer1.1.conv2.weight' });
        await page.locator('.layer-row.selected[data-name="layer1.1.conv2.weight"]').waitFor();
        assert.equal(
          await page.locator('tr.group-row[data-group="layer1"]').getAttribute('aria-expanded'),
          'true',
        );
        // Two blocks × (conv1, bn1 weight and bias, conv2, bn2 weight and bias).
        assert.equal(await page.locator('.layer-row[data-name^="layer1."]').count(), 12);

        // The filter keeps matching tensors (all terms), with their groups open.
        await page.locator('.filter-box').fill('layer2 conv');
        const names = await page
          .locator('.layer-row')
          .evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.name));
        assert.deepEqual(names, [
          'layer2.0.conv1.weight',
          'layer2.0.conv2.weight',
          'layer2.1.conv1.weight',
          'layer2.1.conv2.weight',
        ]);
        assert.match(await page.locator('.table-count').innerText(), /^4 of 122 tensors/);
        await page.locator('.filter-box').fill('');

        // The toggle shows the buffers, in their modules.
        await page.locator('.buffer-toggle input').check();
        assert.equal(await page.locator('.layer-row[data-name$="running_mean"]').count(), 20);
        assert.equal(
          await page.locator('.layer-row[data-name$="num_batches_tracked"]').count(),
          20,
        );
        assert.match(await page.locator('.table-count').innerText(), /^122 of 122 tensors$/);
        await fits();

        // The details pane is resizable: dragging its edge left widens it, and it is remembered.
        const handle = await page.locator('.split-handle').boundingBox();
        const before = (await page.locator('.details').boundingBox())?.width ?? 0;
        assert.ok(handle);
        await page.mouse.move(handle.x + handle.width / 2, handle.y + 40);
        await page.mouse.down();
        await page.mouse.move(handle.x + handle.width / 2 - 120, handle.y + 40, { steps: 4 });
        await page.mouse.up();
        const after = (await page.locator('.details').boundingBox())?.width ?? 0;
        assert.ok(Math.abs(after - before - 120) <= 2, `details ${before} → ${after}px`);
        const state = await page.evaluate(() => (window as unknown as Stub).__state);
        assert.equal((state as { detailsWidth: number }).detailsWidth, Math.round(after));
        await page.close();
      },
    );

    await t.test('the selected row has an outline in high contrast, none in dark', async () => {
      for (const theme of ['hc', 'dark'] as const) {
        const page = await openPage(browser, origin, theme, errors, 1150);
        await send(page, {
          kind: 'content',
          content: { mode: 'checkpoint', file, report, deadTau: 0.99 },
        });
        const selected = page.locator('.layer-row.selected');
        await selected.waitFor();
        const outline = await selected.evaluate((el) => {
          const style = getComputedStyle(el);
          return {
            style: style.outlineStyle,
            width: style.outlineWidth,
            color: style.outlineColor,
          };
        });
        if (theme === 'hc') {
          // VS Code's Dark High Contrast draws selection with contrastActiveBorder (#f38518).
          assert.deepEqual(outline, { style: 'solid', width: '1px', color: 'rgb(243, 133, 24)' });
          await screenshot(page, 'inspector-checkpoint-hc.png');
        } else {
          assert.equal(outline.color, 'rgba(0, 0, 0, 0)', 'transparent outside high contrast');
        }
        await page.close();
      }
    });

    await t.test('a recognised layout names its profile above the table (light)', async () => {
      const page = await openPage(browser, origin, 'light', errors);
      const profile = {
        id: 'recu-resnet-18',
        name: 'ReCU ResNet-18',
        source: 'github.com/z-hXu/ReCU',
        description: 'binary: both 3×3 convs of every block',
      };
      await send(page, {
        kind: 'content',
        content: { mode: 'checkpoint', file, report: { ...report, profile }, deadTau: 0.99 },
      });
      const line = page.locator('.profile');
      await line.waitFor();
      assert.equal(await line.getAttribute('data-profile'), 'recu-resnet-18');
      assert.match(await line.innerText(), /Recognised as ReCU ResNet-18/);
      assert.match((await line.getAttribute('title')) ?? '', /github\.com\/z-hXu\/ReCU/);
      await page.close();
    });

    await t.test(
      'a refused pickle says it tries to run code, once, without Retry (dark)',
      async () => {
        const page = await openPage(browser, origin, 'dark', errors);
        const broken = join(FIXTURES, 'broken', 'os_system.pt');
        const message = await inspectCheckpoint(broken).then(
          () => 'unexpectedly readable',
          (e: unknown) => (e as Error).message,
        );
        await send(page, { kind: 'failed', file: broken, message });
        const box = page.locator('.error-state');
        await box.waitFor();
        const text = await box.innerText();
        assert.match(text, /os_system\.pt tries to run code/);
        assert.match(text, /os\.system/);
        assert.match(text, /state_dict/);
        // The path is printed once (the issue saw it twice).
        assert.equal(text.split(broken).length - 1, 1, text);
        assert.equal(await box.locator('vscode-button', { hasText: 'Retry' }).count(), 0);
        await box.locator('vscode-button', { hasText: 'Show Log' }).click();
        assert.deepEqual((await posted(page)).at(-1), {
          kind: 'inspectorCommand',
          command: 'showLog',
        });
        await screenshot(page, 'inspector-error-dark.png');

        // A file that failed to read may read on a second try: Retry is there.
        const truncated = join(FIXTURES, 'broken', 'truncated.pt');
        const readError = await inspectCheckpoint(truncated).then(
          () => 'unexpectedly readable',
          (e: unknown) => (e as Error).message,
        );
        await send(page, { kind: 'failed', file: truncated, message: readError });
        await box.locator('.error-title', { hasText: 'Cannot inspect truncated.pt' }).waitFor();
        const again = await box.innerText();
        assert.equal(again.split(truncated).length - 1, 1, again);
        await box.locator('vscode-button', { hasText: 'Retry' }).click();
        assert.deepEqual((await posted(page)).at(-1), {
          kind: 'inspectorCommand',
          command: 'retry',
        });
        await page.close();
      },
    );

    await t.test('compare and series (dark)', async () => {
      const page = await openPage(browser, origin, 'dark', errors);
      const a = join(FIXTURES, 'series', 'epoch-1', 'model.json');
      const b = join(FIXTURES, 'series', 'epoch-2', 'model.json');
      const compare = await compareCheckpoints(a, b);
      await send(page, {
        kind: 'content',
        content: { mode: 'compare', fileA: a, fileB: b, report: compare },
      });
      await page.locator('.compare-table').first().waitFor();
      assert.equal(await page.locator('.compare-table .layer-row').count(), compare.layers.length);
      // Binary and full-precision tensors apart, the metric named in words, a per-tensor chart.
      const binaryNames = compare.layers.filter((l) => l.binary === true).map((l) => l.name);
      const fullNames = compare.layers.filter((l) => l.binary === false).map((l) => l.name);
      assert.ok(binaryNames.length > 0 && fullNames.length > 0, 'the fixture has both kinds');
      assert.deepEqual(
        await page
          .locator('.compare-binary .layer-row')
          .evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.name)),
        binaryNames,
      );
      assert.deepEqual(
        await page
          .locator('.compare-full .layer-row')
          .evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.name)),
        fullNames,
      );
      const compareHeaders = await page.locator('.compare-table th').allInnerTexts();
      assert.deepEqual(compareHeaders.slice(0, 3), ['Tensor', 'Binary', 'Signs flipped']);
      assert.doesNotMatch(await page.locator('.inspector').innerText(), /flipRate/);
      assert.equal(
        await page.locator('canvas.flip-canvas').getAttribute('data-bars'),
        String(compare.layers.length),
      );
      // A row opens the tensor in both files: the page tells the host which one.
      await page.locator(`.compare-table .layer-row[data-name="${fullNames[0]}"]`).click();
      assert.deepEqual((await posted(page)).at(-1), { kind: 'layerSelected', name: fullNames[0] });
      await screenshot(page, 'inspector-compare-dark.png');

      const folder = join(FIXTURES, 'series');
      const series = await checkpointSeries(folder);
      await send(page, {
        kind: 'content',
        content: { mode: 'series', folder, report: series, deadTau: 0.99, watching: true },
      });
      await page.locator('.series-table').waitFor();
      // The table says what its numbers are.
      assert.match(
        await page.locator('.series-metric').innerText(),
        /Signs flipped between consecutive checkpoints/,
      );
      const headers = await page.locator('.series-table th').allInnerTexts();
      assert.deepEqual(headers.slice(1), ['epoch-1 → epoch-2', 'epoch-2 → epoch-10', 'frozen']);
      assert.match(await page.locator('.badge').innerText(), /watching/);
      assert.equal(await page.locator('.series-canvas').getAttribute('data-points'), '3');
      // The metric picker is a vscode-single-select, as in the dashboard.
      await page.locator('vscode-single-select.metric-select').click();
      await page
        .locator('vscode-single-select.metric-select li[role="option"]', {
          hasText: 'Sign balance',
        })
        .click();
      assert.match(await page.locator('.details h3').innerText(), /Sign balance/);
      await page.locator('vscode-button', { hasText: 'Stop Watching' }).click();
      assert.deepEqual((await posted(page)).at(-1), {
        kind: 'inspectorCommand',
        command: 'toggleWatch',
      });
      await screenshot(page, 'inspector-series-dark.png');
      // Anything else posted to the window is ignored.
      await page.evaluate(() => window.postMessage({ kind: 'nonsense' }, '*'));
      await page.close();
    });

    assert.deepEqual(errors, [], 'no console errors or page errors (includes CSP violations)');
  } finally {
    await browser.close();
    await new Promise<void>((done) => server.close(() => done()));
  }
});
