/**
 * The checkpoint inspector in VS Code: the read-only custom editor `bnnLab.checkpointInspector`,
 * the commands Inspect Checkpoint / Compare Checkpoints / Analyse Checkpoint Folder, the Layers
 * view, and the analysis worker they share. `main.ts` calls {@link registerInspector} once.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { DEFAULT_BINARY_PATTERNS } from '../../core/checkpoints/inspect';
import { registerCommand } from '../commands';
import { log } from '../log';
import { AnalysisHost } from './analysisHost';
import { InspectorPage, type InspectorSource, type PageContext } from './InspectorPage';
import { LayersTreeProvider } from './LayersTreeProvider';
import type { LayerItem } from './layerItems';
import {
  analysisSettings,
  patternForTensor,
  withPattern,
  type ParsedAnalysisSettings,
} from './settings';

export const INSPECTOR_VIEW_TYPE = 'bnnLab.checkpointInspector';
/**
 * The same editor as the default for BNN Lab's own checkpoints (`<run>/checkpoints/epoch-N/
 * model.json`). A contribution has one priority, and PyTorch/Keras/ONNX files must stay
 * `option` (other extensions and the hex editor claim them), hence a second view type.
 */
export const RUN_CHECKPOINT_VIEW_TYPE = 'bnnLab.runCheckpointInspector';
/** Panels for comparisons and folder series (not editors: they have no single document). */
const ANALYSIS_PANEL_TYPE = 'bnnLab.checkpointAnalysis';

/** Heap limit of the analysis worker: tensors live in ArrayBuffers outside it. */
const ANALYSIS_HEAP_MB = 2048;

/** File filters of the pickers (the formats of docs/inspect.md). */
const CHECKPOINT_FILTERS: Record<string, string[]> = {
  Checkpoints: ['pt', 'pth', 'bin', 'ckpt', 'safetensors', 'h5', 'hdf5', 'keras', 'onnx', 'json'],
  'All files': ['*'],
};

class ReadonlyCheckpoint implements vscode.CustomDocument {
  constructor(readonly uri: vscode.Uri) {}
  dispose(): void {}
}

/** Wires the inspector; returns what the extension must dispose. */
export function registerInspector(context: vscode.ExtensionContext): vscode.Disposable[] {
  const analysis = new AnalysisHost({
    workerScript: path.join(context.extensionPath, 'dist', 'analysisWorker.js'),
    resourceLimits: { maxOldGenerationSizeMb: ANALYSIS_HEAP_MB },
    log: (level, message) => log[level](message),
  });
  const layers = new LayersTreeProvider();
  const tree = vscode.window.createTreeView(LayersTreeProvider.viewId, {
    treeDataProvider: layers,
  });
  const pages = new Set<InspectorPage>();
  let active: InspectorPage | undefined;
  const warned = new Set<string>();

  const showInTree = (page: InspectorPage | undefined): void => {
    active = page;
    layers.setContent(page?.currentContent);
    // Without a page the view's welcome content explains what to do.
    tree.message =
      page && page.currentContent?.mode === 'compare'
        ? 'A comparison has no layer tree: its table lists the tensors.'
        : undefined;
    tree.description = page ? path.basename(page.target) : undefined;
  };

  const ctx: PageContext = {
    analysis,
    extensionUri: context.extensionUri,
    settings(resource: vscode.Uri): ParsedAnalysisSettings {
      const config = vscode.workspace.getConfiguration('bnnLab', resource);
      const parsed = analysisSettings({
        binaryPatterns: config.get<unknown>('inspect.binaryPatterns'),
        deadTau: config.get<unknown>('metrics.deadTau'),
      });
      for (const problem of parsed.problems) {
        if (warned.has(problem)) continue;
        warned.add(problem);
        log.warn(problem);
        void vscode.window.showWarningMessage(`BNN Lab: ${problem}`);
      }
      return parsed;
    },
    onDidUpdate(page) {
      if (page.panel.active || active === page || !active) showInTree(page);
    },
    onDidSelectLayer(page, name) {
      if (page !== active) showInTree(page);
      const item = layers.item(name);
      // reveal() rejects while the view is collapsed or hidden; the selection is cosmetic.
      if (item && tree.visible)
        tree.reveal(item, { select: true, focus: false }).then(undefined, () => {});
    },
    onDidDispose(page) {
      pages.delete(page);
      if (active === page) showInTree([...pages].at(-1));
    },
  };

  const open = (panel: vscode.WebviewPanel, source: InspectorSource): InspectorPage => {
    const page = new InspectorPage(panel, source, ctx);
    pages.add(page);
    showInTree(page);
    return page;
  };

  const provider: vscode.CustomReadonlyEditorProvider<ReadonlyCheckpoint> = {
    openCustomDocument: (uri) => new ReadonlyCheckpoint(uri),
    resolveCustomEditor: (document, panel) => {
      if (document.uri.scheme !== 'file') {
        panel.webview.html = '';
        throw new Error(`${document.uri.toString()}: only local files can be inspected`);
      }
      open(panel, { kind: 'checkpoint', path: document.uri.fsPath });
    },
  };

  const openPanel = (title: string, source: InspectorSource): InspectorPage => {
    const root = vscode.Uri.joinPath(context.extensionUri, 'dist', 'webview');
    const panel = vscode.window.createWebviewPanel(
      ANALYSIS_PANEL_TYPE,
      title,
      vscode.ViewColumn.Active,
      { enableScripts: true, localResourceRoots: [root] },
    );
    return open(panel, source);
  };

  const inspectCheckpoint = async (arg?: unknown): Promise<void> => {
    const uri =
      uriOf(arg) ??
      (
        await vscode.window.showOpenDialog({
          title: 'BNN Lab: Inspect Checkpoint',
          canSelectMany: false,
          filters: CHECKPOINT_FILTERS,
          openLabel: 'Inspect',
        })
      )?.[0];
    if (!uri) return;
    await vscode.commands.executeCommand('vscode.openWith', uri, INSPECTOR_VIEW_TYPE);
  };

  const compareCheckpoints = async (arg?: unknown, selection?: unknown): Promise<void> => {
    // From the Explorer with two files selected: (clicked, [both]).
    let files = Array.isArray(selection) ? selection.map(uriOf).filter(isUri) : [];
    if (files.length !== 2) {
      const first = uriOf(arg);
      files = first ? [first] : [];
      const picked = await vscode.window.showOpenDialog({
        title:
          files.length === 1
            ? `BNN Lab: Compare ${path.basename(files[0].fsPath)} With…`
            : 'BNN Lab: Compare Checkpoints (select two files)',
        canSelectMany: files.length === 0,
        filters: CHECKPOINT_FILTERS,
        openLabel: 'Compare',
      });
      if (!picked) return;
      files = [...files, ...picked];
      if (files.length === 1) {
        const second = await vscode.window.showOpenDialog({
          title: `BNN Lab: Compare ${path.basename(files[0].fsPath)} With…`,
          canSelectMany: false,
          filters: CHECKPOINT_FILTERS,
          openLabel: 'Compare',
        });
        if (!second) return;
        files.push(second[0]);
      }
    }
    if (files.length !== 2) {
      void vscode.window.showWarningMessage(
        `BNN Lab: Compare Checkpoints needs exactly two files, got ${files.length}.`,
      );
      return;
    }
    const [a, b] = files.map((f) => f.fsPath);
    openPanel(`${path.basename(a)} ↔ ${path.basename(b)}`, { kind: 'compare', a, b });
  };

  const analyseFolder = async (arg?: unknown, options?: unknown): Promise<void> => {
    const folder =
      uriOf(arg) ??
      (
        await vscode.window.showOpenDialog({
          title: 'BNN Lab: Analyse Checkpoint Folder',
          canSelectFiles: false,
          canSelectFolders: true,
          canSelectMany: false,
          openLabel: 'Analyse',
        })
      )?.[0];
    if (!folder) return;
    let watch =
      typeof options === 'object' && options !== null && 'watch' in options
        ? Boolean((options as { watch: unknown }).watch)
        : undefined;
    if (watch === undefined) {
      const choice = await vscode.window.showQuickPick(
        [
          { label: 'Analyse once', watch: false },
          {
            label: 'Analyse and watch',
            description: 'analyse each new checkpoint as a training job writes it',
            watch: true,
          },
        ],
        { title: `BNN Lab: Analyse ${path.basename(folder.fsPath)}` },
      );
      if (!choice) return;
      watch = choice.watch;
    }
    openPanel(`${path.basename(folder.fsPath)} (series)`, {
      kind: 'series',
      folder: folder.fsPath,
      watch,
    });
  };

  /**
   * Layers view → "Mark as Binary": adds a name pattern for the tensor to the workspace's
   * `bnnLab.inspect.binaryPatterns` (the "saved in workspace settings"); the setting
   * change re-analyses every open page.
   */
  const markBinary = async (arg?: unknown): Promise<void> => {
    const name = typeof arg === 'string' ? arg : (arg as Partial<LayerItem> | undefined)?.name;
    if (typeof name !== 'string' || !active) return;
    const pattern = await vscode.window.showInputBox({
      title: 'BNN Lab: Mark as Binary',
      prompt: `Regular expression (case-insensitive) for tensors to mark binary; widen it to mark similar layers`,
      value: patternForTensor(name),
      validateInput: (text) => {
        if (text.trim() === '') return 'Enter a regular expression';
        try {
          new RegExp(text, 'i');
          return undefined;
        } catch (e) {
          return e instanceof Error ? e.message : String(e);
        }
      },
    });
    if (!pattern) return;
    const resource = vscode.Uri.file(active.target);
    const folder = vscode.workspace.getWorkspaceFolder(resource);
    const config = vscode.workspace.getConfiguration('bnnLab', resource);
    const inspected = config.inspect<string[]>('inspect.binaryPatterns');
    const target = folder
      ? vscode.ConfigurationTarget.WorkspaceFolder
      : vscode.workspace.workspaceFolders
        ? vscode.ConfigurationTarget.Workspace
        : vscode.ConfigurationTarget.Global;
    const current =
      target === vscode.ConfigurationTarget.WorkspaceFolder
        ? (inspected?.workspaceFolderValue ?? inspected?.workspaceValue ?? inspected?.globalValue)
        : target === vscode.ConfigurationTarget.Workspace
          ? (inspected?.workspaceValue ?? inspected?.globalValue)
          : inspected?.globalValue;
    await config.update(
      'inspect.binaryPatterns',
      withPattern(current, pattern, DEFAULT_BINARY_PATTERNS),
      target,
    );
    log.info(
      `inspector: added binary pattern /${pattern}/ (${vscode.ConfigurationTarget[target]})`,
    );
  };

  const selectLayer = (arg?: unknown): void => {
    if (typeof arg === 'string') active?.selectLayer(arg);
  };

  showInTree(undefined);
  return [
    layers,
    tree,
    ...[INSPECTOR_VIEW_TYPE, RUN_CHECKPOINT_VIEW_TYPE].map((viewType) =>
      vscode.window.registerCustomEditorProvider(viewType, provider, {
        supportsMultipleEditorsPerDocument: true,
      }),
    ),
    registerCommand('bnnLab.inspectCheckpoint', inspectCheckpoint),
    registerCommand('bnnLab.compareCheckpoints', compareCheckpoints),
    registerCommand('bnnLab.analyseCheckpointFolder', analyseFolder),
    registerCommand('bnnLab.selectLayer', selectLayer),
    registerCommand('bnnLab.markLayerBinary', markBinary),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (
        e.affectsConfiguration('bnnLab.inspect') ||
        e.affectsConfiguration('bnnLab.metrics.deadTau')
      ) {
        warned.clear();
        for (const page of pages) void page.analyse(); // each page reports its own failure
      }
    }),
    new vscode.Disposable(() => {
      for (const page of [...pages]) page.dispose();
      void analysis.dispose(); // rejects what is pending; nothing awaits it at shutdown
    }),
  ];
}

function uriOf(arg: unknown): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri) return arg.scheme === 'file' ? arg : undefined;
  if (typeof arg === 'string' && arg !== '') return vscode.Uri.file(arg);
  return undefined;
}

function isUri(value: vscode.Uri | undefined): value is vscode.Uri {
  return value !== undefined;
}
