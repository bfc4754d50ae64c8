/**
 * "BNN Lab: Train BNN": a preset, the quick demo or a `*.bnn.json` run config, resolved once with
 * the metrics settings as defaults under the config's own values, its dataset checked, then
 * launched by the shared run launcher.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { listPresets } from '../../core/bnn/presetCatalog';
import { checkDatasetFiles } from '../../core/data/datasets';
import { ConfigError, UserError } from '../../core/errors';
import { FILE_CAPS, readBoundedText } from '../../core/io/boundedFile';
import type { TrainConfig } from '../../core/protocol';
import { parseConfigJson, resolveConfig } from '../../core/training/config';
import { ConfigFileError } from '../errors';
import { settingMessage } from '../errorWording';
import { metricsSettings } from '../settings';
import { fieldRange } from './configFile';
import { trainDoneMessage } from './endMessages';
import { type Ctx, ensureTrainableWorkspace, launchRun } from './launcher';
import { trainRows, type TrainRow } from './trainPicks';

export const TRAIN_COMMAND = 'bnnLab.train';

/** A picked row that starts a run. */
type ConfigPick = Exclude<TrainRow<vscode.Uri>, { kind: 'separator' }>;

/**
 * `bnnLab.train`: asks for a preset or run config, or takes it from its argument: a `*.bnn.json`
 * Uri (Explorer and editor menus) or a run config object such as `{ "preset": "mnist-cnn",
 * "epochs": 2 }` (keybindings, tasks, tests).
 */
export async function train(ctx: Ctx, arg?: unknown): Promise<void> {
  const folders = await ensureTrainableWorkspace('train');
  if (!folders) return;
  const picked = trainArgument(arg) ?? (await pickRunConfig());
  if (!picked) return;
  const loaded = await loadRunConfig(picked, folders);
  if (!loaded) return;
  const { config, folder } = loaded;
  await launchRun(ctx, {
    command: TRAIN_COMMAND,
    what: `train ${config.preset}`,
    folder,
    name: config.preset,
    ...(picked.kind === 'file'
      ? { configFile: path.relative(folder.uri.fsPath, picked.file.fsPath) }
      : {}),
    job: { config },
    completedMessage: trainDoneMessage,
    failedMessage: (message) => `BNN Lab: training failed: ${message}`,
  });
}

/** A `bnnLab.train` argument as a pick. @throws UserError for an argument it cannot use. */
function trainArgument(arg: unknown): ConfigPick | undefined {
  if (arg === undefined || arg === null) return undefined;
  if (arg instanceof vscode.Uri) {
    const name = path.basename(arg.fsPath);
    return { kind: 'file', label: name, description: name, file: arg };
  }
  if (typeof arg === 'object' && typeof (arg as { preset?: unknown }).preset === 'string') {
    const fields = arg as Record<string, unknown>;
    const preset = String(fields.preset);
    return { kind: 'preset', label: preset, description: '', preset, fields };
  }
  throw new UserError(
    'bnnLab.train takes a *.bnn.json file or a run config object with a "preset" field, e.g. { "preset": "mnist-cnn", "epochs": 2 }',
  );
}

async function pickRunConfig(): Promise<ConfigPick | undefined> {
  const items = async (): Promise<(vscode.QuickPickItem & { row: TrainRow<vscode.Uri> })[]> => {
    const files = await vscode.workspace.findFiles('**/*.bnn.json', '**/node_modules/**', 500);
    files.sort((a, b) => a.fsPath.localeCompare(b.fsPath));
    const rows = trainRows(
      listPresets(),
      files.map((file) => ({
        file,
        name: path.basename(file.fsPath),
        relative: vscode.workspace.asRelativePath(file),
      })),
    );
    return rows.map((row) =>
      row.kind === 'separator'
        ? { label: row.label, kind: vscode.QuickPickItemKind.Separator, row }
        : {
            label: row.label,
            description: row.description,
            detail: row.kind === 'preset' ? row.detail : undefined,
            row,
          },
    );
  };
  const picked = await vscode.window.showQuickPick(items(), {
    title: 'BNN Lab: Train BNN',
    placeHolder: 'Pick the quick demo, a preset or a *.bnn.json run config',
    matchOnDescription: true,
  });
  return picked && picked.row.kind !== 'separator' ? picked.row : undefined;
}

/**
 * Resolves a raw run config once, with the metrics settings as defaults under its own values.
 * @throws ConfigError naming the source and field; UserError naming the setting when a setting's
 * value is at fault.
 */
function resolveWithSettings(
  raw: Record<string, unknown>,
  source: string,
  scope: vscode.Uri | undefined,
): TrainConfig {
  const defaults = metricsSettings(scope);
  try {
    return resolveConfig({ ...defaults.values, ...raw }, source);
  } catch (e) {
    const key = e instanceof ConfigError ? defaults.keys[e.field] : undefined;
    if (e instanceof ConfigError && key !== undefined && !(e.field in raw)) {
      throw new UserError(settingMessage(e, key));
    }
    throw e;
  }
}

/**
 * Resolves the picked preset or file into a config and checks that its dataset files are there,
 * so a wrong `dataset.path` is reported before a run folder exists.
 * @returns undefined when the user dismissed the folder pick.
 * @throws ConfigFileError (with the key's place in the file) or UserError.
 */
async function loadRunConfig(
  picked: ConfigPick,
  folders: readonly vscode.WorkspaceFolder[],
): Promise<{ config: TrainConfig; folder: vscode.WorkspaceFolder } | undefined> {
  if (picked.kind === 'preset') {
    const folder =
      folders.length === 1
        ? folders[0]
        : await vscode.window.showWorkspaceFolderPick({ placeHolder: 'Folder to save the run in' });
    if (!folder) return undefined;
    const config = resolveWithSettings(
      picked.fields ?? { preset: picked.preset },
      picked.fields ? 'the bnnLab.train argument' : 'settings',
      folder.uri,
    );
    checkDatasetFiles(config.dataset);
    return { config, folder };
  }
  const file = picked.file;
  const source = vscode.workspace.asRelativePath(file);
  // An open editor may hold unsaved edits: train what the user sees.
  const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === file.toString());
  const text = open
    ? open.getText()
    : file.scheme === 'file'
      ? await readBoundedText(file.fsPath, { what: 'run config', maxBytes: FILE_CAPS.config })
      : new TextDecoder().decode(await vscode.workspace.fs.readFile(file));
  const inFile = (e: unknown, field: string): unknown =>
    e instanceof UserError ? new ConfigFileError(e.message, file, fieldRange(text, field)) : e;
  let config: TrainConfig;
  try {
    const raw = parseConfigJson(text, source);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      config = resolveConfig(raw, source); // throws the root's message
    } else {
      config = resolveWithSettings(raw as Record<string, unknown>, source, file);
    }
  } catch (e) {
    throw e instanceof ConfigError && e.source === source ? inFile(e, e.field) : e;
  }
  const datasetPath = config.dataset.path;
  if (datasetPath !== undefined && !path.isAbsolute(datasetPath)) {
    // Relative dataset folders are relative to the config file, not to the worker's cwd.
    config.dataset = {
      ...config.dataset,
      path: path.resolve(path.dirname(file.fsPath), datasetPath),
    };
  }
  try {
    checkDatasetFiles(config.dataset);
  } catch (e) {
    throw inFile(e, 'dataset.path');
  }
  return { config, folder: vscode.workspace.getWorkspaceFolder(file) ?? folders[0] };
}
