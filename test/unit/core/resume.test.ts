import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readMetrics } from '../../../core/io/runFolder';
import { resolveConfig } from '../../../core/training/config';
import { comparable, hooks } from './resumeHelpers';
import { runTraining } from '../../../core/run/train';

const tempRun = () => join(mkdtempSync(join(tmpdir(), 'bnn-resume-')), 'run');

async function checkExactResume(raw: Record<string, unknown>) {
  const config = resolveConfig(raw, 'test');
  const full = tempRun();
  const first = await runTraining({ runId: 'a', config, runDir: full, backend: 'wasm' }, hooks());
  assert.equal(first.status, 'completed', first.message);

  const interrupted = tempRun();
  const cut = await runTraining(
    { runId: 'b', config, runDir: interrupted, backend: 'wasm' },
    hooks(1),
  );
  assert.equal(cut.status, 'cancelled');

  const resumed = tempRun();
  const second = await runTraining(
    {
      runId: 'c',
      config,
      runDir: resumed,
      backend: 'wasm',
      resumeFrom: join(interrupted, 'checkpoints', 'epoch-1'),
    },
    hooks(),
  );
  assert.equal(second.status, 'completed', second.message);
  assert.equal(second.testAccuracy, first.testAccuracy);

  const expected = comparable(readMetrics(join(full, 'metrics.jsonl')).records, 1);
  const actual = comparable(readMetrics(join(resumed, 'metrics.jsonl')).records, 1);
  assert.ok(expected.length >= 4);
  assert.deepEqual(actual, expected);
  return expected;
}

test('exact resume: SGD + warm-up, ReCU, learnable scale, weight decay, latent clip, crop+flip', async () => {
  const records = await checkExactResume({
    preset: 'mnist-cnn',
    epochs: 3,
    limit: 96,
    testLimit: 64,
    batchSize: 32,
    seed: 3,
    telemetryEverySteps: 2,
    optimizer: 'sgd',
    learningRate: 0.05,
    warmupEpochs: 1,
    weightDecay: 1e-3,
    latentClip: 1.5,
    inputQuantizer: { kind: 'approx_sign' },
    kernelQuantizer: { kind: 'ste_sign', clip: null },
    scaling: 'learnable',
    recu: { tauStart: 0.85, tauEnd: 0.99 },
    augment: true,
  });
  const taus = records.flatMap((r) =>
    (r as { tau?: number }).tau === undefined ? [] : [(r as { tau: number }).tau],
  );
  assert.ok(taus.length > 0 && taus.every((t) => t > 0.85 && t < 0.99));
});

test('exact resume: Adam with BONN losses (their parameters are in the checkpoint)', async () => {
  const records = await checkExactResume({
    preset: 'mnist-cnn',
    epochs: 2,
    limit: 64,
    testLimit: 32,
    batchSize: 32,
    seed: 5,
    telemetryEverySteps: 1,
    bonn: { lambda: 1e-4, theta: 1e-3, nu: 1 },
  });
  const losses = records.flatMap((r) => {
    const m = (r as { methodLosses?: Record<string, number> }).methodLosses;
    return m ? [m] : [];
  });
  assert.ok(losses.length > 0);
  for (const m of losses) assert.deepEqual(Object.keys(m).sort(), ['bonnFeature', 'bonnKernel']);
});
