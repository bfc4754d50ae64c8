/**
 * The run loop, written once for every training method: run folder, backend, dataset, resume,
 * epochs and batches, cancel, divergence, step reports, evaluation, checkpoints and the `done`
 * record. A `RunMethod` says what is trained (plain training, LNS or plain fine-tuning) and a
 * stepper (core/run/steppers.ts) makes each step, in this thread or on data-parallel replicas.
 */
import * as tf from '../tf';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { initBackend } from '../backend/backends';
import { injectWebGpuFault, webgpuFailure, webgpuFailureAfterError } from '../backend/webgpu';
import { isBinaryLayer, type BinaryLayer } from '../bnn/layers';
import type { Preset } from '../bnn/presets';
import { describeQuantizer, quantizerClip } from '../bnn/quantizers';
import { loadDataset, type Dataset } from '../data/datasets';
import { CancelledError, fieldName, UserError } from '../errors';
import {
  CHECKPOINTS_DIR,
  killPoint,
  METRICS_FILE,
  readMetrics,
  removeStaleTempCheckpoints,
  RunFolder,
} from '../io/runFolder';
import { channelAlpha, SignTracker, weightStats } from '../metrics/layerStats';
import { DataParallel } from '../parallel/dataParallel';
import { threadCountProblem } from '../parallel/shards';
import { fuseBatchNorm } from '../parallel/syncBatchNorm';
import type {
  BackendName,
  BackendPreference,
  LayerInfo,
  LayerTelemetry,
  MetricsRecord,
  RunPhase,
  TrainConfig,
} from '../protocol';
import { FAILURE_LOG_PREFIX, failureMessage, type RunHooks, type RunResult } from '../training/api';
import { checkWasmBatchSize } from '../training/batchLimit';
import { evaluate, yieldToEventLoop } from '../training/batches';
import {
  binaryLayerMeta,
  readCheckpointManifest,
  readTrainingState,
  serializeCheckpoint,
  type TrainingState,
} from '../training/checkpoint';
import type { LnsOptions } from '../training/methods/lns';
import { setLearningRate } from '../training/optimizers';
import { learningRateAt } from '../training/schedules';
import {
  createStepSetup,
  restoreStepSetup,
  setupArrays,
  type StepSetup,
} from '../training/stepSetup';
import { LocalStepper, ParallelStepper, type Stepper } from './steppers';

/** Static description of every layer with weights, for the `start` record. */
export function describeLayers(model: tf.LayersModel): LayerInfo[] {
  const out: LayerInfo[] = [];
  for (const layer of model.layers) {
    const weights = layer.getWeights();
    if (weights.length === 0) continue;
    const cls = layer.getClassName();
    const kernel = isBinaryLayer(layer) ? layer.latentKernel().read() : weights[0];
    out.push({
      name: layer.name,
      kind: cls.charAt(0).toLowerCase() + cls.slice(1),
      shape: kernel.shape,
      binary: isBinaryLayer(layer),
      quantizer: isBinaryLayer(layer) ? describeQuantizer(layer.kernelQuantizer) : '',
      params: weights.reduce((n, w) => n + w.size, 0),
    });
  }
  return out;
}

/**
 * The `phase` records of a phase of `total` units, as a function of the units done: one when it
 * begins (`done` 0), one each time `done` passes another tenth of `total`, one when it ends.
 * Begins at once.
 */
export function phaseReporter(
  emit: (record: MetricsRecord) => void,
  phase: RunPhase,
  total: number,
): (done: number) => void {
  const tenth = Math.max(1, Math.ceil(total / 10));
  let last = 0;
  const report = (done: number) => emit({ event: 'phase', phase, done, total, time: Date.now() });
  report(0);
  return (done) => {
    if (done <= last) return;
    if (done >= total || Math.floor(done / tenth) > Math.floor(last / tenth)) {
      last = done;
      report(Math.min(done, total));
    }
  };
}

/**
 * @throws UserError when the dataset is empty, or its images or labels do not fit the preset's
 * model.
 */
export function checkDatasetFits(
  preset: { name: string; inputShape: readonly number[]; classes: number },
  dataset: Dataset,
): void {
  for (const [split, count] of [
    ['training', dataset.train.count],
    ['test', dataset.test.count],
  ] as const) {
    if (count === 0) {
      throw new UserError(
        `dataset ${dataset.name} from ${dataset.source} holds no ${split} examples; point "dataset.path" at a folder whose files hold some`,
      );
    }
  }
  const [h, w, c] = preset.inputShape;
  if (dataset.shape[0] !== h || dataset.shape[1] !== w || dataset.shape[2] !== c) {
    throw new UserError(
      `preset ${preset.name} takes ${h}×${w}×${c} images but dataset ${dataset.name} holds ${dataset.shape.join('×')}`,
    );
  }
  if (dataset.classes > preset.classes) {
    throw new UserError(
      `preset ${preset.name} has ${preset.classes} classes but dataset ${dataset.name} has labels up to ${dataset.classes - 1}`,
    );
  }
}

/**
 * How many replica threads a run gets: the requested count, at most one per example of a batch;
 * 1 on the native backends, which use every core on their own.
 * @throws UserError for a count below 1 or above the machine's cores.
 */
export function dataParallelWorld(
  threads: number,
  batchSize: number,
  backend: BackendName,
  log: RunHooks['log'],
): number {
  const problem = threadCountProblem(threads, availableParallelism());
  if (problem) throw new UserError(`${problem} (${fieldName('threads')})`);
  if (threads === 1) return 1;
  if (backend === 'webgpu') {
    log(
      'info',
      'data-parallel threads: not used with the webgpu backend (one thread drives the GPU)',
    );
    return 1;
  }
  if (backend !== 'wasm' && backend !== 'cpu') {
    log('info', `data-parallel threads: not used with the ${backend} backend (it uses every core)`);
    return 1;
  }
  return Math.min(threads, batchSize);
}

/**
 * What the run that wrote checkpoint `dir` (`<run>/checkpoints/epoch-N`) recorded for epoch
 * `epoch`: `recorded` when its metrics.jsonl holds that `epoch` record, `missing` when the run
 * was killed between the checkpoint's rename and the record's append (the step records of that
 * epoch are returned for the training loss), `unknown` when the checkpoint is not in a run folder.
 */
export function checkpointRecordState(
  dir: string,
  epoch: number,
):
  | { kind: 'recorded' | 'unknown' }
  | { kind: 'missing'; steps: Extract<MetricsRecord, { event: 'step' }>[] } {
  const parent = dirname(dir);
  const metrics = join(dirname(parent), METRICS_FILE);
  if (basename(parent) !== CHECKPOINTS_DIR || !existsSync(metrics)) return { kind: 'unknown' };
  const { records } = readMetrics(metrics);
  if (records.some((r) => r.event === 'epoch' && r.epoch === epoch)) return { kind: 'recorded' };
  return {
    kind: 'missing',
    steps: records.filter(
      (r): r is Extract<MetricsRecord, { event: 'step' }> =>
        r.event === 'step' && r.epoch === epoch,
    ),
  };
}

/** A binary layer as the loop follows it for telemetry. */
export interface TrackedLayer {
  layer: tf.layers.Layer & BinaryLayer;
  shape: number[];
  tracker: SignTracker;
  clip: number | null;
  /** Latent weights after the latest step. */
  latest: Float32Array;
  /** The binary weights of the latest step when a method sets them (LNS), else `latest`'s signs. */
  binary: Float32Array;
  /** LNS: the auxiliary loss summed since the last report, its steps, the latest disagreement. */
  auxSum: number;
  auxSteps: number;
  disagreement?: number;
}

/** A checkpoint's training-state.json as the loop reads it back. */
export interface ResumePoint {
  dir: string;
  /** With a method's own fields (a fine-tune's `finetune`). */
  state: TrainingState & { [field: string]: unknown };
  arrays: Map<string, Float32Array | Uint8Array>;
}

/** What the loop asks of a method; everything else is the same for every method. */
export interface RunMethod {
  /** What config.json records: exactly what the run applies. */
  readonly config: TrainConfig;
  readonly preset: Preset;
  /** LNS fine-tuning: the mappers' settings (the setup and every replica build them). */
  readonly lns?: LnsOptions;
  /** The replicas start from this thread's weights (not their seed) even without a resume. */
  readonly startsFromWeights: boolean;
  /** Checks a resume checkpoint against the request. @throws UserError. */
  checkResume?(resume: ResumePoint): void;
  /** Files beside config.json. */
  writeFiles?(folder: RunFolder): void;
  /**
   * After the setup is built and the `start` record written, before a resume restores it: puts
   * the starting weights in (a fine-tune's source checkpoint) and reads what the method needs.
   * Work that takes a while reports its progress through `phase` (see `phaseReporter`).
   */
  initialize?(context: {
    setup: StepSetup;
    dataset: Dataset;
    hooks: RunHooks;
    resume?: ResumePoint;
    phase: (phase: RunPhase, total: number) => (done: number) => void;
  }): Promise<void>;
  /** ReCU's τ of an epoch, when the method schedules it. */
  tau(epoch: number): number | undefined;
  /** Extra per-layer telemetry. */
  layerTelemetry?(layer: TrackedLayer, index: number): Partial<LayerTelemetry>;
  /** Extra fields of training-state.json and arrays of state.bin. */
  checkpointState?(): {
    state: Record<string, unknown>;
    arrays: { name: string; data: Float32Array }[];
  };
  /** Before the checkpoint's evaluation: makes the model what the checkpoint holds. */
  beforeCheckpoint?(setup: StepSetup, last: boolean): Promise<void>;
  /** After the checkpoint: back to what training goes on with (unless `last`). */
  afterCheckpoint?(setup: StepSetup, last: boolean): Promise<void>;
  /** The message of a diverged run. */
  diverged(loss: number, step: number): string;
  /** Extra fields of the `done` record of a completed run. */
  completed?(
    testAccuracy: number | null,
  ): Pick<Extract<MetricsRecord, { event: 'done' }>, 'finetune'>;
}

export interface LoopRequest {
  runId: string;
  runDir: string;
  backend: BackendPreference;
  resumeFrom?: string;
  threads?: number;
}

export interface LoopResult extends RunResult {
  /** Path of the last checkpoint, relative to the run folder. */
  checkpoint?: string;
}

/** Names of the state.bin arrays behind a layer's sign tracker. */
const signsKey = (layer: string) => `${layer}/signs`;
const everFlippedKey = (layer: string) => `${layer}/everFlipped`;

/** Telemetry of every binary layer from its latest latent weights (docs/metrics.md). */
function layerTelemetry(
  tracked: TrackedLayer[],
  config: TrainConfig,
  method: RunMethod,
): LayerTelemetry[] {
  return tracked.map((t, i) => ({
    name: t.layer.name,
    ...weightStats(t.latest, {
      shape: t.shape,
      channelAxis: 'last',
      bins: config.histogramBins,
      deadTau: config.deadTau,
      clip: t.clip,
    }),
    flipRate: t.tracker.takeFlipRate(),
    frozenRatio: t.tracker.frozenRatio(),
    // 6 significant digits: enough for the ±α view, a third of the JSON of full doubles.
    alpha: Array.from(channelAlpha(t.latest, t.shape, 'last'), (a) => Number(a.toPrecision(6))),
    ...method.layerTelemetry?.(t, i),
  }));
}

const mean = (values: number[]) =>
  values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0;

/**
 * Runs `method` into `request.runDir`, built by `plan` inside the loop's error handling (so a bad
 * request fails the run cleanly before anything is written); a user cancel ends as `cancelled`,
 * not thrown.
 */
export async function runLoop(
  request: LoopRequest,
  hooks: RunHooks,
  plan: () => RunMethod,
): Promise<LoopResult> {
  let folder: RunFolder | undefined;
  let lastTestAccuracy: number | null = null;
  const emit = (record: MetricsRecord) => {
    folder?.append(record);
    hooks.onRecord(record);
  };
  let setup: StepSetup | undefined;
  let stepper: Stepper | undefined;
  // What the out-of-memory advice names: the batch actually used and the threads sharing it.
  let usedBatch: number | undefined;
  let usedThreads = 1;
  try {
    const method = plan();
    const { config, preset } = method;
    usedBatch = config.batchSize;
    // Read the checkpoint before anything is written, so a bad one fails the run cleanly.
    const resume: ResumePoint | undefined = request.resumeFrom
      ? {
          dir: request.resumeFrom,
          ...(readTrainingState(request.resumeFrom) as Omit<ResumePoint, 'dir'>),
        }
      : undefined;
    const manifest = resume ? readCheckpointManifest(resume.dir) : undefined;
    if (resume) method.checkResume?.(resume);
    const savedPreset = manifest?.meta?.preset;
    if (resume && savedPreset !== undefined && savedPreset !== config.preset) {
      throw new UserError(
        `cannot resume from ${resume.dir}: it is a checkpoint of preset ${savedPreset}, this run has preset ${config.preset}; resume with the run's own config`,
      );
    }
    if (resume && resume.state.seed !== config.seed) {
      throw new UserError(
        `cannot resume from ${resume.dir}: it was trained with seed ${resume.state.seed}, this run has seed ${config.seed}`,
      );
    }
    // A run killed between a checkpoint's rename and its `epoch` record: finish that epoch's
    // record (its evaluation re-run) before going on, even when it was the last epoch.
    const record = resume ? checkpointRecordState(resume.dir, resume.state.epoch) : undefined;
    if (resume && resume.state.epoch > config.epochs) {
      throw new UserError(
        `cannot resume from ${resume.dir}: it is epoch ${resume.state.epoch}, past this run's ${config.epochs} epochs; raise "epochs"`,
      );
    }
    if (resume && resume.state.epoch === config.epochs && record?.kind !== 'missing') {
      throw new UserError(
        `cannot resume from ${resume.dir}: it already finished epoch ${resume.state.epoch} of ${config.epochs}`,
      );
    }
    if (resume && basename(dirname(resume.dir)) === CHECKPOINTS_DIR) {
      // Temporary checkpoint folders that a killed run of that folder left behind.
      const sourceRun = dirname(dirname(resume.dir));
      for (const removed of removeStaleTempCheckpoints(sourceRun))
        hooks.log('info', `removed ${removed}, an unfinished checkpoint of a killed run`);
    }
    folder = new RunFolder(request.runDir);
    folder.writeConfig(config);
    method.writeFiles?.(folder);
    const backend = await initBackend(request.backend, hooks.log);
    const loadStart = Date.now();
    const dataset = loadDataset(config.dataset, {
      limit: config.limit,
      testLimit: config.testLimit,
    });
    hooks.log(
      'info',
      `dataset ${dataset.name} from ${dataset.source}: ${dataset.train.count} train / ${dataset.test.count} test examples (${Date.now() - loadStart} ms)`,
    );
    checkDatasetFits(preset, dataset);
    const batchSize = Math.min(config.batchSize, dataset.train.count);
    const stepsPerEpoch = Math.floor(dataset.train.count / batchSize);
    const totalSteps = stepsPerEpoch * config.epochs;
    setup = createStepSetup(config, preset, method.lns);
    const { model, binaryLayers, optimizer } = setup;
    const world = dataParallelWorld(request.threads ?? 1, batchSize, backend.name, hooks.log);
    usedBatch = batchSize;
    usedThreads = world;
    if (backend.name === 'wasm')
      checkWasmBatchSize(model, preset.name, batchSize, world, config.batchSize);
    if (resume && resume.state.step !== resume.state.epoch * stepsPerEpoch) {
      throw new UserError(
        `cannot resume from ${resume.dir}: it reached step ${resume.state.step} in ${resume.state.epoch} epochs, this run makes ${stepsPerEpoch} steps per epoch; resume with the run's own batchSize, limit and dataset`,
      );
    }
    backend.threads = world;
    // Written before the method's setup (a fine-tune's evaluation and mapper warm-up take
    // seconds), so front ends show the run and its `phase` records from the start.
    emit({
      event: 'start',
      runId: request.runId,
      preset: preset.name,
      config,
      layers: describeLayers(model),
      backend,
      stepsPerEpoch,
      totalSteps,
      time: Date.now(),
    });
    await method.initialize?.({
      setup,
      dataset,
      hooks,
      resume,
      phase: (phase, total) => phaseReporter(emit, phase, total),
    });

    let firstEpoch = 1;
    let step = 0;
    if (resume) {
      await restoreStepSetup(setup, resume.dir, resume.arrays, manifest);
      firstEpoch = resume.state.epoch + 1;
      step = resume.state.step;
      hooks.log('info', `resuming from ${resume.dir} at epoch ${firstEpoch}, step ${step}`);
    }
    if (world > 1) {
      const pool = await DataParallel.start({
        config,
        world,
        backend: backend.name,
        setup,
        dataset,
        sendState: resume !== undefined || method.startsFromWeights,
        ...(method.lns ? { lns: method.lns } : {}),
        log: hooks.log,
        isCancelled: hooks.isCancelled,
      });
      stepper = new ParallelStepper(pool, setup);
    } else {
      // Training in this thread: batch norm through the C kernels, as the replicas run it.
      if (fuseBatchNorm(model)) hooks.log('info', 'batch norm: fused C kernels');
      stepper = new LocalStepper(setup, config, dataset, batchSize);
    }
    const tracked: TrackedLayer[] = [];
    for (const layer of binaryLayers) {
      const latest = (await layer.latentKernel().read().data()) as Float32Array;
      const signs = resume?.arrays.get(signsKey(layer.name));
      const ever = resume?.arrays.get(everFlippedKey(layer.name));
      tracked.push({
        layer,
        shape: layer.latentKernel().shape as number[],
        tracker:
          signs instanceof Uint8Array && ever instanceof Uint8Array
            ? SignTracker.fromState(signs, ever)
            : new SignTracker(latest),
        clip: quantizerClip(layer.kernelQuantizer),
        latest,
        binary: latest,
        auxSum: 0,
        auxSteps: 0,
      });
    }

    if (resume && record?.kind === 'missing') {
      const evaluationStart = Date.now();
      const test = await evaluate(model, dataset, dataset.test, hooks.isCancelled);
      lastTestAccuracy = test.accuracy;
      hooks.log(
        'info',
        `epoch ${resume.state.epoch} of ${resume.dir} had no record (the run was stopped while saving it): evaluated again`,
      );
      emit({
        event: 'epoch',
        epoch: resume.state.epoch,
        step,
        trainLoss: resume.state.trainLoss ?? mean(record.steps.map((r) => r.loss)),
        trainAccuracy: resume.state.trainAccuracy ?? mean(record.steps.map((r) => r.accuracy)),
        testLoss: test.loss,
        testAccuracy: test.accuracy,
        durationMs: Date.now() - evaluationStart,
        checkpoint: relative(request.runDir, resume.dir).split('\\').join('/'),
        time: Date.now(),
      });
    }

    let checkpoint: string | undefined;
    for (let epoch = firstEpoch; epoch <= config.epochs; epoch++) {
      const epochStart = Date.now();
      const tau = method.tau(epoch);
      if (tau !== undefined) for (const l of binaryLayers) l.setTau(tau);
      let epochLoss = 0;
      let epochCorrect = 0;
      let reportLoss = 0;
      let reportCorrect = 0;
      let reportExamples = 0;
      const reportMethods: Record<string, number> = {};
      let reportStart = Date.now();
      // A step's bookkeeping (sign trackers, telemetry), which runs while the next step computes
      // when the stepper's replicas leave this thread free (ParallelStepper), else right away.
      let pending: (() => void) | undefined;
      const takePending = () => {
        const work = pending;
        pending = undefined;
        return work;
      };
      for (let b = 0; b < stepsPerEpoch; b++) {
        if (hooks.isCancelled()) {
          takePending()?.();
          throw new CancelledError();
        }
        const learningRate = learningRateAt(config, epoch, step, stepsPerEpoch);
        setLearningRate(optimizer, learningRate);
        const outcome = await stepper.step(
          { epoch, batchIndex: b, learningRate, tau },
          takePending(),
        );
        const { loss, hits } = outcome;
        if (backend.name === 'webgpu') {
          await injectWebGpuFault(step + 1);
          const gpuFailure = webgpuFailure();
          if (gpuFailure) throw new UserError(gpuFailure);
        }
        if (!Number.isFinite(loss)) throw new UserError(method.diverged(loss, step + 1));
        step++;
        const stepNumber = step;
        const lastOfEpoch = b === stepsPerEpoch - 1;
        const bookkeeping = () => {
          for (const [i, t] of tracked.entries()) {
            t.latest = outcome.latents[i];
            const terms = outcome.layers?.[i];
            if (terms) {
              t.binary = terms.binary;
              t.auxSum += terms.aux;
              t.auxSteps++;
              t.disagreement = terms.disagreement;
            } else t.binary = t.latest;
            t.tracker.update(t.binary);
          }
          epochLoss += loss;
          epochCorrect += hits;
          reportLoss += loss;
          reportCorrect += hits;
          reportExamples += batchSize;
          for (const [name, v] of Object.entries(outcome.methods)) {
            reportMethods[name] = (reportMethods[name] ?? 0) + v;
          }
          if (stepNumber % config.telemetryEverySteps === 0 || lastOfEpoch) {
            const steps = reportExamples / batchSize;
            const now = Date.now();
            const methodLosses = Object.keys(reportMethods).length
              ? Object.fromEntries(Object.entries(reportMethods).map(([k, v]) => [k, v / steps]))
              : undefined;
            emit({
              event: 'step',
              epoch,
              step: stepNumber,
              loss: reportLoss / steps,
              accuracy: reportCorrect / reportExamples,
              learningRate,
              examplesPerSecond: (reportExamples * 1000) / Math.max(1, now - reportStart),
              layers: layerTelemetry(tracked, config, method),
              ...(tau !== undefined ? { tau } : {}),
              ...(methodLosses ? { methodLosses } : {}),
              time: now,
            });
            for (const t of tracked) {
              t.auxSum = 0;
              t.auxSteps = 0;
            }
            reportLoss = 0;
            reportCorrect = 0;
            reportExamples = 0;
            for (const k of Object.keys(reportMethods)) delete reportMethods[k];
            reportStart = now;
          }
        };
        // The epoch's last step is kept before the evaluation and the checkpoint.
        if (stepper.overlaps && !lastOfEpoch) pending = bookkeeping;
        else bookkeeping();
        await yieldToEventLoop();
      }
      await stepper.sync();
      const last = epoch === config.epochs;
      // The state training goes on from, before a method rewrites the model for the checkpoint.
      const trackerState = tracked.flatMap((t) => {
        const s = t.tracker.state();
        return [
          { name: signsKey(t.layer.name), data: s.signs },
          { name: everFlippedKey(t.layer.name), data: s.everFlipped },
        ];
      });
      const arrays = [...(await setupArrays(setup)), ...trackerState];
      await method.beforeCheckpoint?.(setup, last);
      const test = await evaluate(model, dataset, dataset.test, hooks.isCancelled);
      lastTestAccuracy = test.accuracy;
      const extra = method.checkpointState?.();
      const trainingState: TrainingState = {
        epoch,
        step,
        seed: config.seed,
        optimizer: config.optimizer ?? 'adam',
        learningRate: config.learningRate,
        rng: 'order: shuffle(mulberry32(seed*1000+epoch)); augmentation: mulberry32(augmentSeed(seed, epoch))',
        ...(tau !== undefined ? { tau } : {}),
        trainLoss: epochLoss / stepsPerEpoch,
        trainAccuracy: epochCorrect / (stepsPerEpoch * batchSize),
        ...extra?.state,
      };
      const files = await serializeCheckpoint(
        model,
        {
          version: 1,
          preset: preset.name,
          epoch,
          step,
          binaryLayers: binaryLayerMeta(model),
          testAccuracy: test.accuracy,
          ...(tau !== undefined ? { tau } : {}),
        },
        trainingState as unknown as Record<string, unknown>,
        [...arrays, ...(extra?.arrays ?? [])],
      );
      checkpoint = folder.writeCheckpoint(`epoch-${epoch}`, files, epoch);
      await method.afterCheckpoint?.(setup, last);
      killPoint('before-append', epoch);
      emit({
        event: 'epoch',
        epoch,
        step,
        trainLoss: epochLoss / stepsPerEpoch,
        trainAccuracy: epochCorrect / (stepsPerEpoch * batchSize),
        testLoss: test.loss,
        testAccuracy: test.accuracy,
        durationMs: Date.now() - epochStart,
        checkpoint,
        time: Date.now(),
      });
      killPoint('after-append', epoch);
    }
    emit({
      event: 'done',
      status: 'completed',
      testAccuracy: lastTestAccuracy,
      ...method.completed?.(lastTestAccuracy),
      time: Date.now(),
    });
    return {
      status: 'completed',
      testAccuracy: lastTestAccuracy,
      ...(checkpoint ? { checkpoint } : {}),
    };
  } catch (e) {
    const cancelled = e instanceof CancelledError;
    // A lost device or failed shader makes later tfjs calls fail in odd ways: name the cause.
    const message = cancelled
      ? 'cancelled by the user'
      : ((await webgpuFailureAfterError()) ?? failureMessage(e, usedBatch, usedThreads));
    if (!cancelled) hooks.log('error', FAILURE_LOG_PREFIX + ((e as Error).stack ?? String(e)));
    try {
      emit({
        event: 'done',
        status: cancelled ? 'cancelled' : 'failed',
        testAccuracy: lastTestAccuracy,
        message,
        time: Date.now(),
      });
    } catch {
      // The folder itself may be what failed (disk full); the caller still gets the result.
    }
    return { status: cancelled ? 'cancelled' : 'failed', testAccuracy: lastTestAccuracy, message };
  } finally {
    await stepper?.close();
    setup?.dispose();
  }
}
