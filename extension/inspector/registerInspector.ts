/**
 * The checkpoint inspector in VS Code: the read-only custom editors (viewTypes.ts), the commands
 * Inspect Checkpoint / Compare Checkpoints / Analyse Checkpoint Folder (openCommands.ts), the
 * Layers view and its commands (layerCommands.ts), and the analysis worker they share.
 * `main.ts` calls {@link registerInspector} once; this file only wires.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { registerCommand } from '../commands';
import { log } from '../log';
import { AnalysisHost } from './analysisHost';
import { InspectorPages } from './inspectorPages';
import { markLayerBinary, selectLayer } from './layerCommands';
import { analyseCheckpointFolder, compareCheckpoints, inspectCheckpoint } from './openCommands';
import { INSPECTOR_VIEW_TYPE, RUN_CHECKPOINT_VIEW_TYPE, WEIGHTS_VIEW_TYPE } from './viewTypes';

export { INSPECTOR_VIEW_TYPE, RUN_CHECKPOINT_VIEW_TYPE, WEIGHTS_VIEW_TYPE };

/** Heap limit of the analysis worker: tensors live in ArrayBuffers outside it. */
const ANALYSIS_HEAP_MB = 2048;

class ReadonlyCheckpoint implements vscode.CustomDocument {
  constructor(readonly uri: vscode.Uri) {}
  dispose(): void {}
}

/** The custom editor: one inspector page per opened checkpoint file. */
function checkpointEditor(
  pages: InspectorPages,
): vscode.CustomReadonlyEditorProvider<ReadonlyCheckpoint> {
  return {
    openCustomDocument: (uri) => new ReadonlyCheckpoint(uri),
    resolveCustomEditor: (document, panel) => {
      if (document.uri.scheme !== 'file') {
        panel.webview.html = '';
        throw new Error(`${document.uri.toString()}: only local files can be inspected`);
      }
      pages.open(panel, { kind: 'checkpoint', path: document.uri.fsPath });
    },
  };
}

/** Wires the inspector; returns what the extension must dispose. */
export function registerInspector(context: vscode.ExtensionContext): vscode.Disposable[] {
  const analysis = new AnalysisHost({
    workerScript: path.join(context.extensionPath, 'dist', 'analysisWorker.js'),
    resourceLimits: { maxOldGenerationSizeMb: ANALYSIS_HEAP_MB },
    log: (level, message) => log[level](message),
  });
  const pages = new InspectorPages(analysis, context.extensionUri);
  const editor = checkpointEditor(pages);
  return [
    pages,
    ...[WEIGHTS_VIEW_TYPE, INSPECTOR_VIEW_TYPE, RUN_CHECKPOINT_VIEW_TYPE].map((viewType) =>
      vscode.window.registerCustomEditorProvider(viewType, editor, {
        supportsMultipleEditorsPerDocument: true,
      }),
    ),
    registerCommand('bnnLab.inspectCheckpoint', inspectCheckpoint),
    registerCommand('bnnLab.compareCheckpoints', (arg, selection) =>
      compareCheckpoints(pages, arg, selection),
    ),
    registerCommand('bnnLab.analyseCheckpointFolder', (arg, options) =>
      analyseCheckpointFolder(pages, arg, options),
    ),
    registerCommand('bnnLab.selectLayer', (arg) => selectLayer(pages, arg)),
    registerCommand('bnnLab.markLayerBinary', (arg) => markLayerBinary(pages, arg)),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (
        e.affectsConfiguration('bnnLab.inspect') ||
        e.affectsConfiguration('bnnLab.metrics.deadTau')
      ) {
        pages.settingsChanged();
      }
    }),
    new vscode.Disposable(() => {
      void analysis.dispose(); // rejects what is pending; nothing awaits it at shutdown
    }),
  ];
}
