/**
 * The dashboard model and the pure reducer that applies host messages to it.
 *
 * The host owns the data (it replays the whole run in `snapshot` after a reload); this model is
 * only what the charts need: bounded per-step series, per-epoch test results and the latest
 * histogram of every binary layer. `reduce` never mutates its input: series touched by a message
 * are copied once per message and then appended to, so a batch of N records costs O(N + maxPoints).
 */
import type {
  BackendInfo,
  FinetuneSummary,
  Histogram,
  LayerInfo,
  LayerTelemetry,
  MetricsRecord,
  RunSnapshot,
  RunPhase,
  RunStatus,
  SkippedLines,
  ToWebview,
  TrainConfig,
} from '../../core/protocol';
import { assertNever, isRunPhase } from '../../core/protocol';
import {
  cloneHistory,
  emptyHistory,
  pushFrameInPlace,
  skipFrameInPlace,
  type HistogramHistory,
} from './histogramHistory';
import { cloneSeries, emptySeries, pushPointInPlace, type Series } from './series';

/** Channel order of {@link RunModel.training}. */
export const TRAINING_CHANNELS = ['loss', 'accuracy'] as const;
/** Channel order of {@link LayerModel.metrics} (shared with the CSV export, core/export/csv.ts). */
import { LAYER_CHANNELS } from '../../core/export/csv';

export { FINETUNE_CHANNELS, LAYER_CHANNELS, type LayerChannel } from '../../core/export/csv';

/** One `epoch` record, as plotted: its numbers without the checkpoint folder and time. */
export type EpochPoint = Omit<
  Extract<MetricsRecord, { event: 'epoch' }>,
  'event' | 'checkpoint' | 'time'
>;

/** Latest values of the last `step` report. */
export interface StepPoint {
  epoch: number;
  step: number;
  loss: number;
  accuracy: number;
  learningRate: number;
  examplesPerSecond: number;
  time: number;
}

/** One binary layer: static info, metric series over steps, latest telemetry (with histogram). */
export interface LayerModel {
  info: LayerInfo;
  /** Channels in {@link LAYER_CHANNELS} order, x = optimizer step. */
  metrics: Series;
  latest: LayerTelemetry | undefined;
  /** Latent-weight histograms over the reports, for the heatmap and ridgeline views. */
  history: HistogramHistory;
}

/** Everything shown for the run in view. */
export interface RunModel {
  runId: string;
  /** What legends and tooltips call the run: its label or config file name, else the run id. */
  name: string;
  dir: string;
  status: RunStatus;
  /** Failure or cancel message from `status` or the `done` record. */
  message: string | undefined;
  preset: string;
  config: TrainConfig | undefined;
  backend: BackendInfo | undefined;
  stepsPerEpoch: number;
  totalSteps: number;
  startTime: number | undefined;
  lastTime: number | undefined;
  /**
   * What the run is doing before its first step (a `phase` record: a fine-tune's evaluation of
   * its source, the LNS mapper warm-up); cleared by the next step, epoch or `done` record.
   */
  phase: { phase: RunPhase; done: number; total: number } | undefined;
  latest: StepPoint | undefined;
  /** Loss and train accuracy per report, channels in {@link TRAINING_CHANNELS} order. */
  training: Series;
  epochs: EpochPoint[];
  /** Binary layers in model order. */
  layers: LayerModel[];
  /** Every layer with weights (binary or not), for the model summary table. */
  allLayers: LayerInfo[];
  /** Learning rate per report (one channel). */
  learningRate: Series;
  /**
   * The method's own scalars per report, by name: `tau`, and `loss:<name>` for each entry of
   * `methodLosses`. Only names that appeared in the stream; insertion order.
   */
  scalars: Record<string, Series>;
  /** Records dropped because a required field was missing or had the wrong type. */
  invalidRecords: number;
  /** Lines of `metrics.jsonl` the host could not read (set when the run came from disk). */
  skipped: SkippedLines | undefined;
  /** The run folder was deleted while open. */
  missing: boolean;
  /** `testAccuracy` of the `done` record (null when the run ended before any evaluation). */
  finalTestAccuracy: number | null | undefined;
  /** True for a fine-tune (its telemetry carries `flipFromStart`). */
  finetune: boolean;
  /** The before/after table of a completed fine-tune (`done.finetune`). */
  finetuneSummary: FinetuneSummary | undefined;
}

/** Root of the dashboard model. */
export interface DashboardModel {
  /** False until the first `snapshot` arrives; the view shows a loading state meanwhile. */
  connected: boolean;
  /** Workspace trust; training is disabled when false. */
  trusted: boolean;
  run: RunModel | undefined;
  /** The runs overlaid for comparison on `run`, one colour each (empty when not comparing). */
  compare: RunModel[];
  /** The comparison stays when another run starts. */
  comparePinned: boolean;
  /** Points kept per series before downsampling. */
  maxPoints: number;
}

/** The model before the host has answered `ready`. */
export function initialModel(maxPoints = 1000): DashboardModel {
  return {
    connected: false,
    trusted: true,
    run: undefined,
    compare: [],
    comparePinned: false,
    maxPoints,
  };
}

function emptyRun(runId: string, dir: string, status: RunStatus, maxPoints: number): RunModel {
  return {
    runId,
    name: runId,
    dir,
    status,
    message: undefined,
    preset: '',
    config: undefined,
    backend: undefined,
    stepsPerEpoch: 0,
    totalSteps: 0,
    startTime: undefined,
    lastTime: undefined,
    phase: undefined,
    latest: undefined,
    training: emptySeries(TRAINING_CHANNELS.length, maxPoints),
    epochs: [],
    layers: [],
    allLayers: [],
    learningRate: emptySeries(1, maxPoints),
    scalars: {},
    invalidRecords: 0,
    skipped: undefined,
    missing: false,
    finalTestAccuracy: undefined,
    finetune: false,
    finetuneSummary: undefined,
  };
}

/** Copy of a run whose arrays and series may be appended to without touching `run`. */
function draftRun(run: RunModel): RunModel {
  return {
    ...run,
    training: cloneSeries(run.training),
    epochs: run.epochs.slice(),
    layers: run.layers.map((l) => ({
      ...l,
      metrics: cloneSeries(l.metrics),
      history: cloneHistory(l.history),
    })),
    learningRate: cloneSeries(run.learningRate),
    scalars: Object.fromEntries(
      Object.entries(run.scalars).map(([name, series]) => [name, cloneSeries(series)]),
    ),
  };
}

function emptyLayer(info: LayerInfo, maxPoints: number): LayerModel {
  return {
    info,
    metrics: emptySeries(LAYER_CHANNELS.length, maxPoints),
    latest: undefined,
    history: emptyHistory(),
  };
}

function isNumber(v: unknown): v is number {
  return typeof v === 'number';
}

/**
 * Whether a record crossed the boundary with the fields the reducer reads. `metrics.jsonl` may
 * come from another version or a damaged file; unknown extra fields are fine and ignored.
 */
export function isUsableRecord(record: MetricsRecord): boolean {
  const r = record as Partial<Record<string, unknown>>;
  switch (record.event) {
    case 'start':
      return Array.isArray(r.layers);
    case 'phase':
      return isRunPhase(r.phase) && isNumber(r.done) && isNumber(r.total);
    case 'step':
      return isNumber(r.step) && Array.isArray(r.layers);
    case 'epoch':
      return isNumber(r.epoch) && isNumber(r.step);
    case 'done':
      return typeof r.status === 'string';
    default:
      return false;
  }
}

function isUsableTelemetry(t: LayerTelemetry): boolean {
  return (
    typeof t === 'object' &&
    t !== null &&
    typeof t.name === 'string' &&
    typeof t.histogram === 'object' &&
    t.histogram !== null &&
    (Array.isArray(t.histogram.counts) || t.histogram.counts instanceof Uint32Array)
  );
}

function pushScalar(run: RunModel, name: string, step: number, value: unknown, maxPoints: number) {
  if (!isNumber(value)) return;
  const series = (run.scalars[name] ??= emptySeries(1, maxPoints));
  pushPointInPlace(series, step, [value]);
}

function layerFromTelemetry(t: LayerTelemetry): LayerInfo {
  return { name: t.name, kind: '', shape: [], binary: true, quantizer: '', params: t.params };
}

/** Applies one metrics record to a draft run (mutates the draft only). */
function applyRecord(run: RunModel, record: MetricsRecord, maxPoints: number): void {
  if (!isUsableRecord(record)) {
    run.invalidRecords++;
    return;
  }
  switch (record.event) {
    case 'start':
      run.preset = record.preset;
      run.config = record.config;
      run.backend = record.backend;
      run.stepsPerEpoch = record.stepsPerEpoch;
      run.totalSteps = record.totalSteps;
      run.startTime = record.time;
      run.lastTime = record.time;
      run.phase = undefined;
      run.latest = undefined;
      run.training = emptySeries(TRAINING_CHANNELS.length, maxPoints);
      run.epochs = [];
      run.finalTestAccuracy = undefined;
      run.learningRate = emptySeries(1, maxPoints);
      run.scalars = {};
      run.allLayers = record.layers;
      run.layers = record.layers.filter((l) => l.binary).map((info) => emptyLayer(info, maxPoints));
      return;
    case 'phase':
      run.phase = { phase: record.phase, done: record.done, total: record.total };
      if (isNumber(record.time)) run.lastTime = record.time;
      return;
    case 'step': {
      run.phase = undefined;
      run.latest = {
        epoch: record.epoch,
        step: record.step,
        loss: record.loss,
        accuracy: record.accuracy,
        learningRate: record.learningRate,
        examplesPerSecond: record.examplesPerSecond,
        time: record.time,
      };
      run.lastTime = record.time;
      pushPointInPlace(run.training, record.step, [record.loss, record.accuracy]);
      pushPointInPlace(run.learningRate, record.step, [record.learningRate]);
      pushScalar(run, 'tau', record.step, record.tau, maxPoints);
      if (typeof record.methodLosses === 'object' && record.methodLosses !== null) {
        for (const [name, value] of Object.entries(record.methodLosses)) {
          pushScalar(run, `loss:${name}`, record.step, value, maxPoints);
        }
      }
      record.layers.forEach((t, k) => {
        if (!isUsableTelemetry(t)) {
          run.invalidRecords++;
          return;
        }
        // Telemetry comes in model order: try the same position before searching.
        let layer =
          run.layers[k]?.info.name === t.name
            ? run.layers[k]
            : run.layers.find((l) => l.info.name === t.name);
        if (!layer) {
          // A step without a matching `start` (truncated history): show the layer anyway.
          const info = layerFromTelemetry(t);
          layer = emptyLayer(info, maxPoints);
          run.layers.push(layer);
          run.allLayers = [...run.allLayers, info];
        }
        if (t.flipFromStart !== undefined) run.finetune = true;
        pushPointInPlace(layer.metrics, record.step, [
          t.quantizationError,
          t.deadWeightRatio,
          t.flipRate,
          t.frozenRatio,
          t.flipFromStart ?? NaN,
          t.disagreement ?? NaN,
          t.auxLoss ?? NaN,
        ]);
        if (t.histogram.counts.length === 0 && layer.latest) {
          // A report whose histogram the snapshot left out: keep drawing the previous one.
          layer.latest = { ...t, histogram: layer.latest.histogram, alpha: layer.latest.alpha };
          layer.history = skipFrameInPlace(layer.history);
        } else {
          layer.latest = t;
          layer.history = pushFrameInPlace(layer.history, record.step, t.histogram);
        }
      });
      return;
    }
    case 'epoch': {
      const point: EpochPoint = {
        epoch: record.epoch,
        step: record.step,
        trainLoss: record.trainLoss,
        trainAccuracy: record.trainAccuracy,
        testLoss: record.testLoss,
        testAccuracy: record.testAccuracy,
        durationMs: record.durationMs,
      };
      const i = run.epochs.findIndex((e) => e.epoch === record.epoch);
      if (i >= 0) run.epochs[i] = point;
      else run.epochs.push(point);
      run.phase = undefined;
      run.lastTime = record.time;
      return;
    }
    case 'done':
      run.phase = undefined;
      run.status = record.status;
      run.message = record.message;
      run.finalTestAccuracy = record.testAccuracy;
      run.lastTime = record.time;
      if (record.finetune) {
        run.finetune = true;
        run.finetuneSummary = record.finetune;
      }
      return;
    default:
      assertNever(record);
  }
}

function runFromSnapshot(
  snapshot: RunSnapshot,
  maxPoints: number,
  skipped: SkippedLines | undefined,
): RunModel {
  const run = emptyRun(snapshot.runId, snapshot.dir, snapshot.status, maxPoints);
  if (snapshot.name) run.name = snapshot.name;
  run.skipped =
    skipped && (skipped.badLines > 0 || skipped.truncatedLastLine) ? skipped : undefined;
  for (const r of snapshot.records) applyRecord(run, r, maxPoints);
  // The snapshot's status is the host's current view; a `done` record cannot be newer than it.
  run.status = snapshot.status;
  return run;
}

/**
 * Applies one host message to the model and returns the new model; `model` is not modified.
 * Messages for a run other than the one in view are ignored (the host sends a `snapshot` first
 * when it switches runs).
 */
export function reduce(model: DashboardModel, msg: ToWebview): DashboardModel {
  switch (msg.kind) {
    case 'snapshot':
      return {
        ...model,
        connected: true,
        trusted: msg.trusted,
        run: msg.run ? runFromSnapshot(msg.run, model.maxPoints, msg.skipped) : undefined,
      };
    case 'records': {
      if (!model.run || model.run.runId !== msg.runId || msg.records.length === 0) return model;
      const run = draftRun(model.run);
      for (const r of msg.records) applyRecord(run, r, model.maxPoints);
      return { ...model, run };
    }
    case 'status': {
      if (!model.run || model.run.runId !== msg.runId) return model;
      return { ...model, run: { ...model.run, status: msg.status, message: msg.message } };
    }
    case 'comparison': {
      // Legends tell runs apart by name: a name already taken (two runs of one config file)
      // gets its run id.
      const taken = new Set(model.run ? [model.run.name] : []);
      const compare = msg.runs.map((c) => {
        const r = runFromSnapshot(c.run, model.maxPoints, c.skipped);
        if (taken.has(r.name)) r.name = `${r.name} (${r.runId})`;
        taken.add(r.name);
        return r;
      });
      return { ...model, compare, comparePinned: msg.pinned };
    }
    case 'runMissing': {
      const gone = (r: RunModel): boolean => r.runId === msg.runId && r.dir === msg.dir;
      const run = model.run && gone(model.run) ? { ...model.run, missing: true } : model.run;
      const changed = model.compare.some(gone);
      const compare = changed
        ? model.compare.map((r) => (gone(r) ? { ...r, missing: true } : r))
        : model.compare;
      return run === model.run && !changed ? model : { ...model, run, compare };
    }
    default:
      return assertNever(msg);
  }
}

/**
 * What the panel says about input it could not use, or undefined when nothing was skipped:
 * `"Skipped 2 unreadable lines and a cut-off last line of metrics.jsonl; showing the 340 records before."`
 */
export function skippedNotice(run: RunModel): string | undefined {
  const parts: string[] = [];
  const bad = run.skipped?.badLines ?? 0;
  if (bad > 0) parts.push(`${bad} unreadable line${bad === 1 ? '' : 's'}`);
  if (run.skipped?.truncatedLastLine) {
    parts.push('a cut-off last line (the run was stopped mid-write)');
  }
  if (run.invalidRecords > 0) {
    const n = run.invalidRecords;
    parts.push(`${n} record${n === 1 ? '' : 's'} with missing or malformed fields`);
  }
  if (parts.length === 0) return undefined;
  const list =
    parts.length === 1 ? parts[0] : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
  return `Skipped ${list} of metrics.jsonl; everything else is shown.`;
}

/** Latest test accuracy to display: the `done` record's, else the last evaluated epoch's. */
export function latestTestAccuracy(run: RunModel): number | undefined {
  if (typeof run.finalTestAccuracy === 'number') return run.finalTestAccuracy;
  const last = run.epochs.reduce<EpochPoint | undefined>(
    (best, e) => (best === undefined || e.epoch > best.epoch ? e : best),
    undefined,
  );
  return last?.testAccuracy;
}

/** Latest step reached and training progress in [0, 1] (0 when the total is unknown). */
export function progressOf(run: RunModel): { step: number; fraction: number } {
  const step = Math.max(run.latest?.step ?? 0, run.epochs.at(-1)?.step ?? 0);
  const fraction = run.totalSteps > 0 ? Math.min(1, step / run.totalSteps) : 0;
  return { step, fraction: run.status === 'completed' ? 1 : fraction };
}

/** Histogram of a layer's latest report, if any. */
export function latestHistogram(layer: LayerModel): Histogram | undefined {
  return layer.latest?.histogram;
}

/**
 * Dead-weight threshold `Q(τ) = −absMean · ln(2 − 2τ)` of docs/metrics.md, for marking the
 * dead zone on a histogram; undefined when τ is not in (0.5, 1).
 */
export function deadThreshold(absMean: number, tau: number): number | undefined {
  if (!(tau > 0.5 && tau < 1) || !Number.isFinite(absMean)) return undefined;
  return -absMean * Math.log(2 - 2 * tau);
}
