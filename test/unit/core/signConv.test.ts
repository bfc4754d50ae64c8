/**
 * A binary convolution as one op that saves its real-valued input, not the input and its signs
 * (core/bnn/signConv.ts): values and gradients must equal `conv2d(quantize(x), w)` exactly.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '../../../core/tf';
import { bnnKernelsRegistered } from '../../../core/backend/bnnKernels';
import { registerWasmTrainingKernels } from '../../../core/backend/wasmKernels';
import { BinaryConv2D } from '../../../core/bnn/layers';
import { quantize, type QuantizerConfig } from '../../../core/bnn/quantizers';
import { recuActivations } from '../../../core/bnn/recu';
import { isPlainSign, keepsBits, signInputConv2d } from '../../../core/bnn/signConv';
import { mulberry32 } from '../../../core/training/random';

function randomTensor(shape: number[], seed: number, scale: number): tf.Tensor4D {
  const next = mulberry32(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  // Values on both sides of the clip (|x| ≤ 1), exact zeros included.
  const values = Float32Array.from({ length: size }, (_, i) =>
    i % 17 === 0 ? 0 : (next() * 2 - 1) * scale,
  );
  return tf.tensor4d(values, shape as [number, number, number, number]);
}

/** Value, input gradient and filter gradient of `f(x, w)` against a fixed upstream gradient. */
function valueAndGrads(
  f: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor,
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  dySeed: number,
): Float32Array[] {
  return tf.tidy(() => {
    const y = f(x, w);
    const dy = randomTensor(y.shape, dySeed, 1) as tf.Tensor;
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      f(a as tf.Tensor4D, b as tf.Tensor4D),
    )([x, w], dy);
    return [y, dx, dw].map((t) => t.dataSync() as Float32Array);
  });
}

const QUANTIZERS: QuantizerConfig[] = [
  { kind: 'ste_sign', clip: 1 },
  { kind: 'ste_sign', clip: null },
  { kind: 'ste_sign', clip: 1.3 },
  { kind: 'approx_sign', clip: 1 },
  { kind: 'swish_sign', clip: null, beta: 5 },
];

test('signInputConv2d equals conv2d(quantize(x), w) in value and both gradients, bit for bit', async () => {
  await tf.setBackend('cpu');
  let seed = 1;
  for (const q of QUANTIZERS) {
    for (const [strides, padding] of [
      [1, 'same'],
      [2, 'same'],
      [1, 'valid'],
      [2, 'valid'],
    ] as const) {
      const x = randomTensor([2, 7, 6, 5], seed++, 2);
      const w = tf.tidy(
        () => tf.sign(tf.add(tf.sign(randomTensor([3, 3, 5, 4], seed++, 1)), 0.5)) as tf.Tensor4D,
      );
      const fused = valueAndGrads((a, b) => signInputConv2d(a, b, q, strides, padding), x, w, 99);
      const plain = valueAndGrads(
        (a, b) => tf.conv2d(quantize(a, q) as tf.Tensor4D, b, strides, padding),
        x,
        w,
        99,
      );
      for (const [i, part] of ['value', 'dx', 'dw'].entries()) {
        assert.deepEqual(
          fused[i],
          plain[i],
          `${q.kind} clip ${q.clip} s${strides} ${padding}: ${part}`,
        );
      }
      // The input gradient is not trivially zero: the test compares real gradients.
      assert.ok(fused[1].some((v) => v !== 0) && fused[2].some((v) => v !== 0));
      tf.dispose([x, w]);
    }
  }
});

test('magnitude_aware_sign scales its signs, so it keeps the two-op path', () => {
  assert.equal(isPlainSign({ kind: 'magnitude_aware_sign', clip: 1 }), false);
  assert.equal(isPlainSign({ kind: 'ste_sign', clip: 1 }), true);
});

test('a BinaryConv2D trains through the fused op with the gradients of the two ops', async () => {
  await tf.setBackend('cpu');
  for (const recu of [false, true]) {
    const layer = new BinaryConv2D({ filters: 4, kernelSize: 3, strides: 2, seed: 5, recu });
    const x = randomTensor([2, 8, 8, 3], 11, 2);
    layer.apply(x, { training: true }); // builds the layer
    const kernel = layer.latentKernel().read() as tf.Variable;
    const dy = randomTensor([2, 4, 4, 4], 12, 1);
    const grads = (f: () => tf.Tensor) =>
      tf.tidy(() => {
        const { value, grads: g } = tf.variableGrads(() => tf.sum(tf.mul(f(), dy)), [kernel]);
        return [value.dataSync()[0], [...g[kernel.name].dataSync()]] as const;
      });
    const fused = grads(() => layer.apply(x, { training: true }) as tf.Tensor);
    const plain = grads(() => {
      // The layer's forward as two ops: ReCU's normalization, quantize, conv2d.
      const a = quantize(recu ? recuActivations(x) : x, layer.inputQuantizer!);
      return tf.conv2d(a as tf.Tensor4D, layer.binaryKernel() as tf.Tensor4D, 2, 'same');
    });
    assert.deepEqual(fused, plain, `recu ${recu}`);
    tf.dispose([x, dy]);
    layer.dispose();
  }
});

test('on wasm with the C kernels the clipped STE keeps x as 2 bits per value, with the same gradients', async () => {
  const wasmPackage = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  setWasmPaths(path.join(path.dirname(wasmPackage), 'dist') + path.sep);
  await tf.setBackend('wasm');
  registerWasmTrainingKernels();
  assert.equal(bnnKernelsRegistered(), true);
  try {
    let seed = 40;
    // Sizes around the 16 values of one packed word: 2·5·5·3 = 150, 1·4·4·16 = 256, 1·3·3·1 = 9.
    for (const [shape, strides, padding] of [
      [[2, 5, 5, 3], 1, 'same'],
      [[1, 4, 4, 16], 2, 'same'],
      [[1, 3, 3, 1], 1, 'valid'],
    ] as const) {
      const q: QuantizerConfig = { kind: 'ste_sign', clip: 1.25 };
      const x = randomTensor([...shape], seed++, 2);
      // Values exactly at ±clip, −0 and NaN-free: the inclusive bound and the sign of zero.
      const edges = tf.tidy(() => {
        const values = Float32Array.from(x.dataSync());
        values[1] = 1.25;
        values[2] = -1.25;
        values[3] = -0;
        return tf.tensor4d(values, x.shape);
      });
      const w = tf.tidy(
        () =>
          tf.sign(
            tf.add(tf.sign(randomTensor([3, 3, shape[3], 2], seed++, 1)), 0.5),
          ) as tf.Tensor4D,
      );
      assert.equal(keepsBits(q, edges), true);
      const fused = valueAndGrads(
        (a, b) => signInputConv2d(a, b, q, strides, padding),
        edges,
        w,
        7,
      );
      const plain = valueAndGrads(
        (a, b) => tf.conv2d(quantize(a, q) as tf.Tensor4D, b, strides, padding),
        edges,
        w,
        7,
      );
      for (const [i, part] of ['value', 'dx', 'dw'].entries()) {
        assert.deepEqual(fused[i], plain[i], `${shape.join('x')}: ${part}`);
      }
      tf.dispose([x, edges, w]);
    }
  } finally {
    await tf.setBackend('cpu');
  }
});
