import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as tf from '../../../core/tf';
import { loadDataset } from '../../../core/data/datasets';
import { readMetrics } from '../../../core/io/runFolder';
import type { MetricsRecord } from '../../../core/protocol';
import { failureMessage, type RunHooks } from '../../../core/training/api';
import { loadCheckpointModel } from '../../../core/training/checkpoint';
import { resolveConfig } from '../../../core/training/config';
import { evaluate, runTraining } from '../../../core/run/train';

const METRIC_NAMES = [
  'name',
  'params',
  'mean',
  'std',
  'min',
  'max',
  'absMean',
  'histogram',
  'quantizationError',
  'deadWeightRatio',
  'starvedWeightRatio',
  'signBalance',
  'signEntropyBits',
  'flipRate',
  'frozenRatio',
  'alpha',
];

function hooks(
  overrides: Partial<RunHooks> = {},
): RunHooks & { records: MetricsRecord[]; logs: string[] } {
  const records: MetricsRecord[] = [];
  const logs: string[] = [];
  return {
    records,
    logs,
    onRecord: (r) => records.push(r),
    log: (level, message) => logs.push(`${level}: ${message}`),
    isCancelled: () => false,
    ...overrides,
  };
}

const tempRun = () => join(mkdtempSync(join(tmpdir(), 'bnn-run-')), 'run');

test('mnist-cnn: 2 epochs on a 2,000-example MNIST subset reach >= 90 % test accuracy, no tensor leak', async () => {
  const config = resolveConfig(
    {
      preset: 'mnist-cnn',
      epochs: 2,
      limit: 2000,
      testLimit: 2000,
      batchSize: 8,
      learningRate: 0.004,
      seed: 1,
      telemetryEverySteps: 25,
    },
    'test',
  );
  const runDir = tempRun();
  const tensorsAtReport: number[] = [];
  const h = hooks({
    onRecord: (r) => {
      h.records.push(r);
      if (r.event === 'step') tensorsAtReport.push(tf.memory().numTensors);
    },
  });
  const result = await runTraining({ runId: 'r1', config, runDir, backend: 'wasm' }, h);
  assert.equal(result.status, 'completed', result.message);
  assert.ok((result.testAccuracy ?? 0) >= 0.9, `test accuracy ${result.testAccuracy}`);

  // No leak: the live tensor count is the same at every report after the first.
  assert.ok(tensorsAtReport.length > 10);
  assert.deepEqual(
    new Set(tensorsAtReport.slice(1)).size,
    1,
    `tensor counts ${tensorsAtReport.join(',')}`,
  );

  // metrics.jsonl holds exactly what was streamed, with the names of metrics.md.
  const { records, badLines } = readMetrics(join(runDir, 'metrics.jsonl'));
  assert.equal(badLines, 0);
  assert.deepEqual(records, JSON.parse(JSON.stringify(h.records)));
  assert.equal(records[0].event, 'start');
  assert.equal(records.at(-1)?.event, 'done');
  const start = records[0] as Extract<MetricsRecord, { event: 'start' }>;
  assert.equal(start.backend.name, 'wasm');
  assert.deepEqual(
    start.layers.filter((l) => l.binary).map((l) => l.name),
    ['bconv2', 'bconv3', 'bdense4'],
  );
  const steps = records.filter((r) => r.event === 'step');
  for (const s of steps) {
    assert.equal(s.layers.length, 3);
    for (const l of s.layers) {
      assert.deepEqual(Object.keys(l).sort(), [...METRIC_NAMES].sort());
      assert.equal(
        Array.from(l.histogram.counts).reduce((a, b) => a + b, 0),
        l.params,
      );
      const kernelShape = start.layers.find((info) => info.name === l.name)?.shape;
      assert.equal(l.alpha?.length, kernelShape?.at(-1), 'one alpha per output channel');
      assert.ok(l.flipRate >= 0 && l.flipRate <= 1 && l.frozenRatio >= 0 && l.frozenRatio <= 1);
    }
  }
  const epochs = records.filter((r) => r.event === 'epoch');
  assert.deepEqual(
    epochs.map((e) => e.epoch),
    [1, 2],
  );
  assert.ok(
    steps.at(-1)!.layers.some((l) => l.frozenRatio < 1),
    'some signs flipped during training',
  );

  // Checkpoints: complete folders only, loadable, and they reproduce the reported accuracy.
  assert.deepEqual(readdirSync(join(runDir, 'checkpoints')).sort(), ['epoch-1', 'epoch-2']);
  for (const f of ['model.json', 'weights.bin', 'training-state.json', 'state.bin']) {
    assert.ok(existsSync(join(runDir, 'checkpoints', 'epoch-2', f)), f);
  }
  const { model, meta } = await loadCheckpointModel(join(runDir, 'checkpoints', 'epoch-2'));
  assert.deepEqual(Object.keys(meta?.binaryLayers ?? {}), ['bconv2', 'bconv3', 'bdense4']);
  const dataset = loadDataset(config.dataset, { limit: 1, testLimit: 2000 });
  const again = await evaluate(model, dataset, dataset.test);
  model.dispose();
  assert.equal(again.accuracy, result.testAccuracy);
});

test('cancel between batches ends the run as cancelled and leaves no partial checkpoint', async () => {
  const config = resolveConfig(
    { preset: 'mnist-cnn', epochs: 1, limit: 640, testLimit: 100, telemetryEverySteps: 2 },
    'test',
  );
  const runDir = tempRun();
  let reports = 0;
  const h = hooks({ isCancelled: () => reports >= 2 });
  const inner = h.onRecord;
  h.onRecord = (r) => {
    inner(r);
    if (r.event === 'step') reports++;
  };
  const result = await runTraining({ runId: 'r2', config, runDir, backend: 'wasm' }, h);
  assert.equal(result.status, 'cancelled');
  const { records } = readMetrics(join(runDir, 'metrics.jsonl'));
  assert.deepEqual(records.at(-1), { ...(h.records.at(-1) as object) });
  assert.equal((records.at(-1) as { status: string }).status, 'cancelled');
  assert.deepEqual(readdirSync(join(runDir, 'checkpoints')), []);
});

test('an unwritable run folder fails the run with a message naming it', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'bnn-ro-'));
  writeFileSync(join(parent, 'file'), 'x');
  const runDir = join(parent, 'file', 'run');
  const config = resolveConfig({ preset: 'mnist-cnn', epochs: 1, limit: 64 }, 'test');
  const result = await runTraining({ runId: 'r3', config, runDir, backend: 'wasm' }, hooks());
  assert.equal(result.status, 'failed');
  assert.match(
    result.message ?? '',
    new RegExp(`cannot create the run folder ${runDir.replace(/[/.]/g, '\\$&')}`),
  );
});

test('a dataset folder that does not exist fails before training with its path', async () => {
  const config = resolveConfig(
    { preset: 'mnist-cnn', dataset: { name: 'idx', path: '/no/such/dataset' } },
    'test',
  );
  const h = hooks();
  const result = await runTraining({ runId: 'r4', config, runDir: tempRun(), backend: 'wasm' }, h);
  assert.equal(result.status, 'failed');
  assert.match(result.message ?? '', /\/no\/such\/dataset does not exist/);
  assert.ok(!h.records.some((r) => r.event === 'step'));
});

test('a wasm abort (out of memory) is reported as what to change, not as "Aborted()"', () => {
  const message = failureMessage(
    new Error('Aborted(). Build with -sASSERTIONS for more info.'),
    128,
  );
  assert.match(message, /ran out of memory/);
  assert.match(message, /batch size 128 needs more; lower "batchSize" \(e\.g\. 64\)/);
  assert.equal(
    failureMessage(new Error('dataset folder /x does not exist'), 64),
    'dataset folder /x does not exist',
  );
});

test('a run that diverges stops with a message and keeps the checkpoints of finished epochs', async () => {
  // SGD at learning rate 10 blows the full-precision layers up by ~1e11 per epoch: the loss of
  // this seeded run overflows to Infinity in epoch 4.
  const config = resolveConfig(
    {
      preset: 'mnist-cnn',
      epochs: 30,
      limit: 512,
      testLimit: 64,
      learningRate: 10,
      optimizer: 'sgd',
      momentum: 0.9,
    },
    'test',
  );
  const runDir = join(mkdtempSync(join(tmpdir(), 'bnn-diverge-')), 'run');
  const result = await runTraining(
    { runId: 'diverge', config, runDir, backend: 'wasm' },
    { onRecord: () => {}, log: () => {}, isCancelled: () => false },
  );
  assert.equal(result.status, 'failed');
  assert.match(
    result.message ?? '',
    /^training diverged: the loss is (Infinity|-Infinity|NaN) at step \d+; lower "learningRate" \(now 10\)/,
  );
  const { records } = readMetrics(join(runDir, 'metrics.jsonl'));
  const last = records.at(-1);
  assert.ok(last?.event === 'done' && last.status === 'failed');
  const epochs = records.filter((r) => r.event === 'epoch');
  assert.ok(epochs.length >= 1 && epochs.length < 30, `${epochs.length} epochs finished`);
  const kept = readdirSync(join(runDir, 'checkpoints')).sort();
  assert.deepEqual(
    kept,
    epochs.map((e) => `epoch-${(e as { epoch: number }).epoch}`).sort(),
    'every finished epoch keeps its checkpoint, and no partial one is left',
  );
  assert.ok(existsSync(join(runDir, 'checkpoints', kept.at(-1)!, 'model.json')));
});
