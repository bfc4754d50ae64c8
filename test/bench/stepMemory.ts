/**
 * Measured memory of a training step on wasm against the batch-size estimate of
 * core/training/batchLimit.ts (a benchmark, not a test: it prints numbers).
 *
 *   npx tsc -p test && node out/test/bench/stepMemory.js [preset:batch ...]
 *
 * For each preset and batch: the tensors resident after one step (weights, Adam's slots), the
 * peak above them during the next step (the wasm heap's allocations, every tensor buffer and
 * C-kernel scratch once: test/unit/backend/stepMemory.ts), and the estimate
 * (`stepBytesPerExample` x batch). The per-example slope between two batches of one preset is
 * what the estimate has to bound.
 */
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../core/tf';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../../core/backend/wasmKernels';
import { getPreset } from '../../core/bnn/presets';
import { fuseBatchNorm } from '../../core/parallel/syncBatchNorm';
import { maxWasmBatchSize, stepBytesPerExample } from '../../core/training/batchLimit';
import { stepMemory } from '../unit/backend/stepMemory';

const MB = 2 ** 20;

async function main(): Promise<void> {
  const wasmPackage = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  setWasmPaths(path.join(path.dirname(wasmPackage), 'dist') + path.sep);
  await tf.setBackend('wasm');
  registerWasmTrainingKernels();
  const cases = process.argv.slice(2).length
    ? process.argv.slice(2)
    : ['mnist-cnn:16', 'mnist-cnn:64', 'mnist-resnete:16', 'mnist-resnete:64'];
  console.log(
    `load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  console.log(
    'preset, batch, resident MB, step peak above resident MB, estimate MB, max batch/thread',
  );
  for (const item of cases) {
    const [name, batchText] = item.split(':');
    const batch = Number(batchText);
    const preset = getPreset(name);
    const model = preset.build(1);
    fuseBatchNorm(model);
    const { resident, peakAboveResident } = await stepMemory(
      model,
      preset.inputShape,
      preset.classes,
      batch,
    );
    const estimate = stepBytesPerExample(model) * batch;
    console.log(
      [
        name,
        batch,
        (resident / MB).toFixed(1),
        (peakAboveResident / MB).toFixed(1),
        (estimate / MB).toFixed(1),
        maxWasmBatchSize(model, 1),
      ].join(', '),
    );
    model.dispose();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
