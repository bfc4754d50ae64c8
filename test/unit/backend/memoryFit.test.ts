/**
 * The wasm batch-size limit (core/training/batchLimit.ts) against measured memory: the bytes a
 * training step allocates per example on the wasm backend (the wasm heap's peak at two batch sizes,
 * the difference over the difference in examples) must not exceed the estimate, or a batch the
 * check lets through could run out of the 4 GiB mid-step; and the estimate must stay within 2.5x
 * of it, or the check would refuse batches that fit. (One factor per value serves every
 * architecture: it is 1.3x the measured bytes on mnist-cnn and BinaryDenseNet, 2.1x on ResNetE,
 * whose additions no longer keep their summands.)
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '../../../core/tf';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../../../core/backend/wasmKernels';
import { getPreset } from '../../../core/bnn/presets';
import { fuseBatchNorm } from '../../../core/parallel/syncBatchNorm';
import { stepBytesPerExample } from '../../../core/training/batchLimit';
import { stepMemory } from './stepMemory';

type Forward = Parameters<typeof stepMemory>[4];

/** Peak bytes above the resident tensors during one training step of `batch` examples. */
async function stepPeak(
  model: tf.LayersModel,
  shape: number[],
  batch: number,
  forward?: Forward,
): Promise<number> {
  return (await stepMemory(model, shape, 10, batch, forward)).peakAboveResident;
}

/**
 * Bytes per example a training step adds: the peak's growth from 32 to 128 examples. (Below ~32
 * the C kernels' scratch still grows with the batch, up to its fixed cap.)
 */
async function perExample(name: string, forward?: Forward): Promise<number> {
  const preset = getPreset(name);
  const model = preset.build(1);
  fuseBatchNorm(model);
  const small = await stepPeak(model, preset.inputShape, 32, forward);
  const large = await stepPeak(model, preset.inputShape, 128, forward);
  model.dispose();
  return (large - small) / 96;
}

void describe('wasm batch-size estimate against measured step memory', () => {
  before(async () => {
    const wasmPackage = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
    setWasmPaths(path.join(path.dirname(wasmPackage), 'dist') + path.sep);
    await tf.setBackend('wasm');
    registerWasmTrainingKernels();
  });

  for (const name of [
    'mnist-cnn',
    'mnist-resnete',
    'fmnist-resnete-recu',
    'fmnist-resnete-bonn',
    'fmnist-bdn',
  ]) {
    void it(`bounds ${name}'s measured bytes per example from above, within 2.5x`, async () => {
      const model = getPreset(name).build(1);
      const estimate = stepBytesPerExample(model);
      model.dispose();
      const measured = await perExample(name);
      assert.ok(measured > 0, `${name}: peak grows with the batch (${measured} B/example)`);
      assert.ok(
        estimate >= measured,
        `${name}: estimate ${estimate} B/example below the measured ${measured.toFixed(0)}`,
      );
      assert.ok(
        estimate <= 2.5 * measured,
        `${name}: estimate ${estimate} B/example over 2.5x the measured ${measured.toFixed(0)}`,
      );
    });
  }

  // model.apply keeps every layer output until the forward pass ends, and tfjs' gradients of
  // concatenations and additions keep their inputs; applyForTraining does neither.
  for (const [name, share] of [
    ['mnist-resnete', 0.65],
    ['fmnist-bdn', 0.45],
  ] as const) {
    void it(`the engine's forward pass needs at most ${share}x of model.apply's memory per example on ${name}`, async () => {
      const early = await perExample(name);
      const stock = await perExample(name, (m, x) => m.apply(x, { training: true }) as tf.Tensor);
      assert.ok(
        early <= share * stock,
        `${early.toFixed(0)} B/example with applyForTraining, ${stock.toFixed(0)} with model.apply`,
      );
    });
  }
});
