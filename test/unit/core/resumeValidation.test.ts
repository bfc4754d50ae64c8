/**
 * Resume and fine-tune check what they read before using it: the preset and the weight shapes
 * before any weight is loaded (one short message, no tensor values), every training-state.json
 * field (offsets inside state.bin, integers in range, no nulls), and model.json's shard paths
 * (inside the checkpoint folder).
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { main } from '../../../core/cli/main';
import { FileFormatError } from '../../../core/errors';
import {
  loadCheckpointModel,
  readCheckpointManifest,
  readTrainingState,
} from '../../../core/training/checkpoint';
import { resolveConfig } from '../../../core/training/config';
import { runTraining } from '../../../core/run/train';

const RAW = { preset: 'mnist-cnn', epochs: 2, limit: 64, testLimit: 32, batchSize: 32, seed: 4 };
const temp = () => mkdtempSync(join(tmpdir(), 'bnn-resumecheck-'));
let checkpoint = '';

before(async () => {
  const runDir = join(temp(), 'run');
  let epochs = 0;
  const result = await runTraining(
    { runId: 'src', config: resolveConfig(RAW, 'test'), runDir, backend: 'wasm' },
    {
      onRecord: (r) => void (r.event === 'epoch' && epochs++),
      log: () => {},
      isCancelled: () => epochs >= 1,
    },
  );
  assert.equal(result.status, 'cancelled');
  checkpoint = join(runDir, 'checkpoints', 'epoch-1');
});

/** A copy of the checkpoint inside a copy of its run folder, edited by `edit`. */
function edited(edit: (dir: string) => void): string {
  const run = join(temp(), 'run');
  cpSync(join(checkpoint, '..', '..'), run, { recursive: true });
  const dir = join(run, 'checkpoints', 'epoch-1');
  edit(dir);
  return dir;
}

function editState(dir: string, change: (json: Record<string, unknown>) => void) {
  const path = join(dir, 'training-state.json');
  const json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  change(json);
  writeFileSync(path, JSON.stringify(json));
}

async function resumeMessage(from: string, raw: Record<string, unknown> = RAW) {
  const logged: string[] = [];
  const result = await runTraining(
    {
      runId: 'r',
      config: resolveConfig(raw, 'test'),
      runDir: join(temp(), 'resumed'),
      backend: 'wasm',
      resumeFrom: from,
    },
    { onRecord: () => {}, log: (_l, m) => logged.push(m), isCancelled: () => false },
  );
  assert.equal(result.status, 'failed');
  const message = result.message ?? '';
  assert.ok(!message.includes('\n'), message);
  assert.ok(message.length < 400, `${message.length} characters: ${message.slice(0, 400)}…`);
  assert.ok(!/Tensor|\[\s*-?\d+\.\d+,/.test(message), message);
  return message;
}

test('resuming with another preset is one short message naming both presets', async () => {
  const message = await resumeMessage(checkpoint, { ...RAW, preset: 'mnist-resnete' });
  assert.match(message, /checkpoint of preset mnist-cnn, this run has preset mnist-resnete/);
});

test('resuming with a config whose weights differ names the first weight that differs', async () => {
  const message = await resumeMessage(checkpoint, { ...RAW, scaling: 'learnable' });
  assert.match(message, /holds \d+ weight tensors, this run's model has \d+|has shape \[/);
  assert.match(message, /use the run config the checkpoint was trained with/);
});

test('resuming with another dataset size or batch size is refused before training', async () => {
  const message = await resumeMessage(checkpoint, { ...RAW, limit: 128 });
  assert.match(message, /reached step 2 in 1 epochs, this run makes 4 steps per epoch/);
});

test('resuming from an epoch past the run is refused with the field to change', async () => {
  const dir = edited((d) => editState(d, (j) => (j.epoch = 5)));
  assert.match(await resumeMessage(dir), /epoch 5, past this run's 2 epochs; raise "epochs"/);
});

test('training-state.json: every field is checked before anything is used', () => {
  const cases: [string, (j: Record<string, unknown>) => void, RegExp][] = [
    ['epoch -1', (j) => (j.epoch = -1), /"epoch" must be an integer ≥ 1, got -1/],
    ['epoch null', (j) => (j.epoch = null), /"epoch" must be an integer ≥ 1, got null/],
    ['step 1.5', (j) => (j.step = 1.5), /"step" must be an integer ≥ 0, got 1.5/],
    ['state [null]', (j) => (j.state = [null]), /"state"\[0\] must be an object, got null/],
    ['no state', (j) => delete j.state, /"state" \(the manifest of state.bin\) is missing/],
    [
      'negative offset',
      (j) => ((j.state as { offset: number }[])[0].offset = -4),
      /"offset" and "length" must be integers ≥ 0, got -4/,
    ],
    [
      'offset past the end',
      (j) => ((j.state as { offset: number }[])[0].offset = 1e9),
      /ends at byte \d+, past the end of state.bin/,
    ],
    [
      'dtype',
      (j) => ((j.state as { dtype: string }[])[0].dtype = 'float64'),
      /"dtype" must be "float32" or "uint8", got "float64"/,
    ],
    [
      'learning rate null',
      (j) => (j.learningRate = null),
      /"learningRate" must be a finite number/,
    ],
  ];
  for (const [name, change, expected] of cases) {
    const dir = edited((d) => editState(d, change));
    assert.throws(
      () => readTrainingState(dir),
      (e: Error) => {
        assert.ok(e instanceof FileFormatError, name);
        assert.ok(e.message.includes(join(dir, 'training-state.json')), e.message);
        assert.match(e.message, expected, name);
        return true;
      },
      name,
    );
  }
});

test('a negative state.bin offset fails the resume instead of restoring the wrong state', async () => {
  const dir = edited((d) =>
    editState(d, (j) => ((j.state as { offset: number }[])[1].offset = -8)),
  );
  assert.match(await resumeMessage(dir), /training-state\.json: "state"\[1\].*got -8/);
});

test('model.json shard paths must stay inside the checkpoint folder', async () => {
  const outside = edited((d) => {
    renameSync(join(d, 'weights.bin'), join(d, '..', 'weights.bin'));
    const path = join(d, 'model.json');
    const json = JSON.parse(readFileSync(path, 'utf8'));
    json.weightsManifest[0].paths = ['../weights.bin'];
    writeFileSync(path, JSON.stringify(json));
  });
  assert.throws(() => readCheckpointManifest(outside), /lies outside the checkpoint folder/);
  await assert.rejects(loadCheckpointModel(outside), /lies outside the checkpoint folder/);
  assert.match(await resumeMessage(outside), /lies outside the checkpoint folder/);

  const linked = edited((d) => {
    renameSync(join(d, 'weights.bin'), join(d, '..', 'real.bin'));
    symlinkSync(join(d, '..', 'real.bin'), join(d, 'weights.bin'));
  });
  assert.throws(() => readCheckpointManifest(linked), /lies outside the checkpoint folder/);

  const absolute = edited((d) => {
    const path = join(d, 'model.json');
    const json = JSON.parse(readFileSync(path, 'utf8'));
    json.weightsManifest[0].paths = ['/etc/passwd'];
    writeFileSync(path, JSON.stringify(json));
  });
  assert.throws(() => readCheckpointManifest(absolute), /not a file of the checkpoint folder/);
  // The untouched checkpoint still loads.
  const { model } = await loadCheckpointModel(checkpoint);
  assert.ok(model.weights.length > 0);
  model.dispose();
});

test('bnn-lab train --resume with another preset prints the failure once, without a stack', async () => {
  let stderr = '';
  const code = await main(
    [
      'train',
      '--preset',
      'mnist-resnete',
      '--resume',
      checkpoint,
      '--out',
      temp(),
      '--threads',
      '1',
      '--backend',
      'wasm',
    ],
    () => {},
    (t) => (stderr += t),
  );
  assert.equal(code, 1);
  const mentions = stderr.split('checkpoint of preset mnist-cnn').length - 1;
  assert.equal(mentions, 1, stderr);
  assert.ok(!stderr.includes('    at '), stderr);
});
