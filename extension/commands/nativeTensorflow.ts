/**
 * "BNN Lab: Install Native TensorFlow…": installs `@tensorflow/tfjs-node` or `-gpu` with the
 * user's npm into the extension's global storage and points `bnnLab.engine.nativeModulePath`
 * there; the engine worker loads the package from that folder (core/backend/backends.ts).
 */
import { join } from 'node:path';
import * as vscode from 'vscode';
import { CancelledError, UserError } from '../../core/errors';
import { installNative, NATIVE_CHOICES, TFJS_VERSION } from '../engine/npmInstall';
import { registerCommand } from '../errors';
import { log } from '../log';
import { updateGlobalSetting } from '../settings';

export const INSTALL_NATIVE_COMMAND = 'bnnLab.installNativeTensorflow';

export function registerNativeTensorflow(context: vscode.ExtensionContext): vscode.Disposable {
  return registerCommand(INSTALL_NATIVE_COMMAND, () => installCommand(context));
}

async function installCommand(context: vscode.ExtensionContext): Promise<void> {
  const picked = await vscode.window.showQuickPick(
    NATIVE_CHOICES.map((c) => ({ label: c.label, detail: c.detail, choice: c })),
    { title: `Install native TensorFlow ${TFJS_VERSION} with npm`, ignoreFocusOut: true },
  );
  if (!picked) return;
  const { pkg, backend } = picked.choice;
  const prefix = join(context.globalStorageUri.fsPath, 'native');
  log.info(`installing ${pkg}@${TFJS_VERSION} into ${prefix}`);
  const result = await vscode.window.withProgress(
    {
      location: vscode.ProgressLocation.Notification,
      title: `Installing ${pkg}@${TFJS_VERSION}`,
      cancellable: true,
    },
    (progress, token) => {
      const abort = new AbortController();
      token.onCancellationRequested(() => abort.abort());
      return installNative({
        npm: process.platform === 'win32' ? 'npm.cmd' : 'npm',
        prefix,
        pkg,
        signal: abort.signal,
        onOutput: (line) => {
          log.info(`npm: ${line}`);
          progress.report({ message: line.length > 90 ? `${line.slice(0, 90)}…` : line });
        },
      });
    },
  );
  if (!result.ok) {
    if (result.message === 'cancelled') throw new CancelledError();
    throw new UserError(result.message);
  }
  await updateGlobalSetting('engine.nativeModulePath', prefix);
  log.info(`installed ${pkg}@${TFJS_VERSION}; bnnLab.engine.nativeModulePath = ${prefix}`);
  const use = `Use "${backend}"`;
  const answer = await vscode.window.showInformationMessage(
    `Installed ${pkg}@${TFJS_VERSION} into ${prefix}. "auto" uses it where no GPU backend comes first; or set bnnLab.engine.backend to "${backend}".`,
    use,
  );
  if (answer === use) {
    await updateGlobalSetting('engine.backend', backend);
  }
}
