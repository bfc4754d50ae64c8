/**
 * The "Dashboard" webview view in the BNN Lab activity-bar container. The host owns the data:
 * on `ready` the webview gets a full `snapshot` of the current run (or, after a window reload,
 * of the newest run folder on disk), then batched `records` and `status` changes.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { assertNever, isToHost, type ToHost, type ToWebview } from '../../core/protocol';
import { reportError } from '../commands';
import { DashboardFeed } from '../engine/dashboardFeed';
import type { EngineClient, RunEvent } from '../engine/EngineClient';
import { findNewestRunDir, readRun } from '../engine/runFolders';
import { log } from '../log';
import { dashboardHtml, makeNonce } from './dashboardHtml';

type Snapshot = Extract<ToWebview, { kind: 'snapshot' }>;

/** The only place that posts to a webview. */
export function postToWebview(webview: vscode.Webview, msg: ToWebview): void {
  // postMessage resolves false when the webview is gone; the next `ready` replays everything.
  void webview.postMessage(msg);
}

export class DashboardViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  static readonly viewType = 'bnnLab.dashboard';

  private view: vscode.WebviewView | undefined;
  private ready = false;
  private readonly feed: DashboardFeed;
  private readonly disposables: vscode.Disposable[] = [];
  private viewDisposables: vscode.Disposable[] = [];

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
      log.warn(`dashboard: ignored a message that is not a ToHost: ${preview(msg)}`);
      return;
    }
    switch (msg.kind) {
      case 'ready':
        this.ready = true;
        void this.sendSnapshot(); // sendSnapshot reports its own errors
        break;
      case 'command':
        void vscode.commands.executeCommand(commandId(msg.command)); // the command reports errors
        break;
      default:
        assertNever(msg);
    }
  }

  private onRunEvent(event: RunEvent): void {
    // Without a page there is nothing to keep up to date: its `ready` will get a full snapshot.
    if (!this.view) return;
    switch (event.kind) {
      case 'started':
        this.feed.sendSnapshot(this.liveSnapshot());
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

  /** Answers `ready`: the run of this window, else the newest run folder on disk. */
  private async sendSnapshot(): Promise<void> {
    try {
      if (this.engine.currentRun) {
        this.sendLive();
        return;
      }
      const stored = await this.readNewestRun();
      // A run may have started while the disk was read; it wins.
      if (this.engine.currentRun) {
        this.sendLive();
        return;
      }
      this.feed.sendSnapshot({
        kind: 'snapshot',
        run: stored?.snapshot,
        trusted: vscode.workspace.isTrusted,
      });
      if (stored?.interrupted) {
        this.feed.setStatus(
          stored.snapshot.runId,
          'failed',
          'This run did not finish: VS Code was closed or reloaded while it trained.',
        );
      }
    } catch (e) {
      reportError('dashboard', e);
    } finally {
      this.updateConnected();
    }
  }

  private sendLive(): void {
    const run = this.engine.currentRun;
    this.feed.sendSnapshot(this.liveSnapshot());
    if (run?.message !== undefined) this.feed.setStatus(run.runId, run.status, run.message);
  }

  /** A copy: queued `records` messages must not also appear inside a queued snapshot. */
  private liveSnapshot(): Snapshot {
    const run = this.engine.currentRun;
    return {
      kind: 'snapshot',
      run: run && { runId: run.runId, dir: run.dir, status: run.status, records: [...run.records] },
      trusted: vscode.workspace.isTrusted,
    };
  }

  private async readNewestRun() {
    const roots = (vscode.workspace.workspaceFolders ?? [])
      .filter((f) => f.uri.scheme === 'file')
      .map((f) => {
        const folder = vscode.workspace
          .getConfiguration('bnnLab', f.uri)
          .get<string>('runs.folder');
        return path.resolve(f.uri.fsPath, folder || '.bnn-lab/runs');
      });
    const dir = await findNewestRunDir(roots);
    if (!dir) return undefined;
    const stored = await readRun(dir);
    if (stored && stored.badLines > 0) {
      log.warn(`dashboard: skipped ${stored.badLines} unreadable line(s) of ${dir}/metrics.jsonl`);
    }
    return stored;
  }

  private updateConnected(): void {
    this.feed.setConnected(this.ready && this.view?.visible === true);
  }

  private disposeView(): void {
    for (const d of this.viewDisposables) d.dispose();
    this.viewDisposables = [];
    this.view = undefined;
    this.ready = false;
    this.feed.setConnected(false);
  }

  dispose(): void {
    this.disposeView();
    this.feed.dispose();
    for (const d of this.disposables) d.dispose();
  }
}

function commandId(command: Extract<ToHost, { kind: 'command' }>['command']): string {
  switch (command) {
    case 'train':
      return 'bnnLab.train';
    case 'stop':
      return 'bnnLab.stop';
    case 'showLog':
      return 'bnnLab.showLog';
    default:
      return assertNever(command);
  }
}

function preview(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    // Cyclic or otherwise unserializable: fall back to String().
  }
  text ??= String(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
