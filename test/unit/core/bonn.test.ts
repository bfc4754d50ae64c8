import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '../../../core/tf';
import {
  bonnFeatureLoss,
  bonnKernelLoss,
  kernelPriorStatistics,
} from '../../../core/training/methods/bonn';

const close = (a: number, b: number, tol = 1e-6) =>
  assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test('BONN kernel loss on a hand-computed example (dense and conv layouts)', async () => {
  await tf.setBackend('cpu');
  const weights = { lambda: 0.1, theta: 0, nu: 0.5 };
  const mu = [tf.tensor1d([0.4]), tf.tensor1d([0.3])];
  const logVar = tf.tensor1d([Math.log(0.25)]);
  // One filter k = [0.5, −0.25], sgn(k) = [1, −1]:
  // prior = ((0.5 − 0.4)² + (−0.25 + 0.3)²)/σ² + N·ln σ² = 0.0125/0.25 + 2·ln 0.25 = −2.7225887.
  const prior = 0.0125 / 0.25 + 2 * Math.log(0.25);
  // Dense [2, 1] with w = [2]: w∘k = [1, −0.5], reconstruction (1 − 1)² + (−1 + 0.5)² = 0.25.
  const dense = tf.tensor2d([[0.5], [-0.25]]);
  const d = bonnKernelLoss(dense, tf.tensor1d([2]), mu[0], mu[1], logVar, weights);
  close((await d.data())[0], (0.1 / 2) * (0.25 + 0.5 * prior));
  close((await d.data())[0], -0.0555647);
  // Conv [1, 2, 1, 1] with w = [2, 4] per kernel position: w∘k = [1, −1], reconstruction 0.
  const conv = tf.tensor4d([0.5, -0.25], [1, 2, 1, 1]);
  const c = bonnKernelLoss(conv, tf.tensor1d([2, 4]), mu[0], mu[1], logVar, weights);
  close((await c.data())[0], (0.1 / 2) * 0.5 * prior);
  tf.dispose([...mu, logVar, dense, conv, d, c]);
});

test('BONN kernel loss gradient: λ[w∘(w∘k − k̂) + ν σ⁻²(k − μ₊)] for a positive weight', async () => {
  await tf.setBackend('cpu');
  const weights = { lambda: 0.1, theta: 0, nu: 0.5 };
  const k = tf.tensor2d([[0.5]]);
  const g = tf.grad((v: tf.Tensor) =>
    bonnKernelLoss(
      v,
      tf.tensor1d([2]),
      tf.tensor1d([0.4]),
      tf.tensor1d([0.3]),
      tf.tensor1d([Math.log(0.25)]),
      weights,
    ),
  )(k);
  // 0.1 · [2·(1 − 1) + 0.5·(0.5 − 0.4)/0.25] = 0.02
  close((await g.data())[0], 0.02);
  tf.dispose([k, g]);
});

test('BONN feature loss on a hand-computed example, averaged over the batch', async () => {
  await tf.setBackend('cpu');
  const features = tf.tensor2d([
    [1, 2],
    [0, 0],
  ]);
  const oneHot = tf.tensor2d([
    [0, 1],
    [1, 0],
  ]);
  const centres = tf.tensor2d([
    [0, 0],
    [0.5, 1],
  ]);
  const logVar = tf.tensor2d([
    [0, 0],
    [Math.log(4), 0],
  ]);
  // Sample 1 (class 1): d² = [0.25, 1]; 1.25 + (0.25/4 + 1) + ln 4 = 3.6987944. Sample 2: 0.
  const loss = bonnFeatureLoss(features, oneHot, centres, logVar, 0.2);
  close((await loss.data())[0], (0.2 / 2) * ((1.25 + 1.0625 + Math.log(4)) / 2));
  close((await loss.data())[0], 0.1849397);
  tf.dispose([features, oneHot, centres, logVar, loss]);
});

test('BONN prior statistics per filter: μ₊, μ₋ from the signs, ln of the variance, no gradient', async () => {
  await tf.setBackend('cpu');
  const k = tf.tensor2d([[0.5], [-0.25], [0.3]]);
  const { muPlus, muMinus, logVar } = kernelPriorStatistics(k);
  close((await muPlus.data())[0], 0.4);
  close((await muMinus.data())[0], 0.25);
  const mean = 0.55 / 3;
  const variance = ((0.5 - mean) ** 2 + (-0.25 - mean) ** 2 + (0.3 - mean) ** 2) / 3;
  close((await logVar.data())[0], Math.log(variance), 1e-5);
  const g = tf.grad((v: tf.Tensor) => tf.sum(kernelPriorStatistics(v).muPlus))(k);
  assert.deepEqual([...(await g.data())], [0, 0, 0]);
  tf.dispose([k, muPlus, muMinus, logVar, g]);
});
