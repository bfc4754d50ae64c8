/**
 * What the dashboard webview is sent, and when: a `snapshot` first, then `records` batched to at
 * most one message per interval, `status` on changes. While the webview cannot receive (not yet
 * `ready`, or hidden) everything is kept and replayed once it can; a long backlog collapses into
 * a fresh snapshot. No vscode API, so the batching is unit-tested with fake timers.
 */
import {
  DASHBOARD_HISTOGRAM_FRAMES,
  type MetricsRecord,
  type RunStatus,
  type ToWebview,
} from '../../core/protocol';

/**
 * The records of a snapshot with the histograms (and per-channel α) the dashboard will not draw
 * left out, so a long run with many layers opens quickly: with N `step` records, histograms are
 * kept every k-th report (k the largest power of two with N / k ≥ `maxFrames`, a divisor of the
 * dashboard's own thinning stride, so it keeps exactly what it would have kept from a stream)
 * and on the last one; α only on the last. Other records and all scalar figures are untouched.
 * Self-contained (no imports at run time): the dashboard benchmark runs it in the page.
 */
export function thinSnapshotRecords(
  records: readonly MetricsRecord[],
  maxFrames: number = DASHBOARD_HISTOGRAM_FRAMES,
): MetricsRecord[] {
  let steps = 0;
  for (const r of records) if (r.event === 'step') steps++;
  if (steps <= maxFrames) return records.slice();
  let k = 1;
  while (steps / (k * 2) >= maxFrames) k *= 2;
  let index = -1;
  return records.map((r) => {
    if (r.event !== 'step') return r;
    index++;
    const last = index === steps - 1;
    if (last) return r;
    const keepHistogram = index % k === 0;
    return {
      ...r,
      layers: r.layers.map((layer) => {
        // Drops `alpha`; keeps or empties the histogram.
        const { alpha: _alpha, ...rest } = layer;
        return keepHistogram
          ? rest
          : {
              ...rest,
              histogram: { min: layer.histogram.min, max: layer.histogram.max, counts: [] },
            };
      }),
    };
  });
}

/**
 * Records of a run shown as a comparison: every figure the comparison overlays (loss, accuracy,
 * learning rate, each layer's metrics) without the latent-weight histograms it never draws.
 */
export function comparisonRecords(records: readonly MetricsRecord[]): MetricsRecord[] {
  return records.map((r) =>
    r.event === 'step'
      ? {
          ...r,
          layers: r.layers.map((l) => {
            const { alpha: _alpha, ...rest } = l;
            return { ...rest, histogram: { ...l.histogram, counts: [] } };
          }),
        }
      : r,
  );
}

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
