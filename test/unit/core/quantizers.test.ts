import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '../../../core/tf';
import { BinaryDense, isBinaryLayer, type BinaryLayer } from '../../../core/bnn/layers';
import {
  describeQuantizer,
  quantize,
  quantizerClip,
  stopGradient,
  type QuantizerConfig,
} from '../../../core/bnn/quantizers';

const X = [-2, -1.25, -0.5, 0, 0.5, 1, 1.3, 2];

async function forwardBackward(kind: 'ste_sign' | 'approx_sign', clip: number) {
  await tf.setBackend('cpu');
  const x = tf.tensor1d(X);
  const y = quantize(x, { kind, clip });
  const g = tf.grad((v: tf.Tensor) => quantize(v, { kind, clip }))(x);
  const out = { value: [...(await y.data())], grad: [...(await g.data())] };
  tf.dispose([x, y, g]);
  return out;
}

test('sgn forward is ±1 with sgn(0) = +1', async () => {
  const { value } = await forwardBackward('ste_sign', 1);
  assert.deepEqual(value, [-1, -1, -1, 1, 1, 1, 1, 1]);
});

test('ste_sign passes the gradient where |x| <= t_clip, inclusive', async () => {
  assert.deepEqual((await forwardBackward('ste_sign', 1)).grad, [0, 0, 1, 1, 1, 1, 0, 0]);
  assert.deepEqual((await forwardBackward('ste_sign', 1.25)).grad, [0, 1, 1, 1, 1, 1, 0, 0]);
});

test('approx_sign backward is max(0, 2 − 2|x|)', async () => {
  const { value, grad } = await forwardBackward('approx_sign', 1);
  assert.deepEqual(value, [-1, -1, -1, 1, 1, 1, 1, 1]);
  assert.deepEqual(grad, [0, 0, 1, 2, 1, 0, 0, 0]);
});

async function valueAndGrad(x: tf.Tensor, q: QuantizerConfig) {
  await tf.setBackend('cpu');
  const y = quantize(x, q);
  const g = tf.grad((v: tf.Tensor) => quantize(v, q))(x);
  const out = { value: [...(await y.data())], grad: [...(await g.data())] };
  tf.dispose([y, g]);
  return out;
}

const close = (actual: number[], expected: number[], tol = 1e-5) => {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) =>
    assert.ok(Math.abs(a - expected[i]) <= tol, `[${i}] ${a} vs ${expected[i]}`),
  );
};

test('ste_sign with clip null is the identity straight-through estimator', async () => {
  const x = tf.tensor1d(X);
  const { value, grad } = await valueAndGrad(x, { kind: 'ste_sign', clip: null });
  x.dispose();
  assert.deepEqual(value, [-1, -1, -1, 1, 1, 1, 1, 1]);
  assert.deepEqual(grad, [1, 1, 1, 1, 1, 1, 1, 1]);
});

test('swish_sign: sgn forward, β(2 − βx·tanh(βx/2)) / (1 + cosh(βx)) backward (β = 5 and 2)', async () => {
  const swish = (x: number, b: number) =>
    (b * (2 - b * x * Math.tanh((b * x) / 2))) / (1 + Math.cosh(b * x));
  for (const beta of [5, 2]) {
    const x = tf.tensor1d(X);
    const q: QuantizerConfig = { kind: 'swish_sign', clip: null, beta };
    const { value, grad } = await valueAndGrad(x, q);
    x.dispose();
    assert.deepEqual(value, [-1, -1, -1, 1, 1, 1, 1, 1]);
    close(
      grad,
      X.map((v) => swish(v, beta)),
    );
    // Hand value: β at 0.
    assert.ok(Math.abs(grad[3] - beta) < 1e-5);
  }
  // β = 5, x = 0.5: 5(2 − 2.5·tanh 1.25)/(1 + cosh 2.5) = −0.0846216 (the gradient changes sign).
  const x = tf.tensor1d([0.5]);
  close((await valueAndGrad(x, { kind: 'swish_sign', clip: null })).grad, [-0.0846216], 1e-6);
  x.dispose();
  assert.equal(describeQuantizer({ kind: 'swish_sign', clip: null }), 'swish_sign(beta=5)');
  assert.equal(quantizerClip({ kind: 'swish_sign', clip: null }), null);
});

test('magnitude_aware_sign: s·sgn(x) per output channel (last axis), gradient s·1[|x| <= clip]', async () => {
  // Two output channels (columns): |x| means s = [ (1 + 0.5 + 2) / 3, (0 + 3 + 1) / 3 ].
  const x = tf.tensor2d([
    [-1, 0],
    [0.5, -3],
    [2, 1],
  ]);
  const { value, grad } = await valueAndGrad(x, { kind: 'magnitude_aware_sign', clip: 1 });
  x.dispose();
  const s0 = 3.5 / 3;
  const s1 = 4 / 3;
  close(value, [-s0, s1, s0, -s1, s0, s1]);
  close(grad, [s0, s1, s0, 0, 0, s1]);
  assert.equal(quantizerClip({ kind: 'magnitude_aware_sign', clip: 1 }), 1);
});

test('stopGradient passes the value and no gradient', async () => {
  await tf.setBackend('cpu');
  const x = tf.tensor1d([1, -2]);
  const g = tf.grad((v: tf.Tensor) => tf.sum(tf.add(tf.mul(stopGradient(v), v), v)))(x);
  // d/dx (c·x + x) with c = x held constant: c + 1.
  assert.deepEqual([...(await g.data())], [2, -1]);
  tf.dispose([x, g]);
});

test('a checkpoint loaded back keeps snake_case quantizer kinds and trains (tfjs camel-cases them)', async () => {
  await tf.setBackend('cpu');
  const input = tf.input({ shape: [4] });
  const output = new BinaryDense({
    name: 'bd',
    units: 2,
    kernelQuantizer: { kind: 'approx_sign', clip: 1 },
    seed: 1,
  }).apply(input) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: output });
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
  const layer = loaded.layers.find((l) => isBinaryLayer(l)) as unknown as BinaryLayer | undefined;
  assert.equal(layer?.kernelQuantizer.kind, 'approx_sign');
  assert.equal(layer?.inputQuantizer?.kind, 'ste_sign');
  const x = tf.ones([3, 4]);
  const grads = tf.variableGrads(() => tf.sum(loaded.apply(x) as tf.Tensor) as tf.Scalar);
  assert.equal(Object.keys(grads.grads).length, 1);
  tf.dispose([x, ...Object.values(grads.grads), grads.value]);
  model.dispose();
  loaded.dispose();
});
