/**
 * Fine-tuning runs on the shared run loop (core/run/loop.ts): data-parallel threads and exact
 * resume, as training has them (test/unit/parallel/dataParallel.test.ts, resume.test.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readMetrics } from '../../../core/io/runFolder';
import type { MetricsRecord } from '../../../core/protocol';
import { runFinetune, type FinetuneRequest } from '../../../core/run/finetune';
import { runTraining } from '../../../core/run/train';
import { resolveConfig } from '../../../core/training/config';
import { comparable, hooks } from './resumeHelpers';

type StepRecord = Extract<MetricsRecord, { event: 'step' }>;

const root = mkdtempSync(join(tmpdir(), 'bnn-finetune-loop-'));
let source = '';
let runs = 0;
const runDir = () => join(root, `run-${++runs}`);

/** A fine-tune of `source` with a few steps per epoch. */
const request = (dir: string, extra: Partial<FinetuneRequest> = {}): FinetuneRequest => ({
  runId: dir,
  runDir: dir,
  checkpoint: source,
  backend: 'wasm',
  method: 'lns',
  limit: 160,
  testLimit: 100,
  mapperWarmupSteps: 10,
  seed: 11,
  ...extra,
});

const records = (dir: string) => readMetrics(join(dir, 'metrics.jsonl')).records;

function weights(dir: string, epoch: number): Float32Array {
  const bytes = readFileSync(join(dir, 'checkpoints', `epoch-${epoch}`, 'weights.bin'));
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

test.before(async () => {
  const config = resolveConfig(
    {
      preset: 'mnist-cnn',
      epochs: 1,
      batchSize: 32,
      limit: 160,
      testLimit: 100,
      seed: 2,
      telemetryEverySteps: 1,
    },
    'test',
  );
  const dir = join(root, 'source');
  const result = await runTraining(
    { runId: 'source', config, runDir: dir, backend: 'wasm' },
    hooks(),
  );
  assert.equal(result.status, 'completed', result.message);
  source = join(dir, 'checkpoints', 'epoch-1');
});

test('the fine-tune config.json records what it ran: Adam, constant rate, no decay, clip or BONN', () => {
  // Checked on the files of the resume test's uninterrupted run below; here on a fresh one.
  return runFinetune(request(join(root, 'config')), hooks()).then((result) => {
    assert.equal(result.status, 'completed', result.message);
    const config = JSON.parse(readFileSync(join(root, 'config', 'config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    assert.equal(config.optimizer, 'adam');
    assert.equal(config.schedule, 'constant');
    for (const field of ['weightDecay', 'latentClip', 'bonn', 'momentum']) {
      assert.equal(config[field], undefined, `config.json has ${field}`);
    }
    const epochs = records(join(root, 'config')).filter((r) => r.event === 'epoch');
    assert.equal(epochs.length, 1, 'one epoch record per epoch');
  });
});

test(
  'an LNS fine-tune on 2 threads matches 1 thread up to rounding',
  { skip: availableParallelism() < 2 ? 'needs 2 cores' : false },
  async (t) => {
    const dirs = [runDir(), runDir()];
    for (const [i, threads] of [1, 2].entries()) {
      const result = await runFinetune(request(dirs[i], { threads }), hooks());
      assert.equal(result.status, 'completed', result.message);
    }
    const start = records(dirs[1]).find((r) => r.event === 'start');
    assert.equal(start?.event === 'start' ? start.backend.threads : 0, 2, 'the run says 2 threads');
    const steps = dirs.map((d) => records(d).filter((r): r is StepRecord => r.event === 'step'));
    assert.equal(steps[0].length, 5);
    assert.equal(steps[1].length, steps[0].length);
    for (const [i, a] of steps[0].entries()) {
      const b = steps[1][i];
      assert.ok(Math.abs(a.loss - b.loss) < 1e-4 * Math.max(1, a.loss), `step ${a.step} loss`);
      assert.equal(a.accuracy, b.accuracy, `step ${a.step} accuracy`);
      const [auxA, auxB] = [a.methodLosses?.lnsAux ?? NaN, b.methodLosses?.lnsAux ?? NaN];
      assert.ok(Math.abs(auxA - auxB) < 1e-4 * Math.max(1, auxA), `step ${a.step} lnsAux`);
      for (const [j, la] of a.layers.entries()) {
        const lb = b.layers[j];
        assert.ok(Math.abs((la.disagreement ?? NaN) - (lb.disagreement ?? NaN)) < 1e-3);
        assert.ok(Math.abs((la.flipFromStart ?? NaN) - (lb.flipFromStart ?? NaN)) < 1e-3);
      }
    }
    const [w1, w2] = dirs.map((d) => weights(d, 1));
    assert.equal(w1.length, w2.length);
    let worst = 0;
    for (let i = 0; i < w1.length; i++) {
      worst = Math.max(worst, Math.abs(w1[i] - w2[i]) / Math.max(1e-3, Math.abs(w1[i])));
    }
    t.diagnostic(`largest relative weight difference ${worst}`);
    assert.ok(worst < 1e-3, `largest relative weight difference ${worst}`);
  },
);

for (const method of ['lns', 'plain'] as const) {
  test(`a ${method} fine-tune resumed from its checkpoint matches an uninterrupted one`, async () => {
    const full = runDir();
    const first = await runFinetune(request(full, { method, epochs: 2 }), hooks());
    assert.equal(first.status, 'completed', first.message);

    const interrupted = runDir();
    const cut = await runFinetune(request(interrupted, { method, epochs: 2 }), hooks(1));
    assert.equal(cut.status, 'cancelled');

    const resumed = runDir();
    const second = await runFinetune(
      request(resumed, {
        method,
        epochs: 2,
        resumeFrom: join(interrupted, 'checkpoints', 'epoch-1'),
      }),
      hooks(),
    );
    assert.equal(second.status, 'completed', second.message);
    assert.equal(second.testAccuracy, first.testAccuracy);
    assert.deepEqual(second.summary, first.summary);
    const expected = comparable(records(full), 1);
    assert.ok(expected.length >= 3);
    assert.deepEqual(comparable(records(resumed), 1), expected);
    assert.deepEqual(weights(resumed, 2), weights(full, 2));
  });
}

test('a fine-tune refuses to resume from a checkpoint of other settings, naming them', async () => {
  const dir = runDir();
  const cut = await runFinetune(request(dir, { epochs: 2 }), hooks(1));
  assert.equal(cut.status, 'cancelled');
  const other = await runFinetune(
    request(runDir(), { epochs: 2, rho: 0.2, resumeFrom: join(dir, 'checkpoints', 'epoch-1') }),
    hooks(),
  );
  assert.equal(other.status, 'failed');
  assert.match(
    other.message ?? '',
    /cannot resume from .*epoch-1: it is a fine-tune with rho 0\.1, this one has rho 0\.2/,
  );
  const training = await runFinetune(request(runDir(), { epochs: 2, resumeFrom: source }), hooks());
  assert.equal(training.status, 'failed');
  assert.match(training.message ?? '', /is not a checkpoint of a fine-tune/);
});
