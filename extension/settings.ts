/**
 * Every `bnnLab.*` setting the extension reads or writes, in one module: each read names its
 * scope (the workspace folder or file it applies to) and validates the value, so an error names
 * the setting. The inspector's settings are parsed by the vscode-free
 * extension/inspector/settings.ts; test/unit/extension/settingsReads.test.ts keeps every
 * `getConfiguration` call in this file.
 */
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { UserError } from '../core/errors';
import { threadCountProblem } from '../core/parallel/shards';
import type { BackendPreference } from '../core/protocol';
import { log } from './log';
import { DEPRECATED_EVERY_STEPS, METRICS_EVERY_STEPS, readRenamedSetting } from './renamedSetting';

const SECTION = 'bnnLab';

function settings(scope?: vscode.ConfigurationScope): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(SECTION, scope);
}

/** `bnnLab.runs.folder` resolved against the workspace folder (default `.bnn-lab/runs`). */
export function runsRoot(folder: vscode.WorkspaceFolder): string {
  return path.resolve(
    folder.uri.fsPath,
    settings(folder.uri).get<string>('runs.folder') || '.bnn-lab/runs',
  );
}

/** The runs folders of the workspace's local folders (`bnnLab.runs.folder` of each). */
export function workspaceRunsRoots(): string[] {
  return (vscode.workspace.workspaceFolders ?? [])
    .filter((f) => f.uri.scheme === 'file')
    .map((f) => runsRoot(f));
}

/** `bnnLab.engine.backend` for a run in `scope`. */
export function engineBackend(scope: vscode.Uri | undefined): BackendPreference {
  return settings(scope).get<BackendPreference>('engine.backend', 'auto');
}

/**
 * `bnnLab.engine.threads`: data-parallel threads of a run; unset means one per core.
 * @throws UserError naming the setting when the value is not 1..cores.
 */
export function engineThreads(scope: vscode.Uri | undefined): number {
  const cores = availableParallelism();
  const value = settings(scope).get<number | null>('engine.threads', null);
  if (value === null || value === undefined) return cores;
  const problem = threadCountProblem(value, cores);
  if (problem) {
    throw new UserError(
      `BNN Lab: setting bnnLab.engine.threads: ${problem}; or remove the setting to use every core`,
    );
  }
  return value;
}

/** `bnnLab.engine.nativeModulePath` (machine scope), or undefined when empty. */
export function nativeModulePath(): string | undefined {
  return settings().get<string>('engine.nativeModulePath', '').trim() || undefined;
}

/** Writes a user-level (global) setting, e.g. after installing native TensorFlow. */
export async function updateGlobalSetting(key: string, value: unknown): Promise<void> {
  await settings().update(key, value, vscode.ConfigurationTarget.Global);
}

/**
 * The inspector's settings for a checkpoint, as set (`bnnLab.inspect.binaryPatterns`,
 * `bnnLab.metrics.deadTau`): `analysisSettings` in extension/inspector/settings.ts checks them.
 */
export function inspectorSettings(resource: vscode.Uri): {
  binaryPatterns: unknown;
  deadTau: unknown;
} {
  const s = settings(resource);
  return {
    binaryPatterns: s.get<unknown>('inspect.binaryPatterns'),
    deadTau: s.get<unknown>('metrics.deadTau'),
  };
}

/** Where a setting about `resource` is saved: its workspace folder, the workspace, or the user. */
function resourceTarget(resource: vscode.Uri): vscode.ConfigurationTarget {
  if (vscode.workspace.getWorkspaceFolder(resource)) {
    return vscode.ConfigurationTarget.WorkspaceFolder;
  }
  return vscode.workspace.workspaceFolders
    ? vscode.ConfigurationTarget.Workspace
    : vscode.ConfigurationTarget.Global;
}

/** The value a write at `target` starts from: the value set there, or the one it inherits. */
function valueAt<T>(
  inspected: { globalValue?: T; workspaceValue?: T; workspaceFolderValue?: T } | undefined,
  target: vscode.ConfigurationTarget,
): T | undefined {
  switch (target) {
    case vscode.ConfigurationTarget.WorkspaceFolder:
      return inspected?.workspaceFolderValue ?? inspected?.workspaceValue ?? inspected?.globalValue;
    case vscode.ConfigurationTarget.Workspace:
      return inspected?.workspaceValue ?? inspected?.globalValue;
    default:
      return inspected?.globalValue;
  }
}

/**
 * Rewrites `bnnLab.inspect.binaryPatterns` where `resource`'s settings live (its workspace
 * folder, else the workspace, else the user): `update` gets the list in effect there.
 * @returns the target written, for the log.
 */
export async function updateBinaryPatterns(
  resource: vscode.Uri,
  update: (current: string[] | undefined) => string[],
): Promise<vscode.ConfigurationTarget> {
  const s = settings(resource);
  const target = resourceTarget(resource);
  const current = valueAt(s.inspect<string[]>('inspect.binaryPatterns'), target);
  await s.update('inspect.binaryPatterns', update(current), target);
  return target;
}

/** Run-config fields that the metrics settings supply, by field. */
export interface MetricsSettings {
  /** The settings' values as run-config fields, not yet validated. */
  values: { telemetryEverySteps: unknown; histogramBins: unknown; deadTau: unknown };
  /** The setting (without `bnnLab.`) each field came from, for an error about it. */
  keys: Readonly<Record<string, string>>;
}

/**
 * The metrics settings (`bnnLab.metrics.everySteps`, `.histogramBins`, `.deadTau`) as run-config
 * fields: a run config's own values come on top of these, and the config's one validation
 * checks them ({@link settingMessage} words an error about one).
 */
export function metricsSettings(scope: vscode.Uri | undefined): MetricsSettings {
  const s = settings(scope);
  const every = readRenamedSetting(
    METRICS_EVERY_STEPS,
    s.inspect<number>(METRICS_EVERY_STEPS),
    DEPRECATED_EVERY_STEPS,
    s.inspect<number>(DEPRECATED_EVERY_STEPS),
    10,
  );
  if (every.deprecatedIn) {
    log.warn(
      `bnnLab.${DEPRECATED_EVERY_STEPS} (in your ${every.deprecatedIn}) is deprecated: rename it to bnnLab.${METRICS_EVERY_STEPS}; its value ${every.value} is used until then`,
    );
  }
  return {
    values: {
      telemetryEverySteps: every.value,
      histogramBins: s.get<number>('metrics.histogramBins', 64),
      deadTau: s.get<number>('metrics.deadTau', 0.99),
    },
    keys: {
      telemetryEverySteps: every.key,
      histogramBins: 'metrics.histogramBins',
      deadTau: 'metrics.deadTau',
    },
  };
}
