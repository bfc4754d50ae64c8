import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadDataset } from '../../../core/data/datasets';
import type { MetricsRecord } from '../../../core/protocol';
import { loadCheckpointModel } from '../../../core/training/checkpoint';
import { resolveConfig } from '../../../core/training/config';
import { evaluate, runTraining } from '../../../core/run/train';

async function tinyRun(raw: Record<string, unknown>) {
  const config = resolveConfig(
    { dataset: 'mnist', epochs: 1, limit: 64, testLimit: 32, batchSize: 32, seed: 2, ...raw },
    'test',
  );
  const runDir = join(mkdtempSync(join(tmpdir(), 'bnn-preset-')), 'run');
  const records: MetricsRecord[] = [];
  const result = await runTraining(
    { runId: 'p', config, runDir, backend: 'wasm' },
    { onRecord: (r) => records.push(r), log: () => {}, isCancelled: () => false },
  );
  assert.equal(result.status, 'completed', result.message);
  // The checkpoint loads back with tf.loadLayersModel and reproduces the test accuracy.
  const { model, meta } = await loadCheckpointModel(join(runDir, 'checkpoints', 'epoch-1'));
  const dataset = loadDataset(config.dataset, { limit: 1, testLimit: 32 });
  const again = await evaluate(model, dataset, dataset.test);
  model.dispose();
  assert.equal(again.accuracy, result.testAccuracy);
  return { records, meta };
}

test('ReCU ResNetE preset trains, reports τ and stores it in the checkpoint', async () => {
  const { records, meta } = await tinyRun({ preset: 'fmnist-resnete-recu' });
  const steps = records.filter((r) => r.event === 'step');
  assert.ok(steps.length > 0);
  for (const s of steps) {
    assert.equal(s.tau, 0.85);
    assert.equal(s.layers.length, 6);
    for (const l of s.layers) assert.equal(l.starvedWeightRatio, null);
  }
  assert.equal(meta?.tau, 0.85);
  assert.deepEqual(Object.values(meta?.binaryLayers ?? {})[0], {
    quantizer: 'ste_sign',
    scaling: 'learnable',
    recu: true,
    clip: null,
    inputQuantizer: 'approx_sign',
  });
});

test('BinaryDenseNet preset trains and its checkpoint loads back', async () => {
  const { records } = await tinyRun({ preset: 'fmnist-bdn' });
  const start = records[0] as Extract<MetricsRecord, { event: 'start' }>;
  assert.equal(start.layers.filter((l) => l.binary).length, 12);
  assert.ok(records.some((r) => r.event === 'epoch'));
});
