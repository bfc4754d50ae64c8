/**
 * BONN (Gu et al., ICCV 2019; bnn-methods.md §2): the Bayesian kernel loss and the Bayesian
 * feature loss, added to the cross-entropy when a run config sets `bonn`.
 *
 * Choices where the paper has no training code:
 * - μ₊, μ₋ and σ² of every filter are estimated from the current latent weights at each step
 *   (the paper initialises them that way) and held constant, not trained: trained jointly, σ → 0
 *   with every weight at its mode sends `ν N ln σ²` to −∞, so the loss has no minimum. With Adam
 *   that froze every sign within one epoch in our first run (frozenRatio 100 %, 49 % accuracy).
 * - The class centres and per-class log-variances `s = ln σ²` are trained by the run's optimizer
 *   with the rest of the model (not by separate center-loss updates), with σ² floored at
 *   FEATURE_VARIANCE_FLOOR for the same reason.
 * - The feature loss is averaged over the batch (the paper's sum over samples divided by the
 *   batch size, so θ does not depend on the batch size).
 */
import * as tf from '../../tf';
import type { BinaryLayer } from '../../bnn/layers';
import { signForward, stopGradient } from '../../bnn/quantizers';

/**
 * `sgn(k)` as a constant of the loss: computed inside a custom-gradient op (nested ops are not
 * taped, so the sign kernel, which has no gradient of its own on wasm, never needs one) with a
 * zero gradient.
 */
function constantSign(k: tf.Tensor): tf.Tensor {
  const fn = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: signForward(args[0] as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => [tf.zerosLike(dy)],
  }));
  return fn(k);
}

export interface BonnWeights {
  /** λ: weight of the kernel loss. */
  lambda: number;
  /** θ: weight of the feature loss. */
  theta: number;
  /** ν: variance of the reconstruction noise. */
  nu: number;
}

/**
 * Kernel loss of one layer, `(λ/2) Σ_i Σ_n [‖k̂ − w∘k‖² + ν σ_i⁻² Σ_{j∈+}(k_j − μ₊_i)²
 * + ν σ_i⁻² Σ_{j∈−}(k_j + μ₋_i)² + ν N log σ_i²]` over filters i and input channels n, with
 * `k̂ = sgn(k)` a constant, N the kernel-vector length.
 * @param kernel `[kh, kw, cin, cout]` (or `[in, out]`, N = 1); @param modulation `w`, length
 * kh·kw (or 1); @param muPlus, muMinus, logVar one value per output filter.
 */
export function bonnKernelLoss(
  kernel: tf.Tensor,
  modulation: tf.Tensor,
  muPlus: tf.Tensor,
  muMinus: tf.Tensor,
  logVar: tf.Tensor,
  weights: BonnWeights,
): tf.Scalar {
  return tf.tidy(() => {
    const rank = kernel.rank;
    const wShape: number[] = rank === 4 ? [...kernel.shape.slice(0, 2), 1, 1] : [1, 1];
    const w = tf.reshape(modulation, wShape);
    const signs = constantSign(kernel);
    const reconstruction = tf.sum(tf.square(tf.sub(signs, tf.mul(w, kernel))));
    const positive = tf.cast(tf.greaterEqual(kernel, 0), 'float32');
    const deviation = tf.add(
      tf.mul(positive, tf.square(tf.sub(kernel, muPlus))),
      tf.mul(tf.sub(1, positive), tf.square(tf.add(kernel, muMinus))),
    );
    const perFilter = tf.sum(deviation, [...Array(rank - 1).keys()]);
    const elementsPerFilter = kernel.size / kernel.shape[rank - 1];
    const prior = tf.sum(
      tf.add(tf.mul(perFilter, tf.exp(tf.neg(logVar))), tf.mul(logVar, elementsPerFilter)),
    );
    return tf.mul(
      weights.lambda / 2,
      tf.add(reconstruction, tf.mul(weights.nu, prior)),
    ) as tf.Scalar;
  });
}

/**
 * Feature loss averaged over the batch: `(θ/2) mean_b [‖f_b − c_{m_b}‖² +
 * Σ_n (σ_{m_b,n}⁻² (f_{b,n} − c_{m_b,n})² + log σ²_{m_b,n})]`.
 * @param features `[batch, n]`; @param oneHot `[batch, classes]`; @param centres, logVar
 * `[classes, n]`.
 */
export function bonnFeatureLoss(
  features: tf.Tensor2D,
  oneHot: tf.Tensor2D,
  centres: tf.Tensor2D,
  logVar: tf.Tensor2D,
  theta: number,
): tf.Scalar {
  return tf.tidy(() => {
    const c = tf.matMul(oneHot, centres);
    const s = tf.matMul(oneHot, logVar);
    const d2 = tf.square(tf.sub(features, c));
    const perSample = tf.sum(tf.add(tf.add(d2, tf.mul(d2, tf.exp(tf.neg(s)))), s), 1);
    return tf.mul(theta / 2, tf.mean(perSample)) as tf.Scalar;
  });
}

/**
 * Per-filter prior statistics of a kernel, held constant: μ₊ = mean of the positive entries,
 * μ₋ = mean magnitude of the negative ones, ln σ² = ln of the filter's variance.
 */
export function kernelPriorStatistics(kernel: tf.Tensor): {
  muPlus: tf.Tensor;
  muMinus: tf.Tensor;
  logVar: tf.Tensor;
} {
  return tf.tidy(() => {
    const k = stopGradient(kernel);
    const axes = [...Array(k.rank - 1).keys()];
    const pos = tf.cast(tf.greaterEqual(k, 0), 'float32');
    const neg = tf.sub(1, pos);
    const mean = (t: tf.Tensor, mask: tf.Tensor) =>
      tf.div(tf.sum(tf.mul(t, mask), axes), tf.maximum(tf.sum(mask, axes), 1));
    return {
      muPlus: mean(k, pos),
      muMinus: mean(tf.neg(k), neg),
      logVar: tf.log(tf.add(tf.moments(k, axes).variance, 1e-12)),
    };
  });
}

/** Floor of the learned per-class feature variances: keeps the feature loss bounded below. */
export const FEATURE_VARIANCE_FLOOR = 1e-2;

/**
 * The BONN state of a run: the per-class feature centres and log-variances (trained). The
 * per-filter μ₊, μ₋ and σ² of the kernel loss are re-estimated from the current latent weights
 * at every step and held constant (see the module comment for why they are not trained).
 */
export class BonnState {
  private constructor(
    readonly weights: BonnWeights,
    private readonly layers: (BinaryLayer & { name: string })[],
    readonly centres: tf.Variable,
    readonly featureLogVar: tf.Variable,
  ) {}

  /** Centres at 0, unit feature variances. */
  static create(
    layers: (BinaryLayer & { name: string })[],
    classes: number,
    featureSize: number,
    weights: BonnWeights,
  ): BonnState {
    return new BonnState(
      weights,
      layers,
      tf.variable(tf.zeros([classes, featureSize]), true, 'bonn/centres'),
      tf.variable(tf.zeros([classes, featureSize]), true, 'bonn/featureLogVar'),
    );
  }

  /** Every trained variable, in a fixed order (optimizer slots and checkpoints follow it). */
  variables(): tf.Variable[] {
    return [this.centres, this.featureLogVar];
  }

  /** Sum of the kernel losses of every BONN layer (inside the gradient tape). */
  kernelLoss(): tf.Scalar {
    return tf.tidy(() =>
      this.layers.reduce<tf.Scalar>((sum, layer) => {
        const modulation = layer.modulationVector();
        if (!modulation) throw new Error(`BONN: layer ${layer.name} has no modulation vector`);
        const kernel = layer.latentKernel().read();
        const { muPlus, muMinus, logVar } = kernelPriorStatistics(kernel);
        const loss = bonnKernelLoss(
          kernel,
          modulation.read(),
          muPlus,
          muMinus,
          logVar,
          this.weights,
        );
        return tf.add(sum, loss);
      }, tf.scalar(0)),
    );
  }

  featureLoss(features: tf.Tensor, oneHot: tf.Tensor): tf.Scalar {
    return bonnFeatureLoss(
      features as tf.Tensor2D,
      oneHot as tf.Tensor2D,
      this.centres as tf.Tensor2D,
      tf.maximum(this.featureLogVar, Math.log(FEATURE_VARIANCE_FLOOR)) as tf.Tensor2D,
      this.weights.theta,
    );
  }

  /** Named arrays for the checkpoint's state.bin. */
  async state(): Promise<{ name: string; data: Float32Array }[]> {
    return Promise.all(
      this.variables().map(async (v) => ({
        name: v.name,
        data: Float32Array.from(await v.data()),
      })),
    );
  }

  /** Restores what `state()` saved. @throws Error naming a missing array. */
  restore(state: Map<string, Float32Array>): void {
    for (const v of this.variables()) {
      const data = state.get(v.name);
      if (!data) throw new Error(`the checkpoint holds no ${v.name}`);
      tf.tidy(() => v.assign(tf.tensor(data, v.shape)));
    }
  }

  dispose(): void {
    tf.dispose(this.variables());
  }
}
