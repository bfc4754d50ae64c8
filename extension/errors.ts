/**
 * The extension's error plumbing, in one module: the command wrapper that catches what a command
 * throws, the one function that turns an error into a notification (worded for VS Code: run-config
 * fields and settings, never CLI flags), and the notification with a **Show Log** action. Full
 * stacks go to the log only.
 */
import * as vscode from 'vscode';
import { CancelledError, UserError } from '../core/errors';
import { log } from './log';

export type Cmd = (...args: unknown[]) => unknown;

/**
 * A run-config error in a file the user can open: the notification offers **Open Config**, which
 * opens the file with the offending key selected.
 */
export class ConfigFileError extends UserError {
  override name = 'ConfigFileError';
  constructor(
    message: string,
    readonly file: vscode.Uri,
    /** The key's place in the file's text: [start, end) offsets, or undefined when not found. */
    readonly range: readonly [number, number] | undefined,
  ) {
    super(message);
  }
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
  if (e instanceof ConfigFileError) {
    void showConfigFileError(e);
    return;
  }
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

async function showConfigFileError(e: ConfigFileError): Promise<void> {
  const choice = await vscode.window.showErrorMessage(e.message, 'Open Config', 'Show Log');
  if (choice === 'Show Log') log.show();
  if (choice !== 'Open Config') return;
  const doc = await vscode.workspace.openTextDocument(e.file);
  const selection = e.range
    ? new vscode.Range(doc.positionAt(e.range[0]), doc.positionAt(e.range[1]))
    : undefined;
  // Not a preview: the user opens it to edit it, and it must not replace a previewed file.
  await vscode.window.showTextDocument(doc, { selection, preview: false });
}
