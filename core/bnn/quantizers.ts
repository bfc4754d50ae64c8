/**
 * Quantizers: forward `sgn` (zero maps to +1, as in Larq) with a custom backward.
 *
 * `tf.sign(0)` is 0, so the forward is built as `sign(sign(x) + 0.1)` (Larq's construction):
 * exact ±1 for every finite x. Definitions follow Larq (bnn-methods.md §5.1).
 */
import * as tf from '../tf';

/** The quantizer kinds; each has the forward `sgn` (times a scale for magnitude_aware_sign). */
export const QUANTIZER_KINDS = [
  'ste_sign',
  'approx_sign',
  'swish_sign',
  'magnitude_aware_sign',
] as const;
export type QuantizerKind = (typeof QUANTIZER_KINDS)[number];

/** Quantizer configuration as stored in run configs and checkpoint metadata. */
export interface QuantizerConfig {
  /**
   * - `ste_sign`: gradient `1[|x| <= clip]` (identity when clip is null);
   * - `approx_sign`: `max(0, 2 − 2|x|)`;
   * - `swish_sign`: `β(2 − βx·tanh(βx/2)) / (1 + cosh(βx))`;
   * - `magnitude_aware_sign`: forward `s·sgn(x)`, `s = mean|x|` over all axes but the last
   *   (per output channel for TF.js kernels), gradient `s·1[|x| <= clip]`, none to `s`.
   */
  kind: QuantizerKind;
  /** `t_clip` of `ste_sign` and `magnitude_aware_sign`; null = no clip (identity STE). */
  clip: number | null;
  /** β of `swish_sign` (default 5). */
  beta?: number;
}

export const DEFAULT_QUANTIZER: QuantizerConfig = { kind: 'ste_sign', clip: 1 };

/** `steSign` → `ste_sign`; snake_case input is returned unchanged. */
export function snakeCase(value: string): string {
  return value.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * A quantizer config as read back from a serialized model: tfjs-layers' deserializer camel-cases
 * string values (`ste_sign` → `steSign`), so the kind is mapped back to its snake_case name.
 * @throws Error naming the kind when it is none of QUANTIZER_KINDS.
 */
export function normalizeQuantizer(q: QuantizerConfig): QuantizerConfig {
  const kind = snakeCase(q.kind) as QuantizerKind;
  if (!QUANTIZER_KINDS.includes(kind)) {
    throw new Error(`unknown quantizer kind "${q.kind}" (known: ${QUANTIZER_KINDS.join(', ')})`);
  }
  return kind === q.kind ? q : { ...q, kind };
}
export const DEFAULT_SWISH_BETA = 5;

/**
 * True when the wasm backend's C kernel `name` (core/backend/bnnKernels.ts) can run on `x`s:
 * registered for the current backend and the inputs are float32. Otherwise the tfjs ops below
 * compute the same values (cpu backend, tests, missing bnn-kernels.wasm).
 */
function useKernel(name: string, ...xs: tf.Tensor[]): boolean {
  return (
    xs.every((x) => x.dtype === 'float32') && tf.getKernel(name, tf.getBackend()) !== undefined
  );
}

/** `sgn(x)` as a tensor op without a gradient of its own (callers wrap it). */
export function signForward(x: tf.Tensor): tf.Tensor {
  if (useKernel('BnnSign', x)) return tf.engine().runKernel('BnnSign', { x }, {}) as tf.Tensor;
  return tf.tidy(() => tf.sign(tf.add(tf.sign(x), 0.1)));
}

/** Human-readable form used in layer tables and `LayerInfo.quantizer`. */
export function describeQuantizer(q: QuantizerConfig): string {
  switch (q.kind) {
    case 'ste_sign':
    case 'magnitude_aware_sign':
      return `${q.kind}(clip=${q.clip === null ? 'none' : q.clip})`;
    case 'approx_sign':
      return 'approx_sign';
    case 'swish_sign':
      return `swish_sign(beta=${q.beta ?? DEFAULT_SWISH_BETA})`;
  }
}

/**
 * The `t_clip` beyond which a quantizer passes no gradient to latent weights
 * (`starvedWeightRatio`), or null when every weight gets a gradient. SwishSign's gradient
 * never reaches exactly zero, so it has none.
 */
export function quantizerClip(q: QuantizerConfig): number | null {
  switch (q.kind) {
    case 'ste_sign':
    case 'magnitude_aware_sign':
      return q.clip;
    case 'approx_sign':
      return 1;
    case 'swish_sign':
      return null;
  }
}

/** `∂q/∂x` for the sign part of a quantizer, elementwise (no scale). */
function signGradient(x: tf.Tensor, q: QuantizerConfig): tf.Tensor {
  const abs = tf.abs(x);
  switch (q.kind) {
    case 'ste_sign':
    case 'magnitude_aware_sign':
      return q.clip === null ? tf.onesLike(x) : tf.cast(tf.lessEqual(abs, q.clip), 'float32');
    case 'approx_sign':
      return tf.relu(tf.sub(2, tf.mul(abs, 2)));
    case 'swish_sign': {
      const beta = q.beta ?? DEFAULT_SWISH_BETA;
      const bx = tf.mul(x, beta);
      const num = tf.mul(beta, tf.sub(2, tf.mul(bx, tf.tanh(tf.div(bx, 2)))));
      return tf.div(num, tf.add(1, tf.cosh(bx)));
    }
  }
}

/** `dy · ∂q/∂x`, in one fused C kernel on wasm for the clipped STE and ApproxSign. */
export function signGradientTimes(dy: tf.Tensor, x: tf.Tensor, q: QuantizerConfig): tf.Tensor {
  const steKind = q.kind === 'ste_sign' || q.kind === 'magnitude_aware_sign';
  if (steKind && q.clip !== null && useKernel('BnnSteGrad', dy, x)) {
    return tf.engine().runKernel('BnnSteGrad', { dy, x }, { clip: q.clip }) as tf.Tensor;
  }
  if (q.kind === 'approx_sign' && useKernel('BnnApproxSignGrad', dy, x)) {
    return tf.engine().runKernel('BnnApproxSignGrad', { dy, x }, {}) as tf.Tensor;
  }
  return tf.mul(dy, signGradient(x, q));
}

/**
 * Per-output-channel `mean|x|` over every axis but the last (a scalar for rank ≤ 1), as a
 * constant: computed outside the gradient (Larq's `stop_gradient`).
 */
export function channelAbsMean(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    if (x.rank <= 1) return tf.mean(tf.abs(x));
    const axes = [...Array(x.rank - 1).keys()];
    return tf.mean(tf.abs(x), axes);
  });
}

/**
 * Binarizes `x` with the quantizer's backward: ±1 for every kind except
 * `magnitude_aware_sign`, whose values are `±s` per output channel.
 * @param x any float tensor; @returns a tensor of the same shape.
 */
export function quantize(x: tf.Tensor, q: QuantizerConfig): tf.Tensor {
  const fn = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const input = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    const scale = q.kind === 'magnitude_aware_sign' ? channelAbsMean(input) : null;
    save(scale ? [input, scale] : [input]);
    const signs = signForward(input);
    return {
      value: scale ? tf.mul(signs, scale) : signs,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const g = signGradientTimes(dy, saved[0], q);
        return [saved.length > 1 ? tf.mul(g, saved[1]) : g];
      },
    };
  });
  return fn(x);
}

/** A tensor with the value of `x` and zero gradient (tfjs has no `stopGradient`). */
export function stopGradient(x: tf.Tensor): tf.Tensor {
  const fn = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const input = args[0] as tf.Tensor;
    return { value: tf.clone(input), gradFunc: (dy: tf.Tensor) => [tf.zerosLike(dy)] };
  });
  return fn(x);
}
