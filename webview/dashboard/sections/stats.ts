/** The stats strip (loss, accuracies, learning rate, throughput, elapsed) and the watch list. */
import { el, setText } from '../../shared/dom';
import {
  MISSING,
  formatCompact,
  formatDuration,
  formatInteger,
  formatLoss,
  formatPercent,
  formatSignificant,
} from '../../../core/format';
import { METRICS, formatMetric } from '../../shared/metricVocabulary';
import type { SectionContext } from '../context';
import { latestTestAccuracy, type EpochPoint, type RunModel } from '../state';
import { troubleLayers } from '../troubleLayers';

/** A labelled figure in the stats strip; `data-value` holds the raw number for tests. */
class StatTile {
  readonly root = el('div', 'stat');
  private readonly value = el('div', 'stat-value', MISSING);
  private readonly sub = el('div', 'stat-sub', '');

  constructor(metric: string, label: string, tooltip: string) {
    this.root.dataset.metric = metric;
    this.root.title = tooltip;
    this.root.append(el('div', 'stat-label', label), this.value, this.sub);
  }

  set(value: number | undefined, text: string, sub = ''): void {
    setText(this.value, text);
    setText(this.sub, sub);
    // The sub-line is ellipsized in narrow panels; the tooltip keeps it readable.
    this.sub.title = sub;
    this.root.dataset.value = value === undefined ? '' : String(value);
  }
}

export class StatsSection {
  readonly stats = el('div', 'stats');
  /** The layers most in trouble (dead, frozen, not flipping); each opens its card. */
  readonly watch = el('div', 'watch-list');
  private watchKey = '';
  private readonly tiles = {
    loss: new StatTile(
      'loss',
      METRICS.loss.label,
      'Training loss, mean over the steps since the last report',
    ),
    trainAccuracy: new StatTile(
      'trainAccuracy',
      'Train acc.',
      'Training accuracy, mean over the steps since the last report',
    ),
    testAccuracy: new StatTile(
      'testAccuracy',
      'Test acc.',
      'Accuracy on the test set after the latest epoch',
    ),
    learningRate: new StatTile(
      'learningRate',
      METRICS.learningRate.label,
      'Current optimizer learning rate',
    ),
    throughput: new StatTile('throughput', 'Throughput', 'Training examples per second'),
    elapsed: new StatTile('elapsed', 'Elapsed', 'Wall-clock time since the run started'),
  };

  constructor(private readonly ctx: SectionContext) {
    for (const tile of Object.values(this.tiles)) this.stats.append(tile.root);
    this.watch.setAttribute('aria-label', 'Binary layers to watch');
  }

  render(run: RunModel): void {
    this.renderWatch(run);
    const latest = run.latest;
    const lastEpoch = run.epochs.at(-1);
    this.tiles.loss.set(
      latest?.loss,
      formatLoss(latest?.loss),
      latest ? `step ${formatInteger(latest.step)}` : '',
    );
    this.tiles.trainAccuracy.set(
      latest?.accuracy,
      formatPercent(latest?.accuracy),
      lastEpoch ? `epoch ${lastEpoch.epoch}: ${formatPercent(lastEpoch.trainAccuracy)}` : '',
    );
    const testAccuracy = latestTestAccuracy(run);
    const best = run.epochs.reduce<EpochPoint | undefined>(
      (b, e) => (b === undefined || e.testAccuracy > b.testAccuracy ? e : b),
      undefined,
    );
    this.tiles.testAccuracy.set(
      testAccuracy,
      formatPercent(testAccuracy),
      best ? `best ${formatPercent(best.testAccuracy)} · epoch ${best.epoch}` : 'after each epoch',
    );
    this.tiles.learningRate.set(
      latest?.learningRate,
      formatSignificant(latest?.learningRate),
      run.config ? `batch size ${run.config.batchSize}` : '',
    );
    this.tiles.throughput.set(
      latest?.examplesPerSecond,
      latest ? `${formatCompact(latest.examplesPerSecond)}/s` : MISSING,
      'examples per second',
    );
    const elapsed =
      run.startTime !== undefined && run.lastTime !== undefined
        ? run.lastTime - run.startTime
        : undefined;
    this.tiles.elapsed.set(
      elapsed,
      formatDuration(elapsed),
      lastEpoch ? `last epoch ${formatDuration(lastEpoch.durationMs)}` : '',
    );
  }

  private renderWatch(run: RunModel): void {
    const entries = troubleLayers(run.layers.map((l) => l.latest));
    const key = entries.map((e) => e.text).join('\n');
    if (key === this.watchKey) return;
    this.watchKey = key;
    this.watch.hidden = entries.length === 0;
    const items = entries.map((e) => {
      const button = el('button', 'watch-item');
      button.type = 'button';
      button.dataset.layer = e.layer;
      button.dataset.metric = e.metric.key;
      button.title = `${e.metric.title}. Click to open ${e.layer}.`;
      button.append(
        el('span', 'watch-label', `${e.label}:`),
        el('span', 'watch-layer', e.layer),
        el('span', 'watch-value', formatMetric(e.metric, e.value)),
      );
      button.addEventListener('click', () => this.ctx.openLayer(e.layer));
      return button;
    });
    this.watch.replaceChildren(el('span', 'watch-title', 'Watch'), ...items);
  }
}
