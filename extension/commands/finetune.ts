/**
 * "BNN Lab: Fine-tune Checkpoint with Noisy Supervision" (LNS, docs/lns.md): from the Explorer
 * (a checkpoint folder or its model.json), the checkpoint inspector, or the palette. It checks the
 * checkpoint on the host, asks for epochs, α, ρ and the dataset, and runs the fine-tune in the
 * engine worker like any training run: progress notification, status bar, dashboard, cancel, a
 * new run folder. The source checkpoint is only read.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { getPresetInfo } from '../../core/bnn/presetCatalog';
import { checkDatasetFiles } from '../../core/data/datasets';
import { ConfigError } from '../../core/errors';
import type { DatasetConfig, FinetuneOptions } from '../../core/protocol';
import { checkSourceCheckpoint } from '../../core/training/checkpointMeta';
import {
  FINETUNE_DEFAULTS,
  sourceConfig,
  validateFinetune,
} from '../../core/training/finetuneSettings';
import { log } from '../log';
import { finetuneDoneMessage, finetuneFailedMessage } from './endMessages';
import { type Ctx, ensureTrainableWorkspace, launchRun } from './launcher';

export const FINETUNE_COMMAND = 'bnnLab.finetuneCheckpoint';
const TITLE = 'BNN Lab: Fine-tune Checkpoint with Noisy Supervision';

/** A checkpoint folder from a URI (the folder or a file in it), a path, or nothing. */
function checkpointDirOf(arg: unknown): string | undefined {
  const p = arg instanceof vscode.Uri ? arg.fsPath : typeof arg === 'string' ? arg : undefined;
  if (p === undefined) return undefined;
  return path.basename(p) === 'model.json' ? path.dirname(p) : p;
}

/** Checkpoints of the workspace's runs, newest first, plus "Browse…". */
async function pickCheckpoint(): Promise<string | undefined> {
  const files = await vscode.workspace.findFiles(
    '**/checkpoints/epoch-*/model.json',
    '**/node_modules/**',
    500,
  );
  const items = await Promise.all(
    files.map(async (file) => {
      const dir = path.dirname(file.fsPath);
      const stat = await vscode.workspace.fs.stat(file);
      return {
        label: `$(package) ${path.basename(path.dirname(path.dirname(dir)))} · ${path.basename(dir)}`,
        description: vscode.workspace.asRelativePath(dir),
        dir,
        mtime: stat.mtime,
      };
    }),
  );
  items.sort((a, b) => b.mtime - a.mtime);
  const browse: vscode.QuickPickItem & { dir?: string } = {
    label: '$(folder-opened) Browse…',
    description: 'a folder …/checkpoints/epoch-N',
  };
  const picked = await vscode.window.showQuickPick<vscode.QuickPickItem & { dir?: string }>(
    [...items, browse],
    {
      title: TITLE,
      placeHolder:
        items.length > 0
          ? 'Pick the BNN Lab checkpoint to fine-tune'
          : 'No BNN Lab checkpoint in this workspace: browse for one',
      matchOnDescription: true,
    },
  );
  if (!picked) return undefined;
  if (picked.dir !== undefined) return picked.dir;
  const chosen = await vscode.window.showOpenDialog({
    title: `${TITLE}: pick a checkpoint folder (RUN/checkpoints/epoch-N)`,
    canSelectFolders: true,
    canSelectFiles: true,
    canSelectMany: false,
    filters: { 'BNN Lab checkpoint (model.json)': ['json'] },
  });
  return chosen?.[0] ? checkpointDirOf(chosen[0]) : undefined;
}

/** The message of a failed check, for an input box: the ConfigError's text after the field. */
function checkNumber(
  field: 'epochs' | 'alpha' | 'rho',
  text: string,
  parse: (t: string) => number,
): string | undefined {
  const value = parse(text.trim());
  try {
    validateFinetune({ method: 'lns', [field]: value });
    return undefined;
  } catch (e) {
    if (e instanceof ConfigError) return `${field} ${e.detail}`;
    throw e;
  }
}

async function askNumber(
  step: number,
  field: 'epochs' | 'alpha' | 'rho',
  prompt: string,
  initial: number,
): Promise<number | undefined> {
  const parse = (t: string) => Number(t);
  const text = await vscode.window.showInputBox({
    title: `${TITLE} (${step}/4)`,
    prompt,
    value: String(initial),
    ignoreFocusOut: true,
    validateInput: (t) => (t.trim() === '' ? `${field} is required` : checkNumber(field, t, parse)),
  });
  return text === undefined ? undefined : parse(text.trim());
}

type DatasetPick = vscode.QuickPickItem & { dataset?: DatasetConfig; browse?: 'idx' | 'cifar10' };

/**
 * The source run's dataset (default), or another one the model can take: the embedded MNIST and
 * Fashion-MNIST or an IDX folder for 28×28×1 models, a CIFAR-10 folder for 32×32×3 ones.
 */
async function askDataset(
  source: DatasetConfig,
  inputShape: readonly number[],
): Promise<DatasetConfig | undefined> {
  const describe = (d: DatasetConfig) =>
    d.path ? `${d.name} · ${d.path}` : `${d.name} (embedded)`;
  const items: DatasetPick[] = [
    { label: 'The source run’s dataset', description: describe(source), dataset: source },
    { label: 'MNIST', description: 'embedded', dataset: { name: 'mnist' } },
    { label: 'Fashion-MNIST', description: 'embedded', dataset: { name: 'fashion-mnist' } },
    { label: 'IDX folder…', description: 'four IDX files (optionally .gz)', browse: 'idx' },
    {
      label: 'CIFAR-10 folder…',
      description: 'data_batch_1..5.bin, test_batch.bin',
      browse: 'cifar10',
    },
  ];
  const grey = inputShape.join('×') === '28×28×1';
  const rgb = inputShape.join('×') === '32×32×3';
  const fits = items.filter((item, i) => i === 0 || (item.browse === 'cifar10' ? rgb : grey));
  const picked = await vscode.window.showQuickPick(fits, {
    title: `${TITLE} (4/4)`,
    placeHolder: 'Dataset to fine-tune and evaluate on (same input size as the checkpoint)',
    ignoreFocusOut: true,
  });
  if (!picked) return undefined;
  if (picked.dataset) return picked.dataset;
  const folder = await vscode.window.showOpenDialog({
    title: `${TITLE}: the ${picked.browse === 'cifar10' ? 'CIFAR-10' : 'IDX'} dataset folder`,
    canSelectFolders: true,
    canSelectFiles: false,
  });
  if (!folder?.[0]) return undefined;
  return { name: picked.browse ?? 'idx', path: folder[0].fsPath };
}

/** The whole command. Exported for the inspector's button and the tests. */
export async function finetuneCheckpoint(ctx: Ctx, arg: unknown): Promise<void> {
  const folders = await ensureTrainableWorkspace('fine-tune');
  if (!folders) return;
  const checkpoint = checkpointDirOf(arg) ?? (await pickCheckpoint());
  if (!checkpoint) return;
  // The run goes beside the source run when that is in the workspace.
  const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(checkpoint)) ?? folders[0];
  const meta = checkSourceCheckpoint(checkpoint); // UserError: not BNN Lab / no binary layers
  const source = sourceConfig(checkpoint, meta.preset);
  const binaryCount = Object.keys(meta.binaryLayers).length;
  log.info(
    `fine-tune: ${checkpoint} (${meta.preset}, epoch ${meta.epoch}, ${binaryCount} binary layers)`,
  );

  const epochs = await askNumber(
    1,
    'epochs',
    `Epochs of fine-tuning ${meta.preset} (epoch ${meta.epoch}, ${binaryCount} binary layers)`,
    FINETUNE_DEFAULTS.epochs,
  );
  if (epochs === undefined) return;
  const alpha = await askNumber(
    2,
    'alpha',
    'α: weight of the mappers’ auxiliary loss in L = ℓ_cls + α Σ ℓ̃ (≥ 0)',
    FINETUNE_DEFAULTS.alpha,
  );
  if (alpha === undefined) return;
  const rho = await askNumber(
    3,
    'rho',
    'ρ: assumed flip rate of the noisy labels sgn(W), in [0, 0.5)',
    FINETUNE_DEFAULTS.rho,
  );
  if (rho === undefined) return;
  const dataset = await askDataset(source.dataset, getPresetInfo(meta.preset).inputShape);
  if (!dataset) return;
  // A dataset folder picked here must hold its files before a run folder is made for it.
  checkDatasetFiles(dataset);
  const finetune: FinetuneOptions = { checkpoint, method: 'lns', epochs, alpha, rho, dataset };
  await launchRun(ctx, {
    command: FINETUNE_COMMAND,
    what: `fine-tune ${meta.preset}`,
    folder,
    name: `${meta.preset}-finetune-lns`,
    job: { finetune },
    completedMessage: finetuneDoneMessage,
    failedMessage: (message) => finetuneFailedMessage(checkpoint, message),
  });
}
