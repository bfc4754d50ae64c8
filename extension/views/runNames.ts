/**
 * What a run is called: the user's label ("Label Run…" in the Runs view), else the name of the
 * config file it was trained from (`lr-sweep.bnn.json` → `lr-sweep`), else its run id. Both are
 * kept in the run folder's `label.json` (`{ "label": …, "configFile": … }`), written by BNN Lab
 * beside the files the engine writes; a missing or unreadable file means neither.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { log } from '../log';

export const LABEL_FILE = 'label.json';

export interface RunLabel {
  /** The user's name for the run. */
  label?: string;
  /** The `*.bnn.json` it was trained from, relative to its workspace folder. */
  configFile?: string;
}

/** The run folder's `label.json` ({} when there is none or it cannot be read). */
export function readRunLabel(dir: string): RunLabel {
  const file = path.join(dir, LABEL_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return {};
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null) return {};
    const { label, configFile } = value as Record<string, unknown>;
    return {
      ...(typeof label === 'string' && label.trim() !== '' ? { label: label.trim() } : {}),
      ...(typeof configFile === 'string' && configFile !== '' ? { configFile } : {}),
    };
  } catch (e) {
    log.warn(`runs: ${file} is not JSON, ignored: ${e instanceof Error ? e.message : String(e)}`);
    return {};
  }
}

/** Merges `patch` into the run folder's `label.json` (written whole, then renamed into place). */
export function writeRunLabel(dir: string, patch: RunLabel): void {
  const next: RunLabel = { ...readRunLabel(dir), ...patch };
  if (next.label === '') delete next.label;
  const file = path.join(dir, LABEL_FILE);
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(next, null, 2)}\n`);
  renameSync(temp, file);
}

/** The config file's name without `.bnn.json` (`configs/lr-sweep.bnn.json` → `lr-sweep`). */
export function configName(configFile: string): string {
  return path
    .basename(configFile)
    .replace(/\.bnn\.json$/i, '')
    .replace(/\.json$/i, '');
}

/** The label, else the config file's name, else `runId`. */
export function runName(runId: string, label: RunLabel): string {
  return label.label ?? (label.configFile ? configName(label.configFile) : runId);
}

/** The display name of the run in `dir`. */
export function runNameOf(dir: string, runId: string): string {
  return runName(runId, readRunLabel(dir));
}

/**
 * `bnnLab.labelRun`: asks for a label for the run in `dir` (empty: remove it).
 * @returns true when the label changed.
 */
export async function askRunLabel(dir: string): Promise<boolean> {
  const current = readRunLabel(dir);
  const value = await vscode.window.showInputBox({
    title: `BNN Lab: Label ${path.basename(dir)}`,
    prompt:
      'A name for this run in the Runs view, the dashboard and comparison legends (empty: none)',
    value: current.label ?? (current.configFile ? configName(current.configFile) : ''),
  });
  if (value === undefined) return false;
  writeRunLabel(dir, { label: value.trim() });
  log.info(`runs: labelled ${dir} "${value.trim()}"`);
  return true;
}
