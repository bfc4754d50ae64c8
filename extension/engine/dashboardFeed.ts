/**
 * What the dashboard webview is sent, and when: a `snapshot` first, then `records` batched to at
 * most one message per interval, `status` on changes. While the webview cannot receive (not yet
 * `ready`, or hidden) everything is kept and replayed once it can; a long backlog collapses into
 * a fresh snapshot. No vscode API, so the batching is unit-tested with fake timers.
 */
import type { MetricsRecord, RunStatus, ToWebview } from '../../core/protocol';

export interface DashboardFeedOptions {
  /** Posts one message to the webview (the provider's typed `postToWebview`). */
  send(msg: ToWebview): void;
  /** A snapshot of the current run, for when the backlog grew past `replayLimit`. */
  snapshot(): ToWebview & { kind: 'snapshot' };
  /** Minimum time between two `records` messages; 250 ms keeps the webview under 10 msgs/s. */
  intervalMs?: number;
  /** Backlogged records beyond which a snapshot replaces them. */
  replayLimit?: number;
}

export class DashboardFeed {
  private outbox: ToWebview[] = [];
  private backlog = 0;
  private connected = false;
  private lastFlushMs = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private readonly intervalMs: number;
  private readonly replayLimit: number;

  constructor(private readonly options: DashboardFeedOptions) {
    this.intervalMs = options.intervalMs ?? 250;
    this.replayLimit = options.replayLimit ?? 2000;
  }

  /** True when the webview has said `ready` and is visible. Connecting flushes the backlog. */
  setConnected(connected: boolean): void {
    this.connected = connected;
    if (connected) this.flush();
  }

  /** Replaces everything queued: the snapshot already contains it. Sent at once if connected. */
  sendSnapshot(msg: ToWebview & { kind: 'snapshot' }): void {
    this.outbox = [msg];
    this.backlog = 0;
    this.flush();
  }

  /** Queues a record of `runId`; sent with others at most once per interval. */
  addRecord(runId: string, record: MetricsRecord): void {
    const last = this.outbox.at(-1);
    if (last?.kind === 'records' && last.runId === runId) last.records.push(record);
    else this.outbox.push({ kind: 'records', runId, records: [record] });
    this.backlog++;
    if (this.backlog > this.replayLimit) {
      this.sendSnapshot(this.options.snapshot());
      return;
    }
    this.schedule();
  }

  /** Queues a status change and sends it (with the records before it) right away if possible. */
  setStatus(runId: string, status: RunStatus, message?: string): void {
    this.outbox.push(
      message === undefined
        ? { kind: 'status', runId, status }
        : { kind: 'status', runId, status, message },
    );
    this.flush();
  }

  /**
   * Queues any other message (a comparison, a deleted-folder notice) behind what is queued and
   * sends it right away if possible. A later snapshot drops it: re-send after snapshots.
   */
  send(msg: Exclude<ToWebview, { kind: 'records' | 'snapshot' }>): void {
    this.outbox.push(msg);
    this.flush();
  }

  /** Messages waiting for the webview (for tests and the log). */
  get pending(): number {
    return this.outbox.length;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.outbox = [];
  }

  private schedule(): void {
    if (!this.connected || this.timer) return;
    const delayMs = Math.max(0, this.lastFlushMs + this.intervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, delayMs);
  }

  private flush(): void {
    if (!this.connected || this.outbox.length === 0) return;
    if (this.outbox.every((m) => m.kind === 'records') && this.tooSoon()) {
      this.schedule();
      return;
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    const messages = this.outbox;
    this.outbox = [];
    this.backlog = 0;
    this.lastFlushMs = Date.now();
    for (const msg of messages) this.options.send(msg);
  }

  private tooSoon(): boolean {
    return Date.now() - this.lastFlushMs < this.intervalMs;
  }
}
