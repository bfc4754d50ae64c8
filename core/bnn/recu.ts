/**
 * ReCU (Xu et al., ICCV 2021; bnn-methods.md §3): the forward-pass weight and activation
 * transforms of the official `BinarizeConv2d`, as tensor functions. The τ schedule lives in
 * core/training/schedules.ts.
 */
import * as tf from '../tf';
import { stopGradient } from './quantizers';

/** Target standard deviation of standardized filters: `2√2`, i.e. Laplace scale b* = 2. */
export const RECU_TARGET_STD = 2 * Math.SQRT2;
const EPSILON = 1e-5;

/** Laplace quantile `Q(τ) = −b · ln(2 − 2τ)` for τ in (0.5, 1). */
export function recuQuantile(scale: number, tau: number): number {
  return -scale * Math.log(2 - 2 * tau);
}

/**
 * Per-filter standardization: `w₁ = (W − mean) · 2√2 / sqrt(var + 1e−5)`, mean and the
 * *unbiased* variance (N − 1, as PyTorch's `var`) over every axis but the last (the output
 * channel in TF.js kernels). Differentiable.
 */
export function recuStandardize(latentWeights: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const axes = [...Array(latentWeights.rank - 1).keys()];
    const n = latentWeights.size / latentWeights.shape[latentWeights.rank - 1];
    const centred = tf.sub(latentWeights, tf.mean(latentWeights, axes, true));
    const variance = tf.div(tf.sum(tf.square(centred), axes, true), Math.max(1, n - 1));
    return tf.mul(centred, tf.div(RECU_TARGET_STD, tf.sqrt(tf.add(variance, EPSILON))));
  });
}

/**
 * The weights ReCU binarizes: standardized filters clamped to `±Q(τ)`, with
 * `Q(τ) = −mean|w₁| · ln(2 − 2τ)` over the whole layer and no gradient through `Q`.
 * The gradient is 1 inside the clamp (inclusive) and 0 outside, then flows through the
 * standardization. The latent tensor itself is not modified.
 */
export function recuWeights(latentWeights: tf.Tensor, tau: number): tf.Tensor {
  return tf.tidy(() => {
    const w1 = recuStandardize(latentWeights);
    const scale = stopGradient(tf.mean(tf.abs(w1)));
    // Full-shape bounds: tfjs' Minimum/Maximum gradients do not reduce a broadcast operand.
    const q = tf.mul(tf.onesLike(w1), tf.mul(scale, -Math.log(2 - 2 * tau)));
    return tf.minimum(tf.maximum(w1, tf.neg(q)), q);
  });
}

/**
 * Training-mode input normalization of the ReCU code: each sample divided by
 * `sqrt(var + 1e−5)` over all its elements (unbiased variance, no mean subtraction,
 * differentiable). Signs are unchanged, so inference skips it.
 */
export function recuActivations(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const axes = [...Array(x.rank).keys()].slice(1);
    const n = x.size / x.shape[0];
    const centred = tf.sub(x, tf.mean(x, axes, true));
    const variance = tf.div(tf.sum(tf.square(centred), axes, true), Math.max(1, n - 1));
    return tf.div(x, tf.sqrt(tf.add(variance, EPSILON)));
  });
}
