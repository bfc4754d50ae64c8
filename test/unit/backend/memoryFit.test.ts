/**
 * The wasm batch-size limit (core/training/batchLimit.ts) against measured memory: the bytes a
 * training step allocates per example on the wasm backend (tf.profile's peak at two batch sizes,
 * the difference over the difference in examples) must not exceed the estimate, or a batch the
 * check lets through could run out of the 4 GiB mid-step; and the estimate must stay within 2x
 * of it, or the check would refuse batches that fit.
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

/** Bytes per example a training step adds: the peak's growth from 4 to 20 examples. */
async function perExample(name: string, forward?: Forward): Promise<number> {
  const preset = getPreset(name);
  const model = preset.build(1);
  fuseBatchNorm(model);
  const small = await stepPeak(model, preset.inputShape, 4, forward);
  const large = await stepPeak(model, preset.inputShape, 20, forward);
  model.dispose();
  return (large - small) / 16;
}

void describe('wasm batch-size estimate against measured step memory', () => {
  before(async () => {
    const wasmPackage = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
    setWasmPaths(path.join(path.dirname(wasmPackage), 'dist') + path.sep);
    await tf.setBackend('wasm');
    registerWasmTrainingKernels();
  });

  for (const name of ['mnist-cnn', 'mnist-resnete']) {
    void it(`bounds ${name}'s measured bytes per example from above, within 2x`, async () => {
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
        estimate <= 2 * measured,
        `${name}: estimate ${estimate} B/example over twice the measured ${measured.toFixed(0)}`,
      );
    });
  }

  void it("the engine's forward pass, freeing layer outputs early, needs a fifth less per example", async () => {
    const early = await perExample('mnist-resnete');
    const stock = await perExample(
      'mnist-resnete',
      (m, x) => m.apply(x, { training: true }) as tf.Tensor,
    );
    assert.ok(
      early <= 0.8 * stock,
      `${early.toFixed(0)} B/example with applyForTraining, ${stock.toFixed(0)} with model.apply`,
    );
  });
});
