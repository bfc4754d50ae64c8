/**
 * The status-bar item of the current run: epoch/step, loss and backend while it trains, the
 * outcome afterwards. The tooltip says which backend runs and why the others were skipped;
 * a click opens the dashboard.
 */
import * as vscode from 'vscode';
import type { EngineClient, RunEvent } from './EngineClient';
import {
  advance,
  backendLines,
  EMPTY_PROGRESS,
  finalTestAccuracy,
  formatPercent,
  statusBarText,
  type RunProgress,
} from './runProgress';

export class RunStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly subscription: vscode.Disposable;
  private progress: RunProgress = EMPTY_PROGRESS;

  constructor(engine: EngineClient) {
    this.item = vscode.window.createStatusBarItem('bnnLab.run', vscode.StatusBarAlignment.Left, 10);
    this.item.name = 'BNN Lab Training';
    this.item.command = 'bnnLab.openDashboard';
    this.subscription = engine.onDidChangeRun((event) => this.update(event));
  }

  private update(event: RunEvent): void {
    switch (event.kind) {
      case 'started':
        this.progress = EMPTY_PROGRESS;
        this.item.text = '$(sync~spin) BNN starting…';
        this.item.tooltip = tooltip(event.run.runId, this.progress, 'starting');
        this.item.show();
        break;
      case 'record':
        this.progress = advance(this.progress, event.record);
        this.item.text = `$(sync~spin) BNN ${statusBarText(this.progress)}`;
        this.item.tooltip = tooltip(event.run.runId, this.progress, 'running');
        break;
      case 'ended': {
        const { status } = event.end;
        const accuracy = finalTestAccuracy(event.run.records);
        const icon = { completed: '$(check)', cancelled: '$(circle-slash)', failed: '$(error)' }[
          status
        ];
        const detail =
          status === 'completed' && accuracy !== null
            ? ` · test acc ${formatPercent(accuracy)}`
            : '';
        this.item.text = `${icon} BNN ${status}${detail}`;
        this.item.tooltip = tooltip(event.run.runId, this.progress, status, event.end.message);
        break;
      }
    }
  }

  dispose(): void {
    this.subscription.dispose();
    this.item.dispose();
  }
}

function tooltip(
  runId: string,
  progress: RunProgress,
  status: string,
  message?: string,
): vscode.MarkdownString {
  const md = new vscode.MarkdownString();
  md.appendMarkdown('**BNN Lab**: run ');
  md.appendText(`${runId} (${status})`);
  if (message) md.appendText(`\n${message}`);
  if (progress.start) {
    md.appendMarkdown('\n\n');
    for (const line of backendLines(progress.start.backend)) {
      md.appendMarkdown('- ');
      md.appendText(line);
      md.appendMarkdown('\n');
    }
  }
  md.appendMarkdown('\n\nClick to open the dashboard.');
  return md;
}
