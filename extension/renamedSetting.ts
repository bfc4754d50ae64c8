/**
 * Reading a setting that was renamed, with its old key still honoured. Pure (no vscode import):
 * it takes what `WorkspaceConfiguration.inspect` returns for both keys, so tests check it.
 *
 * `bnnLab.telemetry.everySteps` became `bnnLab.metrics.everySteps` (the old name came up when
 * users searched the settings for "telemetry", which is about usage data; this setting is not).
 */

/** The levels of `vscode.WorkspaceConfiguration.inspect` this reads (a structural subset). */
export interface SettingLevels<T> {
  defaultValue?: T;
  globalValue?: T;
  workspaceValue?: T;
  workspaceFolderValue?: T;
}

/** Where a value was set, most specific first, as VS Code applies them. */
const LEVELS = [
  ['workspaceFolderValue', 'folder settings'],
  ['workspaceValue', 'workspace settings'],
  ['globalValue', 'user settings'],
] as const;

export interface RenamedSettingValue<T> {
  value: T;
  /** The key the value came from (without the `bnnLab.` section). */
  key: string;
  /** Set only when the deprecated key supplied the value: which settings file holds it. */
  deprecatedIn?: string;
}

/**
 * The value of a renamed setting: at the most specific level where either key is set, the new
 * key's value, else the old key's; where neither is set anywhere, the new key's default. So an
 * old key in a workspace still overrides a new key in the user settings, as it did before.
 */
export function readRenamedSetting<T>(
  key: string,
  current: SettingLevels<T> | undefined,
  deprecatedKey: string,
  deprecated: SettingLevels<T> | undefined,
  fallback: T,
): RenamedSettingValue<T> {
  for (const [level, where] of LEVELS) {
    const now = current?.[level];
    if (now !== undefined) return { value: now, key };
    const old = deprecated?.[level];
    if (old !== undefined) return { value: old, key: deprecatedKey, deprecatedIn: where };
  }
  return { value: current?.defaultValue ?? fallback, key };
}

export const METRICS_EVERY_STEPS = 'metrics.everySteps';
export const DEPRECATED_EVERY_STEPS = 'telemetry.everySteps';
