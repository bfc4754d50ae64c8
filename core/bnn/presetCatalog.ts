/**
 * The preset catalog: names, descriptions, datasets and default schedules, without TensorFlow.js,
 * so the extension host can list and validate presets without loading the engine.
 * The model builders live in presets.ts.
 */
import type { DatasetConfig, TrainConfig } from '../protocol';
import type { ArchitectureSpec } from './architectureSpec';

/** A preset's defaults for run-config keys; keys left out take the global defaults. */
export type PresetDefaults = Pick<TrainConfig, 'epochs' | 'batchSize' | 'learningRate'> &
  Partial<
    Pick<
      TrainConfig,
      | 'optimizer'
      | 'momentum'
      | 'schedule'
      | 'warmupEpochs'
      | 'stepMilestones'
      | 'stepGamma'
      | 'weightDecay'
      | 'latentClip'
      | 'inputQuantizer'
      | 'kernelQuantizer'
      | 'scaling'
      | 'recu'
      | 'bonn'
      | 'augment'
    >
  >;

export interface PresetInfo {
  name: string;
  /** One line for quick picks and `bnn-lab presets`. */
  description: string;
  dataset: DatasetConfig;
  /** Input image shape `[height, width, channels]`. */
  inputShape: [number, number, number];
  classes: number;
  defaults: PresetDefaults;
  /** ResNetE / BinaryDenseNet parameters; absent for fixed models (mnist-cnn). */
  architecture?: ArchitectureSpec;
}

/**
 * Small ResNetE for 28×28: a stride-2 3×3 stem, then 3 stages of 2 single-conv blocks at
 * 14×14, 7×7 and 4×4.
 */
const RESNETE_SMALL: ArchitectureSpec = {
  kind: 'resnete',
  stemFilters: 32,
  stemStrides: 2,
  stageFilters: [32, 64, 128],
  blocksPerStage: [2, 2, 2],
};
/** Larq Zoo's ResNetE-18 quantizers: ste_sign with t_clip 1.25 on inputs and kernels. */
const RESNETE_QUANTIZERS = {
  inputQuantizer: { kind: 'ste_sign', clip: 1.25 },
  kernelQuantizer: { kind: 'ste_sign', clip: 1.25 },
  latentClip: 1.25,
} as const;
const BDN_QUANTIZERS = {
  inputQuantizer: { kind: 'ste_sign', clip: 1.3 },
  kernelQuantizer: { kind: 'ste_sign', clip: 1.3 },
  latentClip: 1.3,
} as const;
const FMNIST: DatasetConfig = { name: 'fashion-mnist' };
const CIFAR10: DatasetConfig = { name: 'cifar10' };

const CATALOG: readonly PresetInfo[] = [
  {
    name: 'mnist-cnn',
    description:
      'Small binary CNN for 28×28 digits: FP first conv and last dense, 2 binary convs + binary dense, STE (clip 1), batch norm',
    dataset: { name: 'mnist' },
    inputShape: [28, 28, 1],
    classes: 10,
    defaults: { epochs: 8, batchSize: 64, learningRate: 0.002 },
  },
  {
    name: 'mnist-resnete',
    description:
      'ResNetE (stride-2 stem, 3 stages × 2 blocks, 32/64/128) for 28×28 digits: a shortcut around every binary 3×3 conv, STE (clip 1.25), Adam',
    dataset: { name: 'mnist' },
    inputShape: [28, 28, 1],
    classes: 10,
    defaults: { epochs: 8, batchSize: 64, learningRate: 0.002, ...RESNETE_QUANTIZERS },
    architecture: RESNETE_SMALL,
  },
  {
    name: 'fmnist-resnete',
    description:
      'ResNetE (stride-2 stem, 3 stages × 2 blocks, 32/64/128) for Fashion-MNIST: STE (clip 1.25), Adam, cosine',
    dataset: FMNIST,
    inputShape: [28, 28, 1],
    classes: 10,
    defaults: { epochs: 10, batchSize: 64, learningRate: 0.002, ...RESNETE_QUANTIZERS },
    architecture: RESNETE_SMALL,
  },
  {
    name: 'fmnist-resnete-recu',
    description:
      'fmnist-resnete with ReCU: standardized, τ-clamped weights (τ 0.85 → 0.99), ApproxSign inputs, learnable scale, SGD 0.1 + warm-up, cosine',
    dataset: FMNIST,
    inputShape: [28, 28, 1],
    classes: 10,
    defaults: {
      epochs: 15,
      batchSize: 64,
      learningRate: 0.1,
      optimizer: 'sgd',
      momentum: 0.9,
      warmupEpochs: 1,
      weightDecay: 5e-4,
      inputQuantizer: { kind: 'approx_sign', clip: 1 },
      kernelQuantizer: { kind: 'ste_sign', clip: null },
      scaling: 'learnable',
      recu: { tauStart: 0.85, tauEnd: 0.99 },
    },
    architecture: RESNETE_SMALL,
  },
  {
    name: 'fmnist-resnete-bonn',
    description:
      'fmnist-resnete with BONN: Bayesian kernel loss (λ 1e-6) and feature loss (θ 1e-3), modulation scale 1/mean(w), Adam',
    dataset: FMNIST,
    inputShape: [28, 28, 1],
    classes: 10,
    defaults: {
      epochs: 15,
      batchSize: 64,
      learningRate: 0.002,
      ...RESNETE_QUANTIZERS,
      // λ 1e−4 (the paper's best, WRN + SGD) freezes every sign of this net within an epoch.
      bonn: { lambda: 1e-6, theta: 1e-3, nu: 1 },
    },
    architecture: RESNETE_SMALL,
  },
  {
    name: 'fmnist-bdn',
    description:
      'Small BinaryDenseNet for Fashion-MNIST: stride-2 stem, 3 dense blocks × 4, growth 16, reductions 2.7/2.2 (channels rounded to 16), STE (clip 1.3), Adam',
    dataset: FMNIST,
    inputShape: [28, 28, 1],
    classes: 10,
    defaults: { epochs: 15, batchSize: 64, learningRate: 0.002, ...BDN_QUANTIZERS },
    architecture: {
      kind: 'densenet',
      initialFilters: 32,
      stemStrides: 2,
      growthRate: 16,
      blocks: [4, 4, 4],
      reductions: [2.7, 2.2],
      channelRound: 16,
    },
  },
  {
    name: 'cifar10-resnete18',
    description:
      'ResNetE-18 (64/128/256/512, 4 binary convs per stage, 3×3 stem) for CIFAR-10 binary batches: STE (clip 1.25), Adam, cosine, crop+flip',
    dataset: CIFAR10,
    inputShape: [32, 32, 3],
    classes: 10,
    defaults: {
      epochs: 100,
      // Larq Zoo's batch; the wasm backend holds up to 479 examples per thread (docs/performance.md).
      batchSize: 128,
      learningRate: 0.002,
      ...RESNETE_QUANTIZERS,
      augment: true,
    },
    architecture: {
      kind: 'resnete',
      stemFilters: 64,
      stageFilters: [64, 128, 256, 512],
      blocksPerStage: [4, 4, 4, 4],
    },
  },
  {
    name: 'cifar10-bdn28',
    description:
      'BinaryDenseNet-28 (blocks 6/6/6/5, growth 64, reductions 2.7/2.7/2.2, 3×3 stem) for CIFAR-10: STE (clip 1.3), Adam 4e-3, ×0.1 at 100/110, crop+flip',
    dataset: CIFAR10,
    inputShape: [32, 32, 3],
    classes: 10,
    defaults: {
      epochs: 120,
      // The paper's batch; up to 177 examples per thread fit the wasm backend's memory.
      batchSize: 128,
      learningRate: 0.004,
      schedule: 'step',
      stepMilestones: [100, 110],
      stepGamma: 0.1,
      ...BDN_QUANTIZERS,
      augment: true,
    },
    architecture: {
      kind: 'densenet',
      initialFilters: 64,
      growthRate: 64,
      blocks: [6, 6, 6, 5],
      reductions: [2.7, 2.7, 2.2],
      channelRound: 32,
    },
  },
];

export const PRESET_NAMES: readonly string[] = CATALOG.map((p) => p.name);

/** @throws Error for an unknown name (callers validate names first through resolveConfig). */
export function getPresetInfo(name: string): PresetInfo {
  const preset = CATALOG.find((p) => p.name === name);
  if (!preset) throw new Error(`unknown preset "${name}" (known: ${PRESET_NAMES.join(', ')})`);
  return preset;
}

/** Name and one-line description of every preset, for quick picks and `bnn-lab presets`. */
export function listPresets(): { name: string; description: string }[] {
  return CATALOG.map((p) => ({ name: p.name, description: p.description }));
}
