/**
 * Puts `bnn-lab` on the integrated terminal's PATH: the launcher (cliShim.ts) in the extension's
 * global storage, its folder prepended to PATH through the environment-variable collection. New
 * terminals get it; VS Code offers to relaunch the ones already open.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { log } from '../log';
import { CLI_NAME, writeCliShim } from './cliShim';

export async function addCliToTerminalPath(context: vscode.ExtensionContext): Promise<void> {
  const dir = path.join(context.globalStorageUri.fsPath, 'bin');
  const cli = path.join(context.extensionPath, 'dist', 'cli.js');
  const version = String(context.extension.packageJSON.version);
  try {
    const shim = await writeCliShim(dir, process.execPath, cli, version);
    const env = context.environmentVariableCollection;
    env.description = `Adds ${CLI_NAME} (BNN Lab's command line) to PATH`;
    env.prepend('PATH', `${dir}${path.delimiter}`);
    log.info(`terminal: \`${CLI_NAME}\` on PATH (${shim})`);
  } catch (e) {
    // The extension works without it; say why the command is missing.
    context.environmentVariableCollection.clear();
    log.warn(
      `could not put \`${CLI_NAME}\` on the terminal's PATH (writing its launcher in ${dir} failed: ${e instanceof Error ? e.message : String(e)})`,
    );
  }
}
