import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../core/backend/backends';
import { getPreset } from '../../../core/bnn/presets';
import { allocateShared, ReplicaComm, sharedViews } from '../../../core/parallel/shared';
import { batchNormWidth, synchronizeBatchNorm } from '../../../core/parallel/syncBatchNorm';

/** One Adam step of mnist-cnn on a fixed batch; returns the loss and every weight afterwards. */
function trainSteps(
  model: tf.LayersModel,
  steps: number,
): { losses: number[]; weights: Float32Array[] } {
  const optimizer = tf.train.adam(0.01);
  const xs = tf.randomNormal([16, 28, 28, 1], 0, 1, 'float32', 11);
  const ys = tf.tidy(() => tf.oneHot(tf.randomUniform([16], 0, 10, 'int32', 12), 10));
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    const loss = optimizer.minimize(
      () =>
        tf.losses.softmaxCrossEntropy(
          ys,
          model.apply(xs, { training: true }) as tf.Tensor,
        ) as tf.Scalar,
      true,
    ) as tf.Scalar;
    losses.push(loss.dataSync()[0]);
    loss.dispose();
  }
  tf.dispose([xs, ys]);
  optimizer.dispose();
  return { losses, weights: model.getWeights().map((w) => w.dataSync() as Float32Array) };
}

test('synchronized batch norm on one replica trains exactly like tfjs batch norm, without leaking tensors', async () => {
  await initBackend('wasm', () => {});
  const plain = getPreset('mnist-cnn').build(5);
  const synced = getPreset('mnist-cnn').build(5);
  const layout = {
    world: 1,
    gradientFloats: 0,
    latentFloats: 0,
    reduceWidth: batchNormWidth(synced) + 1,
  };
  const comm = new ReplicaComm(
    sharedViews(allocateShared(layout), layout),
    0,
    1,
    layout.reduceWidth,
  );
  synchronizeBatchNorm(synced, comm);

  const a = trainSteps(plain, 5);
  const before = tf.memory().numTensors;
  const b = trainSteps(synced, 5);
  // Same tensors alive after as before the synced run's own steps (its optimizer is disposed).
  trainSteps(synced, 1);
  const after = tf.memory().numTensors;
  assert.equal(after, before, 'no tensor leaks from the synchronized batch norm');

  for (let i = 0; i < a.losses.length; i++) {
    assert.ok(
      Math.abs(a.losses[i] - b.losses[i]) < 1e-5,
      `step ${i}: ${a.losses[i]} vs ${b.losses[i]}`,
    );
  }
  // Weights include the moving mean and variance, which the replacement updates as tfjs does.
  assert.equal(a.weights.length, b.weights.length);
  let worst = 0;
  a.weights.forEach((w, i) => {
    for (let j = 0; j < w.length; j++) worst = Math.max(worst, Math.abs(w[j] - b.weights[i][j]));
  });
  assert.ok(worst < 1e-4, `largest weight difference ${worst}`);
  plain.dispose();
  synced.dispose();
});
