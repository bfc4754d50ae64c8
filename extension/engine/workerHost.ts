/**
 * The host side of the engine worker, kept free of the vscode API so plain-Node tests drive the
 * same code the extension runs. It starts the worker on demand, runs one run at a time, and turns
 * every way a worker can die (uncaught error, non-zero exit, out of memory, hang on load or
 * cancel) into a failed or cancelled run. It never restarts a worker by itself: only the next
 * `startRun` spawns a fresh one, so a worker that dies on load cannot loop.
 */
import type { ResourceLimits } from 'node:worker_threads';
import { assertNever } from '../../core/protocol/channel';
import { isFromWorker, type FromWorker, type ToWorker } from '../../core/protocol/engine';
import type {
  BackendPreference,
  FinetuneOptions,
  MetricsRecord,
  RunStatus,
  TrainConfig,
} from '../../core/protocol/schema';
import {
  DEFAULT_READY_TIMEOUT_MS,
  WorkerThread,
  type LogLevel,
  type WorkerLostError,
} from '../../core/workers/thread';

/** A training run (`config`) or a fine-tune of a checkpoint (`finetune`). */
export type RunParams = {
  runId: string;
  /** Absolute run folder, already created. */
  runDir: string;
  backend: BackendPreference;
  /** Data-parallel replica threads of a training run or fine-tune. */
  threads?: number;
  /** `bnnLab.engine.nativeModulePath`: where native TensorFlow is loaded from. */
  nativeModulePath?: string;
} & ({ config: TrainConfig } | { finetune: FinetuneOptions });

/** How a run ended. `startRun`'s promise always resolves with one; it never rejects. */
export interface RunEnd {
  runId: string;
  status: Exclude<RunStatus, 'running'>;
  message?: string;
  /** Full error for the log when the run failed. */
  stack?: string;
  /** True when the worker died or was terminated instead of reporting the end itself. */
  crashed: boolean;
}

export type { LogLevel };

export interface WorkerHostOptions {
  /** Absolute path of the bundled worker (`dist/worker.js`). */
  workerScript: string;
  /** Heap limits for the worker; exceeding them ends the run as failed instead of the host. */
  resourceLimits?: ResourceLimits;
  /** How long the worker may take to load before the run fails. */
  readyTimeoutMs?: number;
  /** After a cancel, how long to wait for `runEnded` before terminating the worker. */
  cancelGraceMs?: number;
  log(level: LogLevel, message: string): void;
}

interface ActiveRun {
  params: RunParams;
  onRecord: (record: MetricsRecord) => void;
  resolve: (end: RunEnd) => void;
  done: Promise<RunEnd>;
  cancelTimer?: NodeJS.Timeout;
}

export { DEFAULT_READY_TIMEOUT_MS };
/** Evaluation and checkpoints do not poll for cancel; give them time before terminating. */
export const DEFAULT_CANCEL_GRACE_MS = 30_000;

export class WorkerHost {
  private live: WorkerThread<ToWorker, FromWorker> | undefined;
  private active: ActiveRun | undefined;
  private disposed = false;

  constructor(private readonly options: WorkerHostOptions) {}

  /** The run in progress, if any. */
  get activeRunId(): string | undefined {
    return this.active?.params.runId;
  }

  /** True while a worker thread exists (idle or busy). */
  get hasWorker(): boolean {
    return this.live !== undefined;
  }

  /**
   * Starts a run in the worker, spawning one if none is alive. `onRecord` gets every record of
   * this run in order. The promise resolves once the run is over, however it ended.
   * @throws Error when a run is already active or the host was disposed.
   */
  startRun(params: RunParams, onRecord: (record: MetricsRecord) => void): Promise<RunEnd> {
    if (this.disposed) throw new Error('startRun: the engine host was disposed');
    if (this.active) {
      throw new Error(`startRun: run ${this.active.params.runId} is still active`);
    }
    let resolve!: (end: RunEnd) => void;
    const done = new Promise<RunEnd>((r) => (resolve = r));
    this.active = { params, onRecord, resolve, done };
    try {
      const live = this.live ?? this.spawn();
      // Messages posted before the worker has attached its listener are queued by the port.
      this.post(
        live,
        'config' in params ? { kind: 'startRun', ...params } : { kind: 'startFinetune', ...params },
      );
    } catch (e) {
      this.finish({ runId: params.runId, ...failure('could not start the engine worker', e) });
    }
    return done;
  }

  /**
   * Asks the worker to stop `runId` (default: the active run) between batches. If it has not
   * ended within the grace period the worker is terminated and the run ends as cancelled.
   * @returns the run's end, or undefined when no matching run is active.
   */
  cancel(runId?: string): Promise<RunEnd> | undefined {
    const run = this.active;
    if (!run || (runId !== undefined && run.params.runId !== runId)) return undefined;
    if (run.cancelTimer === undefined && this.live) {
      const live = this.live;
      this.post(live, { kind: 'cancelRun', runId: run.params.runId });
      const graceMs = this.options.cancelGraceMs ?? DEFAULT_CANCEL_GRACE_MS;
      run.cancelTimer = setTimeout(() => {
        if (this.active !== run) return;
        this.options.log(
          'warn',
          `engine: run ${run.params.runId} did not stop within ${graceMs} ms; terminating the worker`,
        );
        void this.kill(live); // kill() catches and logs its own failure
        this.finish({
          runId: run.params.runId,
          status: 'cancelled',
          message: `the engine did not stop within ${graceMs} ms, so its worker was terminated`,
          crashed: true,
        });
      }, graceMs);
    }
    return run.done;
  }

  /** Ends the active run as cancelled and terminates the worker. */
  async dispose(): Promise<void> {
    this.disposed = true;
    if (this.active) {
      this.finish({
        runId: this.active.params.runId,
        status: 'cancelled',
        message: 'BNN Lab was shut down during the run',
        crashed: true,
      });
    }
    const live = this.live;
    if (live) await this.kill(live);
  }

  private spawn(): WorkerThread<ToWorker, FromWorker> {
    this.options.log('info', `engine: starting worker ${this.options.workerScript}`);
    const live: WorkerThread<ToWorker, FromWorker> = new WorkerThread<ToWorker, FromWorker>({
      name: 'the engine worker',
      script: this.options.workerScript,
      resourceLimits: this.options.resourceLimits,
      accepts: isFromWorker,
      isReady: (msg) => msg.kind === 'workerReady',
      readyTimeoutMs: this.options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
      // The worker's stdout/stderr would otherwise go to the extension host's console, where
      // nobody reads it; route it to the log instead.
      log: this.options.log,
      logPrefix: 'engine: ',
      onMessage: (msg) => this.onMessage(live, msg),
      onLost: (error) => this.lost(live, error),
    });
    this.live = live;
    return live;
  }

  private onMessage(live: WorkerThread<ToWorker, FromWorker>, msg: FromWorker): void {
    switch (msg.kind) {
      case 'workerReady':
        this.options.log('info', `engine: worker ready after ${live.ageMs} ms`);
        break;
      case 'records':
        if (this.active?.params.runId !== msg.runId) break;
        try {
          for (const record of msg.records) this.active.onRecord(record);
        } catch (e) {
          // A failing listener must not become an uncaught exception on the host thread.
          this.options.log(
            'error',
            `engine: a record listener failed: ${(e as Error).stack ?? String(e)}`,
          );
        }
        break;
      case 'log':
        this.options.log(msg.level, msg.message);
        break;
      case 'runEnded':
        if (this.active?.params.runId !== msg.runId) break;
        this.finish({
          runId: msg.runId,
          status: msg.status,
          message: msg.message,
          stack: msg.stack,
          crashed: false,
        });
        break;
      default:
        assertNever(msg);
    }
  }

  /** The worker is gone for good (the toolkit logged why): forget it and fail its run. */
  private lost(live: WorkerThread<ToWorker, FromWorker>, error: WorkerLostError): void {
    if (this.live === live) this.live = undefined;
    const message =
      error.reason === 'outOfMemory'
        ? `${error.message}; try a smaller batchSize or limit`
        : error.message;
    if (this.active) {
      this.finish({
        runId: this.active.params.runId,
        status: 'failed',
        message,
        stack: error.detail,
        crashed: true,
      });
    }
  }

  /** Terminates a worker on purpose; its `exit` event is then not a crash. */
  private async kill(live: WorkerThread<ToWorker, FromWorker>): Promise<void> {
    if (this.live === live) this.live = undefined;
    await live.kill();
  }

  private finish(end: RunEnd): void {
    const run = this.active;
    if (!run || run.params.runId !== end.runId) return;
    clearTimeout(run.cancelTimer);
    this.active = undefined;
    run.resolve(end);
  }

  /** The only place that posts to the worker. */
  private post(live: WorkerThread<ToWorker, FromWorker>, msg: ToWorker): void {
    live.post(msg);
  }
}

function failure(
  what: string,
  e: unknown,
): Pick<RunEnd, 'status' | 'message' | 'stack' | 'crashed'> {
  const err = e instanceof Error ? e : new Error(String(e));
  return { status: 'failed', message: `${what}: ${err.message}`, stack: err.stack, crashed: true };
}
