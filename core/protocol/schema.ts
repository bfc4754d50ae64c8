/**
 * The data every channel carries and every file keeps: run configs (`TrainConfig`, fine-tune
 * options), metrics records (`metrics.jsonl`, `--json`, telemetry) and the inspection reports.
 * Metric names are exactly those of docs/metrics.md (copied from shared/design/metrics.md).
 * The messages themselves are in the channel modules beside this one (see index.ts).
 */

/**
 * Backends the engine can run on, in the order `auto` tries them (`auto` takes `webgpu` only on
 * a hardware adapter).
 */
export const BACKEND_NAMES = ['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];
/** The `bnnLab.engine.backend` setting. */
export type BackendPreference = 'auto' | BackendName;

/** Which backend the engine chose and why every other one was skipped. */
export interface BackendInfo {
  name: BackendName;
  /** tfjs' own backend name (`tensorflow`, `webgpu`, `wasm`, `cpu`). */
  tfBackend: string;
  /** The GPU adapter of the `webgpu` backend. */
  adapter?: GpuAdapterInfo;
  /** Threads computing a training step (data-parallel replicas; 1 without them). */
  threads: number;
  /** Backends tried before `name` (or not tried), each with the reason it was not used. */
  skipped: { name: BackendName; reason: string }[];
}

/** A WebGPU adapter as Dawn reports it (`GPUAdapterInfo`). */
export interface GpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A software rasterizer (llvmpipe, SwiftShader): correct, not fast; `auto` never picks it. */
  software: boolean;
}

/** 64 (or `bnnLab.metrics.histogramBins`) equal-width bins over `[min, max]`, last bin closed. */
export interface Histogram {
  min: number;
  max: number;
  /**
   * A JSON array in files and reports; a `Uint32Array` in the engine's live messages
   * ({@link toWireRecord}): the worker → host → webview path copies one buffer per layer.
   */
  counts: number[] | Uint32Array;
}

/** Distribution statistics of one latent weight tensor (docs/metrics.md, per-layer metrics). */
export interface WeightStats {
  params: number;
  mean: number;
  std: number;
  min: number;
  max: number;
  absMean: number;
  histogram: Histogram;
  quantizationError: number;
  deadWeightRatio: number;
  /** `null` when the layer's quantizer has no clip or it is unknown. */
  starvedWeightRatio: number | null;
  signBalance: number;
  signEntropyBits: number;
}

/** One binary layer's telemetry in a `step` report. */
export interface LayerTelemetry extends WeightStats {
  name: string;
  /** Mean per-step flip fraction since the previous report (Larq's FlipRatio). */
  flipRate: number;
  /** Fraction of weights whose sign never changed since the run started. */
  frozenRatio: number;
  /**
   * Per output channel `α_c = mean |W_i|` over the channel (docs/metrics.md), for the binary
   * `±α` view. Optional: older runs and other engines omit it; viewers fall back to `absMean`.
   */
  alpha?: number[] | Float32Array;
  /** LNS fine-tuning only: the layer's auxiliary loss `Σ ℓ̃`, mean since the last report. */
  auxLoss?: number;
  /** LNS fine-tuning only: `mean(sgn(f_θ(W)) ≠ sgn(W))`, the mapper's disagreement with `sgn`. */
  disagreement?: number;
  /** Fine-tuning only: fraction of binary weights whose sign differs from the source checkpoint's. */
  flipFromStart?: number;
}

/** One binary layer before and after a fine-tune (`bnn-lab finetune`, docs/lns.md). */
export interface FinetuneLayerSummary {
  name: string;
  /** Fraction of binary weights whose sign differs from the source checkpoint's. */
  flipFromStart: number;
  quantizationErrorBefore: number;
  quantizationErrorAfter: number;
  deadWeightRatioBefore: number;
  deadWeightRatioAfter: number;
}

/** Before/after table of a fine-tune, carried by its `done` record. */
export interface FinetuneSummary {
  method: FinetuneOptions['method'];
  /** The source checkpoint folder (never modified). */
  source: string;
  testAccuracyBefore: number;
  testAccuracyAfter: number;
  layers: FinetuneLayerSummary[];
}

/** Static description of a layer with weights, sent once when a run starts. */
export interface LayerInfo {
  name: string;
  /** `conv2d` | `dense` | `batchNormalization` | … (tfjs class name, lower camel). */
  kind: string;
  /**
   * Kernel shape in TF.js order (`[kh, kw, cin, cout]` or `[in, out]`); PyTorch order
   * (`[out, in, kh, kw]`) in runs written by python/bnn_lab_telemetry.py (docs/pytorch.md).
   */
  shape: number[];
  binary: boolean;
  /** Human-readable quantizer description, e.g. `ste_sign(clip=1)`; empty for full precision. */
  quantizer: string;
  params: number;
}

/** Run status as shown in the UI and written in the final `done` record. */
export type RunStatus = 'running' | 'completed' | 'cancelled' | 'failed';

/**
 * One line of `metrics.jsonl`, one `--json` line of the CLI, one telemetry message.
 * `time` is milliseconds since the Unix epoch.
 */
export type MetricsRecord =
  /** First record of a run. */
  | {
      event: 'start';
      runId: string;
      preset: string;
      config: TrainConfig;
      layers: LayerInfo[];
      /** The engine's backend; runs written by python/bnn_lab_telemetry.py say `"pytorch"`. */
      backend: BackendInfo;
      stepsPerEpoch: number;
      totalSteps: number;
      time: number;
    }
  /** Every `telemetryEverySteps` optimizer steps. Loss and accuracy average the steps since the last report. */
  | {
      event: 'step';
      epoch: number;
      step: number;
      loss: number;
      accuracy: number;
      learningRate: number;
      examplesPerSecond: number;
      layers: LayerTelemetry[];
      /** The method's threshold τ when it adapts one (ReCU); absent otherwise. */
      tau?: number;
      /** The method's own loss terms by name (BONN's, LNS's auxiliary loss), mean since the last report. */
      methodLosses?: Record<string, number>;
      time: number;
    }
  /** After each epoch's evaluation on the test set. */
  | {
      event: 'epoch';
      epoch: number;
      step: number;
      trainLoss: number;
      trainAccuracy: number;
      testLoss: number;
      testAccuracy: number;
      durationMs: number;
      /** Folder of the checkpoint written for this epoch, relative to the run folder. */
      checkpoint: string | null;
      time: number;
    }
  /**
   * Work before the first step that takes a while, so a front end can say what the run is doing:
   * a fine-tune's evaluation of its source checkpoint and its LNS mapper warm-up. `done` of
   * `total` units (test examples evaluated, warm-up steps made); written when a phase begins
   * (`done` 0), about every tenth of it, and when it ends (`done` = `total`). Readers that only
   * plot metrics skip it.
   */
  | {
      event: 'phase';
      phase: RunPhase;
      done: number;
      total: number;
      time: number;
    }
  /** Last record of a run. */
  | {
      event: 'done';
      status: Exclude<RunStatus, 'running'>;
      testAccuracy: number | null;
      message?: string;
      /** Fine-tunes only: the before/after table of a completed fine-tune. */
      finetune?: FinetuneSummary;
      time: number;
    };

export type MetricsEvent = MetricsRecord['event'];

/** Every record kind of `metrics.jsonl`, for readers that check a line's `event`. */
export const METRICS_EVENTS = {
  start: true,
  phase: true,
  step: true,
  epoch: true,
  done: true,
} as const satisfies Record<MetricsEvent, true>;

/** Whether `event` names a record kind of `metrics.jsonl` ({@link MetricsRecord}). */
export function isMetricsEvent(event: unknown): event is MetricsEvent {
  return typeof event === 'string' && Object.hasOwn(METRICS_EVENTS, event);
}

/**
 * What a `phase` record says the engine is doing: `evaluateSource`, a fine-tune's test-set
 * evaluation of its source checkpoint (units: test examples); `mapperWarmup`, the LNS mappers
 * fitted to sgn(W) before fine-tuning (units: warm-up steps).
 */
export type RunPhase = 'evaluateSource' | 'mapperWarmup';

export const RUN_PHASES = {
  evaluateSource: true,
  mapperWarmup: true,
} as const satisfies Record<RunPhase, true>;

/** Whether `phase` is a {@link RunPhase}. */
export function isRunPhase(phase: unknown): phase is RunPhase {
  return typeof phase === 'string' && Object.hasOwn(RUN_PHASES, phase);
}

/**
 * Dataset the engine reads; `idx` is any folder of IDX pairs (MNIST layout, optionally `.gz`),
 * `cifar10` a folder with the binary batches `data_batch_1..5.bin` and `test_batch.bin`.
 */
export interface DatasetConfig {
  name: 'mnist' | 'fashion-mnist' | 'idx' | 'cifar10';
  /** Folder with the files; the embedded copy is used for `mnist` when absent. */
  path?: string;
}

/** A quantizer as written in run configs (core/bnn/quantizers.ts). */
export interface QuantizerSetting {
  kind: 'ste_sign' | 'approx_sign' | 'swish_sign' | 'magnitude_aware_sign';
  /** `t_clip`; null = identity straight-through (ste_sign, magnitude_aware_sign). */
  clip: number | null;
  /** β of swish_sign. */
  beta?: number;
}

/**
 * A run configuration: the content of a `*.bnn.json` file, or a preset's defaults with CLI
 * overrides. Every field but `preset` is optional in the file; `resolveConfig` fills defaults.
 */
export interface TrainConfig {
  preset: string;
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  dataset: DatasetConfig;
  /** Use only the first N training examples (0 = all). */
  limit: number;
  /** Use only the first N test examples (0 = all). */
  testLimit: number;
  telemetryEverySteps: number;
  histogramBins: number;
  /** τ for `deadWeightRatio`. */
  deadTau: number;
  // The keys below are filled by resolveConfig; older configs without them mean the defaults.
  /** `adam` (default) or `sgd` with momentum. */
  optimizer?: 'adam' | 'sgd';
  /** Momentum of `sgd`, in [0, 1). */
  momentum?: number;
  /** Learning-rate schedule after warm-up: cosine to 0 (default), step, or constant. */
  schedule?: 'cosine' | 'step' | 'constant';
  /** Epochs of linear warm-up, `lr · (e + 1) / warmupEpochs` per epoch as in the ReCU code. */
  warmupEpochs?: number;
  /** Epochs (1-based, ascending) after which `step` multiplies the rate by `stepGamma`. */
  stepMilestones?: number[];
  stepGamma?: number;
  /** Decoupled-from-the-loss L2 weight decay on kernels (not BN, scale or method parameters). */
  weightDecay?: number;
  /** Clip binary layers' latent kernels to [−c, c] after each step (Larq's WeightClip); 0 = off. */
  latentClip?: number;
  inputQuantizer?: QuantizerSetting;
  kernelQuantizer?: QuantizerSetting;
  /** Output scaling of binary layers: none, per-channel mean|W| (XNOR), learnable (ReCU). */
  scaling?: 'none' | 'channel_mean' | 'learnable';
  /** ReCU with its τ schedule, or null. */
  recu?: { tauStart: number; tauEnd: number } | null;
  /** BONN loss weights, or null. */
  bonn?: { lambda: number; theta: number; nu: number } | null;
  /** Random crop (4-pixel padding) + horizontal flip of training images. */
  augment?: boolean;
  /** Architecture parameters (ResNetE / BinaryDenseNet presets); absent for fixed models. */
  architecture?: ArchitectureParameters;
  /**
   * Per-layer precision overrides by layer name (`bnn-lab presets` and docs/methods.md list the
   * names): "binary" or "full". Default: first conv, 1×1 shortcut/transition convs and last
   * dense full precision, every other conv and dense binary.
   */
  layerPrecision?: Record<string, 'binary' | 'full'>;
}

/**
 * ResNetE: a full-precision 3×3 stem, then stages of single-conv blocks
 * `x ← BN(BinConv3×3(sgn(x))) + shortcut(x)`; the first block of every stage after the first
 * halves the resolution (shortcut AvgPool 2×2 → FP 1×1 conv → BN).
 */
export interface ResNetESpec {
  kind: 'resnete';
  /** Filters of the full-precision 3×3 stem conv. */
  stemFilters: number;
  /** Stride of the stem conv: 1 (default) or 2, which quarters the cost on a CPU. */
  stemStrides?: number;
  /** Filters per stage, e.g. [64, 128, 256, 512] for ResNetE-18. */
  stageFilters: number[];
  /** Binary 3×3 convs (blocks) per stage; ResNetE-18 has 4 (two basic blocks of two). */
  blocksPerStage: number[];
}

/**
 * BinaryDenseNet: a full-precision 3×3 stem, dense blocks of `concat(x, BinConv3×3(sgn(BN(x))))`
 * with growth rate k, and transitions `BN → MaxPool 2×2 → ReLU → FP 1×1 conv` to
 * `round((C // r) / channelRound) · channelRound` channels.
 */
export interface DenseNetSpec {
  kind: 'densenet';
  /** Filters of the full-precision stem conv (64 in the paper). */
  initialFilters: number;
  /** Stride of the stem conv: 1 (default) or 2. */
  stemStrides?: number;
  /** Growth rate k: filters of every binary conv (64 in the paper). */
  growthRate: number;
  /** Binary convs per dense block, e.g. [6, 6, 6, 5] for BDN-28. */
  blocks: number[];
  /** Reduction rate r of each transition (one fewer than blocks), e.g. [2.7, 2.7, 2.2]. */
  reductions: number[];
  /** Channel rounding unit of the transitions: 32 in the official code. */
  channelRound: number;
}

/** ResNetE or BinaryDenseNet parameters (validated in core/bnn/architectureSpec.ts). */
export type ArchitectureParameters = ResNetESpec | DenseNetSpec;

/**
 * What a fine-tune changes relative to its source run (`bnn-lab finetune`, the command "Fine-tune
 * Checkpoint with Noisy Supervision"). Everything left out comes from the source run's
 * config.json or `FINETUNE_DEFAULTS`.
 */
export interface FinetuneOptions {
  /** Source checkpoint folder (`…/checkpoints/epoch-N`); only read. */
  checkpoint: string;
  method: 'lns' | 'plain';
  epochs?: number;
  /** α ≥ 0 (lns). */
  alpha?: number;
  /** ρ in [0, 0.5) (lns). */
  rho?: number;
  /** The dataset to fine-tune and evaluate on; default the source run's. */
  dataset?: DatasetConfig;
  /** First N training / test examples (0 = all). */
  limit?: number;
  testLimit?: number;
  /** Constant learning rate; default 0.1 × the source run's. */
  learningRate?: number;
  seed?: number;
  mapperWarmupSteps?: number;
}

/*
 * Checkpoint inspection (docs/inspect.md): the report shapes of `bnn-lab inspect | compare |
 * series --json`, produced by core/checkpoints/inspect.ts in the analysis worker.
 */

/** Per-layer metrics in an inspect report: WeightStats plus the per-channel scales. */
export interface InspectStats extends WeightStats {
  /** `α_c` per output channel. */
  alpha: number[];
}

/** One tensor of an inspected checkpoint. */
export interface InspectLayer {
  name: string;
  shape: number[];
  dtype: string;
  /** true/false when known; null when the file does not say and no pattern matched. */
  binary: boolean | null;
  binaryReason: string;
  /** null for tensors that are not float weights of rank 2 or 4. */
  stats: InspectStats | null;
}

/** The model summary (Larq's vocabulary, docs/metrics.md). */
export interface InspectSummary {
  params: number;
  binaryParams: number;
  bytesFloat32: number;
  bytesPacked: number;
  compression: number;
}

/** A known BNN checkpoint layout the inspector recognised (core/checkpoints/profiles.ts). */
export interface CheckpointProfileInfo {
  /** Stable id, e.g. `recu-resnet-18`, `larq-zoo-quicknet`. */
  id: string;
  /** Shown to the user, e.g. `ReCU ResNet-18`. */
  name: string;
  /** The project whose code defines the layout, e.g. `github.com/z-hXu/ReCU`. */
  source: string;
  /** Which layers the profile marks binary and which full precision. */
  description: string;
}

/** `bnn-lab inspect FILE --json`. */
export interface InspectReport {
  format: string;
  layers: InspectLayer[];
  summary: InspectSummary;
  /** Present when the checkpoint follows a known layout whose profile marked its layers. */
  profile?: CheckpointProfileInfo;
}

/** `bnn-lab compare A B --json`: flip rates of the weight tensors both files hold with one shape. */
export interface CompareReport {
  /** `binary`: as the inspector marks the tensor in the first file (absent in older reports). */
  layers: { name: string; flipRate: number; binary?: boolean | null }[];
}

/** `bnn-lab series DIR --json`. */
export interface SeriesReport {
  checkpoints: { name: string; path: string; report: InspectReport }[];
  /** One entry per consecutive pair of checkpoints. */
  pairs: { from: string; to: string; layers: { name: string; flipRate: number }[] }[];
  /** Per weight tensor present in every checkpoint: fraction of signs that never changed. */
  frozenRatio: { name: string; frozenRatio: number }[];
}
