/**
 * The extension's handle on the engine worker: starts runs, cancels them, keeps the current (or
 * most recent) run's records for the dashboard and fires an event for every change. The worker
 * plumbing itself lives in workerHost.ts, which has no vscode dependency.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { MetricsRecord, RunSnapshot, TrainConfig } from '../../core/protocol';
import { log } from '../log';
import { nativeModulePath } from '../settings';
import { appendRecord } from './runFolders';
import { finalTestAccuracy } from './runProgress';
import { WorkerHost, type RunEnd, type RunParams } from './workerHost';

/** Heap limit of the worker thread. Tensors live outside this heap (wasm memory, ArrayBuffers). */
const WORKER_HEAP_MB = 4096;

/** A run started in this window, with everything recorded so far. */
export interface RunState extends RunSnapshot {
  /** The run's config: known at start for training, from the `start` record for a fine-tune. */
  config?: TrainConfig;
  /** Fine-tunes only: the source checkpoint folder. */
  finetuneOf?: string;
  /** Why the run failed or stopped early. */
  message?: string;
}

export type RunEvent =
  | { kind: 'started'; run: RunState }
  | { kind: 'record'; run: RunState; record: MetricsRecord }
  | { kind: 'ended'; run: RunState; end: RunEnd };

export class EngineClient implements vscode.Disposable {
  private readonly host: WorkerHost;
  private readonly emitter = new vscode.EventEmitter<RunEvent>();
  readonly onDidChangeRun = this.emitter.event;
  private run: RunState | undefined;

  constructor(extensionPath: string) {
    this.host = new WorkerHost({
      workerScript: path.join(extensionPath, 'dist', 'worker.js'),
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
      log: (level, message) => log[level](message),
    });
  }

  /** The run in progress, or the last one started in this window. */
  get currentRun(): RunState | undefined {
    return this.run;
  }

  get isRunning(): boolean {
    return this.host.activeRunId !== undefined;
  }

  /**
   * Starts a run; the promise resolves when it is over, however it ended (never rejects).
   * @throws Error when a run is already active.
   */
  startRun(params: RunParams): Promise<RunEnd> {
    const run: RunState = {
      runId: params.runId,
      dir: params.runDir,
      status: 'running',
      records: [],
      ...('config' in params
        ? { config: params.config }
        : { finetuneOf: params.finetune.checkpoint }),
    };
    const native = { nativeModulePath: params.nativeModulePath ?? nativeModulePath() };
    const ended = this.host.startRun({ ...params, ...native }, (record) => {
      run.records.push(record);
      if (record.event === 'start') run.config = record.config;
      this.emitter.fire({ kind: 'record', run, record });
    });
    this.run = run;
    setRunningContext(true);
    this.emitter.fire({ kind: 'started', run });
    return ended.then(async (end) => {
      if (end.crashed) await this.closeCrashedRun(run, end);
      run.status = end.status;
      run.message = end.message;
      if (end.status === 'failed')
        log.error(`run ${end.runId} failed: ${end.message ?? ''}`, end.stack);
      else log.info(`run ${end.runId} ${end.status}${end.message ? `: ${end.message}` : ''}`);
      setRunningContext(this.isRunning);
      this.emitter.fire({ kind: 'ended', run, end });
      return end;
    });
  }

  /**
   * A worker that died wrote no `done` record: add one, so the run folder says how the run
   * ended (after a reload too) and the dashboard gets the same record as the file.
   */
  private async closeCrashedRun(run: RunState, end: RunEnd): Promise<void> {
    if (run.records.some((r) => r.event === 'done')) return;
    const record: MetricsRecord = {
      event: 'done',
      status: end.status,
      testAccuracy: finalTestAccuracy(run.records),
      ...(end.message === undefined ? {} : { message: end.message }),
      time: Date.now(),
    };
    try {
      await appendRecord(run.dir, record);
    } catch (e) {
      log.error(`run ${run.runId}: could not append the final record to metrics.jsonl`, e);
    }
    run.records.push(record);
    this.emitter.fire({ kind: 'record', run, record });
  }

  /** Asks the active run to stop. @returns its end, or undefined when nothing runs. */
  cancel(): Promise<RunEnd> | undefined {
    return this.host.cancel();
  }

  /** Stops the worker; `deactivate` awaits this. */
  async shutdown(): Promise<void> {
    await this.host.dispose();
  }

  dispose(): void {
    void this.shutdown(); // deactivate() awaits the same shutdown; this only covers reloads
    this.emitter.dispose();
  }
}

function setRunningContext(running: boolean): void {
  // setContext never fails in a way the user could act on.
  void vscode.commands.executeCommand('setContext', 'bnnLab.running', running);
}
