import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { quantize } from '../../../core/bnn/quantizers';

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
