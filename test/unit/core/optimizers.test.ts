import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '../../../core/tf';
import { getPreset } from '../../../core/bnn/presets';
import {
  clipLatentWeights,
  createOptimizer,
  optimizerState,
  restoreOptimizer,
  setLearningRate,
} from '../../../core/training/optimizers';
import { decayedKernels } from '../../../core/run/train';

test('weight decay covers conv and dense kernels only: not BN, learnable scale or BONN modulation', async () => {
  await tf.setBackend('cpu');
  const preset = getPreset('fmnist-resnete-recu');
  const model = preset.build(1, { bonn: { lambda: 1e-6, theta: 0, nu: 1 } });
  const decayed = new Set(decayedKernels(model).map((v) => v.name));
  const names = model.trainableWeights.map(
    (w) => [w.originalName, (w.read() as tf.Variable).name] as const,
  );
  for (const [original, variable] of names) {
    const isKernel = /\/kernel$/.test(original);
    assert.equal(decayed.has(variable), isKernel, original);
  }
  assert.ok(names.some(([n]) => n.endsWith('/scale')));
  assert.ok(names.some(([n]) => n.endsWith('/modulation')));
  assert.equal(decayed.size, 10);
  model.dispose();
});

test('latent clip holds kernels in [−c, c] in place', async () => {
  await tf.setBackend('cpu');
  const v = tf.variable(tf.tensor1d([-2, -0.5, 0, 1.3, 3]));
  clipLatentWeights([v], 1.25);
  assert.deepEqual([...(await v.data())], [-1.25, -0.5, 0, 1.25, 1.25]);
  v.dispose();
});

test('SGD takes its learning rate from setLearningRate; optimizer state round-trips', async () => {
  await tf.setBackend('cpu');
  const w = tf.variable(tf.tensor1d([1, 2]));
  const sgd = createOptimizer({ learningRate: 0.1, optimizer: 'sgd', momentum: 0.9 });
  setLearningRate(sgd, 0.5);
  sgd.minimize(() => tf.sum(w) as tf.Scalar, false, [w]);
  assert.deepEqual([...(await w.data())], [0.5, 1.5]);
  const saved = new Map((await optimizerState(sgd)).map((s) => [s.name, s.data]));
  assert.deepEqual(
    [...saved.keys()].sort(),
    ['optimizer/iter', `optimizer/${w.name}/momentum`].sort(),
  );
  const again = createOptimizer({ learningRate: 0.5, optimizer: 'sgd', momentum: 0.9 });
  await restoreOptimizer(again, saved, [w]);
  // Second step: momentum 0.9 · 1 + 1 = 1.9, times 0.5.
  again.minimize(() => tf.sum(w) as tf.Scalar, false, [w]);
  const values = [...(await w.data())];
  assert.ok(Math.abs(values[0] - (0.5 - 0.95)) < 1e-6, String(values));
  tf.dispose([w]);
  sgd.dispose();
  again.dispose();
});
