/**
 * The inspector's editor and panel types. A custom-editor contribution has one priority, so the
 * same provider is registered under three view types (package.json `customEditors`):
 * - {@link WEIGHTS_VIEW_TYPE}, the default editor of files that can only be weights
 *   (`.pt`, `.pth`, `.safetensors`, `.onnx`): a click in the Explorer opens the inspector;
 * - {@link INSPECTOR_VIEW_TYPE}, offered under "Reopen Editor With…" for names other tools
 *   claim too (`.h5`, `.bin`, `.ckpt`, `model.json` …);
 * - {@link RUN_CHECKPOINT_VIEW_TYPE}, the default for BNN Lab's own `checkpoints/epoch-N/model.json`.
 * No `vscode` import, so the choice is unit-tested.
 */
export const INSPECTOR_VIEW_TYPE = 'bnnLab.checkpointInspector';
export const WEIGHTS_VIEW_TYPE = 'bnnLab.weightsInspector';
export const RUN_CHECKPOINT_VIEW_TYPE = 'bnnLab.runCheckpointInspector';
/** Panels for comparisons and folder series (not editors: they have no single document). */
export const ANALYSIS_PANEL_TYPE = 'bnnLab.checkpointAnalysis';

/** Extensions the inspector opens by default (as in package.json's `bnnLab.weightsInspector`). */
export const DEFAULT_EDITOR_EXTENSIONS: readonly string[] = [
  '.pt',
  '.pth',
  '.safetensors',
  '.onnx',
];

/** The view type whose selector matches `path`, for `vscode.openWith`. */
export function inspectorViewTypeFor(path: string): string {
  const name = (path.split(/[\\/]/).pop() ?? path).toLowerCase();
  return DEFAULT_EDITOR_EXTENSIONS.some((ext) => name.endsWith(ext))
    ? WEIGHTS_VIEW_TYPE
    : INSPECTOR_VIEW_TYPE;
}
