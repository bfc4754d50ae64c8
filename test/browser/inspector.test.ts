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
import type { FromInspector, ToInspector } from '../../core/protocol';
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
): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
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
      assert.equal(await page.locator('.layer-row').count(), report.layers.length);
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

    await t.test('an error names the file and the problem, with Show Log (dark)', async () => {
      const page = await openPage(browser, origin, 'dark', errors);
      const broken = join(FIXTURES, 'broken', 'os_system.pt');
      const message = await inspectCheckpoint(broken).then(
        () => 'unexpectedly readable',
        (e: unknown) => (e as Error).message,
      );
      await send(page, { kind: 'failed', file: broken, message });
      const box = page.locator('.error-state');
      await box.waitFor();
      assert.match(await box.innerText(), /Cannot inspect os_system\.pt/);
      assert.match(await box.innerText(), /refused to load the Python global "os\.system"/i);
      await box.locator('vscode-button', { hasText: 'Show Log' }).click();
      assert.deepEqual((await posted(page)).at(-1), {
        kind: 'inspectorCommand',
        command: 'showLog',
      });
      await screenshot(page, 'inspector-error-dark.png');
      await page.close();
    });

    await t.test('compare and series (dark)', async () => {
      const page = await openPage(browser, origin, 'dark', errors);
      const a = join(FIXTURES, 'series', 'epoch-1', 'model.json');
      const b = join(FIXTURES, 'series', 'epoch-2', 'model.json');
      const compare = await compareCheckpoints(a, b);
      await send(page, {
        kind: 'content',
        content: { mode: 'compare', fileA: a, fileB: b, report: compare },
      });
      await page.locator('.compare-table').waitFor();
      assert.equal(await page.locator('.compare-table .layer-row').count(), compare.layers.length);

      const folder = join(FIXTURES, 'series');
      const series = await checkpointSeries(folder);
      await send(page, {
        kind: 'content',
        content: { mode: 'series', folder, report: series, deadTau: 0.99, watching: true },
      });
      await page.locator('.series-table').waitFor();
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
