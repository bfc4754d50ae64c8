/**
 * The dashboard bundle in a real Chromium: serves dist/webview with the production HTML shell
 * (strict CSP, nonce'd script), stubs `acquireVsCodeApi`, replays a synthetic run and checks
 * the DOM. Screenshots land in out/screenshots/. Needs `npm run build` first.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve } from 'node:path';
import { test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { MetricsRecord, RunStatus, ToHost, ToWebview } from '../../core/protocol';
import { dashboardHtml, makeNonce } from '../../extension/panels/dashboardHtml';
import { syntheticRun } from '../unit/webview/syntheticRun';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = resolve(__dirname, '../../..');
const DIST = join(ROOT, 'dist', 'webview');
const SCREENSHOTS = join(ROOT, 'out', 'screenshots');

/** A few of VS Code's theme variables (Light Modern / Dark Modern), as the host would inject. */
const THEMES: Record<'light' | 'dark' | 'hc', { bodyClass: string; vars: Record<string, string> }> =
  {
    light: {
      bodyClass: 'vscode-light',
      vars: {
        'font-family': '"Segoe WPC", "Segoe UI", "Ubuntu", "Droid Sans", sans-serif',
        'font-size': '13px',
        'editor-font-family': '"Droid Sans Mono", "DejaVu Sans Mono", monospace',
        foreground: '#3b3b3b',
        descriptionForeground: '#717171',
        errorForeground: '#f85149',
        focusBorder: '#005fb8',
        'sideBar-background': '#f8f8f8',
        'editor-background': '#ffffff',
        'editorWidget-background': '#ffffff',
        'editorWidget-border': '#c8c8c8',
        'widget-border': '#e5e5e5',
        'charts-blue': '#1a85ff',
        'charts-red': '#e51400',
        'charts-green': '#388a34',
        'charts-yellow': '#bf8803',
        'charts-orange': '#d18616',
        'charts-purple': '#652d90',
        'button-background': '#005fb8',
        'button-foreground': '#ffffff',
        'button-hoverBackground': '#0258a8',
        'button-secondaryBackground': '#e5e5e5',
        'button-secondaryForeground': '#3b3b3b',
        'badge-background': '#cccccc',
        'badge-foreground': '#3b3b3b',
        'progressBar-background': '#005fb8',
        'textLink-foreground': '#005fb8',
        'textLink-activeForeground': '#005fb8',
        'list-hoverBackground': '#f2f2f2',
        'list-activeSelectionBackground': '#e8e8e8',
        'list-activeSelectionForeground': '#000000',
        'dropdown-background': '#ffffff',
        'dropdown-border': '#cecece',
        'dropdown-foreground': '#3b3b3b',
        'inputValidation-errorBackground': '#f2dede',
        'settings-dropdownBackground': '#ffffff',
        'settings-dropdownBorder': '#cecece',
        'settings-dropdownForeground': '#3b3b3b',
        'settings-dropdownListBorder': '#cecece',
        'inputValidation-errorBorder': '#be1100',
        'inputValidation-infoBackground': '#d6ecf2',
        'inputValidation-infoBorder': '#1a85ff',
        'testing-iconPassed': '#388a34',
      },
    },
    dark: {
      bodyClass: 'vscode-dark',
      vars: {
        'font-family': '"Segoe WPC", "Segoe UI", "Ubuntu", "Droid Sans", sans-serif',
        'font-size': '13px',
        'editor-font-family': '"Droid Sans Mono", "DejaVu Sans Mono", monospace',
        foreground: '#cccccc',
        descriptionForeground: '#9d9d9d',
        errorForeground: '#f85149',
        focusBorder: '#0078d4',
        'sideBar-background': '#181818',
        'editor-background': '#1f1f1f',
        'editorWidget-background': '#202020',
        'editorWidget-border': '#454545',
        'widget-border': '#313131',
        'charts-blue': '#3794ff',
        'charts-red': '#f14c4c',
        'charts-green': '#89d185',
        'charts-yellow': '#cca700',
        'charts-orange': '#d18616',
        'charts-purple': '#b180d7',
        'button-background': '#0078d4',
        'button-foreground': '#ffffff',
        'button-hoverBackground': '#026ec1',
        'button-secondaryBackground': '#313131',
        'button-secondaryForeground': '#cccccc',
        'badge-background': '#616161',
        'badge-foreground': '#f8f8f8',
        'progressBar-background': '#0078d4',
        'textLink-foreground': '#4daafc',
        'textLink-activeForeground': '#4daafc',
        'list-hoverBackground': '#2a2d2e',
        'list-activeSelectionBackground': '#04395e',
        'list-activeSelectionForeground': '#ffffff',
        'dropdown-background': '#313131',
        'dropdown-border': '#3c3c3c',
        'dropdown-foreground': '#cccccc',
        'inputValidation-errorBackground': '#5a1d1d',
        'settings-dropdownBackground': '#313131',
        'settings-dropdownBorder': '#3c3c3c',
        'settings-dropdownForeground': '#cccccc',
        'settings-dropdownListBorder': '#454545',
        'inputValidation-errorBorder': '#be1100',
        'inputValidation-infoBackground': '#063b49',
        'inputValidation-infoBorder': '#007acc',
        'testing-iconPassed': '#73c991',
      },
    },
    hc: {
      bodyClass: 'vscode-high-contrast',
      vars: {
        'font-family': '"Segoe WPC", "Segoe UI", "Ubuntu", "Droid Sans", sans-serif',
        'font-size': '13px',
        'editor-font-family': '"Droid Sans Mono", "DejaVu Sans Mono", monospace',
        foreground: '#ffffff',
        descriptionForeground: '#ffffff',
        errorForeground: '#f48771',
        focusBorder: '#f38518',
        contrastBorder: '#6fc3df',
        'sideBar-background': '#000000',
        'editor-background': '#000000',
        'editorWidget-background': '#0c141f',
        'editorWidget-border': '#6fc3df',
        'widget-border': '#6fc3df',
        'charts-blue': '#3794ff',
        'charts-red': '#f14c4c',
        'charts-green': '#89d185',
        'charts-yellow': '#cca700',
        'charts-orange': '#d18616',
        'charts-purple': '#b180d7',
        'button-background': '#000000',
        'button-foreground': '#ffffff',
        'button-border': '#6fc3df',
        'badge-background': '#000000',
        'badge-foreground': '#ffffff',
        'progressBar-background': '#6fc3df',
        'textLink-foreground': '#21a6ff',
        'textLink-activeForeground': '#21a6ff',
        'list-hoverBackground': '#000000',
        'list-activeSelectionBackground': '#000000',
        'settings-dropdownBackground': '#000000',
        'settings-dropdownBorder': '#6fc3df',
        'settings-dropdownForeground': '#ffffff',
        'settings-dropdownListBorder': '#6fc3df',
        'testing-iconPassed': '#73c991',
      },
    },
  };

type ThemeName = keyof typeof THEMES;

function themeCss(theme: ThemeName): string {
  const lines = Object.entries(THEMES[theme].vars).map(([k, v]) => `  --vscode-${k}: ${v};`);
  // The sidebar behind the (transparent) webview view.
  return `html {\n${lines.join('\n')}\n}\nbody { background: var(--vscode-sideBar-background); }\n`;
}

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.ttf': 'font/ttf',
  '.woff2': 'font/woff2',
};

/** Serves `/?theme=…` (the page), `/theme-*.css` and `/webview/*` from dist on 127.0.0.1. */
async function startServer(): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (url.pathname === '/') {
      const requested = url.searchParams.get('theme') ?? 'light';
      const theme: ThemeName = requested in THEMES ? (requested as ThemeName) : 'light';
      const html = dashboardHtml({
        cspSource: origin,
        scriptUri: `${origin}/webview/main.js`,
        styleUri: `${origin}/webview/main.css`,
        nonce: makeNonce(),
      })
        // What VS Code adds around our page: theme variables and the theme's body class.
        .replace(
          '</head>',
          `<link id="theme" rel="stylesheet" href="/theme-${theme}.css">\n</head>`,
        )
        .replace('<body>', `<body class="${THEMES[theme].bodyClass}">`);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(html);
      return;
    }
    if (url.pathname === '/favicon.ico') {
      // Chromium asks for it on its own; a VS Code webview never does.
      res.writeHead(204).end();
      return;
    }
    const themeMatch = /^\/theme-(light|dark|hc)\.css$/.exec(url.pathname);
    if (themeMatch) {
      res.writeHead(200, { 'content-type': 'text/css; charset=utf-8' });
      res.end(themeCss(themeMatch[1] as ThemeName));
      return;
    }
    if (url.pathname.startsWith('/webview/')) {
      const file = normalize(join(DIST, url.pathname.slice('/webview/'.length)));
      if (file.startsWith(DIST) && existsSync(file)) {
        res.writeHead(200, {
          'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
        });
        res.end(readFileSync(file));
        return;
      }
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return { server, origin: `http://127.0.0.1:${port}` };
}

interface StubWindow {
  __posted: ToHost[];
  __state: unknown;
  acquireVsCodeApi: () => unknown;
}

/** Opens the page with a recording `acquireVsCodeApi` stub and collects console errors. */
async function openDashboard(
  browser: Browser,
  origin: string,
  theme: ThemeName,
  errors: string[],
  width = 960,
): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height: 900 } });
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      errors.push(`[${theme}] console: ${msg.text()} (${msg.location().url})`);
    }
  });
  page.on('pageerror', (err) => errors.push(`[${theme}] page error: ${err.message}`));
  await page.addInitScript(() => {
    const w = window as unknown as StubWindow;
    w.__posted = [];
    w.__state = undefined;
    w.acquireVsCodeApi = () => ({
      postMessage: (msg: ToHost) => w.__posted.push(JSON.parse(JSON.stringify(msg)) as ToHost),
      getState: () => w.__state,
      setState: (s: unknown) => (w.__state = s),
    });
  });
  await page.goto(`${origin}/?theme=${theme}`);
  await page.waitForFunction(() =>
    (window as unknown as StubWindow).__posted.some((m) => m.kind === 'ready'),
  );
  return page;
}

/** Delivers a host message the way VS Code does: a `message` event on the window. */
async function send(page: Page, msg: ToWebview): Promise<void> {
  await page.evaluate((m) => window.postMessage(m, '*'), msg);
}

async function posted(page: Page): Promise<ToHost[]> {
  return page.evaluate(() => (window as unknown as StubWindow).__posted);
}

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

async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, name), fullPage: true });
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
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
    ],
  });
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
      for (const name of run.binaryLayers) {
        const card = page.locator(`.layer-card[data-layer="${name}"]`);
        assert.equal(await card.locator('.uplot canvas').count(), 1, `${name}: line chart`);
        assert.equal(await card.locator('canvas.hist-canvas').count(), 1, `${name}: histogram`);
        const box = await card.locator('canvas.hist-canvas').boundingBox();
        assert.ok(box && box.width > 100 && box.height > 40, `${name}: histogram has a size`);
      }
      assert.equal(await page.locator('.overview tbody tr').count(), run.binaryLayers.length);
      // Full-precision layers are not charted.
      assert.equal(await page.locator('.layer-card[data-layer="batch_norm_1"]').count(), 0);
      assert.equal(await page.locator('.chart-card .uplot').count(), 2, 'loss + accuracy charts');
      // Loss/accuracy charts got every step report and both epochs.
      const legendRows = await page.evaluate(() =>
        Array.from(document.querySelectorAll('.chart-card .uplot'), (u) =>
          Array.from(u.querySelectorAll('.u-series th'), (th) => th.textContent),
        ),
      );
      assert.deepEqual(legendRows, [
        ['step', 'train', 'test'],
        ['step', 'train', 'test'],
      ]);

      // Hovering a histogram bar names its range and count.
      const hist = page.locator('.layer-card').first().locator('canvas.hist-canvas');
      await hist.hover({ position: { x: 20, y: 70 } });
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
      assert.equal(cursorSteps.length, 6);
      assert.ok(
        cursorSteps.every((v) => v === cursorSteps[0] && v !== '600'),
        `synced cursor: ${cursorSteps.join(', ')}`,
      );
      await page.mouse.move(1, 1);

      // Focus one layer from the overview table; the choice is kept in the view state.
      await page.locator('.overview tbody tr').nth(1).click();
      await page.waitForFunction(
        () => document.querySelectorAll('.layer-card:not([hidden])').length === 1,
      );
      const state = await page.evaluate(() => (window as unknown as StubWindow).__state);
      assert.deepEqual(state, { selectedLayer: run.binaryLayers[1] });
      await page.locator('.overview tbody tr').nth(1).click();
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
      assert.equal(await page.locator('.layer-card .uplot').count(), run.binaryLayers.length);
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
        return fg.trim() === '#ffffff' && document.querySelectorAll('.uplot').length === 6;
      });
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(null))));
      assert.equal(await page.locator('.layer-card canvas.hist-canvas').count(), 4);
      await screenshot(page, 'dashboard-hc.png');

      // A run that has just started: no report yet, but no blank panel either.
      await send(page, {
        kind: 'snapshot',
        trusted: true,
        run: { runId: 'new-run', dir: '/tmp/new-run', status: 'running', records: [] },
      });
      await page.locator('.layers-empty').waitFor({ state: 'visible' });
      assert.equal(await page.locator('.progress-text').innerText(), 'Starting… · step 0');
      assert.equal(await page.locator('.toolbar vscode-button').innerText(), 'Stop');
      await page.locator('.toolbar vscode-button').click();
      assert.deepEqual((await posted(page)).at(-1), { kind: 'command', command: 'stop' });

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
