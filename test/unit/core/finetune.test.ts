import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../../core/cli/main';
import { readMetrics } from '../../../core/io/runFolder';
import { loadDataset } from '../../../core/data/datasets';
import type { MetricsRecord } from '../../../core/protocol';
import { loadCheckpointModel } from '../../../core/training/checkpoint';
import { resolveConfig } from '../../../core/training/config';
import { runFinetune } from '../../../core/run/finetune';
import { evaluate, runTraining } from '../../../core/run/train';

const root = mkdtempSync(join(tmpdir(), 'bnn-finetune-'));
const TEST_LIMIT = 200;
/** The plain fine-tune runs data-parallel where the machine allows it. */
const threads = Math.min(2, availableParallelism());
let source = '';

/** sha256 of every file of a folder, by name. */
function hashes(dir: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(dir).map((f) => [
      f,
      createHash('sha256')
        .update(readFileSync(join(dir, f)))
        .digest('hex'),
    ]),
  );
}

async function cli(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(
    ['finetune', ...args],
    (t) => (stdout += t),
    (t) => (stderr += t),
  );
  return { code, stdout, stderr };
}

const records = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as MetricsRecord);

test.before(async () => {
  const config = resolveConfig(
    { preset: 'mnist-cnn', epochs: 1, limit: 512, testLimit: TEST_LIMIT },
    'test',
  );
  const runDir = join(root, 'source-run');
  const result = await runTraining(
    { runId: 'source', config, runDir, backend: 'wasm' },
    { onRecord: () => {}, log: () => {}, isCancelled: () => false },
  );
  assert.equal(result.status, 'completed', result.message);
  source = join(runDir, 'checkpoints', 'epoch-1');
});

for (const method of ['lns', 'plain'] as const) {
  test(`finetune --method ${method} writes a new checkpoint that evaluates as reported`, async () => {
    const before = hashes(source);
    const out = join(root, `out-${method}`);
    const { code, stdout, stderr } = await cli([
      source,
      '--method',
      method,
      '--epochs',
      '1',
      '--limit',
      '256',
      '--test-limit',
      String(TEST_LIMIT),
      '--warmup-steps',
      '40',
      '--backend',
      'wasm',
      '--threads',
      method === 'lns' ? '1' : String(threads),
      '--json',
      '--out',
      out,
    ]);
    assert.equal(code, 0, stderr);
    assert.deepEqual(hashes(source), before, 'the source checkpoint changed');
    const rs = records(stdout);
    const start = rs.find((r) => r.event === 'start');
    const done = rs.at(-1);
    assert.ok(start?.event === 'start' && done?.event === 'done');
    assert.equal(
      start.backend.threads,
      method === 'lns' ? 1 : threads,
      '--threads reaches the run',
    );
    assert.equal(done.status, 'completed');
    const summary = done.finetune;
    assert.ok(summary, 'no before/after summary');
    assert.equal(summary.method, method);
    assert.deepEqual(
      summary.layers.map((l) => l.name),
      ['bconv2', 'bconv3', 'bdense4'],
    );
    for (const l of summary.layers) assert.ok(l.flipFromStart >= 0 && l.flipFromStart <= 1);
    // Before its first step the fine-tune says what it does: the source's evaluation, then (LNS)
    // the mapper warm-up, each from 0 to its total in at most a dozen reports.
    const firstStep = rs.findIndex((r) => r.event === 'step');
    const phases = rs.flatMap((r, i) => (r.event === 'phase' ? [{ ...r, i }] : []));
    assert.ok(phases.every((p) => p.i > rs.indexOf(start) && p.i < firstStep));
    const of = (name: string) => phases.filter((p) => p.phase === name);
    const evaluation = of('evaluateSource');
    const warmup = of('mapperWarmup');
    assert.deepEqual(
      [evaluation[0]?.done, evaluation.at(-1)?.done, evaluation.at(-1)?.total],
      [0, TEST_LIMIT, TEST_LIMIT],
    );
    if (method === 'lns') {
      assert.deepEqual(
        warmup.map((p) => p.done),
        [0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40],
        'warm-up progress every tenth of its 40 steps',
      );
      assert.ok(warmup.every((p) => p.total === 40));
      assert.ok(evaluation.at(-1)!.i < warmup[0].i, 'evaluation, then warm-up');
    } else assert.deepEqual(warmup, []);
    // metrics.jsonl holds the same records, and its reader accepts every line.
    const onDisk = readMetrics(join(start.runId, 'metrics.jsonl'));
    assert.equal(onDisk.badLines, 0);
    assert.equal(onDisk.records.filter((r) => r.event === 'phase').length, phases.length);
    const steps = rs.filter((r) => r.event === 'step');
    assert.ok(steps.length > 0);
    for (const s of steps) {
      for (const l of s.layers) {
        assert.ok(typeof l.flipFromStart === 'number');
        assert.equal(typeof l.auxLoss, method === 'lns' ? 'number' : 'undefined');
        assert.equal(typeof l.disagreement, method === 'lns' ? 'number' : 'undefined');
      }
    }
    const epoch = rs.find((r) => r.event === 'epoch');
    assert.ok(epoch?.event === 'epoch' && epoch.checkpoint);
    const dir = join(start.runId, epoch.checkpoint);
    const { model, meta } = await loadCheckpointModel(dir);
    assert.equal(meta?.testAccuracy, done.testAccuracy);
    const dataset = loadDataset({ name: 'mnist' }, { limit: 1, testLimit: TEST_LIMIT });
    const { accuracy } = await evaluate(model, dataset, dataset.test);
    model.dispose();
    assert.equal(accuracy, done.testAccuracy);
    assert.equal(accuracy, summary.testAccuracyAfter);
  });
}

test('a cancelled fine-tune ends as cancelled and leaves no checkpoint', async () => {
  const before = hashes(source);
  const runDir = join(root, 'cancelled');
  let steps = 0;
  const result = await runFinetune(
    {
      runId: 'c',
      checkpoint: source,
      runDir,
      backend: 'wasm',
      method: 'lns',
      limit: 256,
      testLimit: TEST_LIMIT,
      mapperWarmupSteps: 5,
    },
    {
      onRecord: (r) => {
        if (r.event === 'step') steps++;
      },
      log: () => {},
      isCancelled: () => steps >= 1,
    },
  );
  assert.equal(result.status, 'cancelled');
  assert.equal(result.checkpoint, undefined);
  assert.deepEqual(readdirSync(join(runDir, 'checkpoints')), []);
  assert.deepEqual(hashes(source), before);
});

test('a fine-tune cancelled during the mapper warm-up stops there, before any step', async () => {
  const runDir = join(root, 'cancelled-warmup');
  const seen: MetricsRecord[] = [];
  const result = await runFinetune(
    {
      runId: 'w',
      checkpoint: source,
      runDir,
      backend: 'wasm',
      method: 'lns',
      limit: 256,
      testLimit: TEST_LIMIT,
      mapperWarmupSteps: 1000,
    },
    {
      onRecord: (r) => seen.push(r),
      log: () => {},
      isCancelled: () => seen.some((r) => r.event === 'phase' && r.phase === 'mapperWarmup'),
    },
  );
  assert.equal(result.status, 'cancelled');
  assert.equal(seen.filter((r) => r.event === 'step').length, 0);
  const warmup = seen.filter((r) => r.event === 'phase' && r.phase === 'mapperWarmup');
  // Cancelled at the first warm-up step, not after the thousand.
  assert.deepEqual(
    warmup.map((r) => r.event === 'phase' && r.done),
    [0],
  );
});

test('bad settings and checkpoints fail with a message naming the field or the fix', async () => {
  /** Exit 2 and one stderr line matching `pattern`, nothing on stdout. */
  const refused = async (args: string[], pattern: RegExp) => {
    const { code, stdout, stderr } = await cli(args);
    assert.equal(code, 2, stderr);
    assert.equal(stdout, '');
    assert.equal(stderr.split('\n').length, 2, stderr);
    assert.match(stderr, pattern);
  };
  await refused(
    [source, '--method', 'lns', '--rho', '0.5'],
    /^bnn-lab finetune: --rho must be in \[0, 0\.5\), got 0\.5/,
  );
  await refused([source, '--method', 'lns', '--alpha', '-1'], /--alpha must be a number ≥ 0/);
  await refused([source, '--method', 'adamw'], /--method must be one of lns, plain/);
  const foreign = join(root, 'foreign');
  mkdirSync(foreign);
  writeFileSync(join(foreign, 'model.json'), JSON.stringify({ modelTopology: {} }));
  await refused([foreign, '--method', 'lns'], /not a BNN Lab checkpoint.*bnn-lab inspect/);
  const h5 = join(root, 'model.h5');
  writeFileSync(h5, 'not really');
  await refused([h5, '--method', 'plain'], /bnn-lab inspect/);
  const noBinary = join(root, 'no-binary');
  mkdirSync(noBinary);
  writeFileSync(
    join(noBinary, 'model.json'),
    JSON.stringify({ bnnLab: { version: 1, preset: 'mnist-cnn', binaryLayers: {} } }),
  );
  await refused([noBinary, '--method', 'lns'], /has no binary layers/);
});

test('a dataset the model cannot take, or a config that changes which layers are binary, is refused', async () => {
  const before = hashes(source);
  const hooks = { onRecord: () => {}, log: () => {}, isCancelled: () => false };
  // A tiny CIFAR-10 folder: 32×32×3 images for a 28×28×1 model.
  const cifar = join(root, 'cifar');
  mkdirSync(cifar);
  const record = Buffer.alloc(3073);
  for (let i = 1; i <= 5; i++) writeFileSync(join(cifar, `data_batch_${i}.bin`), record);
  writeFileSync(join(cifar, 'test_batch.bin'), record);
  const shape = await runFinetune(
    {
      runId: 'shape',
      checkpoint: source,
      runDir: join(root, 'shape'),
      backend: 'wasm',
      method: 'lns',
      dataset: { name: 'cifar10', path: cifar },
    },
    hooks,
  );
  assert.equal(shape.status, 'failed');
  assert.match(
    shape.message ?? '',
    /preset mnist-cnn takes 28×28×1 images but dataset cifar10 holds 32×32×3/,
  );

  // The source run's config.json edited to make conv1 binary: the checkpoint does not match.
  const edited = join(root, 'edited-run');
  cpSync(join(source, '..', '..'), edited, { recursive: true });
  const configPath = join(edited, 'config.json');
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  writeFileSync(configPath, JSON.stringify({ ...config, layerPrecision: { conv1: 'binary' } }));
  const rebuilt = await runFinetune(
    {
      runId: 'edited',
      checkpoint: join(edited, 'checkpoints', 'epoch-1'),
      runDir: join(root, 'edited-out'),
      backend: 'wasm',
      method: 'plain',
    },
    hooks,
  );
  assert.equal(rebuilt.status, 'failed');
  assert.match(rebuilt.message ?? '', /cannot rebuild .*conv1/);

  // Edited to a learnable scale, which adds weights: one short line before any weight loads.
  const scaled = join(root, 'scaled-run');
  cpSync(join(source, '..', '..'), scaled, { recursive: true });
  writeFileSync(join(scaled, 'config.json'), JSON.stringify({ ...config, scaling: 'learnable' }));
  const grown = await runFinetune(
    {
      runId: 'scaled',
      checkpoint: join(scaled, 'checkpoints', 'epoch-1'),
      runDir: join(root, 'scaled-out'),
      backend: 'wasm',
      method: 'plain',
    },
    hooks,
  );
  assert.equal(grown.status, 'failed');
  assert.match(
    grown.message ?? '',
    /the checkpoint holds \d+ weight tensors, preset mnist-cnn with its run's config.json has \d+; use the run config the checkpoint was trained with$/,
  );
  assert.ok((grown.message ?? '').length < 400, grown.message);
  assert.deepEqual(hashes(source), before, 'the source checkpoint is unchanged');
});
