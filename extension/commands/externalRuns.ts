/**
 * Runs trained outside BNN Lab: "Follow External Run…" opens a run folder that another program
 * writes (python/bnn_lab_telemetry.py in the user's PyTorch script) and draws it live; "Copy
 * PyTorch Telemetry Snippet" puts the lines that hook a model on the clipboard.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { checkRunFolder, telemetrySnippet } from '../engine/externalRun';
import { METRICS_FILE } from '../engine/runFolders';
import { registerCommand } from '../errors';
import { log } from '../log';
import { workspaceRunsRoots } from '../settings';
import type { DashboardViewProvider } from '../panels/DashboardViewProvider';

export const FOLLOW_EXTERNAL_RUN = 'bnnLab.followExternalRun';
export const COPY_TELEMETRY_SNIPPET = 'bnnLab.copyTelemetrySnippet';

/** The module shipped with the extension, relative to its root. */
export const TELEMETRY_MODULE = path.join('python', 'bnn_lab_telemetry.py');

/** A run folder from a URI or path argument (Explorer context, tests), else undefined. */
function folderOf(arg: unknown): string | undefined {
  const file = arg instanceof vscode.Uri ? arg.fsPath : typeof arg === 'string' ? arg : undefined;
  if (file === undefined) return undefined;
  return path.basename(file) === METRICS_FILE ? path.dirname(file) : file;
}

async function followExternalRun(dashboard: DashboardViewProvider, arg: unknown): Promise<void> {
  let dir = folderOf(arg);
  if (dir === undefined) {
    const roots = workspaceRunsRoots();
    const picked = await vscode.window.showOpenDialog({
      title: 'BNN Lab: Follow External Run (a folder with metrics.jsonl)',
      openLabel: 'Follow',
      canSelectFolders: true,
      canSelectFiles: false,
      canSelectMany: false,
      defaultUri: roots[0] ? vscode.Uri.file(roots[0]) : undefined,
    });
    dir = folderOf(picked?.[0]);
    if (dir === undefined) return;
  }
  await checkRunFolder(dir);
  await dashboard.followRun(dir);
}

async function copyTelemetrySnippet(context: vscode.ExtensionContext): Promise<void> {
  const modulePath = path.join(context.extensionPath, TELEMETRY_MODULE);
  const runs = workspaceRunsRoots()[0] ?? path.join('.bnn-lab', 'runs');
  await vscode.env.clipboard.writeText(telemetrySnippet(modulePath, runs));
  log.info(`copied the PyTorch telemetry snippet (module: ${modulePath})`);
  const choice = await vscode.window.showInformationMessage(
    `BNN Lab: copied the PyTorch telemetry snippet. The module is ${modulePath} (needs only torch). Run your script, then "Follow External Run…" on its run folder.`,
    'Follow External Run…',
  );
  if (choice) await vscode.commands.executeCommand(FOLLOW_EXTERNAL_RUN);
}

/** Registers both commands behind the error wrapper of extension/errors.ts. */
export function registerExternalRunCommands(
  context: vscode.ExtensionContext,
  dashboard: DashboardViewProvider,
): vscode.Disposable[] {
  return [
    registerCommand(FOLLOW_EXTERNAL_RUN, (arg) => followExternalRun(dashboard, arg)),
    registerCommand(COPY_TELEMETRY_SNIPPET, () => copyTelemetrySnippet(context)),
  ];
}
