/**
 * The checkpoint inspector: per-tensor metrics of docs/metrics.md for any checkpoint the readers
 * open, the model summary, sign flips between two checkpoints and across a folder of them.
 *
 * Which tensors get metrics: float tensors (float16/bfloat16/float32/float64) of rank 2 or 4,
 * i.e. dense and conv kernels. Every other tensor (biases, normalization parameters and
 * statistics, counters) is listed with `stats: null` and `binary: false`, and float ones count
 * towards the summary's `params` as full-precision weights.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fieldName, UserError } from '../errors';
import {
  DEFAULT_BINS,
  DEFAULT_DEAD_TAU,
  SignTracker,
  flipRateBetween,
  weightStatsWithAlpha,
} from '../metrics/layerStats';
import type {
  CompareReport,
  InspectLayer,
  InspectReport,
  InspectStats,
  InspectSummary,
  SeriesReport,
} from '../protocol';

// The report shapes cross the worker and webview boundaries, so they live in protocol.ts.
export type {
  CompareReport,
  InspectLayer,
  InspectReport,
  InspectStats,
  InspectSummary,
  SeriesReport,
};
import { openFileSource } from './byteSource';
import { CHECKPOINT_EXTENSIONS, openCheckpoint } from './open';
import { detectProfile, type CheckpointProfile } from './profiles';
import { isFloatDtype, type CheckpointModel, type CheckpointTensor } from './model';
import { looksLikeZip } from './zip';

/**
 * Default name patterns (case-insensitive regular expressions) that mark a tensor binary in
 * formats that do not record binarization (PyTorch, safetensors): the layer names of common
 * BNN code bases (XNOR-Net/BinaryNet `BinarizeConv2d`, Bi-Real/ReActNet `HardBinaryConv`,
 * `binary_conv`, `bconv` …).
 */
export const DEFAULT_BINARY_PATTERNS: readonly string[] = [
  'binary_?conv',
  'binarize_?conv',
  'hard_?binary_?conv',
  'bin_?conv',
  'bconv',
  'binary_?linear',
  'binarize_?linear',
  'bin_?linear',
  'blinear',
  'xnor_?conv',
];

/** Options of inspectCheckpoint, compareCheckpoints and checkpointSeries. */
export interface InspectOptions {
  /** Regular expressions (strings, case-insensitive) marking binary tensors by name; replaces the defaults. */
  binaryPatterns?: readonly string[];
  /** τ of `deadWeightRatio`, in (0.5, 1); 0.99 by default. */
  deadTau?: number;
}

function compilePatterns(patterns: readonly string[]): RegExp[] {
  return patterns.map((p) => {
    try {
      return new RegExp(p, 'i');
    } catch (error) {
      throw new UserError(
        `bnnLab.inspect.binaryPatterns: "${p}" is not a valid regular expression (${(error as Error).message})`,
      );
    }
  });
}

/** True for the tensors that get metrics: float dtype, rank 2 or 4. */
export function isWeightTensor(tensor: Pick<CheckpointTensor, 'shape' | 'dtype'>): boolean {
  return (tensor.shape.length === 2 || tensor.shape.length === 4) && isFloatDtype(tensor.dtype);
}

/**
 * Decides `binary` for one tensor: the file's own hint, then the user's patterns, then the
 * profile of a known checkpoint layout, then the built-in patterns.
 */
export function classifyTensor(
  tensor: CheckpointTensor,
  patterns: readonly RegExp[],
  binarySource?: string,
  profile?: { userPatterns: boolean; profile: CheckpointProfile },
): { binary: boolean | null; reason: string; clip: number | null; statsShape?: number[] } {
  if (!isFloatDtype(tensor.dtype)) {
    return { binary: false, reason: `${tensor.dtype} tensor: not a latent weight`, clip: null };
  }
  if (tensor.shape.length !== 2 && tensor.shape.length !== 4) {
    return {
      binary: false,
      reason: `rank-${tensor.shape.length} tensor: only rank-2 and rank-4 weights are analysed`,
      clip: null,
    };
  }
  if (tensor.hint) {
    return { binary: tensor.hint.binary, reason: tensor.hint.reason, clip: tensor.hint.clip };
  }
  if (profile?.userPatterns) {
    for (const pattern of patterns) {
      if (pattern.test(tensor.name)) {
        return {
          binary: true,
          reason: `name matches /${pattern.source}/ (your pattern, before the ${profile.profile.info.name} profile)`,
          clip: null,
        };
      }
    }
  }
  const decision = profile?.profile.classify(tensor.name, tensor.shape);
  if (decision) return decision;
  for (const pattern of patterns) {
    if (pattern.test(tensor.name)) {
      return { binary: true, reason: `name matches /${pattern.source}/`, clip: null };
    }
  }
  if (binarySource !== undefined) {
    return { binary: false, reason: `not marked binary in ${binarySource}`, clip: null };
  }
  return {
    binary: null,
    reason: 'format does not record binarization; mark it with bnnLab.inspect.binaryPatterns',
    clip: null,
  };
}

/** Metrics of one weight tensor (values already decoded). */
function tensorStats(
  tensor: CheckpointTensor,
  values: Float32Array,
  clip: number | null,
  deadTau: number,
): InspectStats {
  const { stats, alpha } = weightStatsWithAlpha(values, {
    shape: tensor.shape,
    channelAxis: tensor.channelAxis,
    bins: DEFAULT_BINS,
    deadTau,
    clip,
  });
  return { ...stats, alpha: Array.from(alpha) };
}

function summarize(layers: InspectLayer[]): InspectSummary {
  let params = 0;
  let binaryParams = 0;
  for (const layer of layers) {
    if (!isFloatDtype(layer.dtype as CheckpointTensor['dtype'])) continue;
    const n = layer.shape.reduce((a, b) => a * b, 1);
    params += n;
    if (layer.binary === true) binaryParams += n;
  }
  const bytesFloat32 = 4 * params;
  const bytesPacked = binaryParams / 8 + 4 * (params - binaryParams);
  return {
    params,
    binaryParams,
    bytesFloat32,
    bytesPacked,
    compression: bytesPacked > 0 ? bytesFloat32 / bytesPacked : 1,
  };
}

/** {@link classifyTensor} for one model: the user's or built-in patterns and a detected profile. */
function classifierFor(
  model: CheckpointModel,
  options: Pick<InspectOptions, 'binaryPatterns'>,
): ((tensor: CheckpointTensor) => ReturnType<typeof classifyTensor>) & {
  profile: CheckpointProfile | undefined;
} {
  const patterns = compilePatterns(options.binaryPatterns ?? DEFAULT_BINARY_PATTERNS);
  // Files that record binarization themselves need no profile.
  const detected = model.binarySource === undefined ? detectProfile(model.tensors) : undefined;
  const profile = detected && {
    userPatterns: options.binaryPatterns !== undefined,
    profile: detected,
  };
  return Object.assign(
    (tensor: CheckpointTensor) => classifyTensor(tensor, patterns, model.binarySource, profile),
    { profile: detected },
  );
}

/**
 * Inspects an opened model; `visit` sees each weight tensor's values once (used by series).
 */
async function inspectModel(
  model: CheckpointModel,
  options: InspectOptions,
  visit?: (tensor: CheckpointTensor, values: Float32Array) => void,
): Promise<InspectReport> {
  const classify = classifierFor(model, options);
  const deadTau = options.deadTau ?? DEFAULT_DEAD_TAU;
  if (!(deadTau > 0.5 && deadTau < 1)) {
    throw new UserError(`inspect: ${fieldName('deadTau')} must be in (0.5, 1), got ${deadTau}`);
  }
  const layers: InspectLayer[] = [];
  // Statistics of views shared by several tensors (tied weights), computed once.
  const shared = new Map<string, InspectStats>();
  for (const tensor of model.tensors) {
    const decision = classify(tensor);
    let stats: InspectStats | null = null;
    if (isWeightTensor(tensor)) {
      const key =
        tensor.viewKey === undefined || visit
          ? undefined
          : `${tensor.viewKey}|${tensor.channelAxis}|${decision.clip}|${decision.statsShape?.join(',') ?? ''}`;
      const known = key === undefined ? undefined : shared.get(key);
      if (known) {
        stats = known;
      } else {
        const values = await tensor.data();
        const viewed = decision.statsShape ? { ...tensor, shape: decision.statsShape } : tensor;
        stats = tensorStats(viewed, values, decision.clip, deadTau);
        if (key !== undefined) shared.set(key, stats);
        visit?.(tensor, values);
      }
    }
    layers.push({
      name: tensor.name,
      shape: tensor.shape,
      dtype: tensor.dtype,
      binary: decision.binary,
      binaryReason: decision.reason,
      stats,
    });
  }
  const report: InspectReport = { format: model.format, layers, summary: summarize(layers) };
  if (classify.profile) report.profile = classify.profile.info;
  return report;
}

/**
 * Opens a checkpoint (any supported format), computes docs/metrics.md's metrics for every float
 * weight tensor of rank 2 or 4 and the model summary.
 * @example const report = await inspectCheckpoint('run/epoch-3/model.json', { deadTau: 0.99 });
 */
export async function inspectCheckpoint(
  path: string,
  options: InspectOptions = {},
): Promise<InspectReport> {
  const model = await openCheckpoint(path);
  try {
    return await inspectModel(model, options);
  } finally {
    await model.close();
  }
}

/**
 * Sign flips between two checkpoints: for every float weight tensor of rank 2 or 4 present in
 * both with the same shape, the fraction of elements whose sign differs (zero counts as +).
 */
export async function compareCheckpoints(
  a: string,
  b: string,
  options: Pick<InspectOptions, 'binaryPatterns'> = {},
): Promise<CompareReport> {
  const first = await openCheckpoint(a);
  try {
    const second = await openCheckpoint(b);
    try {
      const byName = new Map(second.tensors.map((t) => [t.name, t]));
      const classify = classifierFor(first, options);
      const layers: CompareReport['layers'] = [];
      for (const tensor of first.tensors) {
        const other = byName.get(tensor.name);
        if (!other || !isWeightTensor(tensor) || !isWeightTensor(other)) continue;
        if (other.shape.join(',') !== tensor.shape.join(',')) continue;
        const flipRate = flipRateBetween(await tensor.data(), await other.data());
        // Binary as the inspector marks it in the first file (for the page's two sections).
        layers.push({ name: tensor.name, flipRate, binary: classify(tensor).binary });
      }
      return { layers };
    } finally {
      await second.close();
    }
  } finally {
    await first.close();
  }
}

/** The last integer in a name (`epoch-12`, `ckpt_0003.pt`), or undefined. */
function numberInName(name: string): number | undefined {
  const matches = name.match(/\d+/g);
  return matches ? Number(matches[matches.length - 1]) : undefined;
}

/**
 * The checkpoints in a folder, in training order: files of the supported formats and
 * subfolders holding a `model.json` (`epoch-N/`), hidden names skipped, ordered by the last number in their name,
 * then by modification time.
 */
export async function findCheckpoints(folder: string): Promise<{ name: string; path: string }[]> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (error) {
    throw new UserError(`${folder}: cannot list the folder (${(error as Error).message})`);
  }
  const found: { name: string; path: string; number: number; mtimeMs: number }[] = [];
  for (const name of names) {
    // Hidden entries are never checkpoints: `.tmp-epoch-N-PID/` is one being written (or left
    // by a killed run), not yet renamed to `epoch-N/`.
    if (name.startsWith('.')) continue;
    const path = join(folder, name);
    const info = await stat(path).catch(() => undefined);
    if (!info) continue;
    let target: string | undefined;
    if (info.isDirectory()) {
      const inner = await readdir(path).catch(() => [] as string[]);
      if (inner.includes('model.json')) target = join(path, 'model.json');
    } else if (info.isFile()) {
      const lower = name.toLowerCase();
      if (lower.endsWith('.bin')) {
        // .bin is also a TF.js shard extension: only PyTorch zips count.
        if (await startsLikeZip(path)) target = path;
      } else if (CHECKPOINT_EXTENSIONS.some((ext) => lower.endsWith(ext))) {
        target = path;
      }
    }
    if (target !== undefined) {
      found.push({
        name,
        path: target,
        number: numberInName(name) ?? Number.POSITIVE_INFINITY,
        mtimeMs: info.mtimeMs,
      });
    }
  }
  found.sort((x, y) => x.number - y.number || x.mtimeMs - y.mtimeMs || (x.name < y.name ? -1 : 1));
  return found.map(({ name, path }) => ({ name, path }));
}

async function startsLikeZip(path: string): Promise<boolean> {
  const source = await openFileSource(path);
  try {
    return looksLikeZip(await source.read(0, Math.min(4, source.size), 'signature'));
  } finally {
    await source.close();
  }
}

/**
 * Inspects every checkpoint of a folder (see findCheckpoints), the flip rate of each weight
 * tensor between consecutive checkpoints, and `frozenRatio` over the whole series for the
 * tensors every checkpoint holds with the same shape. Holds one checkpoint open at a time and
 * one sign bit per weight between them.
 */
export async function checkpointSeries(
  folder: string,
  options: InspectOptions = {},
): Promise<SeriesReport> {
  const list = await findCheckpoints(folder);
  if (list.length === 0) {
    throw new UserError(
      `${folder}: no checkpoints found (files ${CHECKPOINT_EXTENSIONS.join(', ')} or epoch-N/model.json folders)`,
    );
  }
  const trackers = new Map<string, { tracker: SignTracker; shape: string }>();
  const checkpoints: SeriesReport['checkpoints'] = [];
  const pairs: SeriesReport['pairs'] = [];
  for (const [index, entry] of list.entries()) {
    const model = await openCheckpoint(entry.path);
    const flips: { name: string; flipRate: number }[] = [];
    const seen = new Set<string>();
    try {
      const report = await inspectModel(model, options, (tensor, values) => {
        const shape = tensor.shape.join(',');
        seen.add(tensor.name);
        const tracked = trackers.get(tensor.name);
        if (index === 0) {
          trackers.set(tensor.name, { tracker: new SignTracker(values), shape });
        } else if (tracked && tracked.shape === shape) {
          flips.push({ name: tensor.name, flipRate: tracked.tracker.update(values) });
        } else {
          trackers.delete(tensor.name);
        }
      });
      checkpoints.push({ name: entry.name, path: entry.path, report });
    } finally {
      await model.close();
    }
    for (const name of [...trackers.keys()]) if (!seen.has(name)) trackers.delete(name);
    if (index > 0) pairs.push({ from: list[index - 1].name, to: entry.name, layers: flips });
  }
  const frozenRatio = [...trackers].map(([name, { tracker }]) => ({
    name,
    frozenRatio: tracker.frozenRatio(),
  }));
  return { checkpoints, pairs, frozenRatio };
}
