import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BackendPreference, MetricsRecord } from '../../../core/protocol';
import { loadCheckpointModel } from '../../../core/training/checkpoint';
import { resolveConfig } from '../../../core/training/config';
import { runTraining } from '../../../core/run/train';

/** A short training run (one epoch of `limit / batchSize` steps) on `backend`. */
export async function shortRun(
  backend: BackendPreference,
  raw: Record<string, unknown>,
  extra: { resumeFrom?: string; runDir?: string } = {},
) {
  const config = resolveConfig(
    {
      dataset: 'mnist',
      epochs: 1,
      limit: 32,
      testLimit: 16,
      batchSize: 16,
      seed: 5,
      telemetryEverySteps: 1,
      ...raw,
    },
    'test',
  );
  const runDir = extra.runDir ?? join(mkdtempSync(join(tmpdir(), `bnn-${backend}-`)), 'run');
  const records: MetricsRecord[] = [];
  const logs: string[] = [];
  const result = await runTraining(
    { runId: backend, config, runDir, backend, resumeFrom: extra.resumeFrom },
    {
      onRecord: (r) => records.push(r),
      log: (_level, message) => logs.push(message),
      isCancelled: () => false,
    },
  );
  return { result, records, logs, runDir };
}

/** The weights of a run's checkpoint `epoch-N`, by name. */
export async function checkpointWeights(runDir: string, epoch: number) {
  const { model } = await loadCheckpointModel(join(runDir, 'checkpoints', `epoch-${epoch}`));
  const out = new Map<string, Float32Array>();
  for (const w of model.weights) out.set(w.originalName, w.read().dataSync() as Float32Array);
  model.dispose();
  return out;
}
