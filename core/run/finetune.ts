/**
 * Fine-tuning of a BNN Lab checkpoint (issue #6, docs/lns.md): `lns` replaces each binary layer's
 * `sgn(W)` by a learned mapper's `sgn(f_θ(W))` trained with the loss-corrected auxiliary loss;
 * `plain` is ordinary fine-tuning with the same budget. Writes a new run folder whose one
 * checkpoint loads and evaluates without the mappers. The source checkpoint is only read.
 */
import * as tf from '../tf';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { getPreset, type Preset } from '../bnn/presets';
import { quantizerClip } from '../bnn/quantizers';
import type { Dataset } from '../data/datasets';
import { CancelledError, fieldName, UserError } from '../errors';
import type { RunFolder } from '../io/runFolder';
import { flipRateBetween, weightStats } from '../metrics/layerStats';
import type {
  BackendPreference,
  FinetuneLayerSummary,
  FinetuneOptions,
  FinetuneSummary,
  RunPhase,
  TrainConfig,
} from '../protocol';
import type { RunHooks, RunResult } from '../training/api';
import { evaluate } from '../training/batches';
import {
  binaryLayerMeta,
  checkWeightsFit,
  loadCheckpointModel,
  readCheckpointManifest,
} from '../training/checkpoint';
import { checkSourceCheckpoint } from '../training/checkpointMeta';
import {
  FINETUNE_DEFAULTS,
  sourceConfig,
  validateFinetune,
  type FinetuneSettings,
} from '../training/finetuneSettings';
import { hardSign, warmUpMappers, type LnsOptions } from '../training/methods/lns';
import type { StepSetup } from '../training/stepSetup';
import { runLoop, type ResumePoint, type RunMethod, type TrackedLayer } from './loop';

export {
  checkSourceCheckpoint,
  FINETUNE_DEFAULTS,
  FINETUNE_METHODS,
  validateFinetune,
  type FinetuneMethod,
  type FinetuneSettings,
} from '../training/finetuneSettings';

export interface FinetuneRequest extends FinetuneOptions {
  runId: string;
  /** New run folder (created): config.json, finetune.json, metrics.jsonl, checkpoints/epoch-N. */
  runDir: string;
  backend: BackendPreference;
  /**
   * Data-parallel replica threads, as `RunRequest.threads`: 2 threads fine-tune the same model
   * as 1 up to float rounding.
   */
  threads?: number;
  /**
   * A checkpoint of this fine-tune (`…/checkpoints/epoch-N` of a run of the same request): it
   * goes on with epoch N + 1 and writes the records the uninterrupted fine-tune would have.
   */
  resumeFrom?: string;
}

export interface FinetuneResult extends RunResult {
  /** Absolute path of the new checkpoint folder (completed runs only). */
  checkpoint?: string;
  summary?: FinetuneSummary;
}

function signsOf(w: ArrayLike<number>): Float32Array {
  const out = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) out[i] = w[i] >= 0 ? 1 : -1;
  return out;
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

/**
 * The config a fine-tune runs, as its config.json records it: the source run's model settings
 * (preset, quantizers, scaling, ReCU, batch size, telemetry) with the fine-tune's epochs, a
 * constant learning rate, no augmentation, and Adam without weight decay, latent clip or BONN
 * losses, none of which a fine-tune applies.
 */
export function finetuneConfig(
  base: TrainConfig,
  request: Pick<FinetuneOptions, 'learningRate' | 'seed' | 'dataset' | 'limit' | 'testLimit'>,
  settings: FinetuneSettings,
): TrainConfig {
  const {
    optimizer: _optimizer,
    momentum: _momentum,
    weightDecay: _weightDecay,
    latentClip: _latentClip,
    bonn: _bonn,
    ...model
  } = base;
  return {
    ...model,
    optimizer: 'adam',
    epochs: settings.epochs,
    learningRate: request.learningRate ?? base.learningRate * FINETUNE_DEFAULTS.learningRateFactor,
    seed: request.seed ?? base.seed,
    dataset: request.dataset ?? base.dataset,
    limit: request.limit ?? base.limit,
    testLimit: request.testLimit ?? base.testLimit,
    schedule: 'constant',
    warmupEpochs: 0,
    augment: false,
  };
}

/** What a fine-tune's training-state.json adds: its settings, source and starting accuracy. */
interface FinetuneState extends FinetuneSettings {
  source: string;
  testAccuracyBefore?: number;
}

const startLatentKey = (layer: string) => `${layer}/startLatent`;

/** A fine-tune as the run loop's method (see `RunMethod`). */
class FinetuneMethodRun implements RunMethod {
  readonly config: TrainConfig;
  readonly preset: Preset;
  readonly lns: LnsOptions | undefined;
  readonly startsFromWeights = true;
  readonly settings: FinetuneSettings;
  readonly source: string;
  readonly runDir: string;
  private readonly meta: ReturnType<typeof checkSourceCheckpoint>;
  private testAccuracyBefore = 0;
  /** Each binary layer's latent and binary weights of the source checkpoint. */
  private startLatents: Float32Array[] = [];
  private startSigns: Float32Array[] = [];
  private layerNames: string[] = [];
  /** LNS: the latent weights as trained while the model holds the baked ones. */
  private trained: Float32Array[] = [];
  summaryLayers: FinetuneLayerSummary[] = [];

  /** Checks the request; nothing is written yet. @throws ConfigError, UserError. */
  constructor(request: FinetuneRequest) {
    this.settings = validateFinetune(request);
    this.source = resolve(request.checkpoint);
    this.runDir = resolve(request.runDir);
    this.meta = checkSourceCheckpoint(this.source);
    const rel = relative(this.source, this.runDir);
    if (rel === '' || (!rel.startsWith('..') && !rel.startsWith('/'))) {
      throw new UserError(
        `the fine-tune's run folder ${this.runDir} lies inside the source checkpoint ${this.source}; choose another folder (${fieldName('runsFolder')})`,
      );
    }
    this.config = finetuneConfig(
      sourceConfig(this.source, this.meta.preset),
      request,
      this.settings,
    );
    this.preset = getPreset(this.meta.preset);
    this.lns =
      this.settings.method === 'lns'
        ? { alpha: this.settings.alpha, rho: this.settings.rho }
        : undefined;
  }

  checkResume(resume: ResumePoint): void {
    const saved = resume.state.finetune as FinetuneState | undefined;
    const wanted: FinetuneState = { source: this.source, ...this.settings };
    const differs = (Object.keys(wanted) as (keyof FinetuneState)[]).filter(
      (k) => saved?.[k] !== wanted[k],
    );
    if (!saved) {
      throw new UserError(
        `cannot resume from ${resume.dir}: it is not a checkpoint of a fine-tune; resume a fine-tune from its own run's checkpoints`,
      );
    }
    if (differs.length > 0) {
      throw new UserError(
        `cannot resume from ${resume.dir}: it is a fine-tune with ${differs.map((k) => `${k} ${String(saved[k])}`).join(', ')}, this one has ${differs.map((k) => `${k} ${String(wanted[k])}`).join(', ')}; resume with the fine-tune's own settings`,
      );
    }
    this.testAccuracyBefore = saved.testAccuracyBefore ?? 0;
  }

  writeFiles(folder: RunFolder): void {
    folder.writeJson('finetune.json', { source: this.source, ...this.settings });
  }

  async initialize({
    setup,
    dataset,
    hooks,
    resume,
    phase,
  }: {
    setup: StepSetup;
    dataset: Dataset;
    hooks: RunHooks;
    resume?: ResumePoint;
    phase: (phase: RunPhase, total: number) => (done: number) => void;
  }): Promise<void> {
    const { source, meta } = this;
    const { model } = setup;
    // Rebuilt from its preset and the run's config with the weights copied in, as a resume
    // does: the run's method settings (ReCU, scaling) come from the config.
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
    if (setup.binaryLayers.length === 0) {
      throw new UserError(`${source} has no binary layers: there is nothing to fine-tune`);
    }
    this.layerNames = setup.binaryLayers.map((l) => l.name);
    for (const layer of setup.binaryLayers) {
      const saved = resume?.arrays.get(startLatentKey(layer.name));
      const latent =
        saved instanceof Float32Array
          ? saved
          : Float32Array.from(await layer.latentKernel().read().data());
      this.startLatents.push(latent);
      this.startSigns.push(signsOf(latent));
    }
    // A resume restores the mappers and the weights; its state holds the source's accuracy.
    if (resume) return;
    setup.lns?.redirect(false);
    const before = await evaluate(
      model,
      dataset,
      dataset.test,
      hooks.isCancelled,
      phase('evaluateSource', dataset.test.count),
    );
    this.testAccuracyBefore = before.accuracy;
    hooks.log(
      'info',
      `source ${source}: test accuracy ${(100 * before.accuracy).toFixed(2)}% on ${dataset.test.count} examples`,
    );
    if (!setup.lns) return;
    // LNS: mappers fitted to sgn(W), then each binary layer's forward redirected to them.
    const { mappers } = setup.lns;
    const latentByLayer = new Map(
      setup.binaryLayers.map((l) => [l.name, l.latentKernel().read() as tf.Tensor]),
    );
    const warmup = phase('mapperWarmup', this.settings.mapperWarmupSteps);
    const warm = await warmUpMappers(
      mappers,
      latentByLayer,
      this.settings.rho,
      this.settings.mapperWarmupSteps,
      undefined,
      (done) => {
        warmup(done);
        if (hooks.isCancelled()) throw new CancelledError();
      },
    );
    if (hooks.isCancelled()) throw new CancelledError();
    hooks.log(
      'info',
      `LNS mappers (${mappers.variables().reduce((n, v) => n + v.size, 0)} parameters) fitted to sgn(W) in ${this.settings.mapperWarmupSteps} steps; disagreement ${[...warm].map(([n, d]) => `${n} ${(100 * d).toFixed(2)}%`).join(', ')}`,
    );
    const worst = Math.max(...warm.values());
    if (worst > 0.05) {
      hooks.log(
        'warn',
        `the LNS mappers still disagree with sgn(W) on up to ${(100 * worst).toFixed(1)}% of a layer's weights after the warm-up, so fine-tuning starts from different binary weights than the checkpoint's; raise ${fieldName('mapperWarmupSteps')}`,
      );
    }
    setup.lns.redirect(true);
  }

  tau(): undefined {
    return undefined;
  }

  layerTelemetry(t: TrackedLayer, i: number) {
    const lns = this.lns !== undefined && t.auxSteps > 0;
    return {
      ...(lns ? { auxLoss: t.auxSum / t.auxSteps } : {}),
      ...(lns && t.disagreement !== undefined ? { disagreement: t.disagreement } : {}),
      flipFromStart: flipRateBetween(t.binary, this.startSigns[i]),
    };
  }

  checkpointState() {
    const state: FinetuneState = {
      ...this.settings,
      source: this.source,
      testAccuracyBefore: this.testAccuracyBefore,
    };
    return {
      state: { finetune: state },
      arrays: this.startLatents.map((data, i) => ({
        name: startLatentKey(this.layerNames[i]),
        data,
      })),
    };
  }

  /**
   * Bakes the mappers' binary weights into the latent weights (`latentForSigns`), so the
   * checkpoint loads and evaluates without the mappers; on the last epoch, the summary.
   */
  async beforeCheckpoint(setup: StepSetup, last: boolean): Promise<void> {
    const targets = setup.lns ? await setup.lns.signs() : [];
    this.trained = [];
    const summary: FinetuneLayerSummary[] = [];
    for (const [i, layer] of setup.binaryLayers.entries()) {
      const kernel = setup.latentKernels[i];
      const latent = Float32Array.from(await kernel.data());
      let saved: Float32Array = latent;
      let binary: Float32Array = signsOf(latent);
      if (setup.lns) {
        binary = targets[i];
        saved = latentForSigns(binary, latent, layer.recu);
        this.trained.push(latent);
        tf.tidy(() => kernel.assign(tf.tensor(saved, kernel.shape)));
      }
      if (!last) continue;
      const statsOptions = {
        shape: kernel.shape,
        channelAxis: 'last' as const,
        bins: this.config.histogramBins,
        deadTau: this.config.deadTau,
        clip: quantizerClip(layer.kernelQuantizer),
      };
      const beforeStats = weightStats(this.startLatents[i], statsOptions);
      const afterStats = weightStats(saved, statsOptions);
      summary.push({
        name: layer.name,
        flipFromStart: flipRateBetween(binary, this.startSigns[i]),
        quantizationErrorBefore: beforeStats.quantizationError,
        quantizationErrorAfter: afterStats.quantizationError,
        deadWeightRatioBefore: beforeStats.deadWeightRatio,
        deadWeightRatioAfter: afterStats.deadWeightRatio,
      });
    }
    this.summaryLayers = summary;
    if (!setup.lns) return;
    setup.lns.redirect(false);
    // The saved model must binarize to exactly the mappers' output.
    for (const [i, layer] of setup.binaryLayers.entries()) {
      const check = tf.tidy(() =>
        hardSign((layer as typeof layer & { binaryKernel(): tf.Tensor }).binaryKernel()),
      );
      const got = (await check.data()) as Float32Array;
      check.dispose();
      const mismatches = flipRateBetween(got, targets[i]);
      if (mismatches > 0) {
        throw new Error(
          `runFinetune: ${layer.name}'s saved latent weights binarize differently from the mapper on ${(100 * mismatches).toFixed(3)}% of weights`,
        );
      }
    }
  }

  /** Back to the latent weights as trained and the mappers' forward, unless it was the last. */
  async afterCheckpoint(setup: StepSetup, last: boolean): Promise<void> {
    if (!setup.lns || last) return;
    for (const [i, kernel] of setup.latentKernels.entries()) {
      const data = this.trained[i];
      tf.tidy(() => kernel.assign(tf.tensor(data, kernel.shape)));
    }
    setup.lns.redirect(true);
  }

  diverged(loss: number, step: number): string {
    return `fine-tuning diverged: the loss is ${loss} at step ${step}; lower ${fieldName('learningRate')} (now ${this.config.learningRate})`;
  }

  summary(testAccuracy: number | null): FinetuneSummary {
    return {
      method: this.settings.method,
      source: this.source,
      testAccuracyBefore: this.testAccuracyBefore,
      testAccuracyAfter: testAccuracy ?? 0,
      layers: this.summaryLayers,
    };
  }

  completed(testAccuracy: number | null) {
    return { finetune: this.summary(testAccuracy) };
  }
}

/**
 * Fine-tunes `request.checkpoint` into the new run folder `request.runDir` through the run loop
 * (on `request.threads` data-parallel threads, resumable from its checkpoints); a user cancel ends
 * as `cancelled` (the checkpoints of finished epochs are kept), not thrown. Errors in the request
 * fail before anything is written.
 */
export async function runFinetune(
  request: FinetuneRequest,
  hooks: RunHooks,
): Promise<FinetuneResult> {
  let method: FinetuneMethodRun | undefined;
  const result = await runLoop(request, hooks, () => (method = new FinetuneMethodRun(request)));
  if (result.status !== 'completed' || !method || !result.checkpoint) {
    const { checkpoint: _checkpoint, ...rest } = result;
    return rest;
  }
  return {
    status: result.status,
    testAccuracy: result.testAccuracy,
    checkpoint: join(method.runDir, result.checkpoint),
    summary: method.summary(result.testAccuracy),
  };
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
