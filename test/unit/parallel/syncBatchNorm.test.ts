import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '../../../core/tf';
import { initBackend } from '../../../core/backend/backends';
import {
  BNN_BN_BACKWARD,
  BNN_BN_FORWARD,
  registerBnnKernels,
  unregisterBnnKernels,
} from '../../../core/backend/bnnKernels';
import { getPreset } from '../../../core/bnn/presets';
import { applyForTraining } from '../../../core/bnn/trainingForward';
import { fuseBatchNorm } from '../../../core/parallel/syncBatchNorm';

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

test('synchronized batch norm on one replica trains exactly like tfjs batch norm, without leaking tensors', async (t) => {
  await initBackend('wasm', () => {});
  const plain = getPreset('mnist-cnn').build(5);
  const synced = getPreset('mnist-cnn').build(5);
  assert.ok(fuseBatchNorm(synced), 'synchronized batch norm on a one-replica all-reduce');

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
  // The two batch norms round differently (~1e-7), and Adam turns a rounding difference in a
  // gradient near zero into a different step of up to its learning rate (0.01): so all but a
  // handful of weights must agree to 1e-5, and none may be off by more than a tenth of one step.
  assert.equal(a.weights.length, b.weights.length);
  let worst = 0;
  let apart = 0;
  let total = 0;
  a.weights.forEach((w, i) => {
    for (let j = 0; j < w.length; j++) {
      const difference = Math.abs(w[j] - b.weights[i][j]);
      worst = Math.max(worst, difference);
      if (difference > 1e-5) apart++;
    }
    total += w.length;
  });
  t.diagnostic(`largest weight difference ${worst}, ${apart} of ${total} weights over 1e-5`);
  assert.ok(apart <= total * 1e-3, `${apart} of ${total} weights differ by more than 1e-5`);
  assert.ok(worst < 1e-3, `largest weight difference ${worst}`);
  plain.dispose();
  synced.dispose();
});

/**
 * Calls of the wasm kernels `names` while `fn` runs, and the values of their input `x` in all
 * (counted by wrapping their kernelFunc).
 */
function countKernelCalls<T>(
  names: string[],
  fn: () => T,
): { result: T; calls: number[]; values: number[] } {
  const calls = names.map(() => 0);
  const values = names.map(() => 0);
  const originals = names.map((name) => tf.getKernel(name, 'wasm'));
  names.forEach((name, i) => {
    const config = originals[i];
    if (!config) return;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({
      ...config,
      kernelFunc: (args) => {
        calls[i]++;
        const x = args.inputs['x'];
        if (x) values[i] += tf.util.sizeFromShape(x.shape);
        return config.kernelFunc(args);
      },
    });
  });
  try {
    return { result: fn(), calls, values };
  } finally {
    names.forEach((name, i) => {
      const config = originals[i];
      if (!config) return;
      tf.unregisterKernel(name, 'wasm');
      tf.registerKernel(config);
    });
  }
}

test('synchronized batch norm gives the same gradients with and without the C kernels', async () => {
  await initBackend('wasm', () => {});
  // One step's gradients, not a run: binary layers turn rounding-level differences into sign
  // flips within a few Adam steps, which says nothing about the kernels.
  const run = (withC: boolean) => {
    const model = getPreset('mnist-cnn').build(9);
    assert.ok(fuseBatchNorm(model));
    if (!withC) unregisterBnnKernels();
    try {
      const xs = tf.randomNormal([16, 28, 28, 1], 0, 1, 'float32', 11);
      const ys = tf.tidy(() => tf.oneHot(tf.randomUniform([16], 0, 10, 'int32', 12), 10));
      const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const names = withC ? [BNN_BN_FORWARD, BNN_BN_BACKWARD] : [];
      const { result, calls } = countKernelCalls(names, () =>
        tf.variableGrads(
          () =>
            tf.losses.softmaxCrossEntropy(
              ys,
              model.apply(xs, { training: true }) as tf.Tensor,
            ) as tf.Scalar,
          variables,
        ),
      );
      const grads = variables.map((v) => result.grads[v.name].dataSync() as Float32Array);
      const loss = result.value.dataSync()[0];
      // After the step: the moving means and variances the batch statistics went into.
      const weights = model.getWeights().map((w) => w.dataSync() as Float32Array);
      tf.dispose([xs, ys, result.value, ...Object.values(result.grads)]);
      model.dispose();
      return { loss, grads, weights, calls };
    } finally {
      registerBnnKernels();
    }
  };
  const a = run(true);
  const b = run(false);
  // mnist-cnn has 4 batch norms: one forward and one backward kernel each.
  assert.deepEqual(a.calls, [4, 4], 'the C path ran the fused kernels');
  assert.ok(Math.abs(a.loss - b.loss) <= 1e-6 * b.loss, `loss ${a.loss} vs ${b.loss}`);
  const compare = (x: Float32Array[], y: Float32Array[], what: string) =>
    x.forEach((values, i) => {
      const scale = Math.max(...Array.from(y[i], Math.abs), 1e-12);
      const diff = Math.max(...Array.from(values, (v, j) => Math.abs(v - y[i][j])));
      assert.ok(diff <= 1e-5 * scale, `${what} ${i}: differs by ${diff} (scale ${scale})`);
    });
  compare(a.grads, b.grads, 'gradient');
  compare(a.weights, b.weights, 'weight');
});

test("a DenseNet's batch norms over the parts of its concatenations: the same loss and moving statistics, gradients to rounding, no tensor left", async () => {
  await initBackend('wasm', () => {});
  // Two identical models: one trains through model.apply (each batch norm normalizes the
  // concatenation), the other through the engine's forward pass, which never makes the dense
  // blocks' concatenations and standardizes each part once (batchNormOverParts).
  const viaConcat = getPreset('fmnist-bdn').build(3);
  const viaParts = getPreset('fmnist-bdn').build(3);
  assert.ok(fuseBatchNorm(viaConcat) && fuseBatchNorm(viaParts));
  const xs = tf.randomUniform([6, 28, 28, 1], 0, 1, 'float32', 3);
  const ys = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5], 'int32'), 10);
  const step = (model: tf.LayersModel, forward: (x: tf.Tensor) => tf.Tensor) => {
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const tensors = tf.memory().numTensors;
    const { result, calls, values } = countKernelCalls([BNN_BN_FORWARD], () =>
      tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy(ys, forward(xs)) as tf.Scalar,
        variables,
      ),
    );
    const out = {
      loss: result.value.dataSync()[0],
      grads: variables.map((v) => result.grads[v.name].dataSync() as Float32Array),
      calls: calls[0],
      values: values[0],
    };
    tf.dispose([result.value, ...Object.values(result.grads)]);
    assert.equal(tf.memory().numTensors, tensors, 'no tensor left behind');
    return out;
  };
  const a = step(viaConcat, (x) => viaConcat.apply(x, { training: true }) as tf.Tensor);
  const b = step(viaParts, (x) => applyForTraining(viaParts, x) as tf.Tensor);
  // fmnist-bdn has 16 batch norms (the stem's, 3 blocks of 4 layers, 2 transitions, the head's),
  // 13 of them over concatenations of 2-5 parts. model.apply normalizes each layer's whole
  // input; the parts path standardizes the stem's output and each block's 5 parts once, shared by
  // every batch norm that reads them: a third of the values.
  assert.equal(a.calls, 16, 'model.apply: one pass per batch norm');
  assert.equal(b.calls, 1 + 3 * 5, 'parts: one pass per part');
  assert.ok(b.values < a.values / 2.5, `${b.values} values standardized, ${a.values} by apply`);
  assert.equal(b.loss, a.loss, 'the forward pass computes the same values');
  viaConcat.weights.forEach((w, i) =>
    assert.deepEqual(
      viaParts.weights[i].read().dataSync(),
      w.read().dataSync(),
      `${w.originalName} after the step`,
    ),
  );
  viaConcat.trainableWeights.forEach((w, i) => {
    const [g, h] = [a.grads[i], b.grads[i]];
    const scale = g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const worst = g.reduce((m, v, j) => Math.max(m, Math.abs(v - h[j])), 0);
    assert.ok(worst <= 1e-4 * scale + 1e-7, `${w.originalName}: ${worst} apart, largest ${scale}`);
  });
  tf.dispose([xs, ys]);
  viaConcat.dispose();
  viaParts.dispose();
});
