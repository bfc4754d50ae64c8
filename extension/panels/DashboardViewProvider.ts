/**
 * The dashboard, in two places: the "Dashboard" webview view in the BNN Lab activity-bar
 * container (a compact layout for the side bar) and a full-width editor tab (a WebviewPanel,
 * restored after a window reload). Both show the same run: the host owns the data, and each page
 * has its own {@link DashboardFeed}. On `ready` a page gets a full `snapshot` of the run in view
 * (a run opened from the Runs view, else the current run, else after a window reload the newest
 * run folder on disk), then batched `records` and `status` changes, and a second run's records
 * when comparing.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  assertNever,
  isToHost,
  type ComparedRun,
  type ExportFormat,
  type ToHost,
  type ToWebview,
  previewMessage,
} from '../../core/protocol';
import { reportError } from '../errors';
import { comparisonRecords, DashboardFeed, thinSnapshotRecords } from '../engine/dashboardFeed';
import type { EngineClient, RunEvent } from '../engine/EngineClient';
import { isExternalRunInProgress, MetricsFollower } from '../engine/externalRun';
import { findNewestRunDir, readRun, skippedOf } from '../engine/runFolders';
import { log } from '../log';
import { workspaceRunsRoots } from '../settings';
import { runNameOf } from '../views/runNames';
import { ComparisonState } from './comparisonState';
import { dashboardHtml, makeNonce } from './dashboardHtml';

type Snapshot = Extract<ToWebview, { kind: 'snapshot' }>;

const EXPORT_FILTERS: Record<ExportFormat, Record<string, string[]>> = {
  png: { 'PNG image': ['png'] },
  svg: { 'SVG image': ['svg'] },
  csv: { 'CSV table': ['csv'] },
};

/** The only place that posts to a webview. */
export function postToWebview(webview: vscode.Webview, msg: ToWebview): void {
  // postMessage resolves false when the webview is gone; the next `ready` replays everything.
  void webview.postMessage(msg);
}

/** The dashboard's own report of what it shows (the webview's `rendered` message). */
export type RenderedReport = Omit<Extract<ToHost, { kind: 'rendered' }>, 'kind'>;

/** One page showing the dashboard: the side view's or the editor tab's. */
interface Surface {
  readonly webview: vscode.Webview;
  readonly feed: DashboardFeed;
  readonly visible: () => boolean;
  ready: boolean;
  readonly disposables: vscode.Disposable[];
}

export class DashboardViewProvider
  implements vscode.WebviewViewProvider, vscode.WebviewPanelSerializer, vscode.Disposable
{
  private lastRendered: RenderedReport | undefined;
  static readonly viewType = 'bnnLab.dashboard';
  /** The editor-tab dashboard (a WebviewPanel); `activationEvents` names it for restoring. */
  static readonly panelType = 'bnnLab.dashboardPanel';

  private view: Surface | undefined;
  private panel: { panel: vscode.WebviewPanel; surface: Surface } | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  /** A run opened from its folder (Runs view) that is not this window's current run. */
  private pinnedDir: string | undefined;
  /** The runs overlaid for comparison, read once from their folders. */
  private readonly comparison = new ComparisonState();
  /** Watchers for the folders in view, so a deletion is reported instead of going blank. */
  private folderWatchers: vscode.Disposable[] = [];
  private watchedKey = '';
  /** Folders in view that were deleted (re-sent after every snapshot). */
  private readonly missing = new Map<string, string>();
  /** A run folder another program writes, read as it grows ("Follow External Run…"). */
  private follower: MetricsFollower | undefined;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly engine: EngineClient,
  ) {
    this.disposables.push(
      engine.onDidChangeRun((event) => this.onRunEvent(event)),
      vscode.workspace.onDidGrantWorkspaceTrust(() => void this.sendSnapshot()),
    );
  }

  /** What the panel last said it shows (`rendered`), for the extension's API. */
  get rendered(): RenderedReport | undefined {
    return this.lastRendered;
  }

  /** Every page that shows the dashboard now. */
  private get surfaces(): Surface[] {
    return [this.view, this.panel?.surface].filter((s): s is Surface => s !== undefined);
  }

  /** Loads the dashboard page into `webview` and wires its messages. */
  private attach(
    webview: vscode.Webview,
    layout: 'side' | 'panel',
    visible: () => boolean,
  ): Surface {
    const root = vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview');
    webview.options = { enableScripts: true, localResourceRoots: [root] };
    webview.html = dashboardHtml({
      cspSource: webview.cspSource,
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(root, 'main.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(root, 'main.css')).toString(),
      nonce: makeNonce(),
      layout,
    });
    const surface: Surface = {
      webview,
      visible,
      ready: false,
      feed: new DashboardFeed({
        send: (msg) => postToWebview(webview, msg),
        snapshot: () => this.liveSnapshot(),
      }),
      disposables: [],
    };
    surface.disposables.push(
      webview.onDidReceiveMessage((msg: unknown) => this.onMessage(surface, msg)),
    );
    return surface;
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    if (this.view) this.disposeSurface(this.view);
    const surface = this.attach(view.webview, 'side', () => view.visible);
    this.view = surface;
    surface.disposables.push(
      // Hidden views lose their page (no retainContextWhenHidden); the next `ready` replays.
      view.onDidChangeVisibility(() => this.updateConnected()),
      view.onDidDispose(() => {
        if (this.view === surface) {
          this.disposeSurface(surface);
          this.view = undefined;
        }
      }),
    );
  }

  /**
   * Opens the dashboard in an editor tab, or brings the open one to front.
   * @param preserveFocus keep the keyboard focus where it is (a run just started).
   */
  showPanel(preserveFocus = false): void {
    if (this.panel) {
      this.panel.panel.reveal(undefined, preserveFocus);
      return;
    }
    const panel = vscode.window.createWebviewPanel(
      DashboardViewProvider.panelType,
      'BNN Lab Dashboard',
      { viewColumn: vscode.ViewColumn.Active, preserveFocus },
      { enableScripts: true },
    );
    this.adoptPanel(panel);
  }

  /** VS Code restores the editor tab after a window reload (`WebviewPanelSerializer`). */
  async deserializeWebviewPanel(panel: vscode.WebviewPanel): Promise<void> {
    if (this.panel) {
      // A second restored tab: one dashboard tab is enough.
      panel.dispose();
      return;
    }
    this.adoptPanel(panel);
    await Promise.resolve();
  }

  private adoptPanel(panel: vscode.WebviewPanel): void {
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'bnn-lab.svg');
    const surface = this.attach(panel.webview, 'panel', () => panel.visible);
    this.panel = { panel, surface };
    surface.disposables.push(
      panel.onDidChangeViewState(() => this.updateConnected()),
      panel.onDidDispose(() => {
        if (this.panel?.surface === surface) {
          this.disposeSurface(surface);
          this.panel = undefined;
        }
      }),
    );
  }

  /** The editor tab if it is open, else the side view, brought to front. */
  private async reveal(): Promise<void> {
    if (this.panel) this.panel.panel.reveal(undefined, true);
    else await vscode.commands.executeCommand(`${DashboardViewProvider.viewType}.focus`);
  }

  private onMessage(surface: Surface, msg: unknown): void {
    if (!isToHost(msg)) {
      log.warn(`dashboard: ignored a message that is not a ToHost: ${previewMessage(msg)}`);
      return;
    }
    switch (msg.kind) {
      case 'ready':
        surface.ready = true;
        void this.sendSnapshot([surface]); // sendSnapshot reports its own errors
        break;
      case 'command': {
        const id = commandId(msg.command);
        if (id) void vscode.commands.executeCommand(id); // the command reports errors
        break;
      }
      case 'clearComparison':
        this.clearComparison();
        break;
      case 'pinComparison':
        this.comparison.pin(msg.pinned);
        log.info(`dashboard: comparison ${this.comparison.isPinned ? 'pinned' : 'unpinned'}`);
        this.broadcast(this.comparison.message());
        break;
      case 'export':
        void this.saveExport(msg); // saveExport reports its own errors
        break;
      case 'rendered':
        this.lastRendered = { runId: msg.runId, status: msg.status, layerCards: msg.layerCards };
        log.info(
          `dashboard: showing ${msg.runId} (${msg.status}), ${msg.layerCards.length} binary layer card(s)`,
        );
        break;
      default: {
        // isToHost let through a kind this switch does not know: a bug, not worth a throw here.
        const unknown: never = msg;
        log.warn(`dashboard: ignored a message of unknown kind: ${previewMessage(unknown)}`);
      }
    }
  }

  private onRunEvent(event: RunEvent): void {
    // A new run takes over the view, as the user just asked for it.
    if (event.kind === 'started') {
      this.pinnedDir = undefined;
      this.stopFollowing();
      // A comparison belongs to the runs it was made for, unless the user pinned it.
      if (this.comparison.runStarted()) this.comparisonEnded();
    }
    // Without a page there is nothing to keep up to date: its `ready` will get a full snapshot.
    const surfaces = this.surfaces;
    if (surfaces.length === 0) return;
    // Another run is open from its folder: the live one is not in view.
    if (this.pinnedDir !== undefined) return;
    switch (event.kind) {
      case 'started':
        this.sendSnapshotMessage(this.liveSnapshot(), surfaces);
        break;
      case 'record':
        for (const s of surfaces) s.feed.addRecord(event.run.runId, event.record);
        break;
      case 'ended':
        for (const s of surfaces) {
          s.feed.setStatus(event.run.runId, event.end.status, event.end.message);
        }
        break;
      default:
        assertNever(event);
    }
  }

  /**
   * Shows the run in `dir` (from the Runs view): this window's current run streams live, any
   * other is read from its folder without re-training.
   */
  async openRun(dir: string): Promise<void> {
    const live = this.engine.currentRun;
    if (live?.dir !== dir && this.follower?.dir !== dir && (await isExternalRunInProgress(dir))) {
      // A PyTorch run still being written (Runs view): follow it rather than show it as stopped.
      await this.followRun(dir);
      return;
    }
    this.pinnedDir = live?.dir === dir ? undefined : dir;
    if (this.follower?.dir !== dir) this.stopFollowing();
    // Opening another run ends an unpinned comparison made for a different one.
    if (this.comparison.runOpened(dir)) this.comparisonEnded();
    await this.reveal();
    // A page loaded just now answers its own `ready`; existing ones are refreshed here.
    const ready = this.surfaces.filter((s) => s.ready);
    if (ready.length > 0) await this.sendSnapshot(ready);
  }

  /**
   * Shows the run in `dir` and keeps drawing the records appended to its `metrics.jsonl` (a run
   * that another program, e.g. python/bnn_lab_telemetry.py, writes) until its `done` record.
   */
  async followRun(dir: string): Promise<void> {
    this.stopFollowing();
    const follower = new MetricsFollower(dir);
    await follower.poll();
    this.follower = follower;
    const runId = follower.snapshot().runId;
    let badLines = follower.badLines;
    follower.start((records) => {
      if (this.follower !== follower || this.pinnedDir !== dir) return;
      if (follower.badLines !== badLines) {
        // The panel's notice counts skipped lines; a snapshot carries the new count.
        badLines = follower.badLines;
        log.warn(`dashboard: ${follower.file}: skipped ${badLines} unreadable line(s)`);
        const ready = this.surfaces.filter((s) => s.ready);
        if (ready.length > 0) void this.sendSnapshot(ready); // sendSnapshot reports its own errors
        return;
      }
      const done = follower.done;
      for (const { feed } of this.surfaces) {
        for (const record of records) feed.addRecord(runId, record);
        if (done) feed.setStatus(runId, done.status, done.message);
      }
    });
    log.info(`dashboard: following ${dir}`);
    await this.openRun(dir);
  }

  private stopFollowing(): void {
    this.follower?.stop();
    this.follower = undefined;
  }

  /**
   * Overlays the runs in `dirs` on the one in view (one colour per run on every chart), replacing
   * any comparison. @throws Error naming the folder when a run has no metrics.jsonl.
   */
  async compareWith(dirs: string | readonly string[]): Promise<void> {
    const list = (typeof dirs === 'string' ? [dirs] : [...dirs]).filter(
      (d, i, all) => all.indexOf(d) === i && d !== this.dirInView,
    );
    if (list.length === 0) {
      this.clearComparison();
      return;
    }
    const runs: ComparedRun[] = [];
    for (const dir of list) runs.push(await this.comparedRun(dir));
    this.comparison.set(this.dirInView, runs);
    for (const dir of list) this.missing.delete(dir);
    log.info(`dashboard: comparing ${this.dirInView ?? 'the run in view'} with ${list.join(', ')}`);
    await this.reveal();
    this.broadcast(this.comparison.message());
    this.watchFolders();
  }

  /** The runs compared now (folders), for tests and the extension's API. */
  get comparedDirs(): string[] {
    return this.comparison.dirs;
  }

  private async comparedRun(dir: string): Promise<ComparedRun> {
    const live = this.engine.currentRun;
    if (live?.dir === dir) {
      return {
        run: {
          runId: live.runId,
          name: runNameOf(dir, live.runId),
          dir,
          status: live.status,
          records: comparisonRecords(live.records),
        },
      };
    }
    const stored = await readRun(dir);
    if (!stored) throw new Error(`no metrics.jsonl in ${dir}`);
    return {
      run: {
        ...stored.snapshot,
        name: runNameOf(dir, stored.snapshot.runId),
        records: comparisonRecords(stored.snapshot.records),
      },
      skipped: skippedOf(stored),
    };
  }

  /** Re-reads the names (a run was labelled) and resends the run in view and the comparison. */
  async refreshNames(): Promise<void> {
    this.comparison.rename(runNameOf);
    await this.sendSnapshot(this.surfaces.filter((s) => s.ready));
  }

  /** The folder of the run in view, if any (for "Compare With…"). */
  get dirInView(): string | undefined {
    return this.pinnedDir ?? this.engine.currentRun?.dir ?? this.newestDir;
  }
  private newestDir: string | undefined;

  private clearComparison(): void {
    this.comparison.clear();
    this.comparisonEnded();
  }

  /** Tells every page the comparison is over. */
  private comparisonEnded(): void {
    log.info('dashboard: comparison ended');
    this.broadcast(this.comparison.message());
    this.watchFolders();
  }

  /** Sends a message (not records or a snapshot) to every page. */
  private broadcast(msg: Exclude<ToWebview, { kind: 'records' | 'snapshot' }>): void {
    for (const s of this.surfaces) s.feed.send(msg);
  }

  /** A snapshot, then what must follow every snapshot: the comparison and deleted folders. */
  private sendSnapshotMessage(msg: Snapshot, targets: readonly Surface[]): void {
    for (const { feed } of targets) {
      feed.sendSnapshot(msg);
      if (this.comparison.active) feed.send(this.comparison.message());
      for (const [dir, runId] of this.missing) feed.send({ kind: 'runMissing', runId, dir });
    }
    this.watchFolders();
  }

  /**
   * Answers `ready` (or refreshes `targets`, every page by default): the pinned run, else the
   * run of this window, else the newest on disk.
   */
  private async sendSnapshot(targets: readonly Surface[] = this.surfaces): Promise<void> {
    try {
      if (this.pinnedDir !== undefined && this.follower?.dir === this.pinnedDir) {
        const run = this.follower.snapshot();
        this.sendSnapshotMessage(
          {
            kind: 'snapshot',
            run: { ...run, records: thinSnapshotRecords(run.records) },
            trusted: vscode.workspace.isTrusted,
            skipped: this.follower.skipped,
          },
          targets,
        );
        return;
      }
      if (this.pinnedDir !== undefined) {
        await this.sendStored(this.pinnedDir, targets);
        return;
      }
      if (this.engine.currentRun) {
        this.sendLive(targets);
        return;
      }
      const dir = await findNewestRunDir(workspaceRunsRoots());
      // A run may have started while the disk was read; it wins.
      if (this.engine.currentRun) {
        this.sendLive(targets);
        return;
      }
      if (dir) {
        this.newestDir = dir;
        await this.sendStored(dir, targets);
        return;
      }
      this.sendSnapshotMessage(
        { kind: 'snapshot', run: undefined, trusted: vscode.workspace.isTrusted },
        targets,
      );
    } catch (e) {
      reportError('dashboard', e);
    } finally {
      this.updateConnected();
    }
  }

  /** Sends a run read from its folder; a folder that is gone is shown as such, not as blank. */
  private async sendStored(dir: string, targets: readonly Surface[]): Promise<void> {
    const stored = await readRun(dir);
    if (!stored) {
      const runId = path.basename(dir);
      this.missing.set(dir, runId);
      this.sendSnapshotMessage(
        {
          kind: 'snapshot',
          run: { runId, dir, status: 'failed', records: [] },
          trusted: vscode.workspace.isTrusted,
        },
        targets,
      );
      return;
    }
    if (stored.badLines > 0 || stored.truncatedLastLine) {
      log.warn(
        `dashboard: ${dir}/metrics.jsonl: skipped ${stored.badLines} unreadable line(s)` +
          (stored.truncatedLastLine ? ' and a cut-off last line' : ''),
      );
    }
    this.missing.delete(dir);
    this.sendSnapshotMessage(
      {
        kind: 'snapshot',
        run: {
          ...stored.snapshot,
          name: runNameOf(dir, stored.snapshot.runId),
          records: thinSnapshotRecords(stored.snapshot.records),
        },
        trusted: vscode.workspace.isTrusted,
        skipped: skippedOf(stored),
      },
      targets,
    );
    if (stored.interrupted) {
      for (const { feed } of targets) {
        feed.setStatus(
          stored.snapshot.runId,
          'failed',
          'This run did not finish: VS Code was closed or reloaded while it trained.',
        );
      }
    }
  }

  private sendLive(targets: readonly Surface[]): void {
    const run = this.engine.currentRun;
    this.sendSnapshotMessage(this.liveSnapshot(), targets);
    if (run?.message !== undefined) {
      for (const { feed } of targets) feed.setStatus(run.runId, run.status, run.message);
    }
  }

  /** A copy: queued `records` messages must not also appear inside a queued snapshot. */
  private liveSnapshot(): Snapshot {
    const run = this.engine.currentRun;
    return {
      kind: 'snapshot',
      run: run && {
        runId: run.runId,
        name: runNameOf(run.dir, run.runId),
        dir: run.dir,
        status: run.status,
        records: thinSnapshotRecords(run.records),
      },
      trusted: vscode.workspace.isTrusted,
    };
  }

  /** Watches the folders in view (the run and the compared run) for deletion. */
  private watchFolders(): void {
    const inView: [string, string][] = [];
    const dir = this.dirInView;
    if (dir)
      inView.push([
        dir,
        this.engine.currentRun?.dir === dir ? this.engine.currentRun.runId : path.basename(dir),
      ]);
    for (const dir of this.comparison.dirs) {
      inView.push([dir, this.comparison.find(dir)?.run.runId ?? path.basename(dir)]);
    }
    // Deleted folders no longer in view need no more notices.
    for (const gone of [...this.missing.keys()]) {
      if (!inView.some(([d]) => d === gone)) this.missing.delete(gone);
    }
    const key = inView.map(([d]) => d).join('\n');
    if (key === this.watchedKey) return;
    this.watchedKey = key;
    for (const w of this.folderWatchers) w.dispose();
    this.folderWatchers = [];
    for (const [folder, fallbackId] of inView) {
      const watcher = vscode.workspace.createFileSystemWatcher(
        new vscode.RelativePattern(vscode.Uri.file(path.dirname(folder)), path.basename(folder)),
        true,
        true,
        false,
      );
      watcher.onDidDelete(() => {
        const runId = this.comparison.find(folder)?.run.runId ?? fallbackId;
        log.warn(`dashboard: run folder ${folder} was deleted while open`);
        this.missing.set(folder, runId);
        this.broadcast({ kind: 'runMissing', runId, dir: folder });
      });
      this.folderWatchers.push(watcher);
    }
  }

  /** Saves an exported chart or CSV where the user chooses. */
  private async saveExport(msg: Extract<ToHost, { kind: 'export' }>): Promise<void> {
    try {
      // Own keys only: `in` would accept "toString" and the other inherited names.
      if (
        !Object.prototype.hasOwnProperty.call(EXPORT_FILTERS, msg.format) ||
        typeof msg.data !== 'string'
      ) {
        throw new Error(`unsupported export ${JSON.stringify(msg.format)}`);
      }
      // Only a base name: the webview does not choose folders.
      const name =
        path.basename(String(msg.name)).replace(/[\\/:*?"<>|]/g, '-') || `bnn-lab.${msg.format}`;
      const folder =
        this.dirInView ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? process.cwd();
      const target = await vscode.window.showSaveDialog({
        defaultUri: vscode.Uri.file(path.join(folder, name)),
        filters: EXPORT_FILTERS[msg.format],
        title: `BNN Lab: Save ${msg.format.toUpperCase()}`,
      });
      if (!target) return;
      const bytes =
        msg.format === 'png' ? Buffer.from(msg.data, 'base64') : new TextEncoder().encode(msg.data);
      await vscode.workspace.fs.writeFile(target, bytes);
      log.info(`dashboard: saved ${target.fsPath} (${bytes.length} bytes)`);
      void vscode.window.showInformationMessage(`BNN Lab: saved ${path.basename(target.fsPath)}.`);
    } catch (e) {
      reportError('dashboard export', e);
    }
  }

  private updateConnected(): void {
    for (const s of this.surfaces) s.feed.setConnected(s.ready && s.visible());
  }

  private disposeWatchers(): void {
    for (const w of this.folderWatchers) w.dispose();
    this.folderWatchers = [];
    this.watchedKey = '';
  }

  private disposeSurface(surface: Surface): void {
    for (const d of surface.disposables) d.dispose();
    surface.disposables.length = 0;
    surface.ready = false;
    surface.feed.dispose();
  }

  dispose(): void {
    this.stopFollowing();
    for (const s of this.surfaces) this.disposeSurface(s);
    this.view = undefined;
    this.panel?.panel.dispose();
    this.panel = undefined;
    this.disposeWatchers();
    for (const d of this.disposables) d.dispose();
  }
}

function commandId(command: Extract<ToHost, { kind: 'command' }>['command']): string | undefined {
  switch (command) {
    case 'train':
      return 'bnnLab.train';
    case 'stop':
      return 'bnnLab.stop';
    case 'showLog':
      return 'bnnLab.showLog';
    case 'openDashboard':
      return 'bnnLab.openDashboard';
    default: {
      const unknown: never = command;
      log.warn(`dashboard: ignored an unknown command ${previewMessage(unknown)}`);
      return undefined;
    }
  }
}
