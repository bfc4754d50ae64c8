/**
 * The open inspector pages and what they share: the analysis worker, the Layers view (which
 * follows the active page), the settings with their warnings shown once, and opening pages (a
 * custom editor's, or a panel for a comparison or a folder series).
 */
import * as path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import * as vscode from 'vscode';
import { log } from '../log';
import { inspectorSettings } from '../settings';
import type { AnalysisHost } from './analysisHost';
import { InspectorPage, type InspectorSource, type PageContext } from './InspectorPage';
import { LayersTreeProvider } from './LayersTreeProvider';
import type { LayerItem } from './layerItems';
import { analysisSettings, type ParsedAnalysisSettings } from './settings';
import { ANALYSIS_PANEL_TYPE, inspectorViewTypeFor } from './viewTypes';

/** How long a comparison's row waits for each file's page to open and then to load. */
const PAGE_WAIT_MS = 5000;

export class InspectorPages implements PageContext, vscode.Disposable {
  readonly layers = new LayersTreeProvider();
  readonly tree: vscode.TreeView<LayerItem>;
  private readonly pages = new Set<InspectorPage>();
  private activePage: InspectorPage | undefined;
  /** Setting problems already shown (each once until the settings change). */
  private readonly warned = new Set<string>();
  /**
   * A tensor to select in a file's page once it opens (a row clicked in a comparison), and who
   * waits for the page: whether `vscode.openWith` resolves before or after the custom editor's
   * page exists is VS Code's business, so the selection waits here for whichever comes first.
   */
  private readonly pendingSelection = new Map<
    string,
    { name: string; opened: (page: InspectorPage) => void }
  >();

  constructor(
    readonly analysis: AnalysisHost,
    readonly extensionUri: vscode.Uri,
  ) {
    this.tree = vscode.window.createTreeView(LayersTreeProvider.viewId, {
      treeDataProvider: this.layers,
    });
    this.showInTree(undefined);
  }

  /** The page the Layers view shows (the last one active). */
  get active(): InspectorPage | undefined {
    return this.activePage;
  }

  settings(resource: vscode.Uri): ParsedAnalysisSettings {
    const parsed = analysisSettings(inspectorSettings(resource));
    for (const problem of parsed.problems) {
      if (this.warned.has(problem)) continue;
      this.warned.add(problem);
      log.warn(problem);
      void vscode.window.showWarningMessage(`BNN Lab: ${problem}`);
    }
    return parsed;
  }

  /** The inspector settings changed: warn afresh and analyse every page again. */
  settingsChanged(): void {
    this.warned.clear();
    for (const page of this.pages) void page.analyse(); // each page reports its own failure
  }

  onDidUpdate(page: InspectorPage): void {
    if (page.panel.active || this.activePage === page || !this.activePage) this.showInTree(page);
  }

  onDidSelectLayer(page: InspectorPage, name: string): void {
    const content = page.currentContent;
    if (content?.mode === 'compare') {
      void this.openLayerInBoth(content.fileA, content.fileB, name);
      return;
    }
    if (page !== this.activePage) this.showInTree(page);
    const item = this.layers.item(name);
    // reveal() rejects while the view is collapsed or hidden; the selection is cosmetic.
    if (item && this.tree.visible) {
      this.tree.reveal(item, { select: true, focus: false }).then(undefined, () => {});
    }
  }

  onDidDispose(page: InspectorPage): void {
    this.pages.delete(page);
    if (this.activePage === page) this.showInTree([...this.pages].at(-1));
  }

  /** A page in `panel` (a custom editor's, or one from {@link openPanel}). */
  open(panel: vscode.WebviewPanel, source: InspectorSource): InspectorPage {
    const page = new InspectorPage(panel, source, this);
    this.pages.add(page);
    this.showInTree(page);
    const pending = source.kind === 'checkpoint' && this.pendingSelection.get(source.path);
    if (pending) {
      this.pendingSelection.delete(source.path);
      page.selectLayer(pending.name);
      pending.opened(page);
    }
    return page;
  }

  /** A page in a new panel: a comparison or a folder series. */
  openPanel(title: string, source: InspectorSource): InspectorPage {
    const root = vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview');
    const panel = vscode.window.createWebviewPanel(
      ANALYSIS_PANEL_TYPE,
      title,
      vscode.ViewColumn.Active,
      { enableScripts: true, localResourceRoots: [root] },
    );
    return this.open(panel, source);
  }

  /**
   * A row clicked in a comparison: both files in the inspector, side by side next to the
   * comparison, with that tensor selected. One after the other: opening the second editor while
   * the first one's webview still loads can leave one of them blank until it is shown again
   * (seen in code-server), so the second waits until the first page has loaded, a few seconds
   * at most.
   */
  async openLayerInBoth(a: string, b: string, name: string): Promise<void> {
    for (const file of [a, b]) {
      const page = await Promise.race([this.openWithSelection(file, name), delay(PAGE_WAIT_MS)]);
      if (page) await Promise.race([page.loaded, delay(PAGE_WAIT_MS)]);
    }
    log.info(`inspector: opened ${name} in ${path.basename(a)} and ${path.basename(b)}`);
  }

  /** Opens `file` in the inspector with `name` selected; the page, once it exists. */
  private openWithSelection(file: string, name: string): Promise<InspectorPage> {
    return new Promise((resolve, reject) => {
      this.pendingSelection.set(file, { name, opened: resolve });
      const options = { viewColumn: vscode.ViewColumn.Beside, preview: false };
      const uri = vscode.Uri.file(file);
      vscode.commands
        .executeCommand('vscode.openWith', uri, inspectorViewTypeFor(file), options)
        .then(
          () => {
            let found: InspectorPage | undefined;
            for (const page of this.pages) {
              if (page.currentSource.kind === 'checkpoint' && page.target === file) {
                page.selectLayer(name);
                found = page;
              }
            }
            // Not there yet: the page is still being made, and open() selects and resolves.
            if (found) {
              this.pendingSelection.delete(file);
              resolve(found);
            }
          },
          (e: unknown) => {
            this.pendingSelection.delete(file);
            reject(e instanceof Error ? e : new Error(String(e)));
          },
        );
    });
  }

  private showInTree(page: InspectorPage | undefined): void {
    this.activePage = page;
    this.layers.setContent(page?.currentContent);
    // Without a page the view's welcome content explains what to do.
    this.tree.message =
      page && page.currentContent?.mode === 'compare'
        ? 'A comparison has no layer tree: its table lists the tensors.'
        : undefined;
    this.tree.description = page ? path.basename(page.target) : undefined;
  }

  dispose(): void {
    for (const page of [...this.pages]) page.dispose();
    this.tree.dispose();
    this.layers.dispose();
  }
}
