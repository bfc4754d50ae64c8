/**
 * Extension entry: wiring only. Commands live in commands/ (one file per group), settings in
 * settings.ts, error plumbing in errors.ts, the worker plumbing in engine/, the dashboard in
 * panels/.
 */
import * as vscode from 'vscode';
import { registerCommands } from './commands';
import { useVocabulary } from '../core/errors';
import { EngineClient } from './engine/EngineClient';
import { registerExportCommands } from './commands/export';
import { registerExternalRunCommands } from './commands/externalRuns';
import { registerNativeTensorflow } from './commands/nativeTensorflow';
import { RunStatusBar } from './engine/RunStatusBar';
import { registerInspector } from './inspector/registerInspector';
import { EXTENSION_VOCABULARY } from './errorWording';
import { initLog, log } from './log';
import { DashboardViewProvider, type RenderedReport } from './panels/DashboardViewProvider';
import { addCliToTerminalPath } from './terminal/terminalPath';
import { RunsTreeProvider } from './views/RunsTreeProvider';

let engine: EngineClient | undefined;

/** What `vscode.extensions.getExtension('bnn-lab.bnn-lab').exports` offers other code and tests. */
export interface BnnLabApi {
  /** The dashboard's last report of what it shows, once its page has drawn a run. */
  dashboardRendered(): RenderedReport | undefined;
}

export function activate(context: vscode.ExtensionContext): BnnLabApi {
  context.subscriptions.push(initLog());
  useVocabulary(EXTENSION_VOCABULARY);
  try {
    engine = new EngineClient(context.extensionPath);
    const dashboard = new DashboardViewProvider(context.extensionUri, engine);
    const runs = new RunsTreeProvider(engine);
    context.subscriptions.push(
      engine,
      new RunStatusBar(engine),
      dashboard,
      vscode.window.registerWebviewViewProvider(DashboardViewProvider.viewType, dashboard),
      vscode.window.registerWebviewPanelSerializer(DashboardViewProvider.panelType, dashboard),
      runs,
      vscode.window.registerTreeDataProvider(RunsTreeProvider.viewId, runs),
      ...registerCommands({ engine, dashboard, runs }),
      ...registerInspector(context),
      ...registerExportCommands(context.extensionPath),
      ...registerExternalRunCommands(context, dashboard),
      registerNativeTensorflow(context),
    );
    log.info(`activated ${context.extension.id} ${String(context.extension.packageJSON.version)}`);
    void addCliToTerminalPath(context);
    return { dashboardRendered: () => dashboard.rendered };
  } catch (e) {
    // VS Code only logs a failed activation to its own console; tell the user, then rethrow so
    // the extension is marked as failed.
    log.error('activation failed', e);
    void vscode.window.showErrorMessage(
      `BNN Lab failed to activate: ${e instanceof Error ? e.message : String(e)}`,
    );
    throw e;
  }
}

export async function deactivate(): Promise<void> {
  await engine?.shutdown();
  engine = undefined;
}
