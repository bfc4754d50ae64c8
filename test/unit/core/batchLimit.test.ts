/**
 * Batch sizes the wasm backend cannot hold (one wasm32 memory of 4 GiB per thread, 32-bit
 * offsets) are refused before training with "lower batchSize to N", instead of a wasm trap in a
 * replica; every preset's default batch size is allowed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { useCpuBackend } from '../../../core/backend/backends';
import { getPresetInfo } from '../../../core/bnn/presetCatalog';
import { getPreset, listPresets } from '../../../core/bnn/presets';
import type { MetricsRecord } from '../../../core/protocol';
import {
  floatInputValuesPerExample,
  MAX_STEP_BYTES,
  maxWasmBatchSize,
  outputValuesPerExample,
} from '../../../core/training/batchLimit';
import { resolveConfig } from '../../../core/training/config';
import { runTraining } from '../../../core/run/train';

before(async () => {
  await useCpuBackend();
});

test('mnist-cnn: 46,170 output values and 576 float binary inputs per example, so 13,844 examples per thread', () => {
  // conv1 26×26×32 (+ its batch norm and activation), pool 13×13×32, conv2 11×11×64 (+ 2), …;
  // the binary convolution keeps its input as bits, the binary dense layer its 576 inputs.
  const model = getPreset('mnist-cnn').build(0);
  assert.equal(outputValuesPerExample(model), 46_170);
  assert.equal(floatInputValuesPerExample(model), 576);
  assert.equal(maxWasmBatchSize(model, 1), Math.floor(MAX_STEP_BYTES / (6 * 46_170 + 24 * 576)));
  assert.equal(maxWasmBatchSize(model, 1), 13_844);
  assert.equal(maxWasmBatchSize(model, 2), 27_688);
  model.dispose();
});

test('a binary layer that keeps its input as floats (ReCU, ApproxSign) counts it', () => {
  const stePreset = getPreset('fmnist-resnete').build(0);
  const recuPreset = getPreset('fmnist-resnete-recu').build(0);
  assert.equal(floatInputValuesPerExample(stePreset), 0, 'clipped ste_sign: 2 bits per value');
  assert.ok(floatInputValuesPerExample(recuPreset) > 0);
  assert.ok(maxWasmBatchSize(recuPreset, 1) < maxWasmBatchSize(stePreset, 1) / 2);
  stePreset.dispose();
  recuPreset.dispose();
});

test("cifar10-resnete18 takes the papers' batch sizes: 256 on one thread, 512 on two", () => {
  const model = getPreset('cifar10-resnete18').build(0);
  assert.ok(maxWasmBatchSize(model, 1) >= 256, `${maxWasmBatchSize(model, 1)} per thread`);
  assert.ok(maxWasmBatchSize(model, 2) >= 512, `${maxWasmBatchSize(model, 2)} on two threads`);
  model.dispose();
});

test("every preset's default batch size is allowed on one thread", () => {
  for (const info of listPresets()) {
    const preset = getPreset(info.name);
    const model = preset.build(0);
    const defaults = getPresetInfo(info.name).defaults;
    assert.ok(
      defaults.batchSize <= maxWasmBatchSize(model, 1),
      `${info.name}: ${defaults.batchSize} > ${maxWasmBatchSize(model, 1)}`,
    );
    model.dispose();
  }
});

test(
  'batchSize 32768 on 2 threads is refused before training',
  { skip: availableParallelism() < 2 ? 'needs 2 cores' : false },
  async (t) => {
    const records: MetricsRecord[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'bnn-batch-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const result = await runTraining(
      {
        runId: 'big',
        config: resolveConfig({ preset: 'mnist-cnn', batchSize: 32768, epochs: 1 }, 'test'),
        runDir: join(dir, 'run'),
        backend: 'wasm',
        threads: 2,
      },
      { onRecord: (r) => records.push(r), log: () => {}, isCancelled: () => false },
    );
    assert.equal(result.status, 'failed');
    assert.match(
      result.message ?? '',
      /^batchSize 32768 is too large for the wasm backend: a step of mnist-cnn needs about 4\.4 GiB per thread for 16384 examples \(0\.28 MiB each\), .* \(the batch is shared by 2 threads\); lower batchSize to 27688 or less \("batchSize" in the run config, --batch-size on the command line\)$/,
    );
    assert.deepEqual(
      records.map((r) => r.event),
      ['done'],
    );
  },
);
