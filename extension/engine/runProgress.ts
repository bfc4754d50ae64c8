/**
 * What the progress notification and the status bar say about a run, computed from its metrics
 * records. Pure functions (no vscode) so the wording is unit-tested.
 */
import { formatDuration, formatPhase, formatPercent as formatRatio } from '../../core/format';
import type { BackendInfo, MetricsRecord } from '../../core/protocol';

type StartRecord = Extract<MetricsRecord, { event: 'start' }>;
type StepRecord = Extract<MetricsRecord, { event: 'step' }>;
type EpochRecord = Extract<MetricsRecord, { event: 'epoch' }>;
type PhaseRecord = Extract<MetricsRecord, { event: 'phase' }>;

/** Progress so far, folded from a run's records in order. */
export interface RunProgress {
  start?: StartRecord;
  lastStep?: StepRecord;
  lastEpoch?: EpochRecord;
  /** What the run does before its first step (a fine-tune's evaluation, mapper warm-up). */
  phase?: PhaseRecord;
  /** Fraction of `totalSteps` done, in [0, 1]. */
  fraction: number;
}

export const EMPTY_PROGRESS: RunProgress = { fraction: 0 };

/** Folds one record into the progress; records of other kinds leave it as is. */
export function advance(progress: RunProgress, record: MetricsRecord): RunProgress {
  switch (record.event) {
    case 'start':
      return { start: record, fraction: 0 };
    case 'phase':
      return { ...progress, phase: record };
    case 'step':
      return {
        ...progress,
        phase: undefined,
        lastStep: record,
        fraction: fractionAt(progress.start, record.step),
      };
    case 'epoch':
      return { ...progress, lastEpoch: record, fraction: fractionAt(progress.start, record.step) };
    case 'done':
      return record.status === 'completed' ? { ...progress, fraction: 1 } : progress;
  }
}

function fractionAt(start: StartRecord | undefined, step: number): number {
  if (!start || start.totalSteps <= 0) return 0;
  return Math.min(1, Math.max(0, step / start.totalSteps));
}

/**
 * `epoch 2/8 · step 300/7500 · loss 0.31`; before the first step report, what the run does and
 * the time since it started (`warming up the LNS mappers, step 120/200 · 6.2 s`), or `loading`.
 */
export function progressMessage(progress: RunProgress): string {
  const { start, lastStep, lastEpoch, phase } = progress;
  if (!start) return 'starting…';
  if (!lastStep && phase)
    return `${formatPhase(phase)} · ${formatDuration(phase.time - start.time)}`;
  if (!lastStep) return `epoch 1/${start.config.epochs} · step 0/${start.totalSteps} · loading`;
  const parts = [
    `epoch ${lastStep.epoch}/${start.config.epochs}`,
    `step ${lastStep.step}/${start.totalSteps}`,
    `loss ${formatLoss(lastStep.loss)}`,
  ];
  if (lastEpoch) parts.push(`test acc ${formatPercent(lastEpoch.testAccuracy)}`);
  return parts.join(' · ');
}

/** Two significant digits below 1 (`0.31`, `0.046`), two decimals above (`2.30`). */
export function formatLoss(loss: number): string {
  if (!Number.isFinite(loss)) return String(loss);
  return Math.abs(loss) >= 1 ? loss.toFixed(2) : loss.toPrecision(2);
}

/** `0.9812` → `98.1%` (one decimal: the status bar is short). */
export function formatPercent(fraction: number): string {
  return formatRatio(fraction, 1);
}

/** Status bar text while the run streams, e.g. `2/8 · 300/7500 · loss 0.31 · wasm`. */
export function statusBarText(progress: RunProgress): string {
  const { start, lastStep } = progress;
  if (!start) return 'starting…';
  const backend = start.backend.name;
  if (!lastStep && progress.phase) {
    const { phase } = progress;
    const what = phase.phase === 'mapperWarmup' ? 'LNS warm-up' : 'evaluating checkpoint';
    return `${what} ${phase.done}/${phase.total} · ${backend}`;
  }
  if (!lastStep) return `0/${start.totalSteps} · ${backend}`;
  return (
    `${lastStep.epoch}/${start.config.epochs} · ${lastStep.step}/${start.totalSteps} · ` +
    `loss ${formatLoss(lastStep.loss)} · ${backend}`
  );
}

/** Tooltip lines: the backend in use, then why each other one was not. */
export function backendLines(backend: BackendInfo): string[] {
  const threads = backend.threads === 1 ? '1 thread' : `${backend.threads} threads`;
  const lines = [`Backend: ${backend.name} (tfjs "${backend.tfBackend}", ${threads})`];
  const a = backend.adapter;
  if (a) {
    const kind = a.software ? 'software adapter, a correctness check, not fast' : 'GPU adapter';
    lines.push(
      `Adapter: ${[a.vendor, a.architecture, a.device].filter((s) => s).join(' ')}${a.description ? ` (${a.description})` : ''}; ${kind}`,
    );
  }
  for (const skipped of backend.skipped) lines.push(`Skipped ${skipped.name}: ${skipped.reason}`);
  return lines;
}

/** Test accuracy of a finished run: the `done` record's, else the last epoch's. */
export function finalTestAccuracy(records: readonly MetricsRecord[]): number | null {
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i];
    if (r.event === 'done' && r.testAccuracy !== null) return r.testAccuracy;
    if (r.event === 'epoch') return r.testAccuracy;
  }
  return null;
}
