/**
 * Serving the dashboard bundle to Debian's Chromium for the browser test and the benchmark: the
 * production HTML shell (strict CSP, nonce'd script) with VS Code's theme variables, and a
 * recording `acquireVsCodeApi` stub. Needs `npm run build` first.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { ToHost, ToWebview } from '../../core/protocol';
import { dashboardHtml, makeNonce } from '../../extension/panels/dashboardHtml';

export const CHROMIUM = '/usr/bin/chromium';
export const ROOT = resolve(__dirname, '../../..');
export const DIST = join(ROOT, 'dist', 'webview');
export const SCREENSHOTS = join(ROOT, 'out', 'screenshots');

/** A few of VS Code's theme variables (Light Modern / Dark Modern), as the host would inject. */
export const THEMES: Record<
  'light' | 'dark' | 'hc' | 'hcLight',
  { bodyClass: string; vars: Record<string, string> }
> = {
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
      'button-secondaryHoverBackground': '#cccccc',
      'settings-checkboxBackground': '#f8f8f8',
      'settings-checkboxBorder': '#cecece',
      'settings-checkboxForeground': '#3b3b3b',
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
      'button-secondaryHoverBackground': '#3c3c3c',
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
      contrastActiveBorder: '#f38518',
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
  // High Contrast Light: VS Code resolves charts.blue and charts.orange to the same dark blue.
  hcLight: {
    bodyClass: 'vscode-high-contrast vscode-high-contrast-light',
    vars: {
      'font-family': '"Segoe WPC", "Segoe UI", "Ubuntu", "Droid Sans", sans-serif',
      'font-size': '13px',
      'editor-font-family': '"Droid Sans Mono", "DejaVu Sans Mono", monospace',
      foreground: '#292929',
      descriptionForeground: '#292929',
      errorForeground: '#b5200d',
      focusBorder: '#006bbd',
      contrastBorder: '#0f4a85',
      contrastActiveBorder: '#006bbd',
      'sideBar-background': '#ffffff',
      'editor-background': '#ffffff',
      'editorWidget-background': '#ffffff',
      'editorWidget-border': '#0f4a85',
      'widget-border': '#0f4a85',
      'charts-blue': '#0f4a85',
      'charts-red': '#b5200d',
      'charts-green': '#374e06',
      'charts-yellow': '#895503',
      'charts-orange': '#0f4a85',
      'charts-purple': '#652d90',
      'button-background': '#0f4a85',
      'button-foreground': '#ffffff',
      'button-border': '#0f4a85',
      'badge-background': '#0f4a85',
      'badge-foreground': '#ffffff',
      'progressBar-background': '#0f4a85',
      'textLink-foreground': '#0f4a85',
      'textLink-activeForeground': '#0f4a85',
      'list-hoverBackground': '#ffffff',
      'list-activeSelectionBackground': '#ffffff',
      'settings-dropdownBackground': '#ffffff',
      'settings-dropdownBorder': '#0f4a85',
      'settings-dropdownForeground': '#292929',
      'settings-dropdownListBorder': '#0f4a85',
      'testing-iconPassed': '#374e06',
    },
  },
};

export type ThemeName = keyof typeof THEMES;

export function themeCss(theme: ThemeName): string {
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
export async function startServer(): Promise<{ server: Server; origin: string }> {
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
        layout: url.searchParams.get('layout') === 'panel' ? 'panel' : 'side',
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
    const themeMatch = /^\/theme-(light|dark|hc|hcLight)\.css$/.exec(url.pathname);
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

export interface StubWindow {
  __posted: ToHost[];
  __state: unknown;
  acquireVsCodeApi: () => unknown;
}

/** Opens the page with a recording `acquireVsCodeApi` stub and collects console errors. */
export async function openDashboard(
  browser: Browser,
  origin: string,
  theme: ThemeName,
  errors: string[],
  width = 960,
  initScript?: () => void,
  layout: 'side' | 'panel' = 'side',
): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height: 900 } });
  // Probes that must be in place before the bundle runs (the benchmark's rAF wrapper).
  if (initScript) await page.addInitScript(initScript);
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
  await page.goto(`${origin}/?theme=${theme}&layout=${layout}`);
  await page.waitForFunction(() =>
    (window as unknown as StubWindow).__posted.some((m) => m.kind === 'ready'),
  );
  return page;
}

/** Delivers a host message the way VS Code does: a `message` event on the window. */
export async function send(page: Page, msg: ToWebview): Promise<void> {
  await page.evaluate((m) => window.postMessage(m, '*'), msg);
}

export async function posted(page: Page): Promise<ToHost[]> {
  return page.evaluate(() => (window as unknown as StubWindow).__posted);
}

/** Launches Debian's Chromium headless, without any network side traffic. */
export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
      ...extraArgs,
    ],
  });
}
