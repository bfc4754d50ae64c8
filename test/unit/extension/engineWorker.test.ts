/**
 * The real engine worker (dist/worker.js) through the host: it honours `cancelRun` between
 * batches, ends the run as cancelled (not failed), and the same worker then runs the next run.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { it } from 'node:test';
import type { MetricsRecord } from '../../../core/protocol';
import { resolveConfig } from '../../../core/training/config';
import { WorkerHost, type LogLevel } from '../../../extension/engine/workerHost';

const WORKER = path.resolve(__dirname, '../../../../dist/worker.js');

void it(
  'cancels a real run between batches and keeps the worker for the next run',
  {
    skip: existsSync(WORKER) ? false : `${WORKER} is missing: run \`npm run build\` first`,
    timeout: 5 * 60_000,
  },
  async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'bnn-lab-worker-'));
    const logs: { level: LogLevel; message: string }[] = [];
    const host = new WorkerHost({
      workerScript: WORKER,
      log: (level, message) => logs.push({ level, message }),
    });
    const config = resolveConfig(
      { preset: 'mnist-cnn', epochs: 1, limit: 1024, testLimit: 64, telemetryEverySteps: 1 },
      'test',
    );
    try {
      const records: MetricsRecord[] = [];
      const runDir = path.join(root, 'cancelled');
      const ended = host.startRun({ runId: 'cancel-me', config, runDir, backend: 'wasm' }, (r) => {
        records.push(r);
        if (r.event === 'step' && r.step === 1) void host.cancel('cancel-me'); // awaited via `ended`
      });
      const end = await ended;
      assert.equal(end.status, 'cancelled', `${end.status}: ${end.message ?? ''}`);
      assert.equal(end.crashed, false, 'the worker stopped by itself, it was not terminated');
      const steps = records.filter((r) => r.event === 'step');
      assert.ok(steps.length < 16, `stopped early: ${steps.length} of 16 steps`);
      const done = records.at(-1);
      assert.ok(
        done?.event === 'done' && done.status === 'cancelled',
        'done record says cancelled',
      );
      const text = await readFile(path.join(runDir, 'metrics.jsonl'), 'utf8');
      assert.equal(text.trim().split('\n').length, records.length);
      assert.ok(host.hasWorker, 'a cancel keeps the worker');

      const next = await host.startRun(
        {
          runId: 'after-cancel',
          config: { ...config, limit: 128 },
          runDir: path.join(root, 'next'),
          backend: 'wasm',
        },
        () => {},
      );
      assert.equal(next.status, 'completed', `${next.status}: ${next.message ?? ''}`);
      assert.equal(
        logs.filter((l) => /starting worker/.test(l.message)).length,
        1,
        'both runs used one worker',
      );
    } finally {
      await host.dispose();
      await rm(root, { recursive: true, force: true });
    }
  },
);
