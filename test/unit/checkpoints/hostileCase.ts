/**
 * Runs ONE hostile-input case in a fresh process for hostile.test.ts, so that the process's peak
 * resident memory (`maxRSS`, which counts Buffers, ArrayBuffers and wasm memory, not only the V8
 * heap) belongs to that case alone. Prints one JSON line and then lets the process end by itself:
 * the parent also checks that it exits (a worker blocked in a read would keep it alive).
 *
 *   node hostileCase.js <kind> <path> [worker script]
 *
 * Without arguments (the test runner loads every file under out/test) it does nothing.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { useCpuBackend } from '../../../core/backend/backends';
import { checkpointSeries, inspectCheckpoint } from '../../../core/checkpoints';
import { setHdf5TimeoutMs } from '../../../core/checkpoints/keras';
import { UserError } from '../../../core/errors';
import { loadCifar10Folder } from '../../../core/data/datasets';
import { readIdxFile } from '../../../core/io/idx';
import { listCheckpoints, readMetrics } from '../../../core/io/runFolder';
import { getPreset } from '../../../core/bnn/presets';
import { checkWasmBatchSize } from '../../../core/training/batchLimit';
import { readCheckpointManifest, readTrainingState } from '../../../core/training/checkpoint';
import { readConfigFile, resolveConfig } from '../../../core/training/config';
import { runTraining } from '../../../core/run/train';
import { readRun } from '../../../extension/engine/runFolders';
import { AnalysisHost } from '../../../extension/inspector/analysisHost';

/** What the case printed: the error it ended with (or none), its time and peak memory. */
export interface CaseResult {
  ok: boolean;
  userError: boolean;
  errorName?: string;
  message?: string;
  stack?: string;
  ms: number;
  maxRssMb: number;
  /** Peak of process.memoryUsage().rss seen by sampling every 20 ms (cross-check of maxRSS). */
  sampledPeakMb: number;
  /** What a case that succeeded returned, when the test checks it (the `checkpoints` case). */
  value?: unknown;
}

/** A run that ends `failed` ends the case with its one message (what the CLI and UI show). */
async function failedRun(request: Parameters<typeof runTraining>[0]): Promise<unknown> {
  const result = await runTraining(request, {
    onRecord: () => {},
    log: () => {},
    isCancelled: () => false,
  });
  if (result.status === 'failed') throw new UserError(result.message ?? '(no message)');
  return result.status;
}

async function run(kind: string, target: string, extra: string | undefined): Promise<unknown> {
  switch (kind) {
    case 'inspect':
      return inspectCheckpoint(target);
    case 'series':
      return checkpointSeries(target);
    case 'hdf5-watchdog':
      setHdf5TimeoutMs(2_000);
      return inspectCheckpoint(target);
    case 'config':
      return readConfigFile(target);
    case 'idx':
      return readIdxFile(target);
    case 'cifar':
      return loadCifar10Folder(target, { limit: 10, testLimit: 10 });
    case 'metrics':
      return readMetrics(target);
    case 'run':
      return readRun(target);
    case 'training-state':
      // Resume and fine-tune read a checkpoint's training-state.json and state.bin through this.
      return readTrainingState(target).state;
    case 'checkpoint-manifest':
      return readCheckpointManifest(target);
    case 'batch-limit': {
      // The check the trainer makes before training, on the config's preset and batch size.
      const config = readConfigFile(target);
      await useCpuBackend();
      const model = getPreset(config.preset).build(config.seed);
      try {
        checkWasmBatchSize(model, config.preset, config.batchSize, Number(extra ?? 1));
        return config.batchSize;
      } finally {
        model.dispose();
      }
    }
    case 'checkpoints': {
      // A run folder: the list resume uses, and the series Analyse Folder and `series` read.
      const series = await checkpointSeries(join(target, 'checkpoints'));
      return {
        listed: listCheckpoints(target).map((p) => basename(p)),
        series: series.checkpoints.map((c) => c.name),
      };
    }
    case 'watchdog':
      // A data-parallel run whose scripted replica (`extra`) stops making progress; the
      // watchdog's bound is BNN_LAB_WATCHDOG_MS (1.5 s, as in watchdog.test.ts).
      process.env.BNN_LAB_REPLICA_SCRIPT = extra!;
      process.env.BNN_LAB_WATCHDOG_MS = '1500';
      return failedRun({
        runId: 'hang',
        config: resolveConfig(
          { preset: 'mnist-cnn', epochs: 1, batchSize: 16, limit: 160, testLimit: 50, seed: 3 },
          'test',
        ),
        runDir: target,
        backend: 'wasm',
        threads: 2,
      });
    case 'resume':
      // Resuming `target` (a checkpoint of a mnist-cnn run) with the config changes in `extra`
      // (JSON), e.g. another preset or another weight layout.
      return failedRun({
        runId: 'resumed',
        config: resolveConfig(
          {
            preset: 'mnist-cnn',
            epochs: 2,
            limit: 64,
            testLimit: 32,
            batchSize: 32,
            seed: 4,
            ...(JSON.parse(extra ?? '{}') as Record<string, unknown>),
          },
          'test',
        ),
        runDir: join(mkdtempSync(join(tmpdir(), 'bnn-lab-hostile-resume-')), 'run'),
        backend: 'wasm',
        resumeFrom: target,
      });
    case 'analysis': {
      // The extension's path: AnalysisHost + dist/analysisWorker.js with the extension's limits.
      const logs: string[] = [];
      const host = new AnalysisHost({
        workerScript: extra!,
        resourceLimits: { maxOldGenerationSizeMb: 2048 },
        defaultTimeoutMs: 60_000,
        log: (_level, message) => logs.push(message),
      });
      try {
        return await host.inspect(target, {});
      } catch (error) {
        // The message the extension shows; AnalysisError.userError decides log vs notification.
        const e = error as Error & { userError?: boolean };
        const wrapped = e.userError ? new UserError(e.message) : e;
        throw wrapped;
      } finally {
        await host.dispose();
      }
    }
    default:
      throw new Error(`unknown case kind ${kind}`);
  }
}

async function main(): Promise<void> {
  const [kind, target, extra] = process.argv.slice(2);
  if (kind === undefined) return;
  let peak = 0;
  const sample = () => {
    peak = Math.max(peak, process.memoryUsage().rss);
  };
  const timer = setInterval(sample, 20);
  const started = Date.now();
  let result: CaseResult;
  try {
    const value = await run(kind, target, extra);
    sample();
    result = { ok: true, userError: false, ms: 0, maxRssMb: 0, sampledPeakMb: 0 };
    if (kind === 'checkpoints') result.value = value;
  } catch (error) {
    sample();
    const e = error as Error;
    result = {
      ok: false,
      userError: error instanceof UserError,
      errorName: e?.name,
      message: String(e?.message ?? error),
      stack: error instanceof UserError ? undefined : String(e?.stack ?? error),
      ms: 0,
      maxRssMb: 0,
      sampledPeakMb: 0,
    };
  }
  clearInterval(timer);
  result.ms = Date.now() - started;
  result.maxRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  result.sampledPeakMb = Math.round(peak / (1024 * 1024));
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

void main();
