/**
 * The engine channel: extension host (extension/engine/workerHost.ts) ↔ engine worker
 * (extension/worker/engineWorker.ts, bundled to dist/worker.js).
 */
import { anyFields, messageGuard } from './channel';
import type {
  BackendPreference,
  FinetuneOptions,
  MetricsRecord,
  RunStatus,
  TrainConfig,
} from './schema';

/** Host → engine worker. */
export type ToWorker =
  /** Start a run; the worker answers with `record` messages and finally `runEnded`. */
  | {
      kind: 'startRun';
      runId: string;
      config: TrainConfig;
      /** Absolute run folder; created by the host, filled by the worker. */
      runDir: string;
      backend: BackendPreference;
      /** Data-parallel replica threads (`bnnLab.engine.threads`); 1 when absent. */
      threads?: number;
      /** `bnnLab.engine.nativeModulePath`: the folder native TensorFlow is loaded from. */
      nativeModulePath?: string;
    }
  /** Start a fine-tune of a BNN Lab checkpoint (`core/run/finetune.ts`); answered like `startRun`. */
  | {
      kind: 'startFinetune';
      runId: string;
      /** Absolute run folder of the fine-tune; created by the host, filled by the worker. */
      runDir: string;
      backend: BackendPreference;
      finetune: FinetuneOptions;
      /** Data-parallel replica threads (`bnnLab.engine.threads`), as in `startRun`; 1 when absent. */
      threads?: number;
      /** `bnnLab.engine.nativeModulePath`, as in `startRun`. */
      nativeModulePath?: string;
    }
  /** User pressed Stop/Cancel; honoured between batches. */
  | { kind: 'cancelRun'; runId: string };

/** Engine worker → host. */
export type FromWorker =
  /** Once, after the worker has loaded the engine code. */
  | { kind: 'workerReady' }
  /**
   * Metrics records in order, each already appended to the run's metrics.jsonl, in wire form
   * ({@link toWireRecord}); at most one message per 100 ms (extension/worker/recordBatcher.ts).
   */
  | { kind: 'records'; runId: string; records: MetricsRecord[] }
  /** A line for the BNN Lab log. */
  | { kind: 'log'; level: 'info' | 'warn' | 'error'; message: string }
  /** The run is over; `stack` carries the full error for the log when it failed. */
  | {
      kind: 'runEnded';
      runId: string;
      status: Exclude<RunStatus, 'running'>;
      message?: string;
      stack?: string;
    };
/** Runtime check of a message received by the worker. */
export const isToWorker = messageGuard<ToWorker>({
  startRun: anyFields,
  startFinetune: anyFields,
  cancelRun: anyFields,
});

/** Runtime check of a message received from the worker. */
export const isFromWorker = messageGuard<FromWorker>({
  workerReady: anyFields,
  records: anyFields,
  log: anyFields,
  runEnded: anyFields,
});

/**
 * A `step` record as the engine worker posts it: every layer's histogram counts as a
 * `Uint32Array` and `alpha` as a `Float32Array` (pre-binned typed arrays, cheap to clone and to
 * transfer to a webview); other records unchanged. `metrics.jsonl` keeps JSON arrays.
 */
export function toWireRecord(record: MetricsRecord): MetricsRecord {
  if (record.event !== 'step') return record;
  return {
    ...record,
    layers: record.layers.map((l) => ({
      ...l,
      histogram: { ...l.histogram, counts: Uint32Array.from(l.histogram.counts) },
      ...(l.alpha === undefined ? {} : { alpha: Float32Array.from(l.alpha) }),
    })),
  };
}
