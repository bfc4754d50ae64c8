/**
 * How the launcher's end report words a run's end. Pure (no vscode import): the tests check it.
 */
import type { MetricsRecord } from '../../core/protocol';
import { finalTestAccuracy, formatPercent } from '../engine/runProgress';

/** `BNN Lab: RUN completed: test accuracy 98.1 %.` */
export function trainDoneMessage(runId: string, records: readonly MetricsRecord[]): string {
  const accuracy = finalTestAccuracy(records);
  const detail = accuracy === null ? '' : `: test accuracy ${formatPercent(accuracy)}`;
  return `BNN Lab: ${runId} completed${detail}.`;
}

/** "accuracy 88.1 % → 88.6 %, 2.3 % of binary weights flipped" with the run folder. */
export function finetuneDoneMessage(runId: string, records: readonly MetricsRecord[]): string {
  const done = records.find((r) => r.event === 'done');
  const summary = done?.event === 'done' ? done.finetune : undefined;
  if (!summary) return `BNN Lab: ${runId} completed.`;
  let flipped = 0;
  let total = 0;
  const start = records.find((r) => r.event === 'start');
  const params = new Map(
    start?.event === 'start' ? start.layers.map((l) => [l.name, l.params]) : [],
  );
  for (const l of summary.layers) {
    const n = params.get(l.name) ?? 1;
    flipped += l.flipFromStart * n;
    total += n;
  }
  const flips = total > 0 ? ` · ${formatPercent(flipped / total)} of binary weights flipped` : '';
  return `BNN Lab: ${runId} completed: test accuracy ${formatPercent(summary.testAccuracyBefore)} → ${formatPercent(summary.testAccuracyAfter)}${flips}.`;
}

/**
 * A failed fine-tune, naming the source checkpoint once: when the engine's message already names
 * it (a file of the checkpoint that cannot be read), the message says where.
 */
export function finetuneFailedMessage(checkpoint: string, message: string): string {
  const what = message.includes(checkpoint) ? 'fine-tuning' : `fine-tuning ${checkpoint}`;
  return `BNN Lab: ${what} failed: ${message} (the source checkpoint is unchanged)`;
}
