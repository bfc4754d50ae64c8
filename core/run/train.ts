/**
 * The training loop: runs one BNN training run end to end (dataset, model, optimizer, telemetry,
 * checkpoints) and reports through `RunHooks`. Used by the engine worker and the CLI.
 */
import * as tf from '../tf';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { initBackend } from '../backend/backends';
import { injectWebGpuFault, webgpuFailure, webgpuFailureAfterError } from '../backend/webgpu';
import { isBinaryLayer, type BinaryLayer } from '../bnn/layers';
import { getPreset } from '../bnn/presets';
import { describeQuantizer, quantizerClip } from '../bnn/quantizers';
import { cropAndFlip, loadDataset, type Dataset, type Split } from '../data/datasets';
import { CancelledError, UserError } from '../errors';
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
  LayerInfo,
  LayerTelemetry,
  MetricsRecord,
  TrainConfig,
} from '../protocol';
import {
  FAILURE_LOG_PREFIX,
  failureMessage,
  type RunHooks,
  type RunRequest,
  type RunResult,
} from './api';
import {
  binaryLayerMeta,
  readCheckpointManifest,
  readTrainingState,
  serializeCheckpoint,
  type TrainingState,
} from './checkpoint';
import { checkWasmBatchSize } from './batchLimit';
import { clipLatentWeights, optimizerState, setLearningRate } from './optimizers';
import { augmentSeed, mulberry32, shuffledIndices, shuffleSeed } from './random';
import { learningRateAt, recuTau } from './schedules';
import {
  createStepSetup,
  METHOD_LOSSES,
  restoreStepSetup,
  type StepParts,
  type StepSetup,
} from './stepSetup';

export { mulberry32, shuffledIndices } from './random';
export { decayedKernels } from './stepSetup';
export { cosineLearningRate } from './schedules';

/**
 * Copies examples `start..start+size` of a split into one batch's arrays, through `indices` when
 * given (a shuffled order), else in file order, and augments them when `augment` is given.
 */
export function batchArrays(
  split: Split,
  dataset: Dataset,
  indices: ArrayLike<number> | null,
  start: number,
  size: number,
  augment: (() => number) | null = null,
): { images: Float32Array; labels: Int32Array } {
  const [h, w, c] = dataset.shape;
  const pixels = h * w * c;
  const images = new Float32Array(size * pixels);
  const labels = new Int32Array(size);
  for (let b = 0; b < size; b++) {
    const i = indices ? indices[start + b] : start + b;
    images.set(split.images.subarray(i * pixels, (i + 1) * pixels), b * pixels);
    labels[b] = split.labels[i];
  }
  if (augment) cropAndFlip(images, size, dataset.shape, augment, dataset.padValues ?? []);
  return { images, labels };
}

/** Batch tensors (`xs` images, `ys` one-hot labels) from `batchArrays`' arrays. */
export function batchTensors(
  dataset: Dataset,
  images: Float32Array,
  labels: Int32Array,
): { xs: tf.Tensor4D; ys: tf.Tensor2D } {
  const [h, w, c] = dataset.shape;
  return tf.tidy(() => ({
    xs: tf.tensor4d(images, [labels.length, h, w, c]),
    ys: tf.oneHot(tf.tensor1d(labels, 'int32'), dataset.classes) as tf.Tensor2D,
  }));
}

/** `batchArrays` as tensors. */
export function makeBatch(...args: Parameters<typeof batchArrays>) {
  const { images, labels } = batchArrays(...args);
  return batchTensors(args[1], images, labels);
}

/** Test-set loss and accuracy, in batches of 500 with inference-mode batch norm. */
export async function evaluate(
  model: tf.LayersModel,
  dataset: Dataset,
  split: Split,
  isCancelled: () => boolean = () => false,
): Promise<{ loss: number; accuracy: number }> {
  const batch = 500;
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < split.count; start += batch) {
    if (isCancelled()) throw new CancelledError();
    const size = Math.min(batch, split.count - start);
    const { xs, ys } = makeBatch(split, dataset, null, start, size);
    const [lossT, correctT] = tf.tidy(() => {
      const logits = model.predict(xs) as tf.Tensor;
      const loss = tf.mul(tf.losses.softmaxCrossEntropy(ys, logits), size);
      const hits = tf.sum(tf.equal(tf.argMax(logits, 1), tf.argMax(ys, 1)));
      return [loss, hits];
    });
    lossSum += (await lossT.data())[0];
    correct += (await correctT.data())[0];
    tf.dispose([xs, ys, lossT, correctT]);
    await yieldToEventLoop();
  }
  return { loss: lossSum / split.count, accuracy: correct / split.count };
}

/** Lets queued messages (cancel) through between batches; `setImmediate` on Node. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

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

interface TrackedLayer {
  layer: tf.layers.Layer & BinaryLayer;
  tracker: SignTracker;
  clip: number | null;
  latest: Float32Array;
}

/** Telemetry of every binary layer from its latest latent weights (docs/metrics.md). */
function layerTelemetry(tracked: TrackedLayer[], config: TrainConfig): LayerTelemetry[] {
  return tracked.map(({ layer, tracker, clip, latest }) => {
    const shape = layer.latentKernel().shape as number[];
    return {
      name: layer.name,
      ...weightStats(latest, {
        shape,
        channelAxis: 'last',
        bins: config.histogramBins,
        deadTau: config.deadTau,
        clip,
      }),
      flipRate: tracker.takeFlipRate(),
      frozenRatio: tracker.frozenRatio(),
      // 6 significant digits: enough for the ±α view, a third of the JSON of full doubles.
      alpha: Array.from(channelAlpha(latest, shape, 'last'), (a) => Number(a.toPrecision(6))),
    };
  });
}

/** Names of the state.bin arrays behind a layer's sign tracker. */
const signsKey = (layer: string) => `${layer}/signs`;
const everFlippedKey = (layer: string) => `${layer}/everFlipped`;

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
  if (problem) throw new UserError(`${problem} (bnnLab.engine.threads / --threads)`);
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

/** Trains `request.config` into `request.runDir`; a user cancel ends as `cancelled`, not thrown. */
export async function runTraining(request: RunRequest, hooks: RunHooks): Promise<RunResult> {
  const { config } = request;
  let folder: RunFolder | undefined;
  let lastTestAccuracy: number | null = null;
  const emit = (record: MetricsRecord) => {
    folder?.append(record);
    hooks.onRecord(record);
  };
  let setup: StepSetup | undefined;
  let pool: DataParallel | undefined;
  // What the out-of-memory advice names: the batch actually used and the threads sharing it.
  let usedBatch = request.config.batchSize;
  let usedThreads = 1;
  try {
    // Read the checkpoint before anything is written, so a bad one fails the run cleanly.
    const resume = request.resumeFrom ? readTrainingState(request.resumeFrom) : undefined;
    const manifest = request.resumeFrom ? readCheckpointManifest(request.resumeFrom) : undefined;
    const savedPreset = manifest?.meta?.preset;
    if (resume && savedPreset !== undefined && savedPreset !== config.preset) {
      throw new UserError(
        `cannot resume from ${request.resumeFrom}: it is a checkpoint of preset ${savedPreset}, this run has preset ${config.preset}; resume with the run's own config`,
      );
    }
    if (resume && resume.state.seed !== config.seed) {
      throw new UserError(
        `cannot resume from ${request.resumeFrom}: it was trained with seed ${resume.state.seed}, this run has seed ${config.seed}`,
      );
    }
    // A run killed between a checkpoint's rename and its `epoch` record: finish that epoch's
    // record (its evaluation re-run) before going on, even when it was the last epoch.
    const record =
      resume && request.resumeFrom
        ? checkpointRecordState(request.resumeFrom, resume.state.epoch)
        : undefined;
    if (resume && resume.state.epoch > config.epochs) {
      throw new UserError(
        `cannot resume from ${request.resumeFrom}: it is epoch ${resume.state.epoch}, past this run's ${config.epochs} epochs; raise "epochs"`,
      );
    }
    if (resume && resume.state.epoch === config.epochs && record?.kind !== 'missing') {
      throw new UserError(
        `cannot resume from ${request.resumeFrom}: it already finished epoch ${resume.state.epoch} of ${config.epochs}`,
      );
    }
    if (request.resumeFrom && basename(dirname(request.resumeFrom)) === CHECKPOINTS_DIR) {
      // Temporary checkpoint folders that a killed run of that folder left behind.
      const sourceRun = dirname(dirname(request.resumeFrom));
      for (const removed of removeStaleTempCheckpoints(sourceRun))
        hooks.log('info', `removed ${removed}, an unfinished checkpoint of a killed run`);
    }
    folder = new RunFolder(request.runDir);
    folder.writeConfig(config);
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
    const preset = getPreset(config.preset);
    checkDatasetFits(preset, dataset);
    const batchSize = Math.min(config.batchSize, dataset.train.count);
    const stepsPerEpoch = Math.floor(dataset.train.count / batchSize);
    const totalSteps = stepsPerEpoch * config.epochs;
    setup = createStepSetup(config, preset);
    const { model, binaryLayers, bonn, variables, latentKernels, optimizer } = setup;
    const world = dataParallelWorld(request.threads ?? 1, batchSize, backend.name, hooks.log);
    usedBatch = batchSize;
    usedThreads = world;
    if (backend.name === 'wasm')
      checkWasmBatchSize(model, preset.name, batchSize, world, config.batchSize);

    let firstEpoch = 1;
    let step = 0;
    if (resume && request.resumeFrom) {
      if (resume.state.step !== resume.state.epoch * stepsPerEpoch) {
        throw new UserError(
          `cannot resume from ${request.resumeFrom}: it reached step ${resume.state.step} in ${resume.state.epoch} epochs, this run makes ${stepsPerEpoch} steps per epoch; resume with the run's own batchSize, limit and dataset`,
        );
      }
      await restoreStepSetup(setup, request.resumeFrom, resume.arrays, manifest);
      firstEpoch = resume.state.epoch + 1;
      step = resume.state.step;
      hooks.log('info', `resuming from ${request.resumeFrom} at epoch ${firstEpoch}, step ${step}`);
    }
    if (world > 1) {
      pool = await DataParallel.start({
        config,
        world,
        backend: backend.name,
        setup,
        dataset,
        resumed: resume !== undefined,
        log: hooks.log,
        isCancelled: hooks.isCancelled,
      });
    } else if (fuseBatchNorm(model)) {
      // Training in this thread: batch norm through the C kernels, as the replicas run it.
      hooks.log('info', 'batch norm: fused C kernels');
    }
    backend.threads = world;
    const tracked: TrackedLayer[] = [];
    for (const layer of binaryLayers) {
      const latest = (await layer.latentKernel().read().data()) as Float32Array;
      const signs = resume?.arrays.get(signsKey(layer.name));
      const ever = resume?.arrays.get(everFlippedKey(layer.name));
      tracked.push({
        layer,
        tracker:
          signs instanceof Uint8Array && ever instanceof Uint8Array
            ? SignTracker.fromState(signs, ever)
            : new SignTracker(latest),
        clip: quantizerClip(layer.kernelQuantizer),
        latest,
      });
    }
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

    if (resume && request.resumeFrom && record?.kind === 'missing') {
      const evaluationStart = Date.now();
      const test = await evaluate(model, dataset, dataset.test, hooks.isCancelled);
      lastTestAccuracy = test.accuracy;
      const mean = (values: number[]) =>
        values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0;
      hooks.log(
        'info',
        `epoch ${resume.state.epoch} of ${request.resumeFrom} had no record (the run was stopped while saving it): evaluated again`,
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
        checkpoint: relative(request.runDir, request.resumeFrom).split('\\').join('/'),
        time: Date.now(),
      });
    }

    for (let epoch = firstEpoch; epoch <= config.epochs; epoch++) {
      const epochStart = Date.now();
      const order = shuffledIndices(dataset.train.count, shuffleSeed(config.seed, epoch));
      const augment = config.augment ? mulberry32(augmentSeed(config.seed, epoch)) : null;
      const tau = config.recu
        ? recuTau(epoch, config.epochs, config.recu.tauStart, config.recu.tauEnd)
        : undefined;
      if (tau !== undefined) for (const l of binaryLayers) l.setTau(tau);
      let epochLoss = 0;
      let epochCorrect = 0;
      let reportLoss = 0;
      let reportCorrect = 0;
      let reportExamples = 0;
      const reportMethods: Record<string, number> = {};
      let reportStart = Date.now();
      for (let b = 0; b < stepsPerEpoch; b++) {
        if (hooks.isCancelled()) throw new CancelledError();
        const learningRate = learningRateAt(config, epoch, step, stepsPerEpoch);
        setLearningRate(optimizer, learningRate);
        let loss: number;
        let hits: number;
        const methodValues: Record<string, number> = {};
        if (pool) {
          const result = await pool.step({ epoch, batchIndex: b, learningRate, tau });
          loss = result.loss;
          hits = result.hits;
          if (bonn) METHOD_LOSSES.forEach((name, i) => (methodValues[name] = result.methods[i]));
        } else {
          const { xs, ys } = makeBatch(
            dataset.train,
            dataset,
            order,
            b * batchSize,
            batchSize,
            augment,
          );
          const parts: Partial<StepParts> = {};
          const totalT = optimizer.minimize(
            setup.objective(xs, ys, parts),
            true,
            variables,
          ) as tf.Scalar;
          const lossT = parts.ce ?? totalT;
          loss = (await lossT.data())[0];
          hits = parts.hits ? (await parts.hits.data())[0] : 0;
          for (const [name, t] of Object.entries(parts.methods ?? {})) {
            methodValues[name] = (await t.data())[0];
          }
          tf.dispose([xs, ys, totalT, parts.ce, parts.hits, ...Object.values(parts.methods ?? {})]);
        }
        if (backend.name === 'webgpu') {
          await injectWebGpuFault(step + 1);
          const gpuFailure = webgpuFailure();
          if (gpuFailure) throw new UserError(gpuFailure);
        }
        if (!Number.isFinite(loss)) {
          throw new UserError(
            `training diverged: the loss is ${loss} at step ${step + 1}; lower "learningRate" (now ${config.learningRate}) and start again (the checkpoints of earlier epochs are kept)`,
          );
        }
        if (!pool && (config.latentClip ?? 0) > 0) {
          clipLatentWeights(latentKernels, config.latentClip ?? 0);
        }
        step++;
        const latents = pool?.latents(latentKernels.map((k) => k.size));
        for (const [i, t] of tracked.entries()) {
          t.latest = latents
            ? latents[i]
            : ((await t.layer.latentKernel().read().data()) as Float32Array);
          t.tracker.update(t.latest);
        }
        epochLoss += loss;
        epochCorrect += hits;
        reportLoss += loss;
        reportCorrect += hits;
        reportExamples += batchSize;
        for (const [name, v] of Object.entries(methodValues)) {
          reportMethods[name] = (reportMethods[name] ?? 0) + v;
        }
        if (step % config.telemetryEverySteps === 0 || b === stepsPerEpoch - 1) {
          const steps = reportExamples / batchSize;
          const now = Date.now();
          const methodLosses = Object.keys(reportMethods).length
            ? Object.fromEntries(Object.entries(reportMethods).map(([k, v]) => [k, v / steps]))
            : undefined;
          emit({
            event: 'step',
            epoch,
            step,
            loss: reportLoss / steps,
            accuracy: reportCorrect / reportExamples,
            learningRate,
            examplesPerSecond: (reportExamples * 1000) / Math.max(1, now - reportStart),
            layers: layerTelemetry(tracked, config),
            ...(tau !== undefined ? { tau } : {}),
            ...(methodLosses ? { methodLosses } : {}),
            time: now,
          });
          reportLoss = 0;
          reportCorrect = 0;
          reportExamples = 0;
          for (const k of Object.keys(reportMethods)) delete reportMethods[k];
          reportStart = now;
        }
        await yieldToEventLoop();
      }
      if (pool) await pool.syncInto(setup);
      const test = await evaluate(model, dataset, dataset.test, hooks.isCancelled);
      lastTestAccuracy = test.accuracy;
      const trackerState = tracked.flatMap((t) => {
        const s = t.tracker.state();
        return [
          { name: signsKey(t.layer.name), data: s.signs },
          { name: everFlippedKey(t.layer.name), data: s.everFlipped },
        ];
      });
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
        [...(await optimizerState(optimizer)), ...trackerState, ...((await bonn?.state()) ?? [])],
      );
      const checkpoint = folder.writeCheckpoint(`epoch-${epoch}`, files, epoch);
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
    emit({ event: 'done', status: 'completed', testAccuracy: lastTestAccuracy, time: Date.now() });
    return { status: 'completed', testAccuracy: lastTestAccuracy };
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
    await pool?.close();
    setup?.dispose();
  }
}
