import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '../../../core/tf';
import {
  correctedSquaredLoss,
  filtersAsImages,
  imagesAsKernel,
  LnsMapper,
  LnsMappers,
  MAX_POINTWISE_HIDDEN,
  warmUpMappers,
} from '../../../core/training/methods/lns';
import { mulberry32 } from '../../../core/training/random';

const close = (actual: number, expected: number, tolerance = 1e-5) =>
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `expected ${expected} ± ${tolerance}, got ${actual}`,
  );

test.before(async () => {
  await tf.setBackend('cpu');
});

test('corrected squared loss matches hand-computed values', async () => {
  // q̂ = 0.5, q̃ = +1, ρ = 0.1: (0.9·0.25 − 0.1·2.25) / 0.8 = 0
  // q̂ = −0.5, q̃ = +1, ρ = 0.1: (0.9·2.25 − 0.1·0.25) / 0.8 = 2.5
  const symmetric = await correctedSquaredLoss(
    tf.tensor1d([0.5, -0.5]),
    tf.tensor1d([1, 1]),
    0.1,
  ).data();
  close(symmetric[0], 0);
  close(symmetric[1], 2.5);
  // q̂ = 2, q̃ = −1, ρ = 0.2: (0.8·9 − 0.2·1) / 0.6 = 11.6667
  close((await correctedSquaredLoss(tf.tensor1d([2]), tf.tensor1d([-1]), 0.2).data())[0], 7 / 0.6);
  // Asymmetric, q̂ = 0.3, q̃ = −1, ρ₊ = 0.1, ρ₋ = 0.3: ρ_{q̃} = 0.3, ρ_{−q̃} = 0.1:
  // (0.9·1.69 − 0.3·0.49) / 0.6 = 2.29
  close(
    (await correctedSquaredLoss(tf.tensor1d([0.3]), tf.tensor1d([-1]), 0.1, 0.3).data())[0],
    2.29,
  );
  // ρ = 0 is the plain squared loss.
  close((await correctedSquaredLoss(tf.tensor1d([0.3]), tf.tensor1d([-1]), 0).data())[0], 1.69);
  assert.throws(() => correctedSquaredLoss(tf.tensor1d([0]), tf.tensor1d([1]), 0.5), /ρ/);
});

test('its gradient in q̂ is 2q̂ − 2q̃/(1 − 2ρ) for symmetric ρ', async () => {
  const cases: [number, number, number][] = [
    [0.5, 1, 0.1],
    [-0.5, 1, 0.1],
    [2, -1, 0.2],
    [0, -1, 0.3],
  ];
  for (const [qHat, qTilde, rho] of cases) {
    const g = tf.grad((x: tf.Tensor) =>
      tf.sum(correctedSquaredLoss(x, tf.tensor1d([qTilde]), rho)),
    );
    const value = (await g(tf.tensor1d([qHat])).data())[0];
    close(value, 2 * qHat - (2 * qTilde) / (1 - 2 * rho));
  }
});

test('it is unbiased: its expectation under label noise equals the clean loss', async () => {
  const rhoPlus = 0.15;
  const rhoMinus = 0.25;
  const random = mulberry32(7);
  const n = 4000;
  const clean = Float32Array.from({ length: n }, () => (random() < 0.5 ? -1 : 1));
  // Mapper outputs that mostly agree with the clean labels, as after training.
  const qHat = clean.map((q) => 0.8 * q + 1.5 * (random() - 0.5));
  // Exact expectation: P(q̃ = −q | q) = ρ_q.
  const flipped = clean.map((q) => -q);
  const lossClean = correctedSquaredLoss(tf.tensor1d(qHat), tf.tensor1d(clean), rhoPlus, rhoMinus);
  const lossFlipped = correctedSquaredLoss(
    tf.tensor1d(qHat),
    tf.tensor1d(flipped),
    rhoPlus,
    rhoMinus,
  );
  const a = await lossClean.data();
  const b = await lossFlipped.data();
  for (let i = 0; i < n; i++) {
    const rho = clean[i] > 0 ? rhoPlus : rhoMinus;
    close((1 - rho) * a[i] + rho * b[i], (qHat[i] - clean[i]) ** 2, 1e-4);
  }
  // Sampled: draw noisy labels with a fixed seed, many draws per element; compare the means.
  const draws = 200;
  const noisy = new Float32Array(n * draws);
  const qHatRepeated = new Float32Array(n * draws);
  let cleanSum = 0;
  for (let d = 0; d < draws; d++) {
    for (let i = 0; i < n; i++) {
      const rho = clean[i] > 0 ? rhoPlus : rhoMinus;
      noisy[d * n + i] = random() < rho ? -clean[i] : clean[i];
      qHatRepeated[d * n + i] = qHat[i];
    }
  }
  for (let i = 0; i < n; i++) cleanSum += (qHat[i] - clean[i]) ** 2;
  const noisyMean = (
    await tf
      .mean(correctedSquaredLoss(tf.tensor1d(qHatRepeated), tf.tensor1d(noisy), rhoPlus, rhoMinus))
      .data()
  )[0];
  const naiveMean = (await tf.mean(tf.square(tf.sub(qHatRepeated, noisy))).data())[0];
  const cleanMean = cleanSum / n;
  close(noisyMean, cleanMean, 0.02);
  // The uncorrected loss on noisy labels is visibly biased on the same sample.
  assert.ok(Math.abs(naiveMean - cleanMean) > 0.1, `naive ${naiveMean} vs clean ${cleanMean}`);
});

test('filters round-trip through the filter-image layout', async () => {
  const conv = tf.randomNormal([3, 3, 4, 6], 0, 1, 'float32', 1);
  const images = filtersAsImages(conv);
  assert.deepEqual(images.shape, [6, 3, 3, 4]);
  // Filter 2's (row 1, column 0, channel 3) weight.
  close(
    (await images.data())[2 * 36 + 1 * 12 + 0 * 4 + 3],
    (await conv.data())[1 * 72 + 3 * 6 + 2],
  );
  assert.deepEqual(await imagesAsKernel(images, [3, 3, 4, 6]).data(), await conv.data());
  const dense = tf.randomNormal([10, 7], 0, 1, 'float32', 2);
  assert.deepEqual(filtersAsImages(dense).shape, [7, 1, 1, 10]);
  assert.deepEqual(
    await imagesAsKernel(filtersAsImages(dense), [10, 7]).data(),
    await dense.data(),
  );
});

test('the mapper output has the filter shape for 3×3, 1×1 and dense kernels', () => {
  for (const shape of [
    [3, 3, 4, 6],
    [1, 1, 4, 6],
    [10, 7],
  ]) {
    const mapper = LnsMapper.create(shape, 1);
    const w = tf.randomNormal(shape, 0, 1, 'float32', 3);
    assert.deepEqual(mapper.apply(w).shape, shape);
    const binary = mapper.binaryWeights(w);
    assert.deepEqual(binary.shape, shape);
    assert.ok(Array.from(binary.dataSync()).every((v) => v === 1 || v === -1));
    mapper.dispose();
  }
  // 3×3 mapper: Cin → 2Cin → 2Cin → Cin with 3×3 kernels, plus two BN scale/shift pairs.
  const conv = LnsMapper.create([3, 3, 4, 6], 1);
  assert.equal(conv.params(), 9 * (4 * 8 + 8 * 8 + 8 * 4) + 4 * 8);
  conv.dispose();
  // Dense fan-in 576: pointwise with a capped hidden width.
  const dense = LnsMapper.create([576, 8], 1);
  const h = MAX_POINTWISE_HIDDEN;
  assert.equal(dense.params(), 576 * h + h * h + h * 576 + 4 * h);
  dense.dispose();
});

test('the straight-through gradient reaches the mapper and the latent weights', async () => {
  const shape = [3, 3, 2, 4];
  const mapper = LnsMapper.create(shape, 5);
  const w = tf.variable(tf.randomNormal(shape, 0, 1, 'float32', 9));
  const target = tf.randomNormal(shape, 0, 1, 'float32', 11);
  // A loss of the binary weights only: without the STE, every gradient would be zero.
  const { value, grads } = tf.variableGrads(
    () => tf.sum(tf.mul(mapper.binaryWeights(w), target)) as tf.Scalar,
    [...mapper.variables(), w],
  );
  value.dispose();
  for (const v of [...mapper.variables(), w]) {
    const g = grads[v.name];
    assert.ok(g, `no gradient for ${v.name}`);
    const norm = (await tf.sum(tf.abs(g)).data())[0];
    assert.ok(norm > 0, `zero gradient for ${v.name}`);
  }
  tf.dispose(Object.values(grads));
  mapper.dispose();
  w.dispose();
});

test('warming up the mappers fits sgn(W) and leaks no tensors', async () => {
  const shapes = { conv: [3, 3, 2, 8], dense: [12, 5] };
  const mappers = LnsMappers.create(
    Object.entries(shapes).map(([name, kernelShape]) => ({ name, kernelShape })),
    3,
  );
  const latent = new Map(
    Object.entries(shapes).map(([name, s], i) => [name, tf.randomNormal(s, 0, 1, 'float32', i)]),
  );
  const before = await warmUpMappers(mappers, latent, 0.1, 0);
  const tensors = tf.memory().numTensors;
  const after = await warmUpMappers(mappers, latent, 0.1, 80);
  assert.equal(tf.memory().numTensors, tensors);
  for (const name of Object.keys(shapes)) {
    assert.ok(
      (after.get(name) ?? 1) < Math.min(0.1, before.get(name) ?? 1),
      `${name}: ${before.get(name)} → ${after.get(name)}`,
    );
  }
  mappers.dispose();
});
