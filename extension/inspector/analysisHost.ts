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
import type { ResourceLimits } from 'node:worker_threads';
import {
  isFromAnalysis,
  type AnalysisOptions,
  type FromAnalysis,
  type ToAnalysis,
} from '../../core/protocol/analysis';
import { assertNever } from '../../core/protocol/channel';
import type { CompareReport, InspectReport, SeriesReport } from '../../core/protocol/schema';
import { RequestWorker } from '../../core/workers/requests';
import type { LogLevel } from '../../core/workers/thread';

export type { LogLevel };

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

/** What the host knows of a request while it is pending. */
interface RequestContext {
  kind: ToAnalysis['kind'];
  what: string;
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
  private readonly worker: RequestWorker<ToAnalysis, FromAnalysis, RequestContext>;
  private disposed = false;

  constructor(private readonly options: AnalysisHostOptions) {
    this.worker = new RequestWorker({
      thread: {
        name: 'the analysis worker',
        script: options.workerScript,
        resourceLimits: options.resourceLimits,
        accepts: isFromAnalysis,
        // Route the worker's console to the log instead of the extension host's console.
        log: options.log,
        logPrefix: 'analysis: ',
      },
      answers: (msg) => ('id' in msg ? msg.id : undefined),
      onEvent: (msg) => {
        if (msg.kind === 'analysisReady') this.options.log('info', 'analysis: worker ready');
        else if (msg.kind === 'analysisLog') this.options.log(msg.level, msg.message);
      },
      errors: {
        timedOut: (request, timeoutMs) =>
          new AnalysisError(
            `could not ${request.what}: no answer within ${Math.round(timeoutMs / 100) / 10} s (the file may be too large or damaged)`,
            true,
          ),
        stopped: (request, timedOut) =>
          new AnalysisError(
            `could not ${request.what}: the analysis worker was stopped because "${timedOut.what}" timed out`,
            false,
          ),
        lost: (request, error) =>
          new AnalysisError(
            `could not ${request.what}: ${error.message}. The next request starts a new worker.`,
            false,
            error.detail,
          ),
      },
    });
  }

  /** Requests not settled yet. */
  get pendingCount(): number {
    return this.worker.pendingCount;
  }

  /** True while a worker thread exists. */
  get hasWorker(): boolean {
    return this.worker.hasWorker;
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
  async request<K extends ToAnalysis['kind']>(
    request: Extract<AnalysisRequest, { kind: K }>,
    timeoutMs = this.options.defaultTimeoutMs ?? DEFAULT_ANALYSIS_TIMEOUT_MS,
  ): Promise<AnalysisResults[K]> {
    if (this.disposed) throw new AnalysisError('the analysis worker was shut down', false);
    const context: RequestContext = { kind: request.kind, what: describeRequest(request) };
    const answer = await this.worker.request(request, context, timeoutMs);
    switch (answer.kind) {
      case 'inspected':
      case 'compared':
      case 'seriesAnalysed':
        if (ANSWER_OF[context.kind] !== answer.kind) {
          throw new AnalysisError(
            `the analysis worker answered ${context.what} with ${answer.kind}`,
            false,
          );
        }
        return answer.report as AnalysisResults[K];
      case 'analysisFailed':
        if (!answer.userError) {
          this.options.log(
            'error',
            `analysis: ${context.what} failed\n${answer.stack ?? answer.message}`,
          );
        }
        throw new AnalysisError(answer.message, answer.userError, answer.stack);
      case 'analysisReady':
      case 'analysisLog':
        throw new Error(`analysis: ${answer.kind} answers no request`); // answers() excludes them
      default:
        return assertNever(answer);
    }
  }

  /** Rejects every pending request and terminates the worker. */
  async dispose(): Promise<void> {
    this.disposed = true;
    await this.worker.dispose(
      () => new AnalysisError('BNN Lab was shut down during the analysis', false),
    );
  }
}
