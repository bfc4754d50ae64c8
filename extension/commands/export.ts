/**
 * "BNN Lab: Export Checkpoint…" (Explorer on a checkpoint folder or its model.json, the
 * checkpoint inspector, the palette) and "BNN Lab: Export Run…" (Runs view, palette): pick a
 * format, pick where to save, confirm before replacing a file, then run `bnn-lab export` from the
 * bundled CLI in a separate Node process (TensorFlow.js and HDF5 stay off the extension host),
 * with a cancellable progress notification. Failures show the CLI's one-line message; the full
 * output goes to the log (docs/export.md).
 */
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { UserError } from '../../core/errors';
import { checkpointFolder } from '../../core/export/files';
import {
  CHECKPOINT_FORMATS,
  FORMAT_INFO,
  RUN_FORMATS,
  type ExportFormat,
} from '../../core/export/formats';
import type { ExportResult } from '../../core/export/index';
import { registerCommand, showErrorWithLog } from '../errors';
import { log } from '../log';

export const EXPORT_CHECKPOINT_COMMAND = 'bnnLab.exportCheckpoint';
export const EXPORT_RUN_COMMAND = 'bnnLab.exportRun';

function pathOf(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  if (arg instanceof vscode.Uri) return arg.fsPath;
  const item = arg as { summary?: { dir?: unknown }; resourceUri?: unknown } | undefined;
  if (typeof item?.summary?.dir === 'string') return item.summary.dir;
  if (item?.resourceUri instanceof vscode.Uri) return item.resourceUri.fsPath;
  return undefined;
}

interface FormatPick extends vscode.QuickPickItem {
  format: ExportFormat;
  packedSigns?: boolean;
}

async function pickFormat(
  title: string,
  formats: readonly ExportFormat[],
): Promise<FormatPick | undefined> {
  const items: FormatPick[] = formats.map((format) => ({
    label: format,
    description: FORMAT_INFO[format].label,
    format,
  }));
  if (formats.includes('safetensors')) {
    items.push({
      label: 'safetensors + packed signs',
      description: 'also the binary kernels as packed sign bits with their per-channel scales',
      format: 'safetensors',
      packedSigns: true,
    });
  }
  return vscode.window.showQuickPick(items, { title, placeHolder: 'Export format' });
}

/** Asks before replacing an existing file; true when the export may write `file`. */
async function confirmReplace(file: string): Promise<boolean> {
  if (!existsSync(file)) return true;
  const choice = await vscode.window.showWarningMessage(
    `${path.basename(file)} already exists. Replace it?`,
    { modal: true, detail: file },
    'Replace',
  );
  return choice === 'Replace';
}

/** Runs `bnn-lab export … --json` in a child Node process; resolves with its result. */
function runCli(
  cli: string,
  args: string[],
  token: vscode.CancellationToken,
): Promise<ExportResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'export', ...args, '--json'], {
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const cancel = token.onCancellationRequested(() => child.kill());
    child.on('error', (e) => {
      cancel.dispose();
      reject(e);
    });
    child.on('close', (code, signal) => {
      cancel.dispose();
      if (stderr.trim()) log.info(`bnn-lab export ${args.join(' ')}:\n${stderr.trimEnd()}`);
      if (token.isCancellationRequested) {
        reject(new vscode.CancellationError());
        return;
      }
      if (code === 0) {
        try {
          resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as ExportResult);
        } catch (e) {
          reject(new Error(`bnn-lab export printed no result: ${(e as Error).message}`));
        }
        return;
      }
      // Under --json the CLI reports an error as one {"event":"error","message"} line on stderr.
      const message = stderr
        .split('\n')
        .map((l) => {
          try {
            const parsed = JSON.parse(l) as { event?: string; message?: string };
            return parsed.event === 'error' ? parsed.message : undefined;
          } catch {
            return undefined;
          }
        })
        .find((m) => typeof m === 'string');
      if (code === 2 && message) reject(new UserError(message));
      else
        reject(
          new Error(
            `bnn-lab export failed (exit ${code ?? signal}): ${message ?? stderr.slice(-500)}`,
          ),
        );
    });
  });
}

/** Runs one export with a progress notification and tells the user how it went. */
async function runExport(
  cli: string,
  title: string,
  format: ExportFormat,
  source: string,
  target: string,
  packedSigns: boolean,
): Promise<void> {
  const args = [format, source, target];
  if (packedSigns) args.push('--packed-signs');
  if (FORMAT_INFO[format].extension !== '' && existsSync(target)) args.push('--force');
  log.info(`${title}: ${format} ${source} → ${target}`);
  try {
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title, cancellable: true },
      async (progress, token) => {
        progress.report({ message: `writing ${path.basename(target)}…` });
        return runCli(cli, args, token);
      },
    );
    log.info(result.summary);
    const file = result.files[0];
    const choice = await vscode.window.showInformationMessage(
      `BNN Lab: exported ${format} to ${path.basename(file)}.`,
      'Reveal',
    );
    if (choice === 'Reveal')
      await vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(file));
  } catch (e) {
    if (e instanceof vscode.CancellationError) {
      log.info(`${title}: cancelled`);
      return;
    }
    log.error(`${title} failed`, e);
    await showErrorWithLog(`BNN Lab: export failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

async function exportCheckpoint(cli: string, arg: unknown): Promise<void> {
  const title = 'BNN Lab: Export Checkpoint';
  let source = pathOf(arg);
  if (source === undefined) {
    const picked = await vscode.window.showOpenDialog({
      title: `${title}: pick a BNN Lab checkpoint folder (RUN/checkpoints/epoch-N)`,
      canSelectFolders: true,
      canSelectFiles: false,
      openLabel: 'Export',
    });
    source = picked?.[0]?.fsPath;
    if (source === undefined) return;
  }
  const dir = checkpointFolder(source);
  const pick = await pickFormat(`${title}: ${path.basename(dir)}`, CHECKPOINT_FORMATS);
  if (!pick) return;
  const extension = FORMAT_INFO[pick.format].extension;
  const run = path.basename(path.dirname(path.dirname(dir)));
  const defaultName = `${run}-${path.basename(dir)}${pick.packedSigns ? '-packed' : ''}.${extension}`;
  const target = await vscode.window.showSaveDialog({
    title: `${title} as ${FORMAT_INFO[pick.format].label}`,
    defaultUri: vscode.Uri.file(path.join(path.dirname(path.dirname(dir)), defaultName)),
    filters: { [FORMAT_INFO[pick.format].label]: [extension] },
  });
  if (!target || !(await confirmReplace(target.fsPath))) return;
  await runExport(cli, title, pick.format, dir, target.fsPath, pick.packedSigns === true);
}

async function exportRun(cli: string, arg: unknown): Promise<void> {
  const title = 'BNN Lab: Export Run';
  let runDir = pathOf(arg);
  if (runDir === undefined) {
    const picked = await vscode.window.showOpenDialog({
      title: `${title}: pick a run folder (with metrics.jsonl)`,
      canSelectFolders: true,
      canSelectFiles: false,
      openLabel: 'Export',
    });
    runDir = picked?.[0]?.fsPath;
    if (runDir === undefined) return;
  }
  if (!existsSync(path.join(runDir, 'metrics.jsonl'))) {
    throw new UserError(`${runDir} is not a BNN Lab run folder: it has no metrics.jsonl`);
  }
  const pick = await pickFormat(`${title}: ${path.basename(runDir)}`, RUN_FORMATS);
  if (!pick) return;
  let target: string | undefined;
  if (pick.format === 'tensorboard') {
    const folder = await vscode.window.showOpenDialog({
      title: `${title}: the TensorBoard log folder (a new event file is added; nothing is replaced)`,
      defaultUri: vscode.Uri.file(path.dirname(runDir)),
      canSelectFolders: true,
      canSelectFiles: false,
      openLabel: 'Export Here',
    });
    target = folder?.[0]?.fsPath;
    if (target !== undefined && existsSync(target) && !statSync(target).isDirectory()) {
      throw new UserError(`${target} is a file; pick a folder for the event file`);
    }
  } else {
    const uri = await vscode.window.showSaveDialog({
      title: `${title} as CSV`,
      defaultUri: vscode.Uri.file(
        path.join(path.dirname(runDir), `${path.basename(runDir)}-metrics.csv`),
      ),
      filters: { CSV: ['csv'] },
    });
    target = uri?.fsPath;
    if (target !== undefined && !(await confirmReplace(target))) return;
  }
  if (target === undefined) return;
  await runExport(cli, title, pick.format, runDir, target, false);
}

/** Registers both export commands; `extensionPath` locates the bundled CLI (dist/cli.js). */
export function registerExportCommands(extensionPath: string): vscode.Disposable[] {
  const cli = path.join(extensionPath, 'dist', 'cli.js');
  return [
    registerCommand(EXPORT_CHECKPOINT_COMMAND, (arg) => exportCheckpoint(cli, arg)),
    registerCommand(EXPORT_RUN_COMMAND, (arg) => exportRun(cli, arg)),
  ];
}
