/**
 * Optimizers of a run (Adam, SGD with momentum), their learning-rate setter, the state that a
 * checkpoint must hold for an exact resume, and the post-step latent-weight clip.
 */
import * as tf from '../tf';
import { BNN_ADAM } from '../backend/bnnKernels';
import type { TrainConfig } from '../protocol';

/** Adam (tfjs defaults β1 0.9, β2 0.999, ε 1e−7) or SGD with (non-Nesterov) momentum. */
export function createOptimizer(
  config: Pick<TrainConfig, 'learningRate' | 'optimizer' | 'momentum'>,
): tf.Optimizer {
  return config.optimizer === 'sgd'
    ? tf.train.momentum(config.learningRate, config.momentum ?? 0.9)
    : new FusedAdam(config.learningRate, 0.9, 0.999);
}

/** tfjs' AdamOptimizer fields that FusedAdam reads and updates (private in the typings). */
interface AdamFields {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
  accumulatedSecondMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
}

type VariableGradients = Parameters<tf.AdamOptimizer['applyGradients']>[0];

/**
 * tfjs' Adam, with each variable's update as one `BnnAdam` kernel (BNN Lab's C kernels) on the
 * wasm backend instead of ~12 element-wise kernels and their engine overhead: ~170 fewer kernel
 * calls per mnist-cnn step. Same float32 operations in the same order, so the same weights bit
 * for bit (test/unit/backend/bnnKernels.test.ts); same slots, names, state and serialization as
 * `tf.train.adam`, whose code runs on every other backend or without the C kernels.
 */
export class FusedAdam extends tf.AdamOptimizer {
  override applyGradients(variableGradients: VariableGradients): void {
    if (tf.getBackend() !== 'wasm' || tf.getKernel(BNN_ADAM, 'wasm') === undefined) {
      super.applyGradients(variableGradients);
      return;
    }
    const self = this as unknown as AdamFields;
    const names = Array.isArray(variableGradients)
      ? variableGradients.map((v) => v.name)
      : Object.keys(variableGradients);
    // β^t before this step, as float32 values (tfjs computes 1 − β^t from the same variables).
    const accBeta1 = self.accBeta1.dataSync()[0];
    const accBeta2 = self.accBeta2.dataSync()[0];
    const attrs = {
      beta1: self.beta1,
      beta2: self.beta2,
      epsilon: self.epsilon,
      learningRate: self.learningRate,
      accBeta1,
      accBeta2,
    };
    tf.tidy(() => {
      names.forEach((name, i) => {
        const value = tf.engine().registeredVariables[name];
        const slot = (suffix: string) => ({
          originalName: `${name}/${suffix}`,
          variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
        });
        self.accumulatedFirstMoment[i] ??= slot('m');
        self.accumulatedSecondMoment[i] ??= slot('v');
        const gradient = Array.isArray(variableGradients)
          ? variableGradients[i].tensor
          : variableGradients[name];
        if (gradient == null) return;
        const m = self.accumulatedFirstMoment[i].variable;
        const v = self.accumulatedSecondMoment[i].variable;
        const [w2, m2, v2] = tf
          .engine()
          .runKernel(BNN_ADAM, { x: value, g: gradient, m, v }, attrs) as tf.Tensor[];
        m.assign(m2);
        v.assign(v2);
        value.assign(w2);
      });
      self.accBeta1.assign(tf.mul(self.accBeta1, self.beta1));
      self.accBeta2.assign(tf.mul(self.accBeta2, self.beta2));
    });
    this.incrementIterations();
  }
}

/** Sets the rate used by the next `applyGradients` (SGD caches −lr in a scalar). */
export function setLearningRate(optimizer: tf.Optimizer, learningRate: number): void {
  const o = optimizer as unknown as {
    learningRate: number;
    setLearningRate?: (lr: number) => void;
  };
  if (typeof o.setLearningRate === 'function') o.setLearningRate(learningRate);
  else o.learningRate = learningRate;
}

interface AdamInternals {
  accBeta1?: tf.Variable;
  accBeta2?: tf.Variable;
}

/**
 * Everything of the optimizer a checkpoint needs: its weights (iteration count and slots, in
 * `getWeights()` order) plus, for Adam, the running powers β1^t and β2^t. tfjs' `setWeights`
 * recomputes those with `pow`, which can differ from the product of t multiplications in the
 * last bit, and an exact resume needs them bit for bit.
 */
export async function optimizerState(
  optimizer: tf.Optimizer,
  /** Keeps only the variables' slots it accepts (by variable name); the rest as without it. */
  ofVariable: (name: string) => boolean = () => true,
): Promise<{ name: string; data: Float32Array }[]> {
  const weights = await optimizer.getWeights();
  const kept = weights.filter(
    (nt) => nt.name === 'iter' || ofVariable(nt.name.slice(0, nt.name.lastIndexOf('/'))),
  );
  const out = await Promise.all(
    kept.map(async (nt) => ({
      name: `optimizer/${nt.name}`,
      data: Float32Array.from(await nt.tensor.data()),
    })),
  );
  // getWeights() makes a fresh scalar for the iteration count; the slots are variables.
  for (const nt of weights) if (!(nt.tensor instanceof tf.Variable)) nt.tensor.dispose();
  const adam = optimizer as unknown as AdamInternals;
  if (adam.accBeta1 && adam.accBeta2) {
    out.push({
      name: 'optimizer-internal/accBeta1',
      data: Float32Array.from(await adam.accBeta1.data()),
    });
    out.push({
      name: 'optimizer-internal/accBeta2',
      data: Float32Array.from(await adam.accBeta2.data()),
    });
  }
  return out;
}

/**
 * Restores what `optimizerState` saved, with the slot shapes of `variables` (in the order they
 * are passed to `minimize`). @throws Error when the slot count does not match.
 */
export async function restoreOptimizer(
  optimizer: tf.Optimizer,
  state: Map<string, Float32Array>,
  variables: tf.Variable[],
): Promise<void> {
  const slots = [...state.entries()].filter(([name]) => name.startsWith('optimizer/'));
  const iter = slots.find(([name]) => name === 'optimizer/iter');
  const rest = slots.filter(([name]) => name !== 'optimizer/iter');
  const perVariable = rest.length / Math.max(1, variables.length);
  if (!iter || !Number.isInteger(perVariable) || rest.length === 0) {
    throw new Error(
      `restoreOptimizer: the checkpoint holds ${rest.length} optimizer slots for ${variables.length} variables`,
    );
  }
  const named: { name: string; tensor: tf.Tensor }[] = [
    { name: 'iter', tensor: tf.scalar(iter[1][0], 'int32') },
    ...rest.map(([name, data], i) => ({
      name: name.slice('optimizer/'.length),
      tensor: tf.tensor(data, variables[i % variables.length].shape),
    })),
  ];
  await optimizer.setWeights(named);
  for (const nt of named) nt.tensor.dispose();
  const adam = optimizer as unknown as AdamInternals;
  const b1 = state.get('optimizer-internal/accBeta1');
  const b2 = state.get('optimizer-internal/accBeta2');
  if (adam.accBeta1 && adam.accBeta2 && b1 && b2) {
    tf.tidy(() => {
      adam.accBeta1!.assign(tf.scalar(b1[0]));
      adam.accBeta2!.assign(tf.scalar(b2[0]));
    });
  }
}

/** Larq's `WeightClip(c)`: clips latent kernels to [−c, c] in place after a step. */
export function clipLatentWeights(kernels: tf.Variable[], clip: number): void {
  for (const k of kernels) tf.tidy(() => k.assign(tf.clipByValue(k, -clip, clip)));
}
