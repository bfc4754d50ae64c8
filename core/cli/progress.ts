/**
 * The training progress line of `bnn-lab train` and the one-line summaries around it.
 * On a terminal the line is redrawn in place and never wider than the terminal (a line as wide
 * as the terminal or wider would wrap and leave a copy behind at every update); elsewhere (a
 * pipe, a file, CI logs) plain lines are printed every {@link PLAIN_EVERY_MS} instead.
 */
import { formatPhase } from '../format';
import type { BackendInfo, LayerTelemetry, MetricsRecord } from '../protocol';
import type { ProgressStream } from './args';

type StepRecord = Extract<MetricsRecord, { event: 'step' }>;
type PhaseRecord = Extract<MetricsRecord, { event: 'phase' }>;

/** A plain progress line (not a terminal) at most this often. */
export const PLAIN_EVERY_MS = 15_000;
/** Assumed width when the stream does not report one. */
const DEFAULT_COLUMNS = 80;
/** Carriage return, then erase to the end of the line (ANSI EL). */
const CLEAR_LINE = '\r\x1b[K';

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s >= 3600) {
    const m = Math.floor(s / 60);
    return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
  }
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

export function percent(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

/**
 * Joins the parts that fit in `width`: the first part always, then the others in order of
 * `priority` (lower first) while they fit; cut with `…` if even the first does not fit.
 */
export function fitParts(parts: { text: string; priority: number }[], width: number): string {
  const keep = new Set<number>([0]);
  const order = parts.map((p, i) => ({ ...p, i })).sort((a, b) => a.priority - b.priority);
  const length = () =>
    parts.reduce((n, p, i) => (keep.has(i) ? n + p.text.length + (n > 0 ? 1 : 0) : n), 0);
  for (const p of order) {
    if (p.i === 0) continue;
    keep.add(p.i);
    if (length() > width) keep.delete(p.i);
  }
  const line = parts
    .filter((_, i) => keep.has(i))
    .map((p) => p.text)
    .join(' ');
  return line.length > width ? `${line.slice(0, Math.max(0, width - 1))}…` : line;
}

/**
 * The backend choice in one line: `backend wasm × 2 threads (tensorflow-gpu, tensorflow: not
 * installed)`. Backends that were not tried because an earlier one loaded are left out.
 */
export function backendLine(backend: BackendInfo): string {
  const byReason = new Map<string, string[]>();
  for (const s of backend.skipped) {
    if (/^not (tried|requested)/.test(s.reason)) continue;
    const reason = /is not installed/.test(s.reason) ? 'not installed' : s.reason;
    byReason.set(reason, [...(byReason.get(reason) ?? []), s.name]);
  }
  const skipped = [...byReason].map(([reason, names]) => `${names.join(', ')}: ${reason}`);
  const threads = backend.threads > 1 ? ` × ${backend.threads} threads` : '';
  return `backend ${backend.name}${threads}${skipped.length ? ` (${skipped.join('; ')})` : ''}`;
}

/**
 * One line naming the layer with the highest deadWeightRatio, frozenRatio and flipRate
 * (docs/metrics.md), fitted to `width`; undefined without binary layers.
 */
export function layerSummary(layers: LayerTelemetry[], width: number): string | undefined {
  if (layers.length === 0) return undefined;
  const worst = (key: 'deadWeightRatio' | 'frozenRatio' | 'flipRate') =>
    layers.reduce((a, b) => (b[key] > a[key] ? b : a));
  const dead = worst('deadWeightRatio');
  const frozen = worst('frozenRatio');
  const flip = worst('flipRate');
  const items = (long: boolean) => [
    `${long ? 'deadWeightRatio' : 'dead'} ${percent(dead.deadWeightRatio)} ${dead.name}`,
    `${long ? 'frozenRatio' : 'frozen'} ${percent(frozen.frozenRatio)} ${frozen.name}`,
    `${long ? 'flipRate' : 'flip'} ${flip.flipRate.toExponential(2)} ${flip.name}`,
  ];
  const line = (long: boolean) => `  max ${items(long).join(' · ')}`;
  if (line(true).length <= width) return line(true);
  return fitParts([{ text: line(false), priority: 0 }], width);
}

/**
 * Draws the progress of a run on `stream`: steps, the "evaluating test set" state after each
 * epoch's last step, and nothing once {@link clear}ed until the next update.
 */
export class TrainProgress {
  private totalSteps = 0;
  private stepsPerEpoch = 0;
  private epochs = 0;
  private firstStep: number | undefined;
  private firstTime = 0;
  private shown = false;
  private lastPlain = -Infinity;
  private lastStep: StepRecord | undefined;
  private startTime = 0;
  private lastPhasePlain = -Infinity;

  constructor(
    private readonly stream: ProgressStream,
    private readonly now: () => number = Date.now,
  ) {}

  private get tty(): boolean {
    return this.stream.isTTY === true;
  }

  /** The widest line that cannot wrap: one column less than the terminal. */
  get width(): number {
    const columns = this.stream.columns;
    return Math.max(20, (columns !== undefined && columns > 0 ? columns : DEFAULT_COLUMNS) - 1);
  }

  start(record: Extract<MetricsRecord, { event: 'start' }>): void {
    this.totalSteps = record.totalSteps;
    this.stepsPerEpoch = record.stepsPerEpoch;
    // Not record.config.epochs: a fine-tune's start record carries its source run's config.
    this.epochs = Math.round(record.totalSteps / Math.max(1, record.stepsPerEpoch));
    this.startTime = this.now();
  }

  /**
   * The line for a `phase` record (work before the first step), with the time since the run
   * started: `warming up the LNS mappers, step 120/200 · 6s`, fitted to {@link width}.
   */
  phaseLine(record: PhaseRecord): string {
    return fitParts(
      [
        { text: formatPhase(record), priority: 0 },
        { text: `· ${formatDuration(this.now() - this.startTime)}`, priority: 1 },
      ],
      this.width,
    );
  }

  /** A `phase` record: redraws the line (terminal) or prints one at the plain cadence. */
  phase(record: PhaseRecord): void {
    const line = this.phaseLine(record);
    if (this.tty) {
      this.stream.write(`${CLEAR_LINE}${line}`);
      this.shown = true;
    } else if (this.now() - this.lastPhasePlain >= PLAIN_EVERY_MS || record.done === 0) {
      this.stream.write(`${line}\n`);
      this.lastPhasePlain = this.now();
    }
  }

  /** The step line for `record`, fitted to {@link width}. */
  stepLine(record: StepRecord, evaluating = false): string {
    const now = this.now();
    if (this.firstStep === undefined) {
      this.firstStep = record.step;
      this.firstTime = now;
    }
    const done = record.step - this.firstStep;
    const eta =
      done > 0 ? ((now - this.firstTime) / done) * (this.totalSteps - record.step) : undefined;
    const fraction = record.step / Math.max(1, this.totalSteps);
    const tail: { text: string; priority: number }[] = [
      { text: `epoch ${record.epoch}/${this.epochs}`, priority: 0 },
      ...(evaluating
        ? [{ text: '· evaluating test set…', priority: 0 }]
        : [
            { text: `step ${record.step}/${this.totalSteps}`, priority: 1 },
            { text: `loss ${record.loss.toFixed(4)}`, priority: 2 },
            { text: `acc ${percent(record.accuracy)}`, priority: 3 },
            { text: `${Math.round(record.examplesPerSecond)} ex/s`, priority: 6 },
            { text: `eta ${eta === undefined ? '–' : formatDuration(eta)}`, priority: 4 },
          ]),
    ];
    // A bar of fixed width for a given terminal (a fifth of it, at most 30), none when narrow.
    const barWidth = this.width >= 50 ? Math.min(30, Math.floor(this.width / 5)) : 0;
    if (barWidth === 0) return fitParts(tail, this.width);
    const filled = Math.round(barWidth * Math.min(1, fraction));
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]`;
    return `${bar} ${fitParts(tail, this.width - bar.length - 1)}`;
  }

  /** A step record: redraws the line (terminal) or prints one at the plain cadence. */
  step(record: StepRecord): void {
    this.lastStep = record;
    const line = this.stepLine(record);
    if (this.tty) {
      this.stream.write(`${CLEAR_LINE}${line}`);
      this.shown = true;
    } else if (this.now() - this.lastPlain >= PLAIN_EVERY_MS) {
      this.stream.write(`${line}\n`);
      this.lastPlain = this.now();
    }
    // The last step of an epoch: the trainer evaluates the test set next.
    if (this.stepsPerEpoch > 0 && record.step % this.stepsPerEpoch === 0) this.evaluating();
  }

  /** Shows that the test set is being evaluated (after the last step of an epoch). */
  evaluating(): void {
    if (!this.lastStep) return;
    if (this.tty) {
      this.stream.write(`${CLEAR_LINE}${this.stepLine(this.lastStep, true)}`);
      this.shown = true;
    } else this.stream.write(`epoch ${this.lastStep.epoch}: evaluating test set\n`);
  }

  /** Erases the line, before other output; the next update draws it again. */
  clear(): void {
    if (this.shown) this.stream.write(CLEAR_LINE);
    this.shown = false;
  }

  /** Epochs of the run, from the start record. */
  get totalEpochs(): number {
    return this.epochs;
  }

  /** The latest step record (its layers feed the per-epoch summary). */
  get latest(): StepRecord | undefined {
    return this.lastStep;
  }
}
