/**
 * A binary convolution's `conv2d(q(x), w)` as one op whose backward pass keeps `x` only.
 *
 * Built from tfjs ops, `q(x)` and `conv2d` each save their input for the backward pass: `x` for
 * the quantizer's gradient and the signs `q(x)`, a second float32 tensor of the same size, for
 * the filter gradient. The signs are `sgn(x)` again, one cheap pass, so this op saves `x` and `w`
 * and recomputes the signs in the backward pass: a binary layer's saved activations halve. With
 * the clipped straight-through estimator (`ste_sign` with a clip, every preset's input quantizer)
 * on the wasm backend with BNN Lab's C kernels, even `x` is not kept: the backward pass needs only
 * each value's sign and whether `|x| ≤ clip`, so the op saves those as 2 bits per value
 * (`BnnPackSte`, core/backend/bnnKernels.ts), 16× less than float32. The kernels, their inputs and
 * the order of the sums are those of the two ops, so values and gradients are identical
 * (test/unit/core/signConv.test.ts). The forward's `sgn` and convolution are one kernel where the
 * backend has it (`BnnSignConv2D`, core/backend/wasmKernels.ts): the XNOR forward packs x by its
 * signs, and the float32 signs are never written.
 */
import * as tf from '../tf';
import { signForward, signGradientTimes, type QuantizerConfig } from './quantizers';

/** True when `q`'s forward is plain `sgn` (every kind but magnitude_aware_sign, which scales). */
export function isPlainSign(q: QuantizerConfig): boolean {
  return q.kind !== 'magnitude_aware_sign';
}

/** True when `x` is kept as bits: a clipped `ste_sign` and the C kernels on this backend. */
export function keepsBits(q: QuantizerConfig, x: tf.Tensor): boolean {
  return (
    q.kind === 'ste_sign' &&
    q.clip !== null &&
    x.dtype === 'float32' &&
    tf.getKernel('BnnPackSte', tf.getBackend()) !== undefined
  );
}

/** True when `BnnSignConv2D` computes `conv2d(sgn(x), w)` on this backend (wasm, C kernels). */
function fusedSign(x: tf.Tensor, w: tf.Tensor): boolean {
  const backend = tf.getBackend();
  return (
    x.dtype === 'float32' &&
    w.dtype === 'float32' &&
    tf.getKernel('BnnSignConv2D', backend) !== undefined &&
    tf.getKernel('BnnSign', backend) !== undefined
  );
}

/**
 * `conv2d(q(x), w, strides, padding)` with `q` a plain-sign quantizer (`isPlainSign`), the
 * gradient to `x` through `q`'s backward and the gradient to `w` as `conv2d`'s.
 */
export function signInputConv2d(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  q: QuantizerConfig,
  strides: number,
  padding: 'same' | 'valid',
): tf.Tensor4D {
  const attrs = { strides, pad: padding, dataFormat: 'NHWC' };
  const engine = tf.engine();
  const bits = keepsBits(q, x);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, filter] = args as tf.Tensor4D[];
    const save = args[2] as tf.GradSaveFunc;
    // What the backward pass reads of x: its 2-bit packing, or x itself.
    const kept = bits
      ? (engine.runKernel('BnnPackSte', { x: input }, { clip: q.clip as number }) as tf.Tensor)
      : input;
    save([kept, filter]);
    if (kept !== input) kept.dispose();
    // sgn(x) and the convolution as one kernel where the backend has it (wasm with the C
    // kernels: the XNOR forward packs x by its signs); the same values as the two ops.
    const value = tf.tidy(() =>
      fusedSign(input, filter)
        ? (engine.runKernel('BnnSignConv2D', { x: input, filter }, attrs) as tf.Tensor4D)
        : tf.conv2d(signForward(input) as tf.Tensor4D, filter, strides, padding),
    );
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xKept, ws] = saved as tf.Tensor4D[];
        const dSigns = engine.runKernel(
          'Conv2DBackpropInput',
          { dy, filter: ws },
          { ...attrs, inputShape: x.shape },
        ) as tf.Tensor;
        const signs = bits
          ? (engine.runKernel('BnnUnpackSigns', { bits: xKept }, { shape: x.shape }) as tf.Tensor)
          : signForward(xKept);
        const dw = engine.runKernel(
          'Conv2DBackpropFilter',
          { x: signs, dy },
          { ...attrs, filterShape: ws.shape },
        ) as tf.Tensor;
        signs.dispose();
        const dx = bits
          ? (engine.runKernel('BnnSteGradPacked', { dy: dSigns, bits: xKept }, {}) as tf.Tensor)
          : signGradientTimes(dSigns, xKept, q);
        dSigns.dispose();
        return [dx, dw];
      },
    };
  });
  return op(x, w) as tf.Tensor4D;
}
