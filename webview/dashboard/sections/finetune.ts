/**
 * The fine-tune section of the dashboard: while an LNS/plain fine-tune streams, a note on what its
 * extra charts mean; once it completes, the before/after table of its `done` record (test
 * accuracy, per-layer flips against the source checkpoint, QE and dead-weight ratio).
 */
import { el } from '../../shared/dom';
import { formatPercent } from '../../../core/format';
import { METRICS, formatMetric } from '../../shared/metricVocabulary';
import type { RunModel } from '../state';

/** Parameters of each binary layer, for the parameter-weighted total of flips. */
function paramsByLayer(run: RunModel): Map<string, number> {
  return new Map(run.allLayers.map((l) => [l.name, l.params]));
}

function cell(tag: 'td' | 'th', text: string, numeric = false, title?: string): HTMLElement {
  const c = el(tag, numeric ? 'num' : undefined, text);
  if (title) c.title = title;
  return c;
}

/** Redraws `section` for `run`; hides it for runs that are not fine-tunes. */
export function renderFinetuneSummary(section: HTMLElement, run: RunModel): void {
  section.replaceChildren();
  section.hidden = !run.finetune;
  if (!run.finetune) return;
  const summary = run.finetuneSummary;
  const title = el('h2', 'section-title', 'Fine-tune: before → after');
  if (!summary) {
    section.append(
      title,
      el(
        'p',
        'hint',
        run.status === 'running'
          ? 'The before/after table appears when the fine-tune completes. Meanwhile "Flipped vs start" below shows how many binary weights differ from the source checkpoint.'
          : 'This fine-tune ended before completing: there is no before/after table.',
      ),
    );
    return;
  }
  const params = paramsByLayer(run);
  let flipped = 0;
  let total = 0;
  for (const l of summary.layers) {
    const n = params.get(l.name) ?? 0;
    flipped += l.flipFromStart * n;
    total += n;
  }
  const headline = el('p', 'finetune-headline');
  headline.dataset.accuracyBefore = String(summary.testAccuracyBefore);
  headline.dataset.accuracyAfter = String(summary.testAccuracyAfter);
  headline.textContent =
    `${summary.method === 'lns' ? 'LNS (noisy-supervision mapper)' : 'Plain fine-tuning'}: ` +
    `test accuracy ${formatPercent(summary.testAccuracyBefore)} → ${formatPercent(summary.testAccuracyAfter)}` +
    (total > 0 ? ` · ${formatPercent(flipped / total)} of binary weights flipped` : '');
  const source = el('div', 'finetune-source', `source: ${summary.source} (unchanged)`);
  const table = el('table', 'overview finetune-table');
  const head = el('tr');
  const qe = METRICS.quantizationError;
  const dead = METRICS.deadWeightRatio;
  head.append(
    cell('th', 'layer'),
    cell('th', 'flipped vs start', true, METRICS.flipFromStart.title),
    cell('th', `${qe.short} before`, true, `${qe.title}; of the source checkpoint`),
    cell('th', `${qe.short} after`, true, `${qe.title}; after the fine-tune`),
    cell('th', `${dead.short} before`, true, `${dead.title}; of the source checkpoint`),
    cell('th', `${dead.short} after`, true, `${dead.title}; after the fine-tune`),
  );
  const body = el('tbody');
  for (const l of summary.layers) {
    const row = el('tr');
    row.dataset.layer = l.name;
    row.append(
      cell('td', l.name),
      cell('td', formatMetric(METRICS.flipFromStart, l.flipFromStart), true),
      cell('td', formatMetric(qe, l.quantizationErrorBefore), true),
      cell('td', formatMetric(qe, l.quantizationErrorAfter), true),
      cell('td', formatMetric(dead, l.deadWeightRatioBefore), true),
      cell('td', formatMetric(dead, l.deadWeightRatioAfter), true),
    );
    body.append(row);
  }
  const thead = el('thead');
  thead.append(head);
  table.append(thead, body);
  const wrap = el('div', 'table-wrap');
  wrap.append(table);
  section.append(title, headline, source, wrap);
}

/** The fine-tune section: redrawn when the run, its status or its summary changes. */
export class FinetuneSection {
  readonly root = el('section', 'section finetune-summary');
  private key = '';
  private summary: unknown;

  constructor() {
    this.root.hidden = true;
  }

  render(run: RunModel): void {
    // A running or cancelled fine-tune has no summary, like a training run: the key tells them
    // apart.
    const key = `${run.runId}\n${run.dir}\n${run.finetune}\n${run.status}`;
    if (this.key === key && this.summary === run.finetuneSummary) return;
    this.key = key;
    this.summary = run.finetuneSummary;
    renderFinetuneSummary(this.root, run);
  }
}
