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

/** Peak bytes above the resident tensors during one training step of `batch` examples. */
async function stepPeak(model: tf.LayersModel, shape: number[], batch: number): Promise<number> {
  return (await stepMemory(model, shape, 10, batch)).peakAboveResident;
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
      const preset = getPreset(name);
      const model = preset.build(1);
      fuseBatchNorm(model);
      const small = await stepPeak(model, preset.inputShape, 4);
      const large = await stepPeak(model, preset.inputShape, 20);
      const estimate = stepBytesPerExample(model);
      model.dispose();
      const measured = (large - small) / 16;
      assert.ok(measured > 0, `${name}: peak grows with the batch (${small} -> ${large})`);
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
});
