/**
 * One worker thread's lifecycle, the same for every owner (engine host, analysis host, HDF5
 * reader, data-parallel replicas): spawn, an optional ready message with a timeout, every way the
 * thread can die (uncaught error, exit, out of memory, no ready message in time) reported once as
 * a `WorkerLostError` naming the thread, and `kill()` for a stop on purpose, which is not a loss.
 * Messages are checked by the channel's guard (core/protocol/channel.ts) before the owner sees
 * them. A thread is never restarted here: owners start a fresh one for their next piece of work,
 * so a thread that dies on load cannot loop.
 */
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { previewMessage } from '../protocol/channel';

export type LogLevel = 'info' | 'warn' | 'error';
export type Log = (level: LogLevel, message: string) => void;

/** How a thread was lost. */
export type LostReason = 'crashed' | 'exited' | 'outOfMemory' | 'notReady';

/** A thread died (or never became ready) without being killed. The message names the thread. */
export class WorkerLostError extends Error {
  override name = 'WorkerLostError';
  constructor(
    /** The thread's name, as in `WorkerThreadOptions.name`. */
    readonly worker: string,
    readonly reason: LostReason,
    message: string,
    /** The thread's own error stack, for the log. */
    readonly detail?: string,
  ) {
    super(message);
  }
}

export interface WorkerThreadOptions<From> {
  /** What messages call the thread: `the engine worker`, `replica thread 2`. */
  name: string;
  /** Absolute path of the thread's script. */
  script: string;
  workerData?: unknown;
  /** Heap limits: a thread exceeding them is lost (`outOfMemory`) instead of the process. */
  resourceLimits?: ResourceLimits;
  /** The channel's guard: other messages are logged (when `log` is set) and dropped. */
  accepts: (value: unknown) => value is From;
  /** The thread's "loaded" message; it is passed to `onMessage` too. */
  isReady?: (message: From) => boolean;
  /** With `isReady`: a thread not ready after this long is killed and lost (`notReady`). */
  readyTimeoutMs?: number;
  /**
   * Where the thread's stdout (info) and stderr (warn) lines and this module's notes go, each
   * prefixed with `logPrefix`. Without it the thread writes to the process's own stdout/stderr.
   */
  log?: Log;
  logPrefix?: string;
  onMessage(message: From): void;
  /** Called at most once, never after `kill()`; the loss is logged first (with `log`). */
  onLost(error: WorkerLostError): void;
}

export const DEFAULT_READY_TIMEOUT_MS = 60_000;

export class WorkerThread<To, From> {
  private readonly worker: Worker;
  private readyTimer: NodeJS.Timeout | undefined;
  private readonly spawnedAt = Date.now();
  private readyFlag = false;
  private goneFlag = false;

  /** @throws Error when the thread cannot be created (a missing script, bad options). */
  constructor(private readonly options: WorkerThreadOptions<From>) {
    const routed = options.log !== undefined;
    this.worker = new Worker(options.script, {
      workerData: options.workerData,
      resourceLimits: options.resourceLimits,
      stdout: routed,
      stderr: routed,
    });
    if (routed) {
      this.worker.stdout.setEncoding('utf8').on('data', (text: string) => this.lines('info', text));
      this.worker.stderr.setEncoding('utf8').on('data', (text: string) => this.lines('warn', text));
    }
    if (options.isReady && options.readyTimeoutMs !== undefined) {
      const ms = options.readyTimeoutMs;
      this.readyTimer = setTimeout(() => {
        if (this.goneFlag || this.readyFlag) return;
        this.lose('notReady', `${options.name} did not start within ${duration(ms)}`);
        void this.worker.terminate().catch(() => undefined); // only rejects for a thread already gone
      }, ms);
    }
    this.worker.on('message', (message: unknown) => this.received(message));
    this.worker.on('messageerror', (err) =>
      this.note('warn', `unreadable message from ${options.name}: ${err.message}`),
    );
    this.worker.on('error', (err) => this.crashed(err));
    this.worker.on('exit', (code) =>
      this.lose(
        'exited',
        code === 0
          ? `${options.name} exited unexpectedly`
          : `${options.name} exited with code ${code}`,
      ),
    );
  }

  get name(): string {
    return this.options.name;
  }

  /** True once the thread sent its ready message (always false without `isReady`). */
  get ready(): boolean {
    return this.readyFlag;
  }

  /** True once the thread was lost or killed; it then neither sends nor receives. */
  get gone(): boolean {
    return this.goneFlag;
  }

  /** Milliseconds since the thread was spawned. */
  get ageMs(): number {
    return Date.now() - this.spawnedAt;
  }

  /**
   * Posts a message (queued by the port until the thread listens). Ignored once the thread is gone.
   */
  post(message: To, transfer: readonly ArrayBuffer[] = []): void {
    if (!this.goneFlag) this.worker.postMessage(message, transfer as ArrayBuffer[]);
  }

  /** Whether the thread keeps the process alive (Node's `ref`/`unref`). */
  keepAlive(on: boolean): void {
    if (this.goneFlag) return;
    if (on) this.worker.ref();
    else this.worker.unref();
  }

  /** Stops the thread on purpose: no `onLost`, later events ignored. Never rejects. */
  async kill(): Promise<void> {
    this.goneFlag = true;
    clearTimeout(this.readyTimer);
    try {
      await this.worker.terminate();
    } catch (e) {
      this.note('warn', `terminating ${this.options.name} failed: ${String(e)}`);
    }
  }

  private received(message: unknown): void {
    if (this.goneFlag) return;
    if (!this.options.accepts(message)) {
      this.note(
        'warn',
        `ignored a message from ${this.options.name} that its channel does not have: ${previewMessage(message)}`,
      );
      return;
    }
    if (!this.readyFlag && this.options.isReady?.(message)) {
      this.readyFlag = true;
      clearTimeout(this.readyTimer);
    }
    this.options.onMessage(message);
  }

  private crashed(err: Error): void {
    const name = this.options.name;
    if ((err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY') {
      const limit = this.options.resourceLimits?.maxOldGenerationSizeMb;
      const detail = limit === undefined ? '' : ` (heap limit ${limit} MB)`;
      this.lose('outOfMemory', `${name} ran out of memory${detail}`, err.stack);
    } else {
      this.lose('crashed', `${name} crashed: ${err.message}`, err.stack ?? String(err));
    }
  }

  private lose(reason: LostReason, message: string, detail?: string): void {
    if (this.goneFlag) return;
    this.goneFlag = true;
    clearTimeout(this.readyTimer);
    this.note('error', `${message}${detail ? `\n${detail}` : ''}`);
    this.options.onLost(new WorkerLostError(this.options.name, reason, message, detail));
  }

  private note(level: LogLevel, message: string): void {
    this.options.log?.(level, `${this.options.logPrefix ?? ''}${message}`);
  }

  private lines(level: LogLevel, text: string): void {
    for (const line of text.split('\n')) {
      if (line.trim() !== '') this.note(level, line);
    }
  }
}

/** `300 ms`, `60 s`, `10 min`: how a wait reads in a message. */
function duration(ms: number): string {
  if (ms < 10_000) return `${ms} ms`;
  if (ms < 600_000 || ms % 60_000 !== 0) return `${Math.round(ms / 1000)} s`;
  return `${ms / 60_000} min`;
}
