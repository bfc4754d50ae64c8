/**
 * One small function per contributed command, plus the wrapper that catches errors once per
 * entry point: full stack to the log, one short notification with a **Show Log** action.
 */
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { listPresets } from '../core/bnn/presetCatalog';
import { CancelledError, UserError } from '../core/errors';
import { threadCountProblem } from '../core/parallel/shards';
import type { BackendPreference, TrainConfig } from '../core/protocol';
import { parseConfigFile, resolveConfig } from '../core/training/config';
import { FILE_CAPS, readBoundedText } from '../core/io/boundedFile';
import type { EngineClient } from './engine/EngineClient';
import { createRunDir } from './engine/runFolders';
import {
  advance,
  EMPTY_PROGRESS,
  finalTestAccuracy,
  formatPercent,
  progressMessage,
} from './engine/runProgress';
import type { RunEnd } from './engine/workerHost';
import { FINETUNE_COMMAND, finetuneCheckpoint } from './finetuneCommand';
import { log } from './log';
import type { DashboardViewProvider } from './panels/DashboardViewProvider';
import { DEPRECATED_EVERY_STEPS, METRICS_EVERY_STEPS, readRenamedSetting } from './renamedSetting';
import type { RunItem, RunsTreeProvider } from './views/RunsTreeProvider';
import { compareRuns, labelRun } from './views/compareRuns';
import { writeRunLabel } from './views/runNames';

export interface Ctx {
  engine: EngineClient;
  dashboard: DashboardViewProvider;
  runs: RunsTreeProvider;
}

type Cmd = (...args: unknown[]) => unknown;

/** Every command the extension contributes, by id. */
export const COMMANDS: Record<string, (ctx: Ctx) => Cmd> = {
  'bnnLab.train': (ctx) => (arg) => train(ctx, arg),
  'bnnLab.stop': (ctx) => () => stop(ctx),
  'bnnLab.openDashboard': (ctx) => () => ctx.dashboard.showPanel(),
  'bnnLab.showLog': () => () => log.show(),
  'bnnLab.openRun': (ctx) => (arg) => openRun(ctx, arg),
  'bnnLab.compareRun': (ctx) => (arg) => compareRun(ctx, arg),
  'bnnLab.compareRuns': (ctx) => (arg) => compareRuns(ctx.runs, ctx.dashboard, runDirOf(arg)),
  'bnnLab.labelRun': (ctx) => (arg) => labelRun(ctx.runs, ctx.dashboard, runDirOf(arg)),
  'bnnLab.refreshRuns': (ctx) => () => ctx.runs.refresh(),
  [FINETUNE_COMMAND]: (ctx) => (arg) => finetuneCheckpoint(ctx, arg),
};

/** Registers every command of `COMMANDS` behind the error wrapper. */
export function registerCommands(ctx: Ctx): vscode.Disposable[] {
  return Object.entries(COMMANDS).map(([id, factory]) => registerCommand(id, factory(ctx)));
}

/** `registerCommand` that reports what the command throws instead of letting VS Code drop it. */
export function registerCommand(id: string, cmd: Cmd): vscode.Disposable {
  return vscode.commands.registerCommand(id, async (...args: unknown[]) => {
    try {
      return await cmd(...args);
    } catch (e) {
      reportError(id, e);
      return undefined;
    }
  });
}

/** The one place that turns an error into a notification. A user cancel is not an error. */
export function reportError(where: string, e: unknown): void {
  if (e instanceof CancelledError || e instanceof vscode.CancellationError) {
    log.info(`${where}: cancelled`);
    return;
  }
  log.error(`${where} failed`, e);
  const message =
    e instanceof UserError
      ? e.message
      : `BNN Lab: ${where} failed: ${e instanceof Error ? e.message : String(e)}`;
  void showErrorWithLog(message);
}

/** An error notification with a **Show Log** action; resolves once the user answered. */
export async function showErrorWithLog(message: string): Promise<void> {
  const choice = await vscode.window.showErrorMessage(message, 'Show Log');
  if (choice === 'Show Log') log.show();
}

/** A run folder from a Runs view item, a path, or a URI (commands may be run with any). */
function runDirOf(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  if (arg instanceof vscode.Uri) return arg.fsPath;
  const item = arg as Partial<RunItem> | undefined;
  return typeof item?.summary?.dir === 'string' ? item.summary.dir : undefined;
}

async function pickRun(ctx: Ctx, title: string, exclude?: string): Promise<string | undefined> {
  await ctx.runs.getChildren();
  const picks = ctx.runs.runs
    .filter((r) => r.summary.dir !== exclude)
    .map((r) => ({
      label: r.summary.preset ? `${r.summary.preset} · ${r.summary.runId}` : r.summary.runId,
      description:
        r.summary.testAccuracy === null
          ? r.summary.status
          : `test ${formatPercent(r.summary.testAccuracy)}`,
      detail: r.summary.dir,
      dir: r.summary.dir,
    }));
  if (picks.length === 0) {
    void vscode.window.showInformationMessage(
      'BNN Lab: no other run in this workspace. Train one with "BNN Lab: Train BNN".',
    );
    return undefined;
  }
  return (await vscode.window.showQuickPick(picks, { title, matchOnDetail: true }))?.dir;
}

async function openRun(ctx: Ctx, arg: unknown): Promise<void> {
  const dir = runDirOf(arg) ?? (await pickRun(ctx, 'BNN Lab: Open Run'));
  if (dir) await ctx.dashboard.openRun(dir);
}

/** "Compare With…" on a run: opens it and overlays the run picked next. */
async function compareRun(ctx: Ctx, arg: unknown): Promise<void> {
  const base = runDirOf(arg) ?? ctx.dashboard.dirInView;
  const other = await pickRun(
    ctx,
    `BNN Lab: Compare ${base ? path.basename(base) : 'the run in view'} With…`,
    base,
  );
  if (!other) return;
  if (base && base !== ctx.dashboard.dirInView) await ctx.dashboard.openRun(base);
  await ctx.dashboard.compareWith(other);
}

async function stop(ctx: Ctx): Promise<void> {
  const ended = ctx.engine.cancel();
  if (!ended) {
    void vscode.window.showInformationMessage('BNN Lab: no training run is active.');
    return;
  }
  await ended;
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

/** The folder runs are written to (`bnnLab.runs.folder`, relative to the workspace folder). */
export function runsRootFor(folder: vscode.WorkspaceFolder): string {
  const settings = vscode.workspace.getConfiguration('bnnLab', folder.uri);
  return path.resolve(folder.uri.fsPath, settings.get<string>('runs.folder') || '.bnn-lab/runs');
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

/**
 * `bnnLab.train`: asks for a preset or run config, or takes it from its argument: a `*.bnn.json`
 * Uri (Explorer and editor menus) or a run config object such as `{ "preset": "mnist-cnn",
 * "epochs": 2 }` (keybindings, tasks, tests).
 */
async function train(ctx: Ctx, arg?: unknown): Promise<void> {
  const folders = await ensureTrainableWorkspace('train');
  if (!folders) return;
  const picked = trainArgument(arg) ?? (await pickRunConfig());
  if (!picked) return;
  const { config, folder } = await loadRunConfig(picked, folders);
  if (!folder) return;
  if (!(await stopActiveRunFor(ctx, `train ${config.preset}`))) return;

  const settings = vscode.workspace.getConfiguration('bnnLab', folder.uri);
  const threads = engineThreads(settings);
  const runDir = await createRunDir(runsRootFor(folder), config.preset, new Date());
  const runId = path.basename(runDir);
  // The run is named after its config file in the Runs view and legends (views/runNames.ts).
  if ('file' in picked) {
    writeRunLabel(runDir, { configFile: path.relative(folder.uri.fsPath, picked.file.fsPath) });
  }
  const backend = settings.get<BackendPreference>('engine.backend', 'auto');
  log.info(`run ${runId}: ${config.preset} on backend ${backend} in ${runDir}`);
  const ended = ctx.engine.startRun({ runId, config, runDir, backend, threads });
  // The run is what the user asked to see: the dashboard tab comes to front, focus stays.
  ctx.dashboard.showPanel(true);
  showProgress(ctx, runId, ended);
  // reportEnd handles every outcome itself; the command returns once the run has started.
  void reportEnd(ctx, runDir, ended);
}

/**
 * `bnnLab.engine.threads`: data-parallel threads of a training run; unset means one per core.
 * @throws UserError naming the setting when the value is not 1..cores.
 */
export function engineThreads(settings: vscode.WorkspaceConfiguration): number {
  const cores = availableParallelism();
  const value = settings.get<number | null>('engine.threads', null);
  if (value === null || value === undefined) return cores;
  const problem = threadCountProblem(value, cores);
  if (problem) {
    throw new UserError(
      `bnnLab.engine.threads: ${problem}; or remove the setting to use every core`,
    );
  }
  return value;
}

type ConfigPick = vscode.QuickPickItem &
  ({ preset: string; fields?: Record<string, unknown> } | { file: vscode.Uri });

/** A `bnnLab.train` argument as a pick. @throws UserError for an argument it cannot use. */
function trainArgument(arg: unknown): ConfigPick | undefined {
  if (arg === undefined || arg === null) return undefined;
  if (arg instanceof vscode.Uri) return { label: path.basename(arg.fsPath), file: arg };
  if (typeof arg === 'object' && typeof (arg as { preset?: unknown }).preset === 'string') {
    const fields = arg as Record<string, unknown>;
    return { label: String(fields.preset), preset: String(fields.preset), fields };
  }
  throw new UserError(
    'bnnLab.train takes a *.bnn.json file or a run config object with a "preset" field, e.g. { "preset": "mnist-cnn", "epochs": 2 }',
  );
}

async function pickRunConfig(): Promise<ConfigPick | undefined> {
  const items = async (): Promise<(ConfigPick | vscode.QuickPickItem)[]> => {
    const presets = listPresets().map((p) => ({
      label: `$(beaker) ${p.name}`,
      description: 'preset',
      detail: p.description,
      preset: p.name,
    }));
    const files = await vscode.workspace.findFiles('**/*.bnn.json', '**/node_modules/**', 500);
    files.sort((a, b) => a.fsPath.localeCompare(b.fsPath));
    const fileItems = files.map((file) => ({
      label: `$(file) ${path.basename(file.fsPath)}`,
      description: vscode.workspace.asRelativePath(file),
      file,
    }));
    const separator = (label: string) => ({ label, kind: vscode.QuickPickItemKind.Separator });
    return [
      separator('Presets'),
      ...presets,
      ...(fileItems.length > 0 ? [separator('Run configs (*.bnn.json)'), ...fileItems] : []),
    ];
  };
  const picked = await vscode.window.showQuickPick(items(), {
    title: 'BNN Lab: Train BNN',
    placeHolder: 'Pick a preset or a *.bnn.json run config',
    matchOnDescription: true,
  });
  return picked && ('preset' in picked || 'file' in picked) ? (picked as ConfigPick) : undefined;
}

/**
 * Resolves the picked preset or file into a config, with the `bnnLab.*` settings as defaults
 * under the file's own values. @throws ConfigError naming the file (or settings) and the field.
 */
async function loadRunConfig(
  picked: ConfigPick,
  folders: readonly vscode.WorkspaceFolder[],
): Promise<{ config: TrainConfig; folder: vscode.WorkspaceFolder | undefined }> {
  if ('preset' in picked) {
    const folder =
      folders.length === 1
        ? folders[0]
        : await vscode.window.showWorkspaceFolderPick({ placeHolder: 'Folder to save the run in' });
    const scope = folder?.uri;
    return {
      config: picked.fields
        ? resolveConfig(
            { ...settingDefaults(scope), ...picked.fields },
            'the bnnLab.train argument',
          )
        : resolveConfig({ preset: picked.preset, ...settingDefaults(scope) }, 'settings'),
      folder,
    };
  }
  const file = picked.file;
  const source = vscode.workspace.asRelativePath(file);
  // An open editor may hold unsaved edits: train what the user sees.
  const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === file.toString());
  const text = open
    ? open.getText()
    : file.scheme === 'file'
      ? await readBoundedText(file.fsPath, { what: 'run config', maxBytes: FILE_CAPS.config })
      : new TextDecoder().decode(await vscode.workspace.fs.readFile(file));
  parseConfigFile(text, source); // validates, so the file's own errors name the file
  const defaults = settingDefaults(file);
  const raw = JSON.parse(text) as Record<string, unknown>;
  const config = resolveConfig({ ...defaults, ...raw }, source);
  const datasetPath = config.dataset.path;
  if (datasetPath !== undefined && !path.isAbsolute(datasetPath)) {
    // Relative dataset folders are relative to the config file, not to the worker's cwd.
    config.dataset = {
      ...config.dataset,
      path: path.resolve(path.dirname(file.fsPath), datasetPath),
    };
  }
  return { config, folder: vscode.workspace.getWorkspaceFolder(file) ?? folders[0] };
}

/** The telemetry settings, validated, as run-config fields. */
function settingDefaults(scope: vscode.Uri | undefined): Partial<TrainConfig> {
  const s = vscode.workspace.getConfiguration('bnnLab', scope);
  const every = readRenamedSetting(
    METRICS_EVERY_STEPS,
    s.inspect<number>(METRICS_EVERY_STEPS),
    DEPRECATED_EVERY_STEPS,
    s.inspect<number>(DEPRECATED_EVERY_STEPS),
    10,
  );
  if (every.deprecatedIn) {
    log.warn(
      `bnnLab.${DEPRECATED_EVERY_STEPS} (in your ${every.deprecatedIn}) is deprecated: rename it to bnnLab.${METRICS_EVERY_STEPS}; its value ${every.value} is used until then`,
    );
  }
  const values = {
    telemetryEverySteps: every.value,
    histogramBins: s.get<number>('metrics.histogramBins', 64),
    deadTau: s.get<number>('metrics.deadTau', 0.99),
  };
  const checked = resolveConfig(
    values,
    `settings (bnnLab.${every.key}, bnnLab.metrics.histogramBins, bnnLab.metrics.deadTau)`,
  );
  return {
    telemetryEverySteps: checked.telemetryEverySteps,
    histogramBins: checked.histogramBins,
    deadTau: checked.deadTau,
  };
}

const OPEN_DASHBOARD_LINK = '[Open Dashboard](command:bnnLab.openDashboard)';

/** A cancellable notification that follows the run until it ends. */
export function showProgress(ctx: Ctx, runId: string, ended: Promise<RunEnd>): void {
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

/** Tells the user how the run ended: accuracy on success, an error on failure, nothing on cancel. */
async function reportEnd(ctx: Ctx, runDir: string, ended: Promise<RunEnd>): Promise<void> {
  try {
    const end = await ended;
    switch (end.status) {
      case 'completed': {
        const records =
          ctx.engine.currentRun?.runId === end.runId ? ctx.engine.currentRun.records : [];
        const accuracy = finalTestAccuracy(records);
        const detail = accuracy === null ? '' : `: test accuracy ${formatPercent(accuracy)}`;
        const choice = await vscode.window.showInformationMessage(
          `BNN Lab: ${end.runId} completed${detail}.`,
          'Open Run Folder',
        );
        if (choice) await revealRunFolder(vscode.Uri.file(runDir));
        break;
      }
      case 'cancelled':
        break;
      case 'failed':
        await showErrorWithLog(`BNN Lab: training failed: ${end.message ?? 'unknown error'}`);
        break;
    }
  } catch (e) {
    reportError('bnnLab.train', e);
  }
}

async function revealRunFolder(uri: vscode.Uri): Promise<void> {
  if (vscode.workspace.getWorkspaceFolder(uri)) {
    await vscode.commands.executeCommand('revealInExplorer', uri);
  } else {
    await vscode.commands.executeCommand('revealFileInOS', uri);
  }
}
