import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dashboardHtml, makeNonce } from '../../../extension/panels/dashboardHtml';

// node:test schedules suites and tests itself; their returned promises are voided on purpose.

const CSP_SOURCE = 'https://file+.vscode-resource.vscode-cdn.net';
const opts = {
  cspSource: CSP_SOURCE,
  scriptUri: `${CSP_SOURCE}/ext/dist/webview/main.js`,
  styleUri: `${CSP_SOURCE}/ext/dist/webview/main.css`,
  nonce: 'abcdefghijklmnopqrstuv==',
};

function cspOf(html: string): Map<string, string[]> {
  const match = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html);
  assert.ok(match, 'CSP meta tag present');
  const directives = new Map<string, string[]>();
  for (const part of match[1].split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) directives.set(name, values);
  }
  return directives;
}

void describe('dashboardHtml', () => {
  void it('sets a strict CSP', () => {
    const csp = cspOf(dashboardHtml(opts));
    assert.deepEqual(csp.get('default-src'), ["'none'"]);
    assert.deepEqual(csp.get('img-src'), [CSP_SOURCE, 'data:']);
    assert.deepEqual(csp.get('style-src'), [CSP_SOURCE]);
    assert.deepEqual(csp.get('font-src'), [CSP_SOURCE]);
    assert.deepEqual(csp.get('script-src'), [`'nonce-${opts.nonce}'`]);
    // Not covered by default-src: no <base> to redirect relative URLs, no form posts.
    assert.deepEqual(csp.get('base-uri'), ["'none'"]);
    assert.deepEqual(csp.get('form-action'), ["'none'"]);
    for (const values of csp.values()) {
      assert.ok(!values.includes("'unsafe-inline'") && !values.includes("'unsafe-eval'"));
    }
  });

  void it('puts the nonce on every script and has no inline script or style', () => {
    const html = dashboardHtml(opts);
    const scripts = html.match(/<script\b[^>]*>/g) ?? [];
    assert.equal(scripts.length, 1);
    for (const tag of scripts) assert.ok(tag.includes(`nonce="${opts.nonce}"`), tag);
    assert.match(html, /<script nonce="[^"]+" src="[^"]+"><\/script>/, 'script body is empty');
    assert.doesNotMatch(html, /<style\b/);
    assert.doesNotMatch(html, /\sstyle=/);
    assert.doesNotMatch(html, /\son[a-z]+=/i, 'no inline event handlers');
    assert.ok(html.includes(`href="${opts.styleUri}"`));
    assert.ok(html.includes('id="app"'));
  });

  void it('loads nothing from outside the webview resource origin', () => {
    const html = dashboardHtml(opts);
    const urls = html.match(/\b(?:https?:)?\/\/[^\s"'<>)]+/g) ?? [];
    assert.ok(urls.length > 0);
    for (const url of urls) assert.ok(url.startsWith(CSP_SOURCE), `remote URL: ${url}`);
  });

  void it('escapes attribute values and rejects bad input', () => {
    const html = dashboardHtml({ ...opts, scriptUri: `${CSP_SOURCE}/a"b<c>.js` });
    assert.ok(html.includes('a&quot;b&lt;c&gt;.js'));
    assert.throws(() => dashboardHtml({ ...opts, nonce: 'short' }), /nonce must be/);
    assert.throws(() => dashboardHtml({ ...opts, nonce: `${opts.nonce}' 'unsafe-inline` }));
    assert.throws(() => dashboardHtml({ ...opts, cspSource: "x; script-src 'unsafe-eval'" }));
  });
});

void describe('makeNonce', () => {
  void it('returns 24 base64 characters, different each time', () => {
    const nonces = new Set(Array.from({ length: 100 }, () => makeNonce()));
    assert.equal(nonces.size, 100);
    for (const n of nonces) assert.match(n, /^[A-Za-z0-9+/]{22}==$/);
    assert.doesNotThrow(() => dashboardHtml({ ...opts, nonce: makeNonce() }));
  });
});
