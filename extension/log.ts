/**
 * The single "BNN Lab" log channel. Everything the extension, the engine worker and the dashboard
 * want to record goes here; notifications point to it through a **Show Log** action.
 */
import * as vscode from 'vscode';

let channel: vscode.LogOutputChannel | undefined;

/** Creates the channel; call once from `activate` and dispose with the extension. */
export function initLog(): vscode.Disposable {
  channel ??= vscode.window.createOutputChannel('BNN Lab', { log: true });
  return new vscode.Disposable(() => {
    channel?.dispose();
    channel = undefined;
  });
}

export const log = {
  info(message: string): void {
    if (channel) channel.info(message);
    else console.log(`[BNN Lab] ${message}`);
  },
  warn(message: string): void {
    if (channel) channel.warn(message);
    else console.warn(`[BNN Lab] ${message}`);
  },
  /** Logs `message` and, when given, the error's full stack. */
  error(message: string, error?: unknown): void {
    const detail = error === undefined ? '' : `\n${describe(error)}`;
    if (channel) channel.error(`${message}${detail}`);
    else console.error(`[BNN Lab] ${message}${detail}`);
  },
  show(): void {
    channel?.show(true);
  },
};

function describe(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}
