/**
 * The Layers view's commands: select a tensor in the active inspector page, and "Mark as
 * Binary", which adds a name pattern to `bnnLab.inspect.binaryPatterns`.
 */
import * as vscode from 'vscode';
import { DEFAULT_BINARY_PATTERNS } from '../../core/checkpoints/inspect';
import { log } from '../log';
import { updateBinaryPatterns } from '../settings';
import type { InspectorPages } from './inspectorPages';
import type { LayerItem } from './layerItems';
import { patternForTensor, withPattern } from './settings';

/** `bnnLab.selectLayer name`: the tensor selected in the active page. */
export function selectLayer(pages: InspectorPages, arg?: unknown): void {
  if (typeof arg === 'string') pages.active?.selectLayer(arg);
}

/** The input box's check: a non-empty, valid regular expression. */
function patternProblem(text: string): string | undefined {
  if (text.trim() === '') return 'Enter a regular expression';
  try {
    new RegExp(text, 'i');
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/**
 * Layers view → "Mark as Binary": adds a name pattern for the tensor to the workspace's
 * `bnnLab.inspect.binaryPatterns` (the "saved in workspace settings"); the setting
 * change re-analyses every open page.
 */
export async function markLayerBinary(pages: InspectorPages, arg?: unknown): Promise<void> {
  const name = typeof arg === 'string' ? arg : (arg as Partial<LayerItem> | undefined)?.name;
  const active = pages.active;
  if (typeof name !== 'string' || !active) return;
  const pattern = await vscode.window.showInputBox({
    title: 'BNN Lab: Mark as Binary',
    prompt: `Regular expression (case-insensitive) for tensors to mark binary; widen it to mark similar layers`,
    value: patternForTensor(name),
    validateInput: patternProblem,
  });
  if (!pattern) return;
  const target = await updateBinaryPatterns(vscode.Uri.file(active.target), (current) =>
    withPattern(current, pattern, DEFAULT_BINARY_PATTERNS),
  );
  log.info(`inspector: added binary pattern /${pattern}/ (${vscode.ConfigurationTarget[target]})`);
}
