/**
 * The real engine worker (dist/worker.js) through the host: it honours `cancelRun` between
 * batches, ends the run as cancelled (not failed), and the same worker then runs the next run.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
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

void it(
  'fine-tunes a checkpoint with LNS in the worker: telemetry, before/after, source untouched',
  {
    skip: existsSync(WORKER) ? false : `${WORKER} is missing: run \`npm run build\` first`,
    timeout: 5 * 60_000,
  },
  async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'bnn-lab-finetune-'));
    const host = new WorkerHost({ workerScript: WORKER, log: () => {} });
    try {
      const config = resolveConfig(
        { preset: 'mnist-cnn', epochs: 1, limit: 256, testLimit: 64, telemetryEverySteps: 2 },
        'test',
      );
      const source = path.join(root, 'source');
      const trained = await host.startRun(
        { runId: 'source', config, runDir: source, backend: 'wasm' },
        () => {},
      );
      assert.equal(trained.status, 'completed', trained.message);
      const checkpoint = path.join(source, 'checkpoints', 'epoch-1');
      const snapshot = async () =>
        Promise.all(
          (await readdir(checkpoint))
            .sort()
            .map(async (f) => [f, await readFile(path.join(checkpoint, f))]),
        );
      const before = await snapshot();

      // Not a BNN Lab checkpoint: the run fails with a message naming the folder; the worker lives.
      const bad = await host.startRun(
        {
          runId: 'bad',
          runDir: path.join(root, 'bad'),
          backend: 'wasm',
          finetune: { checkpoint: root, method: 'lns' },
        },
        () => {},
      );
      assert.equal(bad.status, 'failed');
      assert.match(bad.message ?? '', /is not a BNN Lab checkpoint: it has no model\.json/);
      assert.ok(bad.message?.includes(root));
      assert.ok(host.hasWorker, 'a user error does not kill the worker');

      const records: MetricsRecord[] = [];
      const runDir = path.join(root, 'lns');
      const end = await host.startRun(
        {
          runId: 'lns',
          runDir,
          backend: 'wasm',
          finetune: {
            checkpoint,
            method: 'lns',
            epochs: 1,
            alpha: 1e-3,
            rho: 0.1,
            limit: 128,
            testLimit: 64,
            mapperWarmupSteps: 5,
          },
        },
        (r) => records.push(r),
      );
      assert.equal(end.status, 'completed', end.message);
      const steps = records.filter((r) => r.event === 'step');
      assert.ok(steps.length > 0);
      const last = steps.at(-1)!;
      assert.ok(last.event === 'step');
      for (const layer of last.layers) {
        assert.equal(typeof layer.flipFromStart, 'number', `${layer.name}.flipFromStart`);
        assert.equal(typeof layer.disagreement, 'number', `${layer.name}.disagreement`);
        assert.equal(typeof layer.auxLoss, 'number', `${layer.name}.auxLoss`);
      }
      assert.equal(typeof last.methodLosses?.lnsAux, 'number');
      // Live records carry pre-binned typed arrays; metrics.jsonl keeps JSON arrays.
      assert.ok(last.layers[0].histogram.counts instanceof Uint32Array, 'counts: Uint32Array');
      assert.ok(last.layers[0].alpha instanceof Float32Array, 'alpha: Float32Array');
      const lines = (await readFile(path.join(runDir, 'metrics.jsonl'), 'utf8')).trim().split('\n');
      const fileStep = lines
        .map((l) => JSON.parse(l) as MetricsRecord)
        .filter((r) => r.event === 'step')
        .at(-1);
      assert.ok(fileStep?.event === 'step');
      assert.ok(Array.isArray(fileStep.layers[0].histogram.counts));
      assert.deepEqual(
        fileStep.layers[0].histogram.counts,
        Array.from(last.layers[0].histogram.counts),
      );
      const done = records.at(-1);
      assert.ok(done?.event === 'done' && done.finetune, 'done carries the before/after table');
      assert.equal(done.finetune.method, 'lns');
      assert.equal(done.finetune.source, checkpoint);
      assert.deepEqual(
        done.finetune.layers.map((l) => l.name),
        last.layers.map((l) => l.name),
      );
      assert.ok(existsSync(path.join(runDir, 'checkpoints', 'epoch-1', 'model.json')));
      assert.deepEqual(
        await snapshot(),
        before,
        'the source checkpoint is byte for byte unchanged',
      );
    } finally {
      await host.dispose();
      await rm(root, { recursive: true, force: true });
    }
  },
);
