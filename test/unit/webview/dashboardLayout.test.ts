import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dashboardHtml } from '../../../extension/panels/dashboardHtml';

// node:test schedules suites and tests itself; their returned promises are voided on purpose.

const SOURCE = 'https://file+.vscode-resource.vscode-cdn.net';
const base = {
  cspSource: SOURCE,
  scriptUri: `${SOURCE}/ext/dist/webview/main.js`,
  styleUri: `${SOURCE}/ext/dist/webview/main.css`,
  nonce: 'abcdefghijklmnopqrstuv==',
};

void describe('dashboard page layout', () => {
  void it('marks the editor tab and the side view apart, for the stylesheet', () => {
    assert.match(
      dashboardHtml({ ...base, layout: 'panel' }),
      /<html lang="en" data-layout="panel">/,
    );
    assert.match(dashboardHtml({ ...base, layout: 'side' }), /<html lang="en" data-layout="side">/);
    // The side view is the default (older callers pass no layout).
    assert.match(dashboardHtml(base), /data-layout="side"/);
  });

  void it('leaves <body> bare: VS Code puts its theme classes there', () => {
    assert.match(dashboardHtml({ ...base, layout: 'panel' }), /<body>/);
  });
});
