/**
 * A replica that stops making progress without dying: the watchdog fails the run with one
 * message, and a cancel ends the run at once; either way the hanging thread is terminated.
 * The hanging replica is scripted (test/fixtures/workers/replicaHangs.js).
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_WATCHDOG, stallLimitMs } from '../../../core/parallel/dataParallel';
import type { RunHooks } from '../../../core/training/api';
import { resolveConfig } from '../../../core/training/config';
import { runTraining } from '../../../core/run/train';

const tempRun = () => join(mkdtempSync(join(tmpdir(), 'bnn-watchdog-')), 'run');
const config = resolveConfig(
  { preset: 'mnist-cnn', epochs: 1, batchSize: 16, limit: 160, testLimit: 50, seed: 3 },
  'test',
);
const hangs = join(__dirname, '../../../../test/fixtures/workers/replicaHangs.js');

async function withEnv<T>(env: Record<string, string>, run: () => Promise<T>): Promise<T> {
  Object.assign(process.env, env);
  try {
    return await run();
  } finally {
    for (const k of Object.keys(env)) delete process.env[k];
  }
}

test('the bound: 10 minutes before a step was timed, then max(60 s, 20 × the median step)', () => {
  assert.equal(stallLimitMs([], DEFAULT_WATCHDOG), 600_000);
  assert.equal(stallLimitMs([10, 30, 20], DEFAULT_WATCHDOG), 60_000);
  assert.equal(stallLimitMs([5000, 7000, 6000, 100_000], DEFAULT_WATCHDOG), 140_000);
});

test(
  'a replica that makes no progress fails the run with one message',
  { skip: availableParallelism() < 2 ? 'needs 2 cores' : false },
  async () => {
    const logged: string[] = [];
    const hooks: RunHooks = {
      onRecord: () => {},
      log: (_level, message) => logged.push(message),
      isCancelled: () => false,
    };
    const result = await withEnv(
      { BNN_LAB_REPLICA_SCRIPT: hangs, BNN_LAB_WATCHDOG_MS: '1500' },
      () =>
        runTraining(
          { runId: 'hang', config, runDir: tempRun(), backend: 'wasm', threads: 2 },
          hooks,
        ),
    );
    assert.equal(result.status, 'failed');
    assert.match(
      result.message ?? '',
      /^the 2 replica threads made no progress for \d+(\.\d)? s; the run was stopped/,
    );
    assert.ok(!(result.message ?? '').includes('\n'), result.message);
  },
);

test(
  'a cancel ends a run whose replica hangs (no watchdog needed)',
  { skip: availableParallelism() < 2 ? 'needs 2 cores' : false },
  async () => {
    let polls = 0;
    const hooks: RunHooks = {
      onRecord: () => {},
      log: () => {},
      // False before the first step; true once the coordinator has polled while waiting on it.
      isCancelled: () => ++polls > 3,
    };
    const result = await withEnv({ BNN_LAB_REPLICA_SCRIPT: hangs }, () =>
      runTraining(
        { runId: 'cancel', config, runDir: tempRun(), backend: 'wasm', threads: 2 },
        hooks,
      ),
    );
    assert.equal(result.status, 'cancelled');
    assert.ok(polls > 3);
  },
);
