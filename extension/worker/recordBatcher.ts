/**
 * Coalesces a run's records in the engine worker so that it posts at most one `records` message
 * per interval (100 ms: ≤ 10 messages/s however small `telemetryEverySteps` is). `start`,
 * `epoch` and `done` records are posted at once (with whatever steps are queued before them),
 * so progress and the end of a run are never delayed; `flush` empties the queue before
 * `runEnded`. Order is always kept. No vscode, no worker API: the clock and timers are injected.
 */
import type { MetricsRecord } from '../../core/protocol/schema';

export const RECORD_INTERVAL_MS = 100;

export interface BatcherClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const SYSTEM_CLOCK: BatcherClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class RecordBatcher {
  private queue: MetricsRecord[] = [];
  private lastPost = -Infinity;
  private timer: unknown;

  constructor(
    private readonly post: (records: MetricsRecord[]) => void,
    private readonly intervalMs = RECORD_INTERVAL_MS,
    private readonly clock: BatcherClock = SYSTEM_CLOCK,
  ) {}

  push(record: MetricsRecord): void {
    this.queue.push(record);
    const waited = this.clock.now() - this.lastPost;
    if (record.event !== 'step' || waited >= this.intervalMs) {
      this.flush();
    } else if (this.timer === undefined) {
      this.timer = this.clock.setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, this.intervalMs - waited);
    }
  }

  /** Posts what is queued, if anything. */
  flush(): void {
    if (this.timer !== undefined) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.queue.length === 0) return;
    const records = this.queue;
    this.queue = [];
    this.lastPost = this.clock.now();
    this.post(records);
  }
}
