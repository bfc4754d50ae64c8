/**
 * Issue 15: a checkpoint opened from the Explorer opens the inspector, not VS Code's "binary
 * file" page; a row of Compare Checkpoints opens the tensor in both files. Part of
 * vscode.e2e.ts, in its own file so the block is easy to find and merge.
 */
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Frame, Page } from 'playwright-core';

/** The PyTorch state dict the e2e workspace holds (a copy of a checkpoint fixture). */
export const WORKSPACE_PTH = 'weights.pth';
/** Two more copies, compared (files no editor has shown yet: see checkCompareOpensBoth). */
const FIRST_PTH = 'weights-b.pth';
const SECOND_PTH = 'weights-c.pth';
/** A tensor of both. */
const TENSOR = 'features.1.conv.weight';

/** Puts {@link WORKSPACE_PTH} and two copies in the workspace (while the folders are prepared). */
export function addPthToWorkspace(repo: string, workspace: string): void {
  for (const name of [WORKSPACE_PTH, FIRST_PTH, SECOND_PTH]) {
    copyFileSync(
      path.join(repo, 'test', 'fixtures', 'checkpoints', 'torch_state.pt'),
      path.join(workspace, name),
    );
  }
}

/** What the check needs from the e2e: its polling, the inspector's frame, progress lines. */
export interface E2eHelpers {
  until<T>(what: string, timeout: number, check: () => Promise<T | undefined>): Promise<T>;
  inspectorFrame(page: Page): Promise<Frame | undefined>;
  progress(message: string): void;
  screenshot(page: Page, name: string): Promise<string>;
  runCommand(page: Page, title: string): Promise<void>;
  answerFileDialog(page: Page, title: string, value: string, okLabel: string): Promise<void>;
}

/** What an inspector page shows: its title, the selected tensor, a comparison's rows. */
interface PageState {
  title: string;
  selected: string;
  compareRows: number;
}

/** Every inspector page in the workbench (each two iframes deep), with what it shows. */
async function inspectorPages(page: Page): Promise<PageState[]> {
  const found: PageState[] = [];
  for (const outer of page.frames()) {
    for (const inner of outer.childFrames()) {
      if (inner.isDetached()) continue;
      const state = await inner
        .evaluate(() =>
          document.querySelector('.inspector')
            ? {
                title: document.querySelector('.inspector-title')?.textContent ?? '',
                selected:
                  document.querySelector<HTMLElement>('.layer-row.selected')?.dataset.name ?? '',
                compareRows: document.querySelectorAll('.compare-table .layer-row').length,
              }
            : undefined,
        )
        .catch(() => undefined);
      if (state) found.push(state);
    }
  }
  return found;
}

/**
 * Compare Checkpoints on two copies from the palette (code-server's file dialog takes one file
 * at a time), then a click on a row: both files open in the inspector with that tensor
 * selected. The copies are files no editor has shown before: in code-server, a custom editor
 * reopened on a file whose tab was closed in the same session sometimes stays blank.
 */
async function checkCompareOpensBoth(page: Page, workspace: string, h: E2eHelpers): Promise<void> {
  await h.runCommand(page, 'BNN Lab: Compare Checkpoints');
  await h.answerFileDialog(
    page,
    'BNN Lab: Compare Checkpoints',
    path.join(workspace, FIRST_PTH),
    'Compare',
  );
  await h.answerFileDialog(
    page,
    `BNN Lab: Compare ${FIRST_PTH} With`,
    path.join(workspace, SECOND_PTH),
    'Compare',
  );
  const frame = await h.until('the comparison page', 120_000, async () => {
    for (const outer of page.frames()) {
      for (const inner of outer.childFrames()) {
        if (inner.isDetached()) continue;
        const rows = await inner.$$('.compare-table .layer-row').catch(() => []);
        if (rows.length > 0) return inner;
      }
    }
    return undefined;
  });
  const headers = await frame.locator('.compare-table th').allInnerTexts();
  assert.deepEqual(headers.slice(0, 3), ['Tensor', 'Binary', 'Signs flipped']);
  await frame.locator(`.compare-table .layer-row[data-name="${TENSOR}"]`).click();
  let seen: PageState[] = [];
  const opened = await h
    .until('both files in the inspector with the tensor', 120_000, async () => {
      seen = await inspectorPages(page);
      // The inspector pages of the two files (not the comparison, which names both).
      const titles = seen
        .filter((p) => p.compareRows === 0 && p.selected === TENSOR)
        .map((p) => p.title);
      return [FIRST_PTH, SECOND_PTH].every((name) => titles.some((t) => t.startsWith(name)))
        ? titles
        : undefined;
    })
    .catch((e: unknown) => {
      // What the pages showed instead, for the next reader of a failed run.
      const shown = seen.map(
        (p) => `"${p.title}" selected "${p.selected}" (${p.compareRows} compare rows)`,
      );
      throw new Error(
        `${e instanceof Error ? e.message : String(e)}; inspector pages: ${shown.join('; ') || 'none'}`,
      );
    });
  h.progress(`compare: a row opened ${TENSOR} in ${opened.join(' and ')}`);
  await h.screenshot(page, '10-compare-opens-both');
}

/**
 * Double-clicks {@link WORKSPACE_PTH} in the Explorer: the tab must be the inspector with the
 * file's tensors (buffers hidden), with no "binary file" placeholder. Then the compare check.
 * The last block of the e2e: it leaves its editors open.
 */
export async function checkExplorerOpensInspector(
  page: Page,
  workspace: string,
  h: E2eHelpers,
): Promise<void> {
  await h.runCommand(page, 'View: Show Explorer');
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
  await h.screenshot(page, '09-explorer-pth-inspector');
  await checkCompareOpensBoth(page, workspace, h);
}
