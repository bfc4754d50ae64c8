/**
 * What one training step needs (model, BONN state, optimizer, the objective) built from a run
 * config, shared by the single-thread trainer and the data-parallel replicas so that both train
 * exactly the same thing.
 */
import * as tf from '../tf';
import { isBinaryLayer, type BinaryLayer } from '../bnn/layers';
import type { Preset } from '../bnn/presets';
import type { TrainConfig } from '../protocol';
import {
  checkWeightsFit,
  loadCheckpointModel,
  readCheckpointManifest,
  type CheckpointManifest,
} from './checkpoint';
import { BonnState } from './methods/bonn';
import { createOptimizer, optimizerState, restoreOptimizer } from './optimizers';

/**
 * What one training step keeps for the report besides the minimized objective (cross-entropy
 * plus BONN's losses and the L2 weight decay when configured): the cross-entropy alone when the
 * objective has more terms, the correct-prediction count and each method loss.
 */
/**
 * Names of the method losses a step reports (`parts.methods`, `methodLosses` in metrics.jsonl),
 * in the order the objective adds them; data-parallel replicas report them by position.
 */
export const METHOD_LOSSES = ['bonnKernel', 'bonnFeature'] as const;

export interface StepParts {
  ce: tf.Scalar;
  hits: tf.Scalar;
  methods: Record<string, tf.Scalar>;
}

export interface StepSetup {
  model: tf.LayersModel;
  binaryLayers: (tf.layers.Layer & BinaryLayer)[];
  bonn?: BonnState;
  /** Everything the optimizer updates, in a fixed order (model weights, then BONN's). */
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

/** Builds the model (from the config's seed), BONN's state and the optimizer. */
export function createStepSetup(config: TrainConfig, preset: Preset): StepSetup {
  const model = preset.build(config.seed, config);
  const binaryLayers = model.layers.filter(isBinaryLayer);
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
  ];
  const decayed = (config.weightDecay ?? 0) > 0 ? decayedKernels(model) : [];
  const latentKernels = binaryLayers.map((l) => l.latentKernel().read() as tf.Variable);
  const optimizer = createOptimizer(config);

  const objective =
    (xs: tf.Tensor, ys: tf.Tensor, parts: Partial<StepParts>, weight = 1) =>
    () => {
      let logits: tf.Tensor;
      let features: tf.Tensor | undefined;
      if (featureModel) {
        [features, logits] = featureModel.apply(xs, { training: true }) as tf.Tensor[];
      } else {
        logits = model.apply(xs, { training: true }) as tf.Tensor;
      }
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
    variables,
    latentKernels,
    optimizer,
    objective,
    dispose() {
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
  await restoreOptimizer(setup.optimizer, floats, setup.variables);
  setup.bonn?.restore(floats);
}

/**
 * Everything training changes in a setup, as plain arrays that can cross threads: the model's
 * weights (`getWeights()` order, batch-norm statistics included), the optimizer's slots and
 * BONN's parameters, named as in a checkpoint's state.bin.
 */
export interface SetupState {
  weights: Float32Array[];
  state: { name: string; data: Float32Array }[];
}

export async function captureSetupState(setup: StepSetup): Promise<SetupState> {
  return {
    weights: setup.model.getWeights().map((w) => Float32Array.from(w.dataSync())),
    state: [...(await optimizerState(setup.optimizer)), ...((await setup.bonn?.state()) ?? [])],
  };
}

/** Puts what `captureSetupState` took from an identically built setup into `setup`. */
export async function applySetupState(setup: StepSetup, captured: SetupState): Promise<void> {
  const shapes = setup.model.getWeights().map((w) => w.shape);
  const tensors = captured.weights.map((w, i) => tf.tensor(w, shapes[i]));
  setup.model.setWeights(tensors);
  tf.dispose(tensors);
  const state = new Map(captured.state.map((s) => [s.name, s.data]));
  await restoreOptimizer(setup.optimizer, state, setup.variables);
  setup.bonn?.restore(state);
}
