/**
 * HTML of the dashboard webview. Pure (no `vscode` import) so that tests can check the CSP.
 * The page is a shell: one stylesheet, one nonce'd script, and `#app` for the bundle to fill.
 */
import { randomBytes } from 'node:crypto';

/** Inputs from the view provider: `webview.cspSource` and `asWebviewUri` results as strings. */
export interface DashboardHtmlOptions {
  cspSource: string;
  scriptUri: string;
  styleUri: string;
  nonce: string;
  /** `side`: the compact side-bar view (default); `panel`: the full-width editor tab. */
  layout?: 'side' | 'panel';
}

const NONCE_PATTERN = /^[A-Za-z0-9+/_-]{16,}={0,2}$/;

function escapeAttribute(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/"/g, '&quot;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

/**
 * A fresh CSP nonce: 16 random bytes from the OS CSPRNG, base64 (24 characters).
 * Use one per page render, never reuse across renders.
 */
export function makeNonce(): string {
  return randomBytes(16).toString('base64');
}

/**
 * The dashboard page with a strict Content-Security-Policy.
 *
 * @example
 * dashboardHtml({ cspSource: webview.cspSource, nonce: makeNonce(),
 *   scriptUri: webview.asWebviewUri(mainJs).toString(),
 *   styleUri: webview.asWebviewUri(mainCss).toString() });
 */
export function dashboardHtml(opts: DashboardHtmlOptions): string {
  if (!NONCE_PATTERN.test(opts.nonce)) {
    throw new Error(`dashboardHtml: nonce must be 16+ base64 characters, got "${opts.nonce}"`);
  }
  // VS Code gives a source list, e.g. `'self' https://*.vscode-cdn.net`: host sources and 'self'
  // only, so that it cannot smuggle in a directive or an 'unsafe-*' keyword.
  const sources = opts.cspSource.trim().split(/\s+/);
  if (sources.some((s) => s !== "'self'" && !/^[^;,'"]+$/.test(s)) || sources[0] === '') {
    throw new Error(
      `dashboardHtml: cspSource must be host sources or 'self', got "${opts.cspSource}"`,
    );
  }
  const source = sources.join(' ');
  const csp = [
    // Nothing loads unless a directive below allows it (no fetch, frames, media, workers).
    `default-src 'none'`,
    // Bundled images only; data: for the small inline images some web components use.
    `img-src ${source} data:`,
    // The bundled main.css only: no <style> blocks or style="" attributes from markup.
    `style-src ${source}`,
    // Fonts shipped beside the bundle (none today, but esbuild may emit them for CSS imports).
    `font-src ${source}`,
    // Only the bundle carrying this page's nonce runs: no inline handlers, no eval.
    `script-src 'nonce-${opts.nonce}'`,
    // default-src does not cover these two: no injected <base> may redirect the bundle's
    // relative URLs, and no <form> may post anywhere.
    `base-uri 'none'`,
    `form-action 'none'`,
  ].join('; ');
  const nonce = escapeAttribute(opts.nonce);
  const layout = opts.layout === 'panel' ? 'panel' : 'side';
  return `<!DOCTYPE html>
<html lang="en" data-layout="${layout}">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttribute(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${escapeAttribute(opts.styleUri)}">
<title>BNN Lab</title>
</head>
<body>
<div id="app" class="app" aria-busy="true"></div>
<script nonce="${nonce}" src="${escapeAttribute(opts.scriptUri)}"></script>
</body>
</html>
`;
}
