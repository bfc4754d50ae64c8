/**
 * The "Dashboard" webview view in the BNN Lab activity-bar container. The host owns the data:
 * on `ready` the webview gets a full `snapshot` of the run in view (a run opened from the Runs
 * view, else the current run, else after a window reload the newest run folder on disk), then
 * batched `records` and `status` changes, and a second run's records when comparing.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  assertNever,
  isToHost,
  type ExportFormat,
  type RunSnapshot,
  type ToHost,
  type ToWebview,
  previewMessage,
} from '../../core/protocol';
import { reportError } from '../commands';
import { comparisonRecords, DashboardFeed, thinSnapshotRecords } from '../engine/dashboardFeed';
import type { EngineClient, RunEvent } from '../engine/EngineClient';
import { isExternalRunInProgress, MetricsFollower } from '../engine/externalRun';
import { findNewestRunDir, readRun, skippedOf } from '../engine/runFolders';
import { log } from '../log';
import { runRoots } from '../views/RunsTreeProvider';
import { dashboardHtml, makeNonce } from './dashboardHtml';

type Snapshot = Extract<ToWebview, { kind: 'snapshot' }>;
type Comparison = Extract<ToWebview, { kind: 'comparison' }>;

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

export class DashboardViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  private lastRendered: RenderedReport | undefined;
  static readonly viewType = 'bnnLab.dashboard';

  private view: vscode.WebviewView | undefined;
  private ready = false;
  private readonly feed: DashboardFeed;
  private readonly disposables: vscode.Disposable[] = [];
  private viewDisposables: vscode.Disposable[] = [];
  /** A run opened from its folder (Runs view) that is not this window's current run. */
  private pinnedDir: string | undefined;
  /** The run overlaid for comparison, read once from its folder. */
  private comparison: Comparison | undefined;
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
    this.feed = new DashboardFeed({
      send: (msg) => {
        if (this.view) postToWebview(this.view.webview, msg);
      },
      snapshot: () => this.liveSnapshot(),
    });
    this.disposables.push(
      engine.onDidChangeRun((event) => this.onRunEvent(event)),
      vscode.workspace.onDidGrantWorkspaceTrust(() => void this.sendSnapshot()),
    );
  }

  /** What the panel last said it shows (`rendered`), for the extension's API. */
  get rendered(): RenderedReport | undefined {
    return this.lastRendered;
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.disposeView();
    this.view = view;
    this.ready = false;
    const root = vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview');
    view.webview.options = { enableScripts: true, localResourceRoots: [root] };
    view.webview.html = dashboardHtml({
      cspSource: view.webview.cspSource,
      scriptUri: view.webview.asWebviewUri(vscode.Uri.joinPath(root, 'main.js')).toString(),
      styleUri: view.webview.asWebviewUri(vscode.Uri.joinPath(root, 'main.css')).toString(),
      nonce: makeNonce(),
    });
    this.viewDisposables.push(
      view.webview.onDidReceiveMessage((msg: unknown) => this.onMessage(msg)),
      // Hidden views lose their page (no retainContextWhenHidden); the next `ready` replays.
      view.onDidChangeVisibility(() => this.updateConnected()),
      view.onDidDispose(() => {
        if (this.view === view) this.disposeView();
      }),
    );
  }

  private onMessage(msg: unknown): void {
    if (!isToHost(msg)) {
      log.warn(`dashboard: ignored a message that is not a ToHost: ${previewMessage(msg)}`);
      return;
    }
    switch (msg.kind) {
      case 'ready':
        this.ready = true;
        void this.sendSnapshot(); // sendSnapshot reports its own errors
        break;
      case 'command': {
        const id = commandId(msg.command);
        if (id) void vscode.commands.executeCommand(id); // the command reports errors
        break;
      }
      case 'clearComparison':
        this.clearComparison();
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
    }
    // Without a page there is nothing to keep up to date: its `ready` will get a full snapshot.
    if (!this.view) return;
    // Another run is open from its folder: the live one is not in view.
    if (this.pinnedDir !== undefined) return;
    switch (event.kind) {
      case 'started':
        this.sendSnapshotMessage(this.liveSnapshot());
        break;
      case 'record':
        this.feed.addRecord(event.run.runId, event.record);
        break;
      case 'ended':
        this.feed.setStatus(event.run.runId, event.end.status, event.end.message);
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
    await vscode.commands.executeCommand(`${DashboardViewProvider.viewType}.focus`);
    // A view resolved just now answers its own `ready`; an existing one is refreshed here.
    if (this.ready) await this.sendSnapshot();
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
        if (this.ready) void this.sendSnapshot(); // sendSnapshot reports its own errors
        return;
      }
      for (const record of records) this.feed.addRecord(runId, record);
      const done = follower.done;
      if (done) this.feed.setStatus(runId, done.status, done.message);
    });
    log.info(`dashboard: following ${dir}`);
    await this.openRun(dir);
  }

  private stopFollowing(): void {
    this.follower?.stop();
    this.follower = undefined;
  }

  /** Overlays the run in `dir` on the one in view (dashed loss and accuracy). */
  async compareWith(dir: string): Promise<void> {
    const live = this.engine.currentRun;
    let run: RunSnapshot | undefined;
    let skipped;
    if (live?.dir === dir) {
      run = {
        runId: live.runId,
        dir,
        status: live.status,
        records: comparisonRecords(live.records),
      };
    } else {
      const stored = await readRun(dir);
      if (!stored) throw new Error(`no metrics.jsonl in ${dir}`);
      run = { ...stored.snapshot, records: comparisonRecords(stored.snapshot.records) };
      skipped = skippedOf(stored);
    }
    this.comparison = { kind: 'comparison', run, skipped };
    this.missing.delete(dir);
    await vscode.commands.executeCommand(`${DashboardViewProvider.viewType}.focus`);
    this.feed.send(this.comparison);
    this.watchFolders();
  }

  /** The folder of the run in view, if any (for "Compare With…"). */
  get dirInView(): string | undefined {
    return this.pinnedDir ?? this.engine.currentRun?.dir ?? this.newestDir;
  }
  private newestDir: string | undefined;

  private clearComparison(): void {
    this.comparison = undefined;
    this.feed.send({ kind: 'comparison', run: undefined });
    this.watchFolders();
  }

  /** A snapshot, then what must follow every snapshot: the comparison and deleted folders. */
  private sendSnapshotMessage(msg: Snapshot): void {
    this.feed.sendSnapshot(msg);
    if (this.comparison) this.feed.send(this.comparison);
    for (const [dir, runId] of this.missing) this.feed.send({ kind: 'runMissing', runId, dir });
    this.watchFolders();
  }

  /** Answers `ready`: the pinned run, else the run of this window, else the newest on disk. */
  private async sendSnapshot(): Promise<void> {
    try {
      if (this.pinnedDir !== undefined && this.follower?.dir === this.pinnedDir) {
        const run = this.follower.snapshot();
        this.sendSnapshotMessage({
          kind: 'snapshot',
          run: { ...run, records: thinSnapshotRecords(run.records) },
          trusted: vscode.workspace.isTrusted,
          skipped: this.follower.skipped,
        });
        return;
      }
      if (this.pinnedDir !== undefined) {
        await this.sendStored(this.pinnedDir);
        return;
      }
      if (this.engine.currentRun) {
        this.sendLive();
        return;
      }
      const dir = await findNewestRunDir(runRoots());
      // A run may have started while the disk was read; it wins.
      if (this.engine.currentRun) {
        this.sendLive();
        return;
      }
      if (dir) {
        this.newestDir = dir;
        await this.sendStored(dir);
        return;
      }
      this.sendSnapshotMessage({
        kind: 'snapshot',
        run: undefined,
        trusted: vscode.workspace.isTrusted,
      });
    } catch (e) {
      reportError('dashboard', e);
    } finally {
      this.updateConnected();
    }
  }

  /** Sends a run read from its folder; a folder that is gone is shown as such, not as blank. */
  private async sendStored(dir: string): Promise<void> {
    const stored = await readRun(dir);
    if (!stored) {
      const runId = path.basename(dir);
      this.missing.set(dir, runId);
      this.sendSnapshotMessage({
        kind: 'snapshot',
        run: { runId, dir, status: 'failed', records: [] },
        trusted: vscode.workspace.isTrusted,
      });
      return;
    }
    if (stored.badLines > 0 || stored.truncatedLastLine) {
      log.warn(
        `dashboard: ${dir}/metrics.jsonl: skipped ${stored.badLines} unreadable line(s)` +
          (stored.truncatedLastLine ? ' and a cut-off last line' : ''),
      );
    }
    this.missing.delete(dir);
    this.sendSnapshotMessage({
      kind: 'snapshot',
      run: { ...stored.snapshot, records: thinSnapshotRecords(stored.snapshot.records) },
      trusted: vscode.workspace.isTrusted,
      skipped: skippedOf(stored),
    });
    if (stored.interrupted) {
      this.feed.setStatus(
        stored.snapshot.runId,
        'failed',
        'This run did not finish: VS Code was closed or reloaded while it trained.',
      );
    }
  }

  private sendLive(): void {
    const run = this.engine.currentRun;
    this.sendSnapshotMessage(this.liveSnapshot());
    if (run?.message !== undefined) this.feed.setStatus(run.runId, run.status, run.message);
  }

  /** A copy: queued `records` messages must not also appear inside a queued snapshot. */
  private liveSnapshot(): Snapshot {
    const run = this.engine.currentRun;
    return {
      kind: 'snapshot',
      run: run && {
        runId: run.runId,
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
    const compared = this.comparison?.run;
    if (compared) inView.push([compared.dir, compared.runId]);
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
        const runId = this.comparison?.run?.dir === folder ? this.comparison.run.runId : fallbackId;
        log.warn(`dashboard: run folder ${folder} was deleted while open`);
        this.missing.set(folder, runId);
        this.feed.send({ kind: 'runMissing', runId, dir: folder });
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
    this.feed.setConnected(this.ready && this.view?.visible === true);
  }

  private disposeWatchers(): void {
    for (const w of this.folderWatchers) w.dispose();
    this.folderWatchers = [];
    this.watchedKey = '';
  }

  private disposeView(): void {
    for (const d of this.viewDisposables) d.dispose();
    this.viewDisposables = [];
    this.view = undefined;
    this.ready = false;
    this.feed.setConnected(false);
  }

  dispose(): void {
    this.stopFollowing();
    this.disposeView();
    this.disposeWatchers();
    this.feed.dispose();
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
    default: {
      const unknown: never = command;
      log.warn(`dashboard: ignored an unknown command ${previewMessage(unknown)}`);
      return undefined;
    }
  }
}
