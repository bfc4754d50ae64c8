/**
 * The engine's entry points, shared by the worker (extension/worker) and the CLI (core/cli).
 */
import type { BackendPreference, MetricsRecord, RunStatus, TrainConfig } from '../protocol';

/** Sinks and controls a caller hands to a run. Core never touches the clock or console directly. */
export interface RunHooks {
  /** Every record, in order, after it was appended to `metrics.jsonl`. */
  onRecord(record: MetricsRecord): void;
  /** Diagnostic lines for the log. */
  log(level: 'info' | 'warn' | 'error', message: string): void;
  /** Polled between batches; true once the user asked to stop. */
  isCancelled(): boolean;
}

export interface RunRequest {
  runId: string;
  config: TrainConfig;
  /** Run folder (created if missing): config.json, metrics.jsonl, checkpoints/. */
  runDir: string;
  backend: BackendPreference;
  /**
   * A checkpoint folder (`…/checkpoints/epoch-N`) of a run with the same config: training
   * continues with epoch N + 1 and writes exactly the records the uninterrupted run would have
   * written after epoch N (times aside).
   */
  resumeFrom?: string;
  /**
   * Data-parallel replica threads (1 to the machine's cores; default 1): each computes the
   * gradients of its share of every batch on its own wasm instance, with batch norm synchronized
   * over the whole batch, so the result matches one thread up to float rounding.
   */
  threads?: number;
}

export interface RunResult {
  status: Exclude<RunStatus, 'running'>;
  testAccuracy: number | null;
  message?: string;
}

/**
 * Starts the `error` log line that carries a failed run's full stack. The failure's message is
 * also in the run's result (and its `done` record), so a front end that shows that message
 * (the CLI) skips this line instead of printing the error twice; the extension logs it whole.
 */
export const FAILURE_LOG_PREFIX = 'run failed: ';

/**
 * The message a failed run reports. The wasm backend aborts with a bare "Aborted()" when its
 * memory (at most 4 GB for wasm32) cannot hold a step's tensors, or traps on a read or write past
 * it: say what to change instead. `batchSize` is the batch the run used (the dataset may cap the
 * configured one) and `threads` the replicas sharing it, each in its own wasm memory.
 */
export function failureMessage(e: unknown, batchSize: number | undefined, threads = 1): string {
  const message = e instanceof Error ? e.message : String(e);
  const outOfMemory =
    /(^|: )Aborted\(/.test(message) ||
    /could not grow|Array buffer allocation failed|out of memory|memory access out of bounds/i.test(
      message,
    );
  if (!outOfMemory) return message;
  const smaller =
    batchSize !== undefined && batchSize > 1 ? Math.max(1, batchSize >> 1) : undefined;
  const perThread =
    batchSize !== undefined && threads > 1
      ? ` (${Math.ceil(batchSize / threads)} examples in each of ${threads} threads)`
      : '';
  return (
    `the engine ran out of memory (${message.trim()}): the wasm backend holds every tensor of a ` +
    `step in at most 4 GB per thread` +
    (batchSize !== undefined ? ` and batch size ${batchSize}${perThread} needs more` : '') +
    `; lower "batchSize"${smaller !== undefined ? ` (e.g. ${smaller})` : ''}, or install ` +
    `@tensorflow/tfjs-node for the native backend`
  );
}
