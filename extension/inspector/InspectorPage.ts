/**
 * One inspector page: a webview (the custom editor's, or a panel for compare/series) bound to
 * what it shows: a checkpoint file, two files, or a folder of checkpoints (optionally watched).
 * The page asks the analysis worker, keeps the last content for the webview's `inspectorReady`,
 * and shows failures in the page itself: one message naming the file and the problem.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as vscode from 'vscode';
import {
  assertNever,
  previewMessage,
  isFromInspector,
  type InspectorContent,
  type ToInspector,
} from '../../core/protocol';
import { dashboardHtml, makeNonce } from '../panels/dashboardHtml';
import { log } from '../log';
import { AnalysisError, timeoutForBytes, type AnalysisHost } from './analysisHost';
import { CoalescingRunner } from './coalescingRunner';
import { folderSignature } from './folderSignature';
import type { ParsedAnalysisSettings } from './settings';

/** What a page shows. */
export type InspectorSource =
  | { kind: 'checkpoint'; path: string }
  | { kind: 'compare'; a: string; b: string }
  | { kind: 'series'; folder: string; watch: boolean };

/** What the page needs from the extension: the worker, the settings, the Layers view. */
export interface PageContext {
  analysis: AnalysisHost;
  extensionUri: vscode.Uri;
  settings(resource: vscode.Uri): ParsedAnalysisSettings;
  /** The page's content changed or it became active: the Layers view follows the active page. */
  onDidUpdate(page: InspectorPage): void;
  onDidSelectLayer(page: InspectorPage, name: string): void;
  onDidDispose(page: InspectorPage): void;
}

/** Changes settle for this long before a watched folder is analysed again (writes in progress). */
const WATCH_DEBOUNCE_MS = 1500;
/** How often a watched folder is also polled (see folderSignature.ts for why). */
const WATCH_POLL_MS = 5000;

/** The only place that posts to an inspector webview. */
export function postToInspector(webview: vscode.Webview, msg: ToInspector): void {
  // postMessage resolves false when the page is gone; the next inspectorReady replays.
  void webview.postMessage(msg);
}

/** Sets the webview's options and the inspector page (same strict CSP as the dashboard). */
export function setInspectorHtml(webview: vscode.Webview, extensionUri: vscode.Uri): void {
  const root = vscode.Uri.joinPath(extensionUri, 'dist', 'webview');
  webview.options = { enableScripts: true, localResourceRoots: [root] };
  webview.html = dashboardHtml({
    cspSource: webview.cspSource,
    scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(root, 'inspector.js')).toString(),
    styleUri: webview.asWebviewUri(vscode.Uri.joinPath(root, 'inspector.css')).toString(),
    nonce: makeNonce(),
  });
}

/** Total size of a file, or of a folder's files one level deep (epoch-N/ folders included). */
async function bytesOf(path: string): Promise<number> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return 0;
  if (!info.isDirectory()) return info.size;
  let total = 0;
  const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const child = join(path, entry.name);
    if (entry.isFile()) total += (await stat(child).catch(() => undefined))?.size ?? 0;
    else if (entry.isDirectory()) {
      const inner = await readdir(child, { withFileTypes: true }).catch(() => []);
      for (const file of inner) {
        if (file.isFile())
          total += (await stat(join(child, file.name)).catch(() => undefined))?.size ?? 0;
      }
    }
  }
  return total;
}

export class InspectorPage implements vscode.Disposable {
  private content: InspectorContent | undefined;
  private failure: { file: string; message: string } | undefined;
  private generation = 0;
  private readonly runner = new CoalescingRunner(() => this.runAnalysis(), WATCH_DEBOUNCE_MS);
  private watcher: vscode.FileSystemWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private signature: string | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private disposed = false;
  /** Tensor selected in the page, mirrored in the Layers view. */
  selectedLayer = '';
  private markLoaded: () => void = () => {};
  /** Resolves when the webview's script has first run (its `inspectorReady`). */
  readonly loaded = new Promise<void>((resolve) => (this.markLoaded = resolve));

  constructor(
    readonly panel: vscode.WebviewPanel,
    private source: InspectorSource,
    private readonly ctx: PageContext,
  ) {
    setInspectorHtml(panel.webview, ctx.extensionUri);
    this.disposables.push(
      panel.webview.onDidReceiveMessage((msg: unknown) => this.onMessage(msg)),
      panel.onDidChangeViewState(() => {
        if (panel.active) ctx.onDidUpdate(this);
      }),
      panel.onDidDispose(() => this.dispose()),
    );
    if (source.kind === 'series' && source.watch) this.startWatching();
    void this.analyse(); // analyse() reports its own failures in the page
  }

  /** The file or folder the page is about (for titles and messages). */
  get target(): string {
    switch (this.source.kind) {
      case 'checkpoint':
        return this.source.path;
      case 'compare':
        return `${this.source.a} ↔ ${this.source.b}`;
      case 'series':
        return this.source.folder;
      default:
        return assertNever(this.source);
    }
  }

  /** What the page shows (a file, two files, a folder). */
  get currentSource(): InspectorSource {
    return this.source;
  }

  get currentContent(): InspectorContent | undefined {
    return this.content;
  }

  get watching(): boolean {
    return this.watcher !== undefined;
  }

  /** Selects a layer in the page (from the Layers view). */
  selectLayer(name: string): void {
    this.selectedLayer = name;
    postToInspector(this.panel.webview, { kind: 'selectLayer', name });
  }

  /** Reads and analyses again (settings changed, Retry, or the watched folder changed). */
  analyse(): Promise<void> {
    return this.runner.run();
  }

  private async runAnalysis(): Promise<void> {
    const generation = ++this.generation;
    const source = this.source;
    const resource = vscode.Uri.file(source.kind === 'compare' ? source.a : this.target);
    const settings = this.ctx.settings(resource);
    // While a watched series is shown, keep it on screen during re-analysis.
    if (!this.content || source.kind !== 'series') {
      this.failure = undefined;
      this.post({ kind: 'loading', file: this.target });
    }
    try {
      let content: InspectorContent;
      switch (source.kind) {
        case 'checkpoint': {
          const timeout = timeoutForBytes(await bytesOf(source.path));
          const report = await this.ctx.analysis.inspect(source.path, settings.options, timeout);
          content = { mode: 'checkpoint', file: source.path, report, deadTau: settings.deadTau };
          break;
        }
        case 'compare': {
          const bytes = (await bytesOf(source.a)) + (await bytesOf(source.b));
          const report = await this.ctx.analysis.compare(
            source.a,
            source.b,
            timeoutForBytes(bytes),
            settings.options,
          );
          content = { mode: 'compare', fileA: source.a, fileB: source.b, report };
          break;
        }
        case 'series': {
          const timeout = timeoutForBytes(await bytesOf(source.folder), 120_000);
          const report = await this.ctx.analysis.series(source.folder, settings.options, timeout);
          content = {
            mode: 'series',
            folder: source.folder,
            report,
            deadTau: settings.deadTau,
            watching: this.watching,
          };
          break;
        }
        default:
          assertNever(source);
      }
      if (this.disposed || generation !== this.generation) return;
      this.content = content;
      this.failure = undefined;
      this.post({ kind: 'content', content });
      this.ctx.onDidUpdate(this);
    } catch (e) {
      if (this.disposed || generation !== this.generation) return;
      const message = e instanceof Error ? e.message : String(e);
      if (e instanceof AnalysisError && e.userError) log.warn(`inspector: ${message}`);
      else log.error(`inspector: could not analyse ${this.target}`, e);
      if (source.kind === 'series' && this.watching && this.content) {
        // A checkpoint still being written fails to read; the next change event retries.
        log.info(`inspector: keeping the last analysis of ${source.folder} until the next change`);
        return;
      }
      this.content = undefined;
      this.failure = { file: this.target, message };
      this.post({ kind: 'failed', file: this.target, message });
      this.ctx.onDidUpdate(this);
    }
  }

  private onMessage(msg: unknown): void {
    if (!isFromInspector(msg)) {
      log.warn('inspector: ignored a message that is not a FromInspector');
      return;
    }
    switch (msg.kind) {
      case 'inspectorReady':
        this.markLoaded();
        // A page hidden and shown again is a fresh page: replay what it shows.
        if (this.content) this.post({ kind: 'content', content: this.content });
        else if (this.failure) this.post({ kind: 'failed', ...this.failure });
        else this.post({ kind: 'loading', file: this.target });
        if (this.selectedLayer) this.post({ kind: 'selectLayer', name: this.selectedLayer });
        break;
      case 'layerSelected':
        this.selectedLayer = msg.name;
        this.ctx.onDidSelectLayer(this, msg.name);
        break;
      case 'inspectorCommand':
        switch (msg.command) {
          case 'showLog':
            log.show();
            break;
          case 'retry':
            void this.analyse();
            break;
          case 'toggleWatch':
            this.toggleWatch();
            break;
          case 'finetune':
            // Only offered for BNN Lab checkpoints; the command checks again and asks the rest.
            void vscode.commands.executeCommand(
              'bnnLab.finetuneCheckpoint',
              vscode.Uri.file(this.target),
            );
            break;
          case 'export':
            void vscode.commands.executeCommand(
              'bnnLab.exportCheckpoint',
              vscode.Uri.file(this.target),
            );
            break;
          default: {
            // The guard checks commands; a listener must not throw on one it let through.
            const unknown: never = msg.command;
            log.warn(`inspector: ignored an unknown command ${previewMessage(unknown)}`);
          }
        }
        break;
      default: {
        const unknown: never = msg;
        log.warn(`inspector: ignored a message of unknown kind: ${previewMessage(unknown)}`);
      }
    }
  }

  private toggleWatch(): void {
    if (this.source.kind !== 'series') return;
    if (this.watcher) this.stopWatching();
    else this.startWatching();
    this.source = { ...this.source, watch: this.watching };
    if (this.content?.mode === 'series') {
      this.content = { ...this.content, watching: this.watching };
      this.post({ kind: 'content', content: this.content });
    }
    if (this.watching) void this.analyse();
  }

  /**
   * Follows a folder that a training job writes checkpoints to (a cluster's shared folder, a
   * PyTorch DDP run): every created or changed file schedules one re-analysis once writes settle.
   */
  private startWatching(): void {
    if (this.source.kind !== 'series' || this.watcher) return;
    const pattern = new vscode.RelativePattern(vscode.Uri.file(this.source.folder), '**/*');
    const watcher = vscode.workspace.createFileSystemWatcher(pattern);
    const changed = (uri: vscode.Uri): void => {
      log.info(`inspector: ${uri.fsPath} changed; analysing ${this.target} again`);
      this.runner.schedule();
    };
    watcher.onDidCreate(changed);
    watcher.onDidChange(changed);
    watcher.onDidDelete(changed);
    this.watcher = watcher;
    const folder = this.source.folder;
    void folderSignature(folder).then((s) => (this.signature ??= s)); // never rejects
    this.poll = setInterval(() => {
      void folderSignature(folder).then((s) => {
        if (this.signature !== undefined && s !== this.signature && this.watcher) {
          log.info(`inspector: ${folder} changed (poll); analysing it again`);
          this.runner.schedule();
        }
        this.signature = s;
      });
    }, WATCH_POLL_MS);
    this.panel.title = `${this.panel.title.replace(/ \(watching\)$/, '')} (watching)`;
    log.info(`inspector: watching ${this.source.folder} for new checkpoints`);
  }

  private stopWatching(): void {
    this.runner.cancelScheduled();
    clearInterval(this.poll);
    this.poll = undefined;
    this.signature = undefined;
    this.watcher?.dispose();
    this.watcher = undefined;
    // A disposed panel throws on every property access ("Webview is disposed").
    if (!this.disposed) this.panel.title = this.panel.title.replace(/ \(watching\)$/, '');
  }

  private post(msg: ToInspector): void {
    if (!this.disposed) postToInspector(this.panel.webview, msg);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.stopWatching();
    this.runner.dispose();
    for (const d of this.disposables) d.dispose();
    this.ctx.onDidDispose(this);
  }
}
