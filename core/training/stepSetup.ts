/**
 * What one training step needs (model, BONN state, optimizer, the objective) built from a run
 * config, shared by the single-thread trainer and the data-parallel replicas so that both train
 * exactly the same thing.
 */
import * as tf from '../tf';
import { isBinaryLayer, type BinaryLayer } from '../bnn/layers';
import { applyForTraining } from '../bnn/trainingForward';
import type { Preset } from '../bnn/presets';
import type { TrainConfig } from '../protocol';
import {
  checkWeightsFit,
  loadCheckpointModel,
  readCheckpointManifest,
  type CheckpointManifest,
} from './checkpoint';
import { BonnState } from './methods/bonn';
import type { LnsOptions } from './methods/lns';
import { LnsBinding, type LnsStepTerms } from './methods/lnsBinding';
import { createOptimizer, optimizerState, restoreOptimizer } from './optimizers';

/**
 * Names of the method losses a step reports (`parts.methods`, `methodLosses` in metrics.jsonl),
 * in the order the objective adds them; data-parallel replicas report them by position.
 */
export const METHOD_LOSSES = ['bonnKernel', 'bonnFeature', 'lnsAux'] as const;

/**
 * What one training step keeps for the report besides the minimized objective (cross-entropy
 * plus BONN's or LNS's losses and the L2 weight decay when configured): the cross-entropy alone
 * when the objective has more terms, the correct-prediction count, each method loss and, with
 * LNS, each binary layer's auxiliary terms.
 */
export interface StepParts {
  ce: tf.Scalar;
  hits: tf.Scalar;
  methods: Record<string, tf.Scalar>;
  layers: LnsStepTerms[];
}

/** The tensors `parts` kept, for `tf.dispose` after the step. */
export function keptTensors(parts: Partial<StepParts>): (tf.Tensor | undefined)[] {
  return [
    parts.ce,
    parts.hits,
    ...Object.values(parts.methods ?? {}),
    ...(parts.layers ?? []).flatMap((p) => [p.aux, p.disagreement, p.signs]),
  ];
}

export interface StepSetup {
  model: tf.LayersModel;
  binaryLayers: (tf.layers.Layer & BinaryLayer)[];
  bonn?: BonnState;
  /** LNS fine-tuning: the mappers that binarize the binary layers (docs/lns.md). */
  lns?: LnsBinding;
  /** The method losses this setup's steps report, a subset of `METHOD_LOSSES`. */
  methodLosses: (typeof METHOD_LOSSES)[number][];
  /** Everything the optimizer updates, in a fixed order (model weights, then BONN's or LNS's). */
  variables: tf.Variable[];
  latentKernels: tf.Variable[];
  optimizer: tf.Optimizer;
  /**
   * The objective of one step on `xs`/`ys`, for `optimizer.minimize`/`computeGradients`.
   * `weight` scales the whole objective: a data-parallel replica holding `n` of a batch's `B`
   * examples passes `n / B`, so that the replicas' gradients sum to the batch's gradient.
   * `parts.ce` is set whenever the returned value is not the plain cross-entropy.
   */
  objective(
    xs: tf.Tensor,
    ys: tf.Tensor,
    parts: Partial<StepParts>,
    weight?: number,
  ): () => tf.Scalar;
  dispose(): void;
}

/** Kernels that take weight decay: conv/dense kernels, latent or not; never BN, scale or BONN. */
export function decayedKernels(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights
    .filter((w) => /(^|\/)kernel(_\d+)?$/.test(w.originalName))
    .map((w) => w.read() as tf.Variable);
}

/**
 * Builds the model (from the config's seed), BONN's state, LNS's mappers when `lns` is given
 * (seeded from the config's seed too) and the optimizer.
 */
export function createStepSetup(config: TrainConfig, preset: Preset, lns?: LnsOptions): StepSetup {
  const model = preset.build(config.seed, config);
  const binaryLayers = model.layers.filter(isBinaryLayer);
  const lnsBinding = lns ? LnsBinding.create(binaryLayers, lns, config.seed) : undefined;
  // BONN: the loss parameters, and a view of the model that also outputs the FC features.
  let featureModel: tf.LayersModel | undefined;
  let bonn: BonnState | undefined;
  if (config.bonn) {
    const featureOutput = model.getLayer(preset.featureLayer).output as tf.SymbolicTensor;
    featureModel = tf.model({ inputs: model.inputs, outputs: [featureOutput, model.outputs[0]] });
    bonn = BonnState.create(
      binaryLayers,
      preset.classes,
      featureOutput.shape[featureOutput.shape.length - 1] as number,
      config.bonn,
    );
  }
  const variables = [
    ...model.trainableWeights.map((v) => v.read() as tf.Variable),
    ...(bonn?.variables() ?? []),
    ...(lnsBinding?.mappers.variables() ?? []),
  ];
  const decayed = (config.weightDecay ?? 0) > 0 ? decayedKernels(model) : [];
  const latentKernels = binaryLayers.map((l) => l.latentKernel().read() as tf.Variable);
  const optimizer = createOptimizer(config);

  const objective =
    (xs: tf.Tensor, ys: tf.Tensor, parts: Partial<StepParts>, weight = 1) =>
    () => {
      let auxiliary: tf.Scalar | undefined;
      if (lnsBinding) {
        parts.layers = [];
        auxiliary = lnsBinding.auxiliary(parts.layers);
      }
      let logits: tf.Tensor;
      let features: tf.Tensor | undefined;
      if (featureModel) {
        [features, logits] = applyForTraining(featureModel, xs) as tf.Tensor[];
      } else {
        logits = applyForTraining(model, xs) as tf.Tensor;
      }
      lnsBinding?.endForward();
      parts.hits = tf.keep(tf.sum(tf.equal(tf.argMax(logits, 1), tf.argMax(ys, 1)))) as tf.Scalar;
      const ce = tf.losses.softmaxCrossEntropy(ys, logits) as tf.Scalar;
      let total: tf.Scalar = ce;
      if (bonn && features) {
        const kernel = bonn.kernelLoss();
        const feature = bonn.featureLoss(features, ys);
        const [kernelName, featureName] = METHOD_LOSSES;
        parts.methods = { [kernelName]: tf.keep(kernel), [featureName]: tf.keep(feature) };
        total = tf.add(tf.add(total, kernel), feature);
      }
      if (lnsBinding && auxiliary) {
        parts.methods = { ...parts.methods, lnsAux: tf.keep(auxiliary) };
        total = tf.add(total, tf.mul(auxiliary, lnsBinding.options.alpha));
      }
      if (decayed.length > 0) {
        const l2 = decayed.reduce<tf.Scalar>(
          (sum, k) => tf.add(sum, tf.sum(tf.square(k))),
          tf.scalar(0),
        );
        total = tf.add(total, tf.mul(l2, (config.weightDecay ?? 0) / 2));
      }
      if (weight !== 1) total = tf.mul(total, weight);
      parts.ce = total === ce ? undefined : tf.keep(ce);
      return total;
    };

  return {
    model,
    binaryLayers,
    bonn,
    lns: lnsBinding,
    methodLosses: [
      ...(bonn ? (['bonnKernel', 'bonnFeature'] as const) : []),
      ...(lnsBinding ? (['lnsAux'] as const) : []),
    ],
    variables,
    latentKernels,
    optimizer,
    objective,
    dispose() {
      lnsBinding?.dispose();
      model.dispose();
      optimizer.dispose();
      bonn?.dispose();
    },
  };
}

/** Puts a checkpoint's weights, optimizer slots and BONN state into `setup`. */
export async function restoreStepSetup(
  setup: StepSetup,
  checkpointDir: string,
  arrays: Map<string, Float32Array | Uint8Array>,
  manifest: CheckpointManifest = readCheckpointManifest(checkpointDir),
): Promise<void> {
  // Shapes first, from model.json alone: a mismatch is one line, not a dump of tensor values.
  checkWeightsFit(checkpointDir, manifest, setup.model, "this run's model");
  const { model: saved } = await loadCheckpointModel(checkpointDir, manifest);
  try {
    setup.model.setWeights(saved.getWeights());
  } finally {
    saved.dispose();
  }
  const floats = new Map<string, Float32Array>();
  for (const [k, v] of arrays) if (v instanceof Float32Array) floats.set(k, v);
  restoreLatents(setup, floats);
  await restoreOptimizer(setup.optimizer, floats, setup.variables);
  setup.bonn?.restore(floats);
  setup.lns?.restore(floats);
}

/** Name of the state.bin array with a binary layer's latent weights as trained (LNS only). */
export const latentKey = (layer: string) => `${layer}/latent`;

/**
 * LNS saves latent weights rewritten to binarize as its mappers do (`latentForSigns`); the
 * weights it trains on are in state.bin, and go back into the layers here.
 */
function restoreLatents(setup: StepSetup, floats: Map<string, Float32Array>): void {
  if (!setup.lns) return;
  for (const [i, layer] of setup.binaryLayers.entries()) {
    const data = floats.get(latentKey(layer.name));
    if (!data) throw new Error(`the checkpoint holds no ${latentKey(layer.name)}`);
    const kernel = setup.latentKernels[i];
    tf.tidy(() => kernel.assign(tf.tensor(data, kernel.shape)));
  }
}

/**
 * The state.bin arrays of a setup besides the model's weights: optimizer slots, BONN's and LNS's
 * parameters and, with LNS, the latent weights as trained.
 */
export async function setupArrays(
  setup: StepSetup,
): Promise<{ name: string; data: Float32Array }[]> {
  const latents = setup.lns
    ? await Promise.all(
        setup.binaryLayers.map(async (l, i) => ({
          name: latentKey(l.name),
          data: Float32Array.from(await setup.latentKernels[i].data()),
        })),
      )
    : [];
  return [
    ...(await optimizerState(setup.optimizer)),
    ...((await setup.bonn?.state()) ?? []),
    ...((await setup.lns?.state()) ?? []),
    ...latents,
  ];
}

/**
 * Everything training changes in a setup, as plain arrays that can cross threads: the model's
 * weights (`getWeights()` order, batch-norm statistics included), the optimizer's slots and
 * BONN's or LNS's parameters, named as in a checkpoint's state.bin.
 */
export interface SetupState {
  weights: Float32Array[];
  state: { name: string; data: Float32Array }[];
}

export async function captureSetupState(setup: StepSetup): Promise<SetupState> {
  return {
    weights: setup.model.getWeights().map((w) => Float32Array.from(w.dataSync())),
    state: [
      ...(await optimizerState(setup.optimizer)),
      ...((await setup.bonn?.state()) ?? []),
      ...((await setup.lns?.state()) ?? []),
    ],
  };
}

/** Puts what `captureSetupState` took from an identically built setup into `setup`. */
export async function applySetupState(setup: StepSetup, captured: SetupState): Promise<void> {
  const shapes = setup.model.getWeights().map((w) => w.shape);
  const tensors = captured.weights.map((w, i) => tf.tensor(w, shapes[i]));
  setup.model.setWeights(tensors);
  tf.dispose(tensors);
  const state = new Map(captured.state.map((s) => [s.name, s.data]));
  // An optimizer that has not stepped yet (a fine-tune's start) has no slots to copy.
  if (captured.state.some((s) => s.name.startsWith('optimizer/') && s.name !== 'optimizer/iter')) {
    await restoreOptimizer(setup.optimizer, state, setup.variables);
  }
  setup.bonn?.restore(state);
  setup.lns?.restore(state);
}
