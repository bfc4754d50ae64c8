/**
 * Runs an async task at most once at a time, for the watched checkpoint folder: a request while
 * it runs queues exactly one more run (however many requests came), and `schedule()` waits until
 * requests have been quiet for `debounceMs` (a checkpoint being written fires many events).
 * Pure (timers only), so tests drive it without VS Code.
 */
export class CoalescingRunner {
  private running: Promise<void> | undefined;
  private again = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private disposed = false;

  /** @param task must report its own failures; a rejection is swallowed here. */
  constructor(
    private readonly task: () => Promise<void>,
    private readonly debounceMs: number,
  ) {}

  /** True while the task runs. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Runs now, or once more after the current run; resolves when the current run is over. */
  run(): Promise<void> {
    if (this.disposed) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.task()
      .catch(() => undefined)
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.disposed) {
          this.again = false;
          void this.run(); // run() never rejects
        }
      });
    return this.running;
  }

  /** Runs once requests have been quiet for `debounceMs`. */
  schedule(): void {
    if (this.disposed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run(); // run() never rejects
    }, this.debounceMs);
  }

  /** Drops a scheduled run (a watch stopped); a run in progress finishes, none follows. */
  cancelScheduled(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  dispose(): void {
    this.disposed = true;
    this.again = false;
    this.cancelScheduled();
  }
}
