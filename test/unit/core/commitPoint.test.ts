/**
 * kill -9 at the checkpoint commit point: a child process trains a 2-epoch run and SIGKILLs
 * itself (BNN_LAB_KILL_AT, core/io/runFolder.ts) before or after the checkpoint's rename, or
 * before or after the `epoch` record's append. Afterwards no temporary folder is listed as a
 * checkpoint, and resuming finishes the run with the records the uninterrupted run wrote.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { findCheckpoints } from '../../../core/checkpoints/inspect';
import {
  listCheckpoints,
  readMetrics,
  removeStaleTempCheckpoints,
} from '../../../core/io/runFolder';
import type { MetricsRecord } from '../../../core/protocol';
import { resolveConfig } from '../../../core/training/config';
import { runTraining } from '../../../core/run/train';

const RAW = {
  preset: 'mnist-cnn',
  epochs: 2,
  limit: 64,
  testLimit: 32,
  batchSize: 32,
  seed: 11,
  telemetryEverySteps: 1,
};
const CHILD = join(__dirname, '../../../../test/fixtures/runs/trainChild.js');
const quiet = { onRecord: () => {}, log: () => {}, isCancelled: () => false };

type EpochRecord = Extract<MetricsRecord, { event: 'epoch' }>;
const epochs = (dir: string) =>
  readMetrics(join(dir, 'metrics.jsonl')).records.filter(
    (r): r is EpochRecord => r.event === 'epoch',
  );
/** What must not depend on the kill: the numbers of an epoch record. */
const numbers = (r: EpochRecord) => ({
  epoch: r.epoch,
  step: r.step,
  trainLoss: r.trainLoss,
  trainAccuracy: r.trainAccuracy,
  testLoss: r.testLoss,
  testAccuracy: r.testAccuracy,
});

let reference: Promise<EpochRecord[]> | undefined;
/** The uninterrupted run's epoch records. */
function uninterrupted(): Promise<EpochRecord[]> {
  reference ??= (async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'bnn-commit-')), 'full');
    const result = await runTraining(
      { runId: 'full', config: resolveConfig(RAW, 'test'), runDir: dir, backend: 'wasm' },
      quiet,
    );
    assert.equal(result.status, 'completed', result.message);
    return epochs(dir);
  })();
  return reference;
}

function killedRun(point: string, epoch: number): string {
  const runDir = join(mkdtempSync(join(tmpdir(), 'bnn-commit-')), 'killed');
  const child = spawnSync(process.execPath, [CHILD, JSON.stringify({ runDir, config: RAW })], {
    env: { ...process.env, BNN_LAB_KILL_AT: `${point}:${epoch}` },
    encoding: 'utf8',
  });
  assert.equal(child.signal, 'SIGKILL', `the child was not killed at ${point}: ${child.stderr}`);
  return runDir;
}

async function resume(from: string) {
  const dir = join(mkdtempSync(join(tmpdir(), 'bnn-commit-')), 'resumed');
  const result = await runTraining(
    {
      runId: 'resumed',
      config: resolveConfig(RAW, 'test'),
      runDir: dir,
      backend: 'wasm',
      resumeFrom: from,
    },
    quiet,
  );
  return { dir, result };
}

const cases: { point: string; epoch: number; onDisk: string[]; recorded: number[] }[] = [
  // Killed with the complete temporary folder not yet renamed: epoch 2 never happened.
  { point: 'before-rename', epoch: 2, onDisk: ['.tmp-epoch-2-', 'epoch-1'], recorded: [1] },
  // Renamed (committed) but not recorded: epoch 2 is finished on resume.
  { point: 'after-rename', epoch: 2, onDisk: ['epoch-1', 'epoch-2'], recorded: [1] },
  { point: 'before-append', epoch: 2, onDisk: ['epoch-1', 'epoch-2'], recorded: [1] },
  // Recorded: resume goes on with epoch 2.
  { point: 'after-append', epoch: 1, onDisk: ['epoch-1'], recorded: [1] },
];

for (const c of cases) {
  test(`kill -9 ${c.point} of epoch ${c.epoch}: nothing temporary is listed, resume finishes the run`, async () => {
    const full = await uninterrupted();
    const runDir = killedRun(c.point, c.epoch);
    const onDisk = readdirSync(join(runDir, 'checkpoints')).sort();
    assert.equal(onDisk.length, c.onDisk.length, onDisk.join(', '));
    c.onDisk.forEach((prefix, i) => assert.ok(onDisk[i].startsWith(prefix), onDisk.join(', ')));
    assert.deepEqual(
      epochs(runDir).map((r) => r.epoch),
      c.recorded,
    );

    // Neither the run's own list, nor the series/Analyse Checkpoint Folder list, shows it.
    const listed = listCheckpoints(runDir).map((p) => p.slice(p.lastIndexOf('epoch-')));
    const committed = onDisk.filter((n) => !n.startsWith('.'));
    assert.deepEqual(listed, committed);
    const series = await findCheckpoints(join(runDir, 'checkpoints'));
    assert.deepEqual(
      series.map((s) => s.name),
      committed,
    );

    const last = listCheckpoints(runDir).at(-1)!;
    const { dir, result } = await resume(last);
    assert.equal(result.status, 'completed', result.message);
    // The resumed run removed the killed run's temporary folder.
    assert.deepEqual(readdirSync(join(runDir, 'checkpoints')).sort(), committed);
    // Together, the killed and the resumed run hold every epoch with the uninterrupted numbers.
    const both = [...epochs(runDir), ...epochs(dir)].map(numbers);
    assert.deepEqual(both, full.map(numbers));
    assert.equal(result.testAccuracy, full.at(-1)!.testAccuracy);
    assert.ok(existsSync(join(dir, 'metrics.jsonl')));
  });
}

test('resuming from the last epoch of a run that recorded it is refused as already finished', async () => {
  const runDir = killedRun('after-append', 2);
  const { result } = await resume(join(runDir, 'checkpoints', 'epoch-2'));
  assert.equal(result.status, 'failed');
  assert.match(result.message ?? '', /already finished epoch 2 of 2/);
});

test('temporary folders of a process that still runs are kept; those of dead ones go', () => {
  const runDir = join(mkdtempSync(join(tmpdir(), 'bnn-commit-')), 'run');
  const root = join(runDir, 'checkpoints');
  // A pid that no process has: past the kernel's pid_max (at most 2^22 on Linux).
  const dead = `.tmp-epoch-3-${2 ** 22 + 7}`;
  const alive = `.tmp-epoch-3-${process.ppid}`;
  for (const name of [dead, alive, 'epoch-2', '.tmp-notes']) {
    mkdirSync(join(root, name), { recursive: true });
  }
  assert.deepEqual(removeStaleTempCheckpoints(runDir), [join(root, dead)]);
  assert.deepEqual(readdirSync(root).sort(), [
    '.tmp-epoch-3-' + process.ppid,
    '.tmp-notes',
    'epoch-2',
  ]);
});
