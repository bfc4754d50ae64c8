/**
 * Quantizers: forward `sgn` (zero maps to +1, as in Larq) with a custom backward.
 *
 * `tf.sign(0)` is 0, so the forward is built as `sign(sign(x) + 0.1)` (Larq's construction):
 * exact ±1 for every finite x.
 */
import * as tf from '@tensorflow/tfjs';

/** Quantizer configuration as stored in run configs and checkpoint metadata. */
export interface QuantizerConfig {
  /** `ste_sign`: gradient `1[|x| <= clip]`; `approx_sign`: `max(0, 2 − 2|x|)`. */
  kind: 'ste_sign' | 'approx_sign';
  /** `t_clip` of `ste_sign` (ignored by approx_sign, whose support is |x| <= 1). */
  clip: number;
}

export const DEFAULT_QUANTIZER: QuantizerConfig = { kind: 'ste_sign', clip: 1 };

/** `sgn(x)` as a tensor op without a gradient of its own (callers wrap it). */
export function signForward(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sign(tf.add(tf.sign(x), 0.1)));
}

/** Human-readable form used in layer tables and `LayerInfo.quantizer`. */
export function describeQuantizer(q: QuantizerConfig): string {
  return q.kind === 'ste_sign' ? `ste_sign(clip=${q.clip})` : 'approx_sign';
}

/** The gradient clip a quantizer applies to latent weights (`starvedWeightRatio`), or null. */
export function quantizerClip(q: QuantizerConfig): number | null {
  return q.kind === 'ste_sign' ? q.clip : 1;
}

/**
 * Binarizes `x` to ±1 with the quantizer's straight-through backward.
 * @param x any float tensor; @returns a tensor of the same shape holding only −1 and +1.
 */
export function quantize(x: tf.Tensor, q: QuantizerConfig): tf.Tensor {
  const fn = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const input = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    save([input]);
    return {
      value: signForward(input),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [saved0] = saved;
        const abs = tf.abs(saved0);
        if (q.kind === 'ste_sign') {
          return [tf.mul(dy, tf.cast(tf.lessEqual(abs, q.clip), 'float32'))];
        }
        return [tf.mul(dy, tf.relu(tf.sub(2, tf.mul(abs, 2))))];
      },
    };
  });
  return fn(x);
}
