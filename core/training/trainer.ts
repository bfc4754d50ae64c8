/**
 * The training loop: runs one BNN training run end to end (dataset, model, optimizer, telemetry,
 * checkpoints) and reports through `RunHooks`. Used by the engine worker and the CLI.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend/backends';
import { isBinaryLayer, type BinaryLayer } from '../bnn/layers';
import { getPreset } from '../bnn/presets';
import { describeQuantizer, quantizerClip } from '../bnn/quantizers';
import { loadDataset, type Dataset, type Split } from '../data/datasets';
import { CancelledError, UserError } from '../errors';
import { RunFolder } from '../io/runFolder';
import { SignTracker, channelAlpha, weightStats } from '../metrics/layerStats';
import type { LayerInfo, LayerTelemetry, MetricsRecord, TrainConfig } from '../protocol';
import type { RunHooks, RunRequest, RunResult } from './api';
import { binaryLayerMeta, serializeCheckpoint } from './checkpoint';

/** Deterministic PRNG (mulberry32) for shuffling: same seed, same order. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded permutation of `0..n-1` (Fisher–Yates). */
export function shuffledIndices(n: number, seed: number): Uint32Array {
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const rand = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
  return idx;
}

/** Cosine decay from `base` to 0 over `total` steps. */
export function cosineLearningRate(base: number, step: number, total: number): number {
  return 0.5 * base * (1 + Math.cos((Math.PI * Math.min(step, total)) / Math.max(1, total)));
}

/**
 * Copies examples `start..start+size` of a split into batch tensors, through `indices` when given
 * (a shuffled order), else in file order.
 */
function makeBatch(
  split: Split,
  dataset: Dataset,
  indices: ArrayLike<number> | null,
  start: number,
  size: number,
) {
  const [h, w, c] = dataset.shape;
  const pixels = h * w * c;
  const images = new Float32Array(size * pixels);
  const labels = new Int32Array(size);
  for (let b = 0; b < size; b++) {
    const i = indices ? indices[start + b] : start + b;
    images.set(split.images.subarray(i * pixels, (i + 1) * pixels), b * pixels);
    labels[b] = split.labels[i];
  }
  return tf.tidy(() => ({
    xs: tf.tensor4d(images, [size, h, w, c]),
    ys: tf.oneHot(tf.tensor1d(labels, 'int32'), dataset.classes),
  }));
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
      const loss = tf.losses.softmaxCrossEntropy(ys, logits).mul(size);
      const hits = tf.equal(tf.argMax(logits, 1), tf.argMax(ys, 1)).sum();
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

/** Trains `request.config` into `request.runDir`; a user cancel ends as `cancelled`, not thrown. */
export async function runTraining(request: RunRequest, hooks: RunHooks): Promise<RunResult> {
  const { config } = request;
  let folder: RunFolder | undefined;
  let lastTestAccuracy: number | null = null;
  const emit = (record: MetricsRecord) => {
    folder?.append(record);
    hooks.onRecord(record);
  };
  let model: tf.LayersModel | undefined;
  let optimizer: tf.Optimizer | undefined;
  try {
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
    const batchSize = Math.min(config.batchSize, dataset.train.count);
    const stepsPerEpoch = Math.floor(dataset.train.count / batchSize);
    const totalSteps = stepsPerEpoch * config.epochs;
    model = preset.build(config.seed);
    optimizer = tf.train.adam(config.learningRate);
    const tracked: TrackedLayer[] = [];
    for (const layer of model.layers) {
      if (!isBinaryLayer(layer)) continue;
      const latest = (await layer.latentKernel().read().data()) as Float32Array;
      tracked.push({
        layer,
        tracker: new SignTracker(latest),
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

    let step = 0;
    for (let epoch = 1; epoch <= config.epochs; epoch++) {
      const epochStart = Date.now();
      const order = shuffledIndices(dataset.train.count, config.seed * 1000 + epoch);
      let epochLoss = 0;
      let epochCorrect = 0;
      let reportLoss = 0;
      let reportCorrect = 0;
      let reportExamples = 0;
      let reportStart = Date.now();
      for (let b = 0; b < stepsPerEpoch; b++) {
        if (hooks.isCancelled()) throw new CancelledError();
        const learningRate = cosineLearningRate(config.learningRate, step, totalSteps);
        (optimizer as unknown as { learningRate: number }).learningRate = learningRate;
        const { xs, ys } = makeBatch(dataset.train, dataset, order, b * batchSize, batchSize);
        let hitsT: tf.Tensor | undefined;
        const lossT = optimizer.minimize(() => {
          const logits = model!.apply(xs, { training: true }) as tf.Tensor;
          hitsT = tf.keep(tf.equal(tf.argMax(logits, 1), tf.argMax(ys, 1)).sum());
          return tf.losses.softmaxCrossEntropy(ys, logits) as tf.Scalar;
        }, true) as tf.Scalar;
        const loss = (await lossT.data())[0];
        const hits = hitsT ? (await hitsT.data())[0] : 0;
        tf.dispose([xs, ys, lossT, hitsT as tf.Tensor]);
        if (!Number.isFinite(loss)) {
          throw new UserError(
            `training diverged: the loss is ${loss} at step ${step + 1}; lower "learningRate" (now ${config.learningRate}) and start again`,
          );
        }
        step++;
        for (const t of tracked) {
          t.latest = (await t.layer.latentKernel().read().data()) as Float32Array;
          t.tracker.update(t.latest);
        }
        epochLoss += loss;
        epochCorrect += hits;
        reportLoss += loss;
        reportCorrect += hits;
        reportExamples += batchSize;
        if (step % config.telemetryEverySteps === 0 || b === stepsPerEpoch - 1) {
          const steps = reportExamples / batchSize;
          const now = Date.now();
          emit({
            event: 'step',
            epoch,
            step,
            loss: reportLoss / steps,
            accuracy: reportCorrect / reportExamples,
            learningRate,
            examplesPerSecond: (reportExamples * 1000) / Math.max(1, now - reportStart),
            layers: layerTelemetry(tracked, config),
            time: now,
          });
          reportLoss = 0;
          reportCorrect = 0;
          reportExamples = 0;
          reportStart = now;
        }
        await yieldToEventLoop();
      }
      const test = await evaluate(model, dataset, dataset.test, hooks.isCancelled);
      lastTestAccuracy = test.accuracy;
      const trackerState = tracked.flatMap((t) => {
        const s = t.tracker.state();
        return [
          { name: `${t.layer.name}/signs`, data: s.signs },
          { name: `${t.layer.name}/everFlipped`, data: s.everFlipped },
        ];
      });
      const optimizerWeights = await optimizer.getWeights();
      const optimizerState = await Promise.all(
        optimizerWeights.map(async (nt) => ({
          name: `optimizer/${nt.name}`,
          data: (await nt.tensor.data()) as Float32Array,
        })),
      );
      // getWeights() makes a fresh scalar for the iteration count; the slots are variables.
      for (const nt of optimizerWeights)
        if (!(nt.tensor instanceof tf.Variable)) nt.tensor.dispose();
      const files = await serializeCheckpoint(
        model,
        {
          version: 1,
          preset: preset.name,
          epoch,
          step,
          binaryLayers: binaryLayerMeta(model),
          testAccuracy: test.accuracy,
        },
        { epoch, step, seed: config.seed, optimizer: 'adam', learningRate: config.learningRate },
        [...optimizerState, ...trackerState],
      );
      const checkpoint = folder.writeCheckpoint(`epoch-${epoch}`, files);
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
    }
    emit({ event: 'done', status: 'completed', testAccuracy: lastTestAccuracy, time: Date.now() });
    return { status: 'completed', testAccuracy: lastTestAccuracy };
  } catch (e) {
    const cancelled = e instanceof CancelledError;
    const message = cancelled ? 'cancelled by the user' : (e as Error).message;
    if (!cancelled) hooks.log('error', (e as Error).stack ?? String(e));
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
    model?.dispose();
    optimizer?.dispose();
  }
}
