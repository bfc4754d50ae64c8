/**
 * The host side of the analysis worker (dist/analysisWorker.js), free of the vscode API so that
 * plain-Node tests drive the code the extension runs. Requests carry ids; each one gets a
 * timeout and is settled exactly once: with the worker's answer, with its `analysisFailed`, on
 * timeout, or when the worker dies. Either way its entry leaves the pending map.
 *
 * The worker is started on demand and never restarted by itself: after a crash or a timeout
 * (which terminates it, since a stuck read never yields) the next request starts a fresh one,
 * so a worker that dies on load cannot loop.
 */
import { Worker, type ResourceLimits } from 'node:worker_threads';
import {
  assertNever,
  isFromAnalysis,
  type AnalysisOptions,
  type CompareReport,
  type FromAnalysis,
  type InspectReport,
  type SeriesReport,
  type ToAnalysis,
} from '../../core/protocol';

export type LogLevel = 'info' | 'warn' | 'error';

export interface AnalysisHostOptions {
  /** Absolute path of the bundled worker (`dist/analysisWorker.js`). */
  workerScript: string;
  /** Heap limits of the worker: a huge checkpoint fails its request instead of the host. */
  resourceLimits?: ResourceLimits;
  /** Timeout of a request when the caller gives none. */
  defaultTimeoutMs?: number;
  log(level: LogLevel, message: string): void;
}

/** Why an analysis request failed. `userError`: bad input, the message says which and why. */
export class AnalysisError extends Error {
  override name = 'AnalysisError';
  constructor(
    message: string,
    readonly userError: boolean,
    readonly detail?: string,
  ) {
    super(message);
  }
}

/** A request before the host gives it an id. */
export type AnalysisRequest = ToAnalysis extends infer T
  ? T extends ToAnalysis
    ? Omit<T, 'id'>
    : never
  : never;

/** What each request kind resolves with. */
export interface AnalysisResults {
  inspect: InspectReport;
  compare: CompareReport;
  series: SeriesReport;
}

/** The answer kind that settles each request kind. */
const ANSWER_OF: Record<ToAnalysis['kind'], FromAnalysis['kind']> = {
  inspect: 'inspected',
  compare: 'compared',
  series: 'seriesAnalysed',
};

interface Pending {
  id: number;
  kind: ToAnalysis['kind'];
  what: string;
  resolve: (value: unknown) => void;
  reject: (error: AnalysisError) => void;
  timer: NodeJS.Timeout;
  live: LiveWorker;
}

interface LiveWorker {
  worker: Worker;
  /** Set once the worker is gone (crashed, exited or terminated); later events are ignored. */
  gone: boolean;
}

export const DEFAULT_ANALYSIS_TIMEOUT_MS = 120_000;

/**
 * A timeout that grows with the data to read: `baseMs` plus 1 s per 25 MB (a 45 MB ResNet-18
 * takes well under a second; the margin is for slow disks and busy machines).
 */
export function timeoutForBytes(bytes: number, baseMs = 60_000): number {
  return baseMs + Math.ceil(Math.max(0, bytes) / 25e6) * 1000;
}

/** A short description of a request for messages: `inspect model.pth`. */
export function describeRequest(request: AnalysisRequest): string {
  switch (request.kind) {
    case 'inspect':
      return `inspect ${request.path}`;
    case 'compare':
      return `compare ${request.a} with ${request.b}`;
    case 'series':
      return `analyse the folder ${request.folder}`;
    default:
      return assertNever(request);
  }
}

export class AnalysisHost {
  private live: LiveWorker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private disposed = false;

  constructor(private readonly options: AnalysisHostOptions) {}

  /** Requests not settled yet. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** True while a worker thread exists. */
  get hasWorker(): boolean {
    return this.live !== undefined;
  }

  inspect(path: string, options: AnalysisOptions, timeoutMs?: number): Promise<InspectReport> {
    return this.request({ kind: 'inspect', path, options }, timeoutMs);
  }

  compare(
    a: string,
    b: string,
    timeoutMs?: number,
    options?: AnalysisOptions,
  ): Promise<CompareReport> {
    return this.request({ kind: 'compare', a, b, options }, timeoutMs);
  }

  series(folder: string, options: AnalysisOptions, timeoutMs?: number): Promise<SeriesReport> {
    return this.request({ kind: 'series', folder, options }, timeoutMs);
  }

  /**
   * Sends one request and settles it exactly once.
   * @throws AnalysisError (as a rejection) when the worker fails it, dies or times out.
   */
  request<K extends ToAnalysis['kind']>(
    request: Extract<AnalysisRequest, { kind: K }>,
    timeoutMs = this.options.defaultTimeoutMs ?? DEFAULT_ANALYSIS_TIMEOUT_MS,
  ): Promise<AnalysisResults[K]> {
    if (this.disposed) {
      return Promise.reject(new AnalysisError('the analysis worker was shut down', false));
    }
    const id = this.nextId++;
    const what = describeRequest(request);
    return new Promise<AnalysisResults[K]>((resolve, reject) => {
      let live: LiveWorker;
      try {
        live = this.live ?? this.spawn();
      } catch (e) {
        reject(new AnalysisError(`could not start the analysis worker: ${message(e)}`, false));
        return;
      }
      const timer = setTimeout(() => this.timedOut(id, timeoutMs), timeoutMs);
      this.pending.set(id, {
        id,
        kind: request.kind,
        what,
        resolve: resolve as (value: unknown) => void,
        reject,
        timer,
        live,
      });
      // Messages posted before the worker has attached its listener are queued by the port.
      this.post(live, { ...request, id } as ToAnalysis);
    });
  }

  /** Rejects every pending request and terminates the worker. */
  async dispose(): Promise<void> {
    this.disposed = true;
    this.rejectAll(() => new AnalysisError('BNN Lab was shut down during the analysis', false));
    const live = this.live;
    if (live) await this.kill(live);
  }

  private spawn(): LiveWorker {
    const worker = new Worker(this.options.workerScript, {
      resourceLimits: this.options.resourceLimits,
      // Route the worker's console to the log instead of the extension host's console.
      stdout: true,
      stderr: true,
    });
    const live: LiveWorker = { worker, gone: false };
    this.live = live;
    worker.stdout.setEncoding('utf8').on('data', (text: string) => this.forward('info', text));
    worker.stderr.setEncoding('utf8').on('data', (text: string) => this.forward('warn', text));
    worker.on('message', (msg: unknown) => this.onMessage(live, msg));
    worker.on('messageerror', (err) =>
      this.options.log('warn', `analysis: unreadable message: ${err.message}`),
    );
    worker.on('error', (err) => this.onError(live, err));
    worker.on('exit', (code) => {
      if (!live.gone) this.lost(live, `the analysis worker exited with code ${code}`);
    });
    this.options.log('info', `analysis: starting worker ${this.options.workerScript}`);
    return live;
  }

  private onMessage(live: LiveWorker, msg: unknown): void {
    if (live.gone) return;
    if (!isFromAnalysis(msg)) {
      this.options.log('warn', `analysis: ignored a message that is not a FromAnalysis`);
      return;
    }
    switch (msg.kind) {
      case 'analysisReady':
        this.options.log('info', 'analysis: worker ready');
        break;
      case 'analysisLog':
        this.options.log(msg.level, msg.message);
        break;
      case 'inspected':
      case 'compared':
      case 'seriesAnalysed': {
        const entry = this.take(msg.id);
        if (!entry) break;
        if (ANSWER_OF[entry.kind] !== msg.kind) {
          entry.reject(
            new AnalysisError(`the analysis worker answered ${entry.what} with ${msg.kind}`, false),
          );
        } else {
          entry.resolve(msg.report);
        }
        break;
      }
      case 'analysisFailed': {
        const entry = this.take(msg.id);
        if (!entry) break;
        if (!msg.userError) {
          this.options.log('error', `analysis: ${entry.what} failed\n${msg.stack ?? msg.message}`);
        }
        entry.reject(new AnalysisError(msg.message, msg.userError, msg.stack));
        break;
      }
      default:
        assertNever(msg);
    }
  }

  /** Removes a request from the pending map; undefined for unknown or settled ids. */
  private take(id: number): Pending | undefined {
    const entry = this.pending.get(id);
    if (!entry) {
      this.options.log('warn', `analysis: an answer to request #${id}, which is not pending`);
      return undefined;
    }
    clearTimeout(entry.timer);
    this.pending.delete(id);
    return entry;
  }

  private timedOut(id: number, timeoutMs: number): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    this.pending.delete(id);
    const seconds = Math.round(timeoutMs / 100) / 10;
    entry.reject(
      new AnalysisError(
        `could not ${entry.what}: no answer within ${seconds} s (the file may be too large or damaged)`,
        true,
      ),
    );
    // The worker is stuck in that request (reads do not yield for long): stop it; requests
    // that shared it fail with the reason, and the next one starts a fresh worker.
    const live = entry.live;
    if (!live.gone) {
      this.options.log('warn', `analysis: ${entry.what} timed out; terminating the worker`);
      this.rejectAll(
        (other) =>
          new AnalysisError(
            `could not ${other.what}: the analysis worker was stopped because "${entry.what}" timed out`,
            false,
          ),
        live,
      );
      void this.kill(live); // kill() logs its own failure
    }
  }

  private onError(live: LiveWorker, err: Error): void {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_WORKER_OUT_OF_MEMORY') {
      const limit = this.options.resourceLimits?.maxOldGenerationSizeMb;
      this.lost(
        live,
        `the analysis worker ran out of memory${limit === undefined ? '' : ` (heap limit ${limit} MB)`}`,
        err.stack,
      );
    } else {
      this.lost(live, `the analysis worker crashed: ${err.message}`, err.stack ?? String(err));
    }
  }

  /** The worker died: forget it and reject what it was doing. */
  private lost(live: LiveWorker, reason: string, stack?: string): void {
    if (live.gone) return;
    live.gone = true;
    if (this.live === live) this.live = undefined;
    this.options.log('error', `analysis: ${reason}${stack ? `\n${stack}` : ''}`);
    this.rejectAll(
      (entry) =>
        new AnalysisError(
          `could not ${entry.what}: ${reason}. The next request starts a new worker.`,
          false,
          stack,
        ),
      live,
    );
  }

  /** Rejects the pending requests (of one worker, or all) and clears their timers. */
  private rejectAll(error: (entry: Pending) => AnalysisError, of?: LiveWorker): void {
    for (const entry of [...this.pending.values()]) {
      if (of && entry.live !== of) continue;
      clearTimeout(entry.timer);
      this.pending.delete(entry.id);
      entry.reject(error(entry));
    }
  }

  /** Terminates a worker on purpose; its `exit` event is then not a crash. */
  private async kill(live: LiveWorker): Promise<void> {
    live.gone = true;
    if (this.live === live) this.live = undefined;
    try {
      await live.worker.terminate();
    } catch (e) {
      this.options.log('warn', `analysis: terminating the worker failed: ${message(e)}`);
    }
  }

  /** The only place that posts to the worker. */
  private post(live: LiveWorker, msg: ToAnalysis): void {
    live.worker.postMessage(msg);
  }

  private forward(level: LogLevel, text: string): void {
    for (const line of text.split('\n')) {
      if (line.trim() !== '') this.options.log(level, `analysis: ${line}`);
    }
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
