// Tensor count and wasm memory over training steps of the presets on the wasm backend, with and
// without BNN Lab's C kernels. The 1,000-step version is in the benchmark
// (node out/test/bench/train.js --steps-memory 1000); this one is short enough for the suite.
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '../../../core/tf';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import {
  bnnKernelsRegistered,
  registerBnnKernels,
  unregisterBnnKernels,
} from '../../../core/backend/bnnKernels';
import { registerWasmTrainingKernels } from '../../../core/backend/wasmKernels';
import { getPreset } from '../../../core/bnn/presets';

before(async () => {
  const wasmPackage = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  setWasmPaths(path.join(path.dirname(wasmPackage), 'dist') + path.sep);
  assert.equal(await tf.setBackend('wasm'), true);
  registerWasmTrainingKernels();
});

/** Steps as in core/run/steppers.ts: minimize softmax cross-entropy with Adam. */
function trainSteps(presetName: string, batch: number, steps: number) {
  const model = getPreset(presetName).build(1);
  const optimizer = tf.train.adam(0.002);
  const images = tf.randomUniform([batch, 28, 28, 1], 0, 1, 'float32', 1);
  const labels = tf.tidy(() => tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', 2), 10));
  const step = () => {
    const loss = optimizer.minimize(
      () =>
        tf.losses.softmaxCrossEntropy(
          labels,
          model.apply(images, { training: true }) as tf.Tensor,
        ) as tf.Scalar,
      true,
    ) as tf.Scalar;
    const value = loss.dataSync()[0];
    loss.dispose();
    return value;
  };
  // The first step creates the optimizer's slots.
  step();
  const first = tf.memory();
  const counts = new Set<number>();
  const bytes = new Set<number>();
  let loss = NaN;
  for (let i = 0; i < steps; i++) {
    loss = step();
    counts.add(tf.memory().numTensors);
    bytes.add(tf.memory().numBytes);
  }
  tf.dispose([images, labels]);
  optimizer.dispose();
  model.dispose();
  return { first, counts: [...counts], bytes: [...bytes], loss };
}

void describe('wasm training memory', () => {
  for (const cKernels of [true, false]) {
    const label = cKernels ? 'C kernels' : 'tfjs ops';
    void it(`mnist-cnn (${label}): tensor count and bytes constant over 50 steps`, () => {
      if (cKernels) registerBnnKernels();
      else unregisterBnnKernels();
      try {
        assert.equal(bnnKernelsRegistered(), cKernels);
        const { first, counts, bytes, loss } = trainSteps('mnist-cnn', 8, 50);
        assert.deepEqual(counts, [first.numTensors]);
        assert.deepEqual(bytes, [first.numBytes]);
        assert.ok(Number.isFinite(loss), `loss ${loss}`);
      } finally {
        registerBnnKernels();
      }
    });
  }

  void it('mnist-resnete: tensor count and bytes constant over 10 steps', () => {
    const { first, counts, bytes, loss } = trainSteps('mnist-resnete', 4, 10);
    assert.deepEqual(counts, [first.numTensors]);
    assert.deepEqual(bytes, [first.numBytes]);
    assert.ok(Number.isFinite(loss), `loss ${loss}`);
  });

  void it('models disposed: no tensors left behind', () => {
    const before = tf.memory().numTensors;
    trainSteps('mnist-cnn', 2, 2);
    assert.equal(tf.memory().numTensors, before);
  });
});
