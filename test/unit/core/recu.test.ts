import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '../../../core/tf';
import {
  recuActivations,
  recuQuantile,
  recuStandardize,
  recuWeights,
  RECU_TARGET_STD,
} from '../../../core/bnn/recu';
import { recuTau } from '../../../core/training/schedules';

const close = (a: number, b: number, tol = 1e-5) =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

/** A [1, 1, 4, 2] kernel: filter 0 = [1, 2, 3, 10], filter 1 = [-1, 1, -1, 1]. */
const KERNEL = [
  [1, -1],
  [2, 1],
  [3, -1],
  [10, 1],
];

test('standardization is per output filter with the unbiased variance, to std 2√2', async () => {
  await tf.setBackend('cpu');
  const k = tf.tensor(KERNEL.flat(), [1, 1, 4, 2]);
  const w1 = await recuStandardize(k).data();
  // Filter 0: mean 4, centred [-3, -2, -1, 6], unbiased var (9+4+1+36)/3 = 50/3.
  const s0 = RECU_TARGET_STD / Math.sqrt(50 / 3 + 1e-5);
  // Filter 1: mean 0, unbiased var 4/3.
  const s1 = RECU_TARGET_STD / Math.sqrt(4 / 3 + 1e-5);
  const expected = [-3 * s0, -s1, -2 * s0, s1, -1 * s0, -s1, 6 * s0, s1];
  expected.forEach((e, i) => close(w1[i], e));
  k.dispose();
});

test('the clamp holds weights to ±Q(τ), Q = −mean|w₁|·ln(2 − 2τ), with gradient 1 inside only', async () => {
  await tf.setBackend('cpu');
  const k = tf.tensor(KERNEL.flat(), [1, 1, 4, 2]);
  const w1 = [...(await recuStandardize(k).data())];
  const b = w1.reduce((s, v) => s + Math.abs(v), 0) / w1.length;
  for (const tau of [0.85, 0.99]) {
    const q = recuQuantile(b, tau);
    close(q, -b * Math.log(2 - 2 * tau));
    const w2 = [...(await recuWeights(k, tau).data())];
    w2.forEach((v, i) => close(v, Math.max(-q, Math.min(q, w1[i]))));
    if (tau === 0.85) {
      // Q(0.85) = b·ln(1/0.3) ≈ 1.204 b: the outlier 10 (w₁ ≈ 4.16, b ≈ 2.33) is clamped.
      assert.ok(Math.abs(w1[6]) > q && Math.abs(w2[6] - q) < 1e-6);
    }
  }
  k.dispose();
});

test('no gradient flows through Q(τ): clamped entries pass nothing, unclamped ones pass 1', async () => {
  await tf.setBackend('cpu');
  // Standardization is applied first, so test the clamp on an already standardized input by
  // comparing with the gradient of min(max(w₁, −Q), Q) with Q held constant.
  const k = tf.tensor(KERNEL.flat(), [1, 1, 4, 2]);
  const tau = 0.85;
  const w1 = [...(await recuStandardize(k).data())];
  const b = w1.reduce((s, v) => s + Math.abs(v), 0) / w1.length;
  const q = recuQuantile(b, tau);
  const pick = tf.tensor([0, 0, 0, 0, 0, 0, 1, 0], [1, 1, 4, 2]);
  // d w₂[6] / d W: the clamped entry gives zero gradient to every latent weight.
  const gClamped = await tf
    .grad((v: tf.Tensor) => tf.sum(tf.mul(recuWeights(v, tau), pick)))(k)
    .data();
  assert.deepEqual(
    [...gClamped].map((v) => Math.abs(v) < 1e-7),
    Array(8).fill(true),
  );
  // For an unclamped entry the gradient equals that of the standardization alone.
  const pick1 = tf.tensor([0, 1, 0, 0, 0, 0, 0, 0], [1, 1, 4, 2]);
  assert.ok(Math.abs(w1[1]) < q);
  const gIn = await tf
    .grad((v: tf.Tensor) => tf.sum(tf.mul(recuWeights(v, tau), pick1)))(k)
    .data();
  const gStd = await tf
    .grad((v: tf.Tensor) => tf.sum(tf.mul(recuStandardize(v), pick1)))(k)
    .data();
  [...gIn].forEach((v, i) => close(v, gStd[i]));
  tf.dispose([k, pick, pick1]);
});

test('activation normalization divides each sample by its unbiased std, no mean removed', async () => {
  await tf.setBackend('cpu');
  const x = tf.tensor([1, 2, 3, 4, -2, 2, -2, 2], [2, 2, 2, 1]);
  const a = await recuActivations(x).data();
  const s0 = Math.sqrt(5 / 3 + 1e-5);
  const s1 = Math.sqrt(16 / 3 + 1e-5);
  [1 / s0, 2 / s0, 3 / s0, 4 / s0, -2 / s1, 2 / s1, -2 / s1, 2 / s1].forEach((e, i) =>
    close(a[i], e),
  );
  x.dispose();
});

test('τ schedule: official exponential form, τ_s at the first epoch, just below τ_e at the last', () => {
  const A = (0.99 - 0.85) / (Math.E - 1);
  const B = 0.85 - A;
  const taus = [1, 2, 3, 4].map((e) => recuTau(e, 4, 0.85, 0.99));
  taus.forEach((t, i) => close(t, A * Math.exp(i / 4) + B, 1e-12));
  close(taus[0], 0.85, 1e-12);
  // e = 1..4 of E = 4: 0.85, 0.873141…, 0.902856…, 0.941010…
  close(taus[1], 0.8731415, 1e-6);
  close(taus[2], 0.9028557, 1e-6);
  close(taus[3], 0.9410095, 1e-6);
  assert.ok(taus.every((t, i) => i === 0 || t > taus[i - 1]));
  assert.ok(recuTau(600, 600, 0.85, 0.99) < 0.99);
  close(recuTau(600, 600, 0.85, 0.99), 0.99, 1e-3);
});
