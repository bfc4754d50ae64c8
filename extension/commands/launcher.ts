/**
 * The run launcher shared by "Train BNN" and the fine-tune: the workspace checks (trust, a folder
 * to write in), stopping the active run, the run folder, the engine start, the dashboard, the
 * progress toast (Cancel and "Open Dashboard") and the report of how the run ended.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { FinetuneOptions, MetricsRecord, TrainConfig } from '../../core/protocol';
import type { EngineClient } from '../engine/EngineClient';
import { createRunDir } from '../engine/runFolders';
import { advance, EMPTY_PROGRESS, progressMessage } from '../engine/runProgress';
import type { RunEnd } from '../engine/workerHost';
import { reportError, showErrorWithLog } from '../errors';
import { log } from '../log';
import type { DashboardViewProvider } from '../panels/DashboardViewProvider';
import { engineBackend, engineThreads, runsRoot } from '../settings';
import type { RunsTreeProvider } from '../views/RunsTreeProvider';
import { writeRunLabel } from '../views/runNames';

/** What every command handler may use. */
export interface Ctx {
  engine: EngineClient;
  dashboard: DashboardViewProvider;
  runs: RunsTreeProvider;
}

/**
 * Training and fine-tuning need a trusted workspace with a folder to write runs in; otherwise
 * says so with the action that fixes it. @returns the workspace's file folders, or undefined.
 */
export async function ensureTrainableWorkspace(
  what: string,
): Promise<readonly vscode.WorkspaceFolder[] | undefined> {
  if (!vscode.workspace.isTrusted) {
    const choice = await vscode.window.showWarningMessage(
      `BNN Lab: to ${what}, BNN Lab runs code on your data and writes run folders, so it needs a trusted workspace. Viewing runs works in Restricted Mode.`,
      'Manage Workspace Trust',
    );
    if (choice) await vscode.commands.executeCommand('workbench.trust.manage');
    return undefined;
  }
  const folders = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file');
  if (folders.length === 0) {
    const choice = await vscode.window.showWarningMessage(
      `BNN Lab: open a folder to ${what}. Each run is saved in the folder, under .bnn-lab/runs.`,
      'Open Folder…',
    );
    if (choice) await vscode.commands.executeCommand('workbench.action.files.openFolder');
    return undefined;
  }
  return folders;
}

/**
 * The engine runs one job at a time: asks before stopping the active one.
 * @returns false when the user kept the active run.
 */
export async function stopActiveRunFor(ctx: Ctx, next: string): Promise<boolean> {
  if (!ctx.engine.isRunning) return true;
  const running = ctx.engine.currentRun?.runId ?? 'a run';
  const choice = await vscode.window.showWarningMessage(
    `BNN Lab: ${running} is still running. Stop it and ${next}?`,
    { modal: true },
    'Stop and Continue',
  );
  if (choice !== 'Stop and Continue') return false;
  await ctx.engine.cancel();
  return true;
}

/** A run to start, as a command resolved it. */
export interface Launch {
  /** The command that launches it, for the log and unexpected errors. */
  command: string;
  /** What the run does, after "Stop it and …": `train mnist-cnn`. */
  what: string;
  /** The workspace folder whose runs folder receives the run. */
  folder: vscode.WorkspaceFolder;
  /** The run folder's name before its timestamp: `mnist-cnn`, `mnist-cnn-finetune-lns`. */
  name: string;
  /**
   * The run config file, relative to the workspace folder, when the run came from one: the run is
   * named after it in the Runs view and legends (views/runNames.ts).
   */
  configFile?: string;
  /** The run itself: a resolved config, or a fine-tune of a checkpoint. */
  job: { config: TrainConfig } | { finetune: FinetuneOptions };
  /** The notification of a completed run (with "Open Run Folder"). */
  completedMessage(runId: string, records: readonly MetricsRecord[]): string;
  /** The notification of a failed run, from the engine's message. */
  failedMessage(message: string): string;
}

/**
 * Starts a launch: asks before stopping the active run, creates the run folder, starts the
 * engine, brings the dashboard to front and follows the run with a progress toast; the end is
 * reported once, whatever happens. Returns once the run has started (or was not).
 * @returns the run folder, or undefined when the user kept the active run.
 */
export async function launchRun(ctx: Ctx, launch: Launch): Promise<string | undefined> {
  const scope = launch.folder.uri;
  // Settings first: a bad one stops the launch before a run folder exists.
  const backend = engineBackend(scope);
  const threads = engineThreads(scope);
  const root = runsRoot(launch.folder);
  if (!(await stopActiveRunFor(ctx, launch.what))) return undefined;
  const runDir = await createRunDir(root, launch.name, new Date());
  const runId = path.basename(runDir);
  if (launch.configFile) writeRunLabel(runDir, { configFile: launch.configFile });
  log.info(
    `run ${runId}: ${launch.what} on backend ${backend}, ${threads} thread(s), in ${runDir}: ${JSON.stringify(launch.job)}`,
  );
  const ended = ctx.engine.startRun({ runId, runDir, backend, threads, ...launch.job });
  // The run is what the user asked to see: the dashboard tab comes to front, focus stays.
  ctx.dashboard.showPanel(true);
  showProgress(ctx, runId, ended);
  // reportEnd handles every outcome itself (its own errors included).
  void reportEnd(ctx, launch, runDir, ended);
  return runDir;
}

const OPEN_DASHBOARD_LINK = '[Open Dashboard](command:bnnLab.openDashboard)';

/** A cancellable notification that follows the run until it ends. */
function showProgress(ctx: Ctx, runId: string, ended: Promise<RunEnd>): void {
  const options = {
    location: vscode.ProgressLocation.Notification,
    title: `BNN Lab: ${runId}`,
    cancellable: true,
  };
  // withProgress resolves when `ended` does, which never rejects.
  void vscode.window.withProgress(options, async (progress, token) => {
    let state = EMPTY_PROGRESS;
    // Notifications render Markdown links: the toast's way back to the dashboard tab.
    const message = (): string => `${progressMessage(state)} · ${OPEN_DASHBOARD_LINK}`;
    progress.report({ message: message() });
    const cancelSub = token.onCancellationRequested(() => {
      log.info(`run ${runId}: cancel requested from the notification`);
      void ctx.engine.cancel(); // the end is reported by reportEnd
    });
    const recordSub = ctx.engine.onDidChangeRun((event) => {
      if (event.kind !== 'record' || event.run.runId !== runId) return;
      const before = state.fraction;
      state = advance(state, event.record);
      progress.report({
        increment: Math.max(0, (state.fraction - before) * 100),
        message: message(),
      });
    });
    try {
      await ended;
    } finally {
      cancelSub.dispose();
      recordSub.dispose();
    }
  });
}

/**
 * Tells the user how the run ended: the launch's message on success, an error on failure, nothing
 * on cancel. Never rejects: an error while reporting is itself reported.
 */
async function reportEnd(
  ctx: Ctx,
  launch: Launch,
  runDir: string,
  ended: Promise<RunEnd>,
): Promise<void> {
  try {
    const end = await ended;
    switch (end.status) {
      case 'completed': {
        const records =
          ctx.engine.currentRun?.runId === end.runId ? ctx.engine.currentRun.records : [];
        const choice = await vscode.window.showInformationMessage(
          launch.completedMessage(end.runId, records),
          'Open Run Folder',
        );
        if (choice) await revealRunFolder(vscode.Uri.file(runDir));
        break;
      }
      case 'cancelled':
        break;
      case 'failed':
        await showErrorWithLog(launch.failedMessage(end.message ?? 'unknown error'));
        break;
    }
  } catch (e) {
    reportError(launch.command, e);
  }
}

async function revealRunFolder(uri: vscode.Uri): Promise<void> {
  if (vscode.workspace.getWorkspaceFolder(uri)) {
    await vscode.commands.executeCommand('revealInExplorer', uri);
  } else {
    await vscode.commands.executeCommand('revealFileInOS', uri);
  }
}
