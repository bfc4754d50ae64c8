/**
 * Fine-tuning of a BNN Lab checkpoint (issue #6, docs/lns.md): `lns` replaces each binary layer's
 * `sgn(W)` by a learned mapper's `sgn(f_θ(W))` trained with the loss-corrected auxiliary loss;
 * `plain` is ordinary fine-tuning with the same budget. Writes a new run folder whose one
 * checkpoint loads and evaluates without the mappers. The source checkpoint is only read.
 */
import * as tf from '../tf';
import { writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { initBackend } from '../backend/backends';
import { webgpuFailureAfterError } from '../backend/webgpu';
import { isBinaryLayer, type BinaryLayer } from '../bnn/layers';
import { getPreset } from '../bnn/presets';
import { quantize, quantizerClip } from '../bnn/quantizers';
import { loadDataset } from '../data/datasets';
import { CancelledError, UserError } from '../errors';
import { describeFsError, RunFolder } from '../io/runFolder';
import { channelAlpha, flipRateBetween, SignTracker, weightStats } from '../metrics/layerStats';
import type {
  BackendPreference,
  FinetuneLayerSummary,
  FinetuneOptions,
  FinetuneSummary,
  LayerTelemetry,
  MetricsRecord,
  TrainConfig,
} from '../protocol';
import { checkWasmBatchSize } from './batchLimit';
import { FAILURE_LOG_PREFIX, failureMessage, type RunHooks, type RunResult } from './api';
import { binaryLayerMeta, serializeCheckpoint } from './checkpoint';
import { checkSourceCheckpoint } from './checkpointMeta';
import {
  FINETUNE_DEFAULTS,
  sourceConfig,
  validateFinetune,
  type FinetuneMethod,
} from './finetuneSettings';
import { checkWeightsFit, loadCheckpointModel, readCheckpointManifest } from './checkpoint';
import { hardSign, layerAuxTerms, LnsMappers, warmUpMappers } from './methods/lns';
import { shuffledIndices, shuffleSeed } from './random';
import { checkDatasetFits, describeLayers, evaluate, makeBatch } from './trainer';

export {
  checkSourceCheckpoint,
  FINETUNE_DEFAULTS,
  FINETUNE_METHODS,
  validateFinetune,
  type FinetuneMethod,
  type FinetuneSettings,
} from './finetuneSettings';

export interface FinetuneRequest extends FinetuneOptions {
  runId: string;
  /** New run folder (created): config.json, finetune.json, metrics.jsonl, checkpoints/epoch-N. */
  runDir: string;
  backend: BackendPreference;
}

export interface FinetuneResult extends RunResult {
  /** Absolute path of the new checkpoint folder (completed runs only). */
  checkpoint?: string;
  summary?: FinetuneSummary;
}

/** A binary layer whose forward we can redirect to the mapper (instance-level override). */
type Redirectable = tf.layers.Layer & BinaryLayer & { binaryKernel: () => tf.Tensor };

interface FinetuneLayer {
  layer: Redirectable;
  shape: number[];
  /** Binary weights of the source checkpoint, ±1. */
  startSigns: Float32Array;
  startLatent: Float32Array;
  /** Latest latent weights and effective binary weights. */
  latest: Float32Array;
  binary: Float32Array;
  tracker: SignTracker;
  clip: number | null;
  auxSum: number;
  disagreement: number | undefined;
  steps: number;
}

function signsOf(w: ArrayLike<number>): Float32Array {
  const out = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) out[i] = w[i] >= 0 ? 1 : -1;
  return out;
}

function telemetry(l: FinetuneLayer, config: TrainConfig, method: FinetuneMethod): LayerTelemetry {
  const lns = method === 'lns' && l.steps > 0;
  return {
    name: l.layer.name,
    ...weightStats(l.latest, {
      shape: l.shape,
      channelAxis: 'last',
      bins: config.histogramBins,
      deadTau: config.deadTau,
      clip: l.clip,
    }),
    flipRate: l.tracker.takeFlipRate(),
    frozenRatio: l.tracker.frozenRatio(),
    alpha: Array.from(channelAlpha(l.latest, l.shape, 'last'), (a) => Number(a.toPrecision(6))),
    ...(lns ? { auxLoss: l.auxSum / l.steps } : {}),
    ...(lns && l.disagreement !== undefined ? { disagreement: l.disagreement } : {}),
    flipFromStart: flipRateBetween(l.binary, l.startSigns),
  };
}

/**
 * Latent weights to save for binary weights `targets` (±1): `targets · |W|`, so magnitudes (and
 * with them `channel_mean` scaling, QE and dead-weight statistics) stay those of the fine-tuned
 * latent weights and only signs change; zeros become ±1e−6 so that `sgn` keeps the target.
 * ReCU layers standardize each filter before `sgn`, so there each weight becomes `targets · m`
 * with one magnitude m per layer (a shift by the filter mean then keeps every sign, unless a
 * filter is all one sign; `runFinetune` verifies the result).
 */
export function latentForSigns(
  targets: Float32Array,
  latent: Float32Array,
  recu: boolean,
): Float32Array {
  const out = new Float32Array(targets.length);
  let absMean = 0;
  for (let i = 0; i < latent.length; i++) absMean += Math.abs(latent[i]);
  absMean = Math.max(absMean / Math.max(1, latent.length), 1e-3);
  for (let i = 0; i < targets.length; i++) {
    const magnitude = recu ? absMean : Math.max(Math.abs(latent[i]), 1e-6);
    out[i] = targets[i] * magnitude;
  }
  return out;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Fine-tunes `request.checkpoint` into the new run folder `request.runDir`; a user cancel ends as
 * `cancelled` (no checkpoint is written), not thrown. Errors in the request fail before anything
 * is written.
 */
export async function runFinetune(
  request: FinetuneRequest,
  hooks: RunHooks,
): Promise<FinetuneResult> {
  let folder: RunFolder | undefined;
  let testAccuracy: number | null = null;
  const emit = (record: MetricsRecord) => {
    folder?.append(record);
    hooks.onRecord(record);
  };
  let model: tf.LayersModel | undefined;
  let optimizer: tf.Optimizer | undefined;
  let mappers: LnsMappers | undefined;
  try {
    const settings = validateFinetune(request);
    const source = resolve(request.checkpoint);
    const runDir = resolve(request.runDir);
    const meta = checkSourceCheckpoint(source);
    const rel = relative(source, runDir);
    if (rel === '' || (!rel.startsWith('..') && !rel.startsWith('/'))) {
      throw new UserError(
        `the fine-tune's run folder ${runDir} lies inside the source checkpoint ${source}; choose another --out`,
      );
    }
    const base = sourceConfig(source, meta.preset);
    const config: TrainConfig = {
      ...base,
      epochs: settings.epochs,
      learningRate:
        request.learningRate ?? base.learningRate * FINETUNE_DEFAULTS.learningRateFactor,
      seed: request.seed ?? base.seed,
      dataset: request.dataset ?? base.dataset,
      limit: request.limit ?? base.limit,
      testLimit: request.testLimit ?? base.testLimit,
      schedule: 'constant',
      warmupEpochs: 0,
      augment: false,
    };
    folder = new RunFolder(runDir);
    folder.writeConfig(config);
    try {
      writeFileSync(
        join(runDir, 'finetune.json'),
        JSON.stringify({ source, ...settings }, null, 2) + '\n',
      );
    } catch (e) {
      throw describeFsError('write', join(runDir, 'finetune.json'), e);
    }
    const backend = await initBackend(request.backend, hooks.log);
    const dataset = loadDataset(config.dataset, {
      limit: config.limit,
      testLimit: config.testLimit,
    });
    hooks.log(
      'info',
      `dataset ${dataset.name}: ${dataset.train.count} train / ${dataset.test.count} test examples`,
    );
    checkDatasetFits(getPreset(meta.preset), dataset);
    // Rebuild the model from its preset and the run's config and copy the weights in, as a
    // resume does: the run's method settings (ReCU, scaling, BONN) come from the config.
    model = getPreset(meta.preset).build(config.seed, config);
    // Shapes first, from model.json alone: a mismatch is one line, not a dump of tensor values.
    const manifest = readCheckpointManifest(source);
    checkWeightsFit(source, manifest, model, `preset ${meta.preset} with its run's config.json`);
    const loaded = await loadCheckpointModel(source, manifest);
    try {
      model.setWeights(loaded.model.getWeights());
    } finally {
      loaded.model.dispose();
    }
    const rebuilt = binaryLayerMeta(model);
    const extra = Object.keys(rebuilt).filter((name) => !(name in meta.binaryLayers));
    if (extra.length > 0) {
      throw new UserError(
        `cannot rebuild ${source}: preset ${meta.preset} with its run's config.json makes ${extra.join(', ')} binary, but the checkpoint's model.json does not (is the run's config.json missing or edited?)`,
      );
    }
    for (const [name, m] of Object.entries(meta.binaryLayers)) {
      if (rebuilt[name]?.quantizer !== m.quantizer || rebuilt[name]?.recu !== m.recu) {
        throw new UserError(
          `cannot rebuild ${source}: its layer ${name} (${m.quantizer}) differs from preset ${meta.preset} with its run's config.json (${rebuilt[name]?.quantizer ?? 'missing'})`,
        );
      }
    }
    const binaryLayers = model.layers.filter(isBinaryLayer) as Redirectable[];
    if (binaryLayers.length === 0) {
      throw new UserError(`${source} has no binary layers: there is nothing to fine-tune`);
    }
    const batchSize = Math.min(config.batchSize, dataset.train.count);
    if (backend.name === 'wasm') checkWasmBatchSize(model, meta.preset, batchSize, 1);
    const stepsPerEpoch = Math.floor(dataset.train.count / batchSize);
    const totalSteps = stepsPerEpoch * settings.epochs;
    emit({
      event: 'start',
      runId: request.runId,
      preset: meta.preset,
      config,
      layers: describeLayers(model),
      backend,
      stepsPerEpoch,
      totalSteps,
      time: Date.now(),
    });
    const before = await evaluate(model, dataset, dataset.test, hooks.isCancelled);
    hooks.log(
      'info',
      `source ${source}: test accuracy ${(100 * before.accuracy).toFixed(2)}% on ${dataset.test.count} examples`,
    );

    const layers: FinetuneLayer[] = [];
    for (const layer of binaryLayers) {
      const latent = (await layer.latentKernel().read().data()) as Float32Array;
      const startSigns = signsOf(latent);
      layers.push({
        layer,
        shape: layer.latentKernel().shape as number[],
        startSigns,
        startLatent: latent.slice(),
        latest: latent,
        binary: startSigns.slice(),
        tracker: new SignTracker(startSigns),
        clip: quantizerClip(layer.kernelQuantizer),
        auxSum: 0,
        disagreement: undefined,
        steps: 0,
      });
    }

    // LNS: mappers fitted to sgn(W), then each binary layer's forward redirected to them.
    const currentMapped = new Map<string, tf.Tensor>();
    if (settings.method === 'lns') {
      const lnsMappers = LnsMappers.create(
        layers.map((l) => ({ name: l.layer.name, kernelShape: l.shape })),
        config.seed,
      );
      mappers = lnsMappers;
      const latentByLayer = new Map(
        layers.map((l) => [l.layer.name, l.layer.latentKernel().read()]),
      );
      const warm = await warmUpMappers(
        lnsMappers,
        latentByLayer,
        settings.rho,
        settings.mapperWarmupSteps,
      );
      if (hooks.isCancelled()) throw new CancelledError();
      hooks.log(
        'info',
        `LNS mappers (${lnsMappers.variables().reduce((n, v) => n + v.size, 0)} parameters) fitted to sgn(W) in ${settings.mapperWarmupSteps} steps; disagreement ${[...warm].map(([n, d]) => `${n} ${(100 * d).toFixed(2)}%`).join(', ')}`,
      );
      const worst = Math.max(...warm.values());
      if (worst > 0.05) {
        hooks.log(
          'warn',
          `the LNS mappers still disagree with sgn(W) on up to ${(100 * worst).toFixed(1)}% of a layer's weights after the warm-up, so fine-tuning starts from different binary weights than the checkpoint's; raise --warmup-steps`,
        );
      }
      for (const l of layers) {
        const mapper = lnsMappers.get(l.layer.name);
        const name = l.layer.name;
        // Inside a training step the objective has already computed f_θ(W); reuse it.
        l.layer.binaryKernel = () => {
          const mapped = currentMapped.get(name);
          return mapped
            ? quantize(mapped, { kind: 'ste_sign', clip: null })
            : mapper.binaryWeights(l.layer.latentKernel().read());
        };
      }
    }

    const variables = [
      ...model.trainableWeights.map((v) => v.read() as tf.Variable),
      ...(mappers?.variables() ?? []),
    ];
    optimizer = tf.train.adam(config.learningRate);
    const trained = model;
    let step = 0;
    for (let epoch = 1; epoch <= settings.epochs; epoch++) {
      const epochStart = Date.now();
      const order = shuffledIndices(dataset.train.count, shuffleSeed(config.seed, epoch));
      let epochLoss = 0;
      let epochCorrect = 0;
      let reportLoss = 0;
      let reportCorrect = 0;
      let reportExamples = 0;
      let reportAux = 0;
      let reportStart = Date.now();
      for (let b = 0; b < stepsPerEpoch; b++) {
        if (hooks.isCancelled()) throw new CancelledError();
        const { xs, ys } = makeBatch(dataset.train, dataset, order, b * batchSize, batchSize);
        const kept: {
          ce?: tf.Scalar;
          hits?: tf.Scalar;
          aux?: tf.Scalar;
          perLayer?: { aux: tf.Scalar; disagreement: tf.Scalar; signs: tf.Tensor }[];
        } = {};
        const objective = () => {
          let auxTotal: tf.Scalar | undefined;
          if (mappers) {
            kept.perLayer = [];
            for (const l of layers) {
              const w = l.layer.latentKernel().read();
              const mapper = mappers.get(l.layer.name);
              const mapped = mapper.apply(w);
              currentMapped.set(l.layer.name, mapped);
              const { auxLoss, disagreement } = layerAuxTerms(mapper, w, settings.rho, mapped);
              kept.perLayer.push({
                aux: tf.keep(auxLoss),
                disagreement: tf.keep(disagreement),
                signs: tf.keep(hardSign(mapped)),
              });
              auxTotal = auxTotal ? (tf.add(auxTotal, auxLoss) as tf.Scalar) : auxLoss;
            }
          }
          const logits = trained.apply(xs, { training: true }) as tf.Tensor;
          kept.hits = tf.keep(
            tf.sum(tf.equal(tf.argMax(logits, 1), tf.argMax(ys, 1))),
          ) as tf.Scalar;
          const ce = tf.losses.softmaxCrossEntropy(ys, logits) as tf.Scalar;
          kept.ce = tf.keep(ce);
          if (!auxTotal) return ce;
          kept.aux = tf.keep(auxTotal);
          return tf.add(ce, tf.mul(auxTotal, settings.alpha)) as tf.Scalar;
        };
        const totalT = optimizer.minimize(objective, true, variables) as tf.Scalar;
        currentMapped.clear();
        const loss = (await kept.ce!.data())[0];
        const hits = (await kept.hits!.data())[0];
        reportAux += kept.aux ? (await kept.aux.data())[0] : 0;
        for (let i = 0; i < layers.length; i++) {
          const l = layers[i];
          l.latest = (await l.layer.latentKernel().read().data()) as Float32Array;
          const parts = kept.perLayer?.[i];
          if (parts) {
            // The signs the step's forward used: f_θ before this step's update.
            l.auxSum += (await parts.aux.data())[0];
            l.disagreement = (await parts.disagreement.data())[0];
            l.binary = (await parts.signs.data()) as Float32Array;
          } else {
            l.binary = signsOf(l.latest);
          }
          l.steps++;
          l.tracker.update(l.binary);
        }
        tf.dispose([
          xs,
          ys,
          totalT,
          kept.ce,
          kept.hits,
          kept.aux,
          ...(kept.perLayer ?? []).flatMap((p) => [p.aux, p.disagreement, p.signs]),
        ]);
        if (!Number.isFinite(loss)) {
          throw new UserError(
            `fine-tuning diverged: the loss is ${loss} at step ${step + 1}; lower --lr (now ${config.learningRate})`,
          );
        }
        step++;
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
            learningRate: config.learningRate,
            examplesPerSecond: (reportExamples * 1000) / Math.max(1, now - reportStart),
            layers: layers.map((l) => telemetry(l, config, settings.method)),
            ...(mappers ? { methodLosses: { lnsAux: reportAux / steps } } : {}),
            time: now,
          });
          for (const l of layers) {
            l.auxSum = 0;
            l.steps = 0;
          }
          reportLoss = 0;
          reportCorrect = 0;
          reportExamples = 0;
          reportAux = 0;
          reportStart = now;
        }
        await yieldToEventLoop();
      }
      if (epoch < settings.epochs) {
        const test = await evaluate(model, dataset, dataset.test, hooks.isCancelled);
        emit({
          event: 'epoch',
          epoch,
          step,
          trainLoss: epochLoss / stepsPerEpoch,
          trainAccuracy: epochCorrect / (stepsPerEpoch * batchSize),
          testLoss: test.loss,
          testAccuracy: test.accuracy,
          durationMs: Date.now() - epochStart,
          checkpoint: null,
          time: Date.now(),
        });
        continue;
      }

      // Bake the mapper's binary weights into the latent weights and drop the mappers.
      const summaryLayers: FinetuneLayerSummary[] = [];
      for (const l of layers) {
        const latent = (await l.layer.latentKernel().read().data()) as Float32Array;
        let targets = signsOf(latent);
        if (mappers) {
          const mapped = mappers.get(l.layer.name).apply(l.layer.latentKernel().read());
          const signs = hardSign(mapped);
          targets = (await signs.data()) as Float32Array;
          tf.dispose([mapped, signs]);
          delete (l.layer as Partial<Redirectable>).binaryKernel;
          const baked = latentForSigns(targets, latent, l.layer.recu);
          l.layer.latentKernel().write(tf.tensor(baked, l.shape));
          // The saved model must binarize to exactly the mapper's output.
          const check = tf.tidy(() => hardSign(l.layer.binaryKernel()));
          const got = (await check.data()) as Float32Array;
          check.dispose();
          const mismatches = flipRateBetween(got, targets);
          if (mismatches > 0) {
            throw new Error(
              `runFinetune: ${l.layer.name}'s saved latent weights binarize differently from the mapper on ${(100 * mismatches).toFixed(3)}% of weights`,
            );
          }
          l.latest = baked;
        } else l.latest = latent;
        const statsOptions = {
          shape: l.shape,
          channelAxis: 'last' as const,
          bins: config.histogramBins,
          deadTau: config.deadTau,
          clip: l.clip,
        };
        const beforeStats = weightStats(l.startLatent, statsOptions);
        const afterStats = weightStats(l.latest, statsOptions);
        summaryLayers.push({
          name: l.layer.name,
          flipFromStart: flipRateBetween(targets, l.startSigns),
          quantizationErrorBefore: beforeStats.quantizationError,
          quantizationErrorAfter: afterStats.quantizationError,
          deadWeightRatioBefore: beforeStats.deadWeightRatio,
          deadWeightRatioAfter: afterStats.deadWeightRatio,
        });
      }
      const test = await evaluate(model, dataset, dataset.test, hooks.isCancelled);
      testAccuracy = test.accuracy;
      const summary: FinetuneSummary = {
        method: settings.method,
        source,
        testAccuracyBefore: before.accuracy,
        testAccuracyAfter: test.accuracy,
        layers: summaryLayers,
      };
      const files = await serializeCheckpoint(
        model,
        {
          version: 1,
          preset: meta.preset,
          epoch,
          step,
          binaryLayers: binaryLayerMeta(model),
          testAccuracy: test.accuracy,
        },
        {
          epoch,
          step,
          seed: config.seed,
          optimizer: 'adam',
          learningRate: config.learningRate,
          rng: 'order: shuffle(mulberry32(seed*1000+epoch))',
          finetune: { ...settings, source },
        },
        [],
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
      emit({
        event: 'done',
        status: 'completed',
        testAccuracy,
        finetune: summary,
        time: Date.now(),
      });
      return {
        status: 'completed',
        testAccuracy,
        checkpoint: join(runDir, checkpoint),
        summary,
      };
    }
    throw new Error('runFinetune: the epoch loop ended without a final epoch');
  } catch (e) {
    const cancelled = e instanceof CancelledError;
    const message = cancelled
      ? 'cancelled by the user'
      : ((await webgpuFailureAfterError()) ?? failureMessage(e, undefined));
    if (!cancelled) hooks.log('error', FAILURE_LOG_PREFIX + ((e as Error).stack ?? String(e)));
    try {
      emit({
        event: 'done',
        status: cancelled ? 'cancelled' : 'failed',
        testAccuracy,
        message,
        time: Date.now(),
      });
    } catch {
      // The folder itself may be what failed (disk full); the caller still gets the result.
    }
    return { status: cancelled ? 'cancelled' : 'failed', testAccuracy, message };
  } finally {
    model?.dispose();
    optimizer?.dispose();
    mappers?.dispose();
  }
}

/**
 * The parent of a fine-tune's run folder when none is given: beside the source run for
 * `RUN/checkpoints/epoch-N`, else beside the checkpoint folder.
 */
export function defaultFinetuneParent(checkpoint: string): string {
  const dir = resolve(checkpoint);
  const checkpoints = dirname(dir);
  return basename(checkpoints) === 'checkpoints' ? dirname(dirname(checkpoints)) : checkpoints;
}
