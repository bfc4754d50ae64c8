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
}

export interface RunResult {
  status: Exclude<RunStatus, 'running'>;
  testAccuracy: number | null;
  message?: string;
}
