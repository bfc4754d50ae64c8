/**
 * The "Runs" tree in the BNN Lab side bar: every run folder of the workspace (newest first) with
 * a status icon and its test accuracy. Clicking a run opens it in the dashboard from its folder;
 * "Compare With…" overlays a second run. The list follows the disk (file system watchers on the
 * runs folders) and the engine (a run starting, ending, finishing an epoch).
 */
import * as vscode from 'vscode';
import type { EngineClient } from '../engine/EngineClient';
import { listRunDirs, readRunSummary, type RunSummary } from '../engine/runFolders';
import { formatPercent, formatRunFacts } from '../../core/format';
import { runNameOf } from './runNames';
import { log } from '../log';
import { workspaceRunsRoots } from '../settings';

/** One run in the tree; `live` when this window's engine is training it right now. */
export interface RunItem {
  summary: RunSummary;
  /** Its label or config file's name (runNames.ts); the run id when it has neither. */
  name?: string;
  live: boolean;
  /** Step reached, for a live run. */
  step?: number;
  totalSteps?: number;
}

/** Icon, description and tooltip of a run (pure but for the vscode value types). */
export function describeRun(item: RunItem): {
  icon: vscode.ThemeIcon;
  description: string;
  tooltip: string;
} {
  const { summary } = item;
  const acc = summary.testAccuracy;
  const accText = acc === null ? '' : `test ${formatPercent(acc)}`;
  const color = (id: string) => new vscode.ThemeColor(id);
  let icon: vscode.ThemeIcon;
  let state: string;
  if (item.live) {
    icon = new vscode.ThemeIcon('sync~spin', color('charts.blue'));
    state =
      item.step !== undefined && item.totalSteps
        ? `training · step ${item.step}/${item.totalSteps}`
        : 'training';
  } else {
    switch (summary.status) {
      case 'completed':
        icon = new vscode.ThemeIcon('pass', color('testing.iconPassed'));
        state = '';
        break;
      case 'cancelled':
        icon = new vscode.ThemeIcon('circle-slash', color('descriptionForeground'));
        state = 'cancelled';
        break;
      case 'failed':
        icon = new vscode.ThemeIcon('error', color('testing.iconFailed'));
        state = 'failed';
        break;
      default:
        icon = new vscode.ThemeIcon('warning', color('list.warningForeground'));
        state = 'did not finish';
    }
  }
  const facts = formatRunFacts(summary.config, summary.preset);
  // The row's label already names the preset when the run has no name of its own.
  const named = item.name !== undefined && item.name !== summary.runId;
  const shortFacts = summary.config
    ? formatRunFacts({ ...summary.config, preset: named ? summary.config.preset : '' })
    : '';
  const description = [accText, state, shortFacts].filter((s) => s !== '').join(' · ');
  const started =
    summary.startTime !== undefined ? new Date(summary.startTime).toLocaleString() : 'unknown';
  const tooltip = [
    ...(item.name && item.name !== summary.runId ? [item.name] : []),
    `${summary.runId}${summary.preset ? ` (${summary.preset})` : ''}`,
    ...(summary.config ? [facts] : []),
    `Status: ${item.live ? 'training' : summary.status}`,
    `Test accuracy: ${acc === null ? 'not evaluated' : formatPercent(acc)}`,
    `Epochs evaluated: ${summary.epochs}`,
    `Started: ${started}`,
    summary.dir,
  ].join('\n');
  return { icon, description, tooltip };
}

/** The run's row label: `lr-sweep · <run id>` (its name), else `mnist-cnn · <run id>`. */
export function runLabel(item: RunItem): string {
  const { summary } = item;
  const name = item.name && item.name !== summary.runId ? item.name : summary.preset;
  return name ? `${name} · ${summary.runId}` : summary.runId;
}

export class RunsTreeProvider implements vscode.TreeDataProvider<RunItem>, vscode.Disposable {
  static readonly viewId = 'bnnLab.runs';

  private readonly changed = new vscode.EventEmitter<RunItem | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly disposables: vscode.Disposable[] = [];
  private watchers: vscode.Disposable[] = [];
  private refreshTimer: NodeJS.Timeout | undefined;
  private items: RunItem[] = [];

  constructor(private readonly engine: EngineClient) {
    this.disposables.push(
      this.changed,
      engine.onDidChangeRun((event) => {
        // Records arrive many times a second; only epochs change what the tree shows.
        if (event.kind !== 'record' || event.record.event === 'epoch') this.refreshSoon();
      }),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.rewatch()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('bnnLab.runs.folder')) this.rewatch();
      }),
    );
    this.rewatch();
  }

  /** The runs as last listed (for "Compare With…"). */
  get runs(): readonly RunItem[] {
    return this.items;
  }

  refresh(): void {
    this.changed.fire(undefined);
  }

  /** Coalesces bursts (a run folder being written, deleted recursively) into one refresh. */
  private refreshSoon(): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.refresh(), 300);
  }

  private rewatch(): void {
    for (const w of this.watchers) w.dispose();
    this.watchers = [];
    for (const root of workspaceRunsRoots()) {
      const base = vscode.Uri.file(root);
      // Run folders appearing or disappearing, and their metrics.jsonl changing.
      for (const glob of ['*', '*/metrics.jsonl']) {
        const watcher = vscode.workspace.createFileSystemWatcher(
          new vscode.RelativePattern(base, glob),
        );
        watcher.onDidCreate(() => this.refreshSoon());
        watcher.onDidDelete(() => this.refreshSoon());
        if (glob !== '*') watcher.onDidChange(() => this.refreshSoon());
        this.watchers.push(watcher);
      }
    }
    this.refresh();
  }

  async getChildren(element?: RunItem): Promise<RunItem[]> {
    if (element) return [];
    const live = this.engine.currentRun;
    const dirs = await listRunDirs(workspaceRunsRoots());
    const items: RunItem[] = [];
    for (const dir of dirs) {
      try {
        const summary = await readRunSummary(dir);
        const isLive = live?.dir === dir && live.status === 'running';
        const item: RunItem = { summary, live: isLive, name: runNameOf(dir, summary.runId) };
        if (isLive) {
          const last = live.records.at(-1);
          item.step = last && 'step' in last ? last.step : undefined;
          const start = live.records.find((r) => r.event === 'start');
          item.totalSteps = start?.event === 'start' ? start.totalSteps : undefined;
        }
        items.push(item);
      } catch (e) {
        // Deleted between listing and reading, or unreadable: leave it out of the list.
        log.warn(`runs view: cannot read ${dir}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    this.items = items;
    return items;
  }

  getTreeItem(item: RunItem): vscode.TreeItem {
    const { summary } = item;
    const label = runLabel(item);
    const tree = new vscode.TreeItem(label, vscode.TreeItemCollapsibleState.None);
    const { icon, description, tooltip } = describeRun(item);
    tree.id = summary.dir;
    tree.iconPath = icon;
    tree.description = description;
    tree.tooltip = tooltip;
    tree.resourceUri = vscode.Uri.file(summary.dir);
    tree.contextValue = item.live ? 'bnnLab.run.live' : 'bnnLab.run';
    tree.command = {
      command: 'bnnLab.openRun',
      title: 'Open in Dashboard',
      arguments: [summary.dir],
    };
    return tree;
  }

  dispose(): void {
    clearTimeout(this.refreshTimer);
    for (const w of this.watchers) w.dispose();
    for (const d of this.disposables) d.dispose();
  }
}
