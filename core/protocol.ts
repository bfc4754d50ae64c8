/**
 * Every message that crosses a thread or webview boundary: host ↔ engine worker ↔ webview.
 *
 * One discriminated union per direction. Receivers switch on `kind` exhaustively and end with
 * `assertNever`; anything that crossed a boundary is checked with `isToWorker` & co. before use.
 * Metric names are exactly those of docs/metrics.md (copied from shared/design/metrics.md).
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

/** ResNetE or BinaryDenseNet parameters (core/bnn/architectureSpec.ts). */
export type ArchitectureParameters =
  | {
      kind: 'resnete';
      stemFilters: number;
      stemStrides?: number;
      stageFilters: number[];
      blocksPerStage: number[];
    }
  | {
      kind: 'densenet';
      initialFilters: number;
      stemStrides?: number;
      growthRate: number;
      blocks: number[];
      reductions: number[];
      channelRound: number;
    };

/** Host → engine worker. */
export type ToWorker =
  /** Start a run; the worker answers with `record` messages and finally `runEnded`. */
  | {
      kind: 'startRun';
      runId: string;
      config: TrainConfig;
      /** Absolute run folder; created by the host, filled by the worker. */
      runDir: string;
      backend: BackendPreference;
      /** Data-parallel replica threads (`bnnLab.engine.threads`); 1 when absent. */
      threads?: number;
      /** `bnnLab.engine.nativeModulePath`: the folder native TensorFlow is loaded from. */
      nativeModulePath?: string;
    }
  /** Start a fine-tune of a BNN Lab checkpoint (`core/training/finetune.ts`); answered like `startRun`. */
  | {
      kind: 'startFinetune';
      runId: string;
      /** Absolute run folder of the fine-tune; created by the host, filled by the worker. */
      runDir: string;
      backend: BackendPreference;
      finetune: FinetuneOptions;
      /** `bnnLab.engine.nativeModulePath`, as in `startRun`. */
      nativeModulePath?: string;
    }
  /** User pressed Stop/Cancel; honoured between batches. */
  | { kind: 'cancelRun'; runId: string };

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

/** Engine worker → host. */
export type FromWorker =
  /** Once, after the worker has loaded the engine code. */
  | { kind: 'workerReady' }
  /**
   * Metrics records in order, each already appended to the run's metrics.jsonl, in wire form
   * ({@link toWireRecord}); at most one message per 100 ms (extension/worker/recordBatcher.ts).
   */
  | { kind: 'records'; runId: string; records: MetricsRecord[] }
  /** A line for the BNN Lab log. */
  | { kind: 'log'; level: 'info' | 'warn' | 'error'; message: string }
  /** The run is over; `stack` carries the full error for the log when it failed. */
  | {
      kind: 'runEnded';
      runId: string;
      status: Exclude<RunStatus, 'running'>;
      message?: string;
      stack?: string;
    };

/**
 * Latent-weight histograms the dashboard keeps per layer for its histogram-over-time views
 * (older reports are thinned to every 2nd, 4th, … report). A snapshot of a longer run may leave
 * the others out (see `RunSnapshot.records`).
 */
export const DASHBOARD_HISTOGRAM_FRAMES = 240;

/** What the dashboard needs to draw one run from scratch. */
export interface RunSnapshot {
  runId: string;
  /** Run folder, absolute. */
  dir: string;
  status: RunStatus;
  /**
   * The run's records. To keep long runs quick to open, `step` records the dashboard would not
   * draw a histogram for may carry `histogram.counts = []` and no `alpha` (every other figure is
   * kept); the last `step` record is always whole.
   */
  records: MetricsRecord[];
}

/** What reading a run's `metrics.jsonl` left out (a run killed mid-write, a damaged file). */
export interface SkippedLines {
  /** Unreadable lines skipped (not JSON, or not a known record). */
  badLines: number;
  /** The last line was cut off without its newline (the writer was killed mid-append). */
  truncatedLastLine: boolean;
}

/** Host → webview. */
export type ToWebview =
  /**
   * Reply to `ready`, and after a run is (re)opened: everything needed to draw from scratch.
   * `skipped` is set when the run was read from a file with lines that could not be used.
   */
  | { kind: 'snapshot'; run: RunSnapshot | undefined; trusted: boolean; skipped?: SkippedLines }
  /** While a run streams: new records for the run in the last snapshot. */
  | { kind: 'records'; runId: string; records: MetricsRecord[] }
  /** The run in view changed state. */
  | { kind: 'status'; runId: string; status: RunStatus; message?: string }
  /** A second run to overlay (dashed) for comparison, or `undefined` to stop comparing. */
  | { kind: 'comparison'; run: RunSnapshot | undefined; skipped?: SkippedLines }
  /** The folder of the run in view (or of the compared run) was deleted while open. */
  | { kind: 'runMissing'; runId: string; dir: string };

/** File formats the dashboard exports. */
export type ExportFormat = 'png' | 'svg' | 'csv';

/** Webview → host. */
export type ToHost =
  /** Sent once the webview has mounted; the host answers with `snapshot`. */
  | { kind: 'ready' }
  /** A button in the panel. */
  | { kind: 'command'; command: 'train' | 'stop' | 'showLog' }
  /** The user stopped comparing with a second run. */
  | { kind: 'clearComparison' }
  /**
   * Save a chart or the run's metrics: the host asks where (`showSaveDialog`) and writes the file.
   * `data` is base64 for `png`, text for `svg` and `csv`; `name` is a suggested file name.
   */
  | { kind: 'export'; format: ExportFormat; name: string; data: string }
  /**
   * What the panel now shows, sent when the run, its status or its binary layers change: the
   * host logs it, and the desktop integration test (test/integration) reads it.
   */
  | { kind: 'rendered'; runId: string; status: RunStatus; layerCards: string[] };

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

/** Options the host passes with every analysis request (settings `bnnLab.inspect.*`, `bnnLab.metrics.deadTau`). */
export interface AnalysisOptions {
  /** Replaces the built-in name patterns when set (never an empty list). */
  binaryPatterns?: string[];
  deadTau?: number;
}

/** Host → analysis worker. Every request carries an id; the worker answers it exactly once. */
export type ToAnalysis =
  /** Inspect one checkpoint (`inspectCheckpoint`). */
  | { kind: 'inspect'; id: number; path: string; options: AnalysisOptions }
  /** Sign flips between two checkpoints (`compareCheckpoints`). */
  | { kind: 'compare'; id: number; a: string; b: string; options?: AnalysisOptions }
  /** Every checkpoint of a folder, flips between consecutive ones, frozenRatio (`checkpointSeries`). */
  | { kind: 'series'; id: number; folder: string; options: AnalysisOptions };

/** Analysis worker → host. */
export type FromAnalysis =
  /** Once, after the worker has loaded the readers. */
  | { kind: 'analysisReady' }
  /** Answer to `inspect`. */
  | { kind: 'inspected'; id: number; report: InspectReport }
  /** Answer to `compare`. */
  | { kind: 'compared'; id: number; report: CompareReport }
  /** Answer to `series`. */
  | { kind: 'seriesAnalysed'; id: number; report: SeriesReport }
  /**
   * A request failed. `userError` is true for bad input (unreadable file, bad pattern): its
   * message names the file and the problem and needs no stack; otherwise `stack` is for the log.
   */
  | { kind: 'analysisFailed'; id: number; message: string; userError: boolean; stack?: string }
  /** A line for the BNN Lab log. */
  | { kind: 'analysisLog'; level: 'info' | 'warn' | 'error'; message: string };

/** What a checkpoint inspector webview shows. */
export type InspectorContent =
  /** One checkpoint: summary, layer table, layer details. */
  | { mode: 'checkpoint'; file: string; report: InspectReport; deadTau: number }
  /** Two checkpoints: per-layer flip rate. */
  | { mode: 'compare'; fileA: string; fileB: string; report: CompareReport }
  /** A folder of checkpoints: flips between consecutive ones, frozenRatio, metrics over time. */
  | { mode: 'series'; folder: string; report: SeriesReport; deadTau: number; watching: boolean };

/** Host → inspector webview. */
export type ToInspector =
  /** The file (or folder) is being read; replaces an error. */
  | { kind: 'loading'; file: string }
  /** Reply to `inspectorReady`, and after every (re-)analysis: everything to draw from scratch. */
  | { kind: 'content'; content: InspectorContent }
  /** Reading or analysing failed: one message naming the file and the problem. */
  | { kind: 'failed'; file: string; message: string }
  /** The Layers view selected a layer (by tensor name). */
  | { kind: 'selectLayer'; name: string };

/** Inspector webview → host. */
export type FromInspector =
  /** Sent once the webview has mounted; the host answers with `content` (or `loading`/`failed`). */
  | { kind: 'inspectorReady' }
  /** The user selected a layer in the table; the host mirrors it in the Layers view. */
  | { kind: 'layerSelected'; name: string }
  /** A button in the page. */
  | {
      kind: 'inspectorCommand';
      command: 'showLog' | 'retry' | 'toggleWatch' | 'finetune' | 'export';
    };

/**
 * A short, log-safe rendering of a message that failed its runtime check: JSON (or `String()` for
 * cyclic or BigInt values), cut at 200 characters.
 */
export function previewMessage(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    // Cyclic or BigInt: fall back to String().
  }
  text ??= String(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** Compile-time exhaustiveness for `switch (msg.kind)`. */
export function assertNever(value: never): never {
  throw new Error(`unexpected message: ${JSON.stringify(value)}`);
}

function hasKind(value: unknown): value is { kind: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { kind?: unknown }).kind === 'string'
  );
}

const TO_WORKER_KINDS: ReadonlySet<string> = new Set(['startRun', 'startFinetune', 'cancelRun']);
const FROM_WORKER_KINDS: ReadonlySet<string> = new Set([
  'workerReady',
  'records',
  'log',
  'runEnded',
]);
const TO_WEBVIEW_KINDS: ReadonlySet<string> = new Set([
  'snapshot',
  'records',
  'status',
  'comparison',
  'runMissing',
]);
/**
 * Per-kind field checks of a message from a webview (the page is not trusted to send well-formed
 * messages): `satisfies` makes the compiler demand one check per kind of the union.
 */
type FieldChecks<U extends { kind: string }> = {
  [K in U['kind']]: (message: Record<string, unknown>) => boolean;
};
const isString = (v: unknown): v is string => typeof v === 'string';
const isOneOf =
  (values: readonly string[]) =>
  (v: unknown): boolean =>
    typeof v === 'string' && values.includes(v);
const RUN_STATUSES: readonly RunStatus[] = ['running', 'completed', 'cancelled', 'failed'];
const EXPORT_FORMATS: readonly ExportFormat[] = ['png', 'svg', 'csv'];

const TO_HOST_FIELDS = {
  ready: () => true,
  command: (m) => isOneOf(['train', 'stop', 'showLog'])(m.command),
  clearComparison: () => true,
  export: (m) => isOneOf(EXPORT_FORMATS)(m.format) && isString(m.name) && isString(m.data),
  rendered: (m) =>
    isString(m.runId) &&
    isOneOf(RUN_STATUSES)(m.status) &&
    Array.isArray(m.layerCards) &&
    m.layerCards.every(isString),
} satisfies FieldChecks<ToHost>;

const FROM_INSPECTOR_FIELDS = {
  inspectorReady: () => true,
  layerSelected: (m) => isString(m.name),
  inspectorCommand: (m) => isOneOf(['showLog', 'retry', 'toggleWatch', 'finetune'])(m.command),
} satisfies FieldChecks<FromInspector>;

/** True when `value` has a kind of `checks` (an own key, not an inherited one) and its fields pass. */
function passes(checks: Record<string, (m: Record<string, unknown>) => boolean>, value: unknown) {
  return (
    hasKind(value) &&
    Object.prototype.hasOwnProperty.call(checks, value.kind) &&
    checks[value.kind](value as unknown as Record<string, unknown>)
  );
}

const TO_ANALYSIS_KINDS: ReadonlySet<string> = new Set(['inspect', 'compare', 'series']);
const FROM_ANALYSIS_KINDS: ReadonlySet<string> = new Set([
  'analysisReady',
  'inspected',
  'compared',
  'seriesAnalysed',
  'analysisFailed',
  'analysisLog',
]);
const TO_INSPECTOR_KINDS: ReadonlySet<string> = new Set([
  'loading',
  'content',
  'failed',
  'selectLayer',
]);

/** Runtime check of a message received by the analysis worker. */
export function isToAnalysis(value: unknown): value is ToAnalysis {
  return (
    hasKind(value) &&
    TO_ANALYSIS_KINDS.has(value.kind) &&
    typeof (value as { id?: unknown }).id === 'number'
  );
}
/** Runtime check of a message received from the analysis worker. */
export function isFromAnalysis(value: unknown): value is FromAnalysis {
  return hasKind(value) && FROM_ANALYSIS_KINDS.has(value.kind);
}
/** Runtime check of a message received by the inspector webview. */
export function isToInspector(value: unknown): value is ToInspector {
  return hasKind(value) && TO_INSPECTOR_KINDS.has(value.kind);
}
/** Runtime check of a message received from the inspector webview: its kind and every field. */
export function isFromInspector(value: unknown): value is FromInspector {
  return passes(FROM_INSPECTOR_FIELDS, value);
}

/** Runtime check of a message received by the worker. */
export function isToWorker(value: unknown): value is ToWorker {
  return hasKind(value) && TO_WORKER_KINDS.has(value.kind);
}
/**
 * A `step` record as the engine worker posts it: every layer's histogram counts as a
 * `Uint32Array` and `alpha` as a `Float32Array` (pre-binned typed arrays, cheap to clone and to
 * transfer to a webview); other records unchanged. `metrics.jsonl` keeps JSON arrays.
 */
export function toWireRecord(record: MetricsRecord): MetricsRecord {
  if (record.event !== 'step') return record;
  return {
    ...record,
    layers: record.layers.map((l) => ({
      ...l,
      histogram: { ...l.histogram, counts: Uint32Array.from(l.histogram.counts) },
      ...(l.alpha === undefined ? {} : { alpha: Float32Array.from(l.alpha) }),
    })),
  };
}

/** Runtime check of a message received from the worker. */
export function isFromWorker(value: unknown): value is FromWorker {
  return hasKind(value) && FROM_WORKER_KINDS.has(value.kind);
}
/** Runtime check of a message received by the webview. */
export function isToWebview(value: unknown): value is ToWebview {
  return hasKind(value) && TO_WEBVIEW_KINDS.has(value.kind);
}
/** Runtime check of a message received from the webview: its kind and every field. */
export function isToHost(value: unknown): value is ToHost {
  return passes(TO_HOST_FIELDS, value);
}
