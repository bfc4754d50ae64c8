/**
 * Request/response over a worker thread, for the owners whose thread answers requests (the
 * analysis worker, the HDF5 reader): the thread is started on demand; each request gets an id and
 * a timeout and is settled exactly once, by the message that answers its id, on timeout, or when
 * the thread is lost. A timeout also kills the thread (a stuck read never yields), failing the
 * requests that shared it; the next request starts a fresh thread.
 */
import type { Message } from '../protocol/channel';
import { WorkerLostError, WorkerThread, type WorkerThreadOptions } from './thread';

/** A message type without its `id` (the client assigns it), kept distributive over a union. */
export type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

export interface RequestWorkerOptions<From extends Message, C> {
  /** The thread to start for the next request (the client supplies `onMessage` and `onLost`). */
  thread: Omit<WorkerThreadOptions<From>, 'onMessage' | 'onLost'>;
  /** The id of the request a message answers; undefined for other messages (logs, ready). */
  answers(message: From): number | undefined;
  /** Messages that answer no request. */
  onEvent?(message: From): void;
  /** Keep the process alive only while a request is pending (a library's helper thread). */
  unrefWhenIdle?: boolean;
  /** The error each way of failing gives a request, from the caller's context (`C`) of it. */
  errors: {
    timedOut(request: C, timeoutMs: number): Error;
    /** A request that shared the thread with one that timed out. */
    stopped(request: C, timedOut: C): Error;
    lost(request: C, error: WorkerLostError): Error;
  };
}

interface Pending<From, C> {
  context: C;
  thread: WorkerThread<unknown, From>;
  timer: NodeJS.Timeout;
  resolve(message: From): void;
  reject(error: Error): void;
}

export class RequestWorker<To extends { id: number }, From extends Message, C> {
  private thread: WorkerThread<To, From> | undefined;
  private readonly pending = new Map<number, Pending<From, C>>();
  private nextId = 1;
  private ended = 0;

  constructor(private readonly options: RequestWorkerOptions<From, C>) {}

  /** Requests not settled yet. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** True while a thread exists. */
  get hasWorker(): boolean {
    return this.thread !== undefined;
  }

  /**
   * Counts the threads that ended (lost or killed): read right after `request()`, it identifies
   * the thread serving it, and a later value differs once that thread (and what it held, such as
   * open file handles) is gone.
   */
  get generation(): number {
    return this.ended;
  }

  /**
   * Sends one request; resolves with the message that answers it.
   * @throws (as a rejection) the `errors` of the options: timeout, lost thread, or a failed start.
   */
  request(body: WithoutId<To>, context: C, timeoutMs: number): Promise<From> {
    return new Promise<From>((resolve, reject) => {
      let thread: WorkerThread<To, From>;
      try {
        thread = this.thread ?? this.spawn();
      } catch (e) {
        const name = this.options.thread.name;
        const message = `could not start ${name}: ${e instanceof Error ? e.message : String(e)}`;
        reject(this.options.errors.lost(context, new WorkerLostError(name, 'crashed', message)));
        return;
      }
      const id = this.nextId++;
      const timer = setTimeout(() => this.timedOut(id, timeoutMs), timeoutMs);
      this.pending.set(id, {
        context,
        thread: thread as WorkerThread<unknown, From>,
        timer,
        resolve,
        reject,
      });
      if (this.options.unrefWhenIdle) thread.keepAlive(true);
      thread.post({ ...body, id } as unknown as To);
    });
  }

  /** Rejects every pending request with `error` and kills the thread. */
  async dispose(error: (request: C) => Error): Promise<void> {
    this.rejectAll(error);
    const thread = this.thread;
    this.thread = undefined;
    if (thread) this.ended++;
    await thread?.kill();
  }

  private spawn(): WorkerThread<To, From> {
    const thread: WorkerThread<To, From> = new WorkerThread<To, From>({
      ...this.options.thread,
      onMessage: (message) => this.received(thread, message),
      onLost: (error) => {
        if (this.thread === thread) {
          this.thread = undefined;
          this.ended++;
        }
        this.rejectAll((request) => this.options.errors.lost(request, error), thread);
      },
    });
    if (this.options.unrefWhenIdle) thread.keepAlive(false);
    this.thread = thread;
    return thread;
  }

  private received(thread: WorkerThread<To, From>, message: From): void {
    const id = this.options.answers(message);
    if (id === undefined) {
      this.options.onEvent?.(message);
      return;
    }
    const entry = this.pending.get(id);
    if (!entry || entry.thread !== (thread as WorkerThread<unknown, From>)) {
      this.options.thread.log?.(
        'warn',
        `${this.options.thread.logPrefix ?? ''}an answer to request #${id}, which is not pending`,
      );
      return;
    }
    this.settle(id, entry);
    entry.resolve(message);
  }

  private timedOut(id: number, timeoutMs: number): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    this.settle(id, entry);
    entry.reject(this.options.errors.timedOut(entry.context, timeoutMs));
    const thread = entry.thread;
    if (thread.gone) return;
    this.options.thread.log?.(
      'warn',
      `${this.options.thread.logPrefix ?? ''}a request timed out after ${timeoutMs} ms; stopping ${thread.name}`,
    );
    this.rejectAll((other) => this.options.errors.stopped(other, entry.context), thread);
    if (this.thread === (thread as WorkerThread<To, From>)) {
      this.thread = undefined; // the next request runs on a fresh thread
      this.ended++;
    }
    void thread.kill(); // kill() never rejects
  }

  private settle(id: number, entry: Pending<From, C>): void {
    clearTimeout(entry.timer);
    this.pending.delete(id);
    if (
      this.options.unrefWhenIdle &&
      ![...this.pending.values()].some((p) => p.thread === entry.thread)
    ) {
      entry.thread.keepAlive(false);
    }
  }

  /** Rejects the pending requests (of one thread, or all). */
  private rejectAll(error: (request: C) => Error, of?: WorkerThread<unknown, From>): void {
    for (const [id, entry] of [...this.pending]) {
      if (of && entry.thread !== of) continue;
      this.settle(id, entry);
      entry.reject(error(entry.context));
    }
  }
}
