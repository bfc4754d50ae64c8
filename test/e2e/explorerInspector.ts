/**
 * Issue 15: a checkpoint opened from the Explorer opens the inspector, not VS Code's "binary
 * file" page. Part of vscode.e2e.ts, in its own file so the block is easy to find and merge.
 */
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Frame, Page } from 'playwright-core';

/** The PyTorch state dict the e2e workspace holds (a copy of a checkpoint fixture). */
export const WORKSPACE_PTH = 'weights.pth';

/** Puts {@link WORKSPACE_PTH} in the workspace (called while the folders are prepared). */
export function addPthToWorkspace(repo: string, workspace: string): void {
  copyFileSync(
    path.join(repo, 'test', 'fixtures', 'checkpoints', 'torch_state.pt'),
    path.join(workspace, WORKSPACE_PTH),
  );
}

/** What the check needs from the e2e: its polling, the inspector's frame, progress lines. */
export interface E2eHelpers {
  until<T>(what: string, timeout: number, check: () => Promise<T | undefined>): Promise<T>;
  inspectorFrame(page: Page): Promise<Frame | undefined>;
  progress(message: string): void;
  screenshot(page: Page, name: string): Promise<string>;
}

/**
 * Double-clicks {@link WORKSPACE_PTH} in the Explorer: the tab must be the inspector with the
 * file's tensors (buffers hidden), with no "binary file" placeholder. Closes the tab after.
 */
export async function checkExplorerOpensInspector(page: Page, h: E2eHelpers): Promise<void> {
  const row = page.locator('.explorer-folders-view .monaco-list-row', { hasText: WORKSPACE_PTH });
  await row.waitFor({ state: 'visible', timeout: 60_000 });
  await row.dblclick();
  const tab = page.locator('.editor-group-container .tab', { hasText: WORKSPACE_PTH });
  await tab.waitFor({ state: 'visible', timeout: 30_000 });
  const shown = await h.until(
    'the inspector for the .pth opened from the Explorer',
    120_000,
    async () => {
      const frame = await h.inspectorFrame(page);
      if (!frame) return undefined;
      const state = await frame.evaluate(() => ({
        title: document.querySelector('.inspector-title')?.textContent ?? '',
        rows: Array.from(document.querySelectorAll<HTMLElement>('.layer-row')).map(
          (r) => r.dataset.name ?? '',
        ),
        count: document.querySelector('.table-count')?.textContent ?? '',
      }));
      return state.rows.length > 0 ? state : undefined;
    },
  );
  assert.match(shown.title, /weights\.pth/);
  assert.ok(shown.rows.includes('features.0.binary_conv.weight'), shown.rows.join(', '));
  assert.ok(!shown.rows.some((name) => name.includes('running_mean')), 'buffers hidden');
  assert.match(shown.count, /buffers hidden/);
  // VS Code's own page for files it cannot show as text.
  assert.equal(
    await page
      .locator('.editor-group-container', {
        hasText: 'binary or uses an unsupported text encoding',
      })
      .count(),
    0,
    'no binary-file page',
  );
  h.progress(
    `explorer: ${WORKSPACE_PTH} opened in the inspector (${shown.rows.length} rows, ${shown.count})`,
  );
  await h.screenshot(page, '01b-explorer-pth-inspector');
  await tab.hover();
  await tab.locator('.tab-actions .action-label').first().click();
  await h.until('the .pth tab to close', 30_000, async () =>
    (await tab.count()) === 0 ? true : undefined,
  );
  // Its webview gone too, so that later look-ups of a webview page find the dashboard's.
  await h.until('the inspector webview to go', 30_000, async () =>
    (await h.inspectorFrame(page)) ? undefined : true,
  );
}
