/**
 * The commands that open inspector pages: Inspect Checkpoint (a file in its custom editor),
 * Compare Checkpoints (two files) and Analyse Checkpoint Folder (a series, optionally watched).
 * Each takes what the Explorer, the palette or another command passes, and asks for the rest.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { InspectorPages } from './inspectorPages';
import { inspectorViewTypeFor } from './viewTypes';

/** File filters of the pickers (the formats of docs/inspect.md). */
const CHECKPOINT_FILTERS: Record<string, string[]> = {
  Checkpoints: ['pt', 'pth', 'bin', 'ckpt', 'safetensors', 'h5', 'hdf5', 'keras', 'onnx', 'json'],
  'All files': ['*'],
};

/** A local file from a command argument (a Uri from the Explorer, or a path). */
export function uriOf(arg: unknown): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri) return arg.scheme === 'file' ? arg : undefined;
  if (typeof arg === 'string' && arg !== '') return vscode.Uri.file(arg);
  return undefined;
}

function isUri(value: vscode.Uri | undefined): value is vscode.Uri {
  return value !== undefined;
}

/** `bnnLab.inspectCheckpoint [file]`: the file in the inspector's custom editor. */
export async function inspectCheckpoint(arg?: unknown): Promise<void> {
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
  await vscode.commands.executeCommand('vscode.openWith', uri, inspectorViewTypeFor(uri.fsPath));
}

/** The two files to compare: both selected in the Explorer, or picked (one or two at a time). */
async function pickTwoFiles(arg: unknown, selection: unknown): Promise<vscode.Uri[] | undefined> {
  // From the Explorer with two files selected: (clicked, [both]).
  let files = Array.isArray(selection) ? selection.map(uriOf).filter(isUri) : [];
  if (files.length === 2) return files;
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
  if (!picked) return undefined;
  files = [...files, ...picked];
  if (files.length === 1) {
    const second = await vscode.window.showOpenDialog({
      title: `BNN Lab: Compare ${path.basename(files[0].fsPath)} With…`,
      canSelectMany: false,
      filters: CHECKPOINT_FILTERS,
      openLabel: 'Compare',
    });
    if (!second) return undefined;
    files.push(second[0]);
  }
  return files;
}

/** `bnnLab.compareCheckpoints [file] [selection]`: sign flips between two files, in a panel. */
export async function compareCheckpoints(
  pages: InspectorPages,
  arg?: unknown,
  selection?: unknown,
): Promise<void> {
  const files = await pickTwoFiles(arg, selection);
  if (!files) return;
  if (files.length !== 2) {
    void vscode.window.showWarningMessage(
      `BNN Lab: Compare Checkpoints needs exactly two files, got ${files.length}.`,
    );
    return;
  }
  const [a, b] = files.map((f) => f.fsPath);
  pages.openPanel(`${path.basename(a)} ↔ ${path.basename(b)}`, { kind: 'compare', a, b });
}

/** `{ watch: boolean }` from a command's options argument, if given. */
function watchOption(options: unknown): boolean | undefined {
  return typeof options === 'object' && options !== null && 'watch' in options
    ? Boolean((options as { watch: unknown }).watch)
    : undefined;
}

/** `bnnLab.analyseCheckpointFolder [folder] [{ watch }]`: a folder's checkpoints as a series. */
export async function analyseCheckpointFolder(
  pages: InspectorPages,
  arg?: unknown,
  options?: unknown,
): Promise<void> {
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
  let watch = watchOption(options);
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
  pages.openPanel(`${path.basename(folder.fsPath)} (series)`, {
    kind: 'series',
    folder: folder.fsPath,
    watch,
  });
}
