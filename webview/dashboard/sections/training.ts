/**
 * The Training section: loss, accuracy, learning rate and the method's scalars over steps, and
 * the bar naming the run compared with (its curves dashed).
 */
import type { VscodeButton } from '@vscode-elements/elements/dist/vscode-button/vscode-button.js';
import { alignGroups, type ColumnGroup } from '../../charts/align';
import { LineChart, type LineSeriesSpec } from '../../charts/lineChart';
import { el, setText } from '../../shared/dom';
import { formatLoss, formatPercent, formatSignificant } from '../../../core/format';
import { METRICS, axisTitle, formatMetric, metricSpec } from '../../shared/metricVocabulary';
import { chartFigure, lineExport } from '../chartFigure';
import { SYNC_KEY, fitWidth, type ChartSection, type SectionContext } from '../context';
import { latestTestAccuracy, type RunModel } from '../state';

const TRAINING_CHART_HEIGHT = 170;
const SMALL_CHART_HEIGHT = 130;

/** The vocabulary entry of a method scalar key (`tau`, `loss:<name>`). */
function scalarSpec(key: string) {
  return metricSpec(key.startsWith('loss:') ? key.slice(5) : key);
}

/** Human name of a method scalar key (`tau`, `loss:<name>`). */
function scalarLabel(key: string): string {
  return scalarSpec(key).short;
}

export class TrainingSection implements ChartSection {
  readonly root = el('section', 'section');
  private readonly compareBar = el('div', 'compare-bar');
  private readonly compareText = el('span', 'compare-text');
  private readonly compareClear = el('vscode-button') as VscodeButton;
  private readonly lossHost = el('div', 'chart-host');
  private readonly accuracyHost = el('div', 'chart-host');
  private readonly learningRateHost = el('div', 'chart-host');
  private readonly methodHost = el('div', 'chart-host');
  private readonly methodNote = el('p', 'chart-note');
  private readonly methodFigure: HTMLElement;
  private lossChart: LineChart | undefined;
  private accuracyChart: LineChart | undefined;
  private learningRateChart: LineChart | undefined;
  private methodChart: LineChart | undefined;
  private methodKey = '';
  private compareKey = '';

  constructor(private readonly ctx: SectionContext) {
    this.compareClear.textContent = 'Stop comparing';
    this.compareClear.secondary = true;
    this.compareClear.addEventListener('click', () => ctx.host.post({ kind: 'clearComparison' }));
    this.compareBar.append(this.compareText, el('span', 'spacer'), this.compareClear);
    this.compareBar.hidden = true;

    this.methodFigure = chartFigure(
      ctx,
      'Method scalars',
      "The method's own scalars over steps: ReCU's τ, BONN's or LNS's extra loss terms",
      this.methodHost,
      () => this.methodChart && lineExport(ctx, 'Method scalars', this.methodChart),
    );
    this.methodFigure.append(this.methodNote);
    const grid = el('div', 'chart-grid');
    grid.append(
      chartFigure(
        ctx,
        'Loss',
        'Cross-entropy; line: per report, dots: test set per epoch',
        this.lossHost,
        () => this.lossChart && lineExport(ctx, 'Loss', this.lossChart),
      ),
      chartFigure(
        ctx,
        axisTitle(METRICS.accuracy),
        'Line: training accuracy per report; dots: test accuracy per epoch',
        this.accuracyHost,
        () => this.accuracyChart && lineExport(ctx, 'Accuracy', this.accuracyChart),
      ),
      chartFigure(
        ctx,
        METRICS.learningRate.label,
        'Optimizer learning rate per report',
        this.learningRateHost,
        () => this.learningRateChart && lineExport(ctx, 'Learning rate', this.learningRateChart),
      ),
      this.methodFigure,
    );
    this.methodFigure.hidden = true;
    this.root.append(el('h2', 'section-title', 'Training'), this.compareBar, grid);
    for (const h of [this.lossHost, this.accuracyHost, this.learningRateHost, this.methodHost]) {
      ctx.observeSize(h);
      ctx.observeVisibility(h);
    }
  }

  destroyCharts(): void {
    for (const chart of [
      this.lossChart,
      this.accuracyChart,
      this.learningRateChart,
      this.methodChart,
    ]) {
      chart?.destroy();
    }
    this.lossChart = undefined;
    this.accuracyChart = undefined;
    this.learningRateChart = undefined;
    this.methodChart = undefined;
    this.methodKey = '';
    this.compareKey = '';
  }

  resize(): void {
    fitWidth(this.lossChart, this.lossHost);
    fitWidth(this.accuracyChart, this.accuracyHost);
    fitWidth(this.learningRateChart, this.learningRateHost);
    fitWidth(this.methodChart, this.methodHost);
  }

  render(run: RunModel, compare: RunModel | undefined): void {
    const ctx = this.ctx;
    const p = ctx.palette;
    const compareKey = compare ? `${compare.runId}\n${compare.dir}` : '';
    this.compareBar.hidden = !compare;
    if (compare) {
      setText(
        this.compareText,
        `Comparing with ${compare.runId} (dashed)${
          latestTestAccuracy(compare) !== undefined
            ? ` · test acc. ${formatPercent(latestTestAccuracy(compare))}`
            : ''
        }`,
      );
      this.compareText.title = compare.dir;
    }
    if (compareKey !== this.compareKey) {
      this.compareKey = compareKey;
      this.lossChart?.destroy();
      this.accuracyChart?.destroy();
      this.lossChart = undefined;
      this.accuracyChart = undefined;
    }
    const pair = (
      trainColor: string,
      testColor: string,
      format: (v: number) => string,
    ): LineSeriesSpec[] => {
      const series: LineSeriesSpec[] = [
        { label: 'train', color: trainColor, format },
        { label: 'test', color: testColor, format, sparse: true },
      ];
      if (compare) {
        series.push(
          { label: `${compare.runId} train`, color: trainColor, format, dash: [5, 4] },
          { label: `${compare.runId} test`, color: testColor, format, sparse: true, dash: [5, 4] },
        );
      }
      return series;
    };
    if (!this.lossChart) {
      this.lossChart = new LineChart(
        this.lossHost,
        {
          height: TRAINING_CHART_HEIGHT,
          palette: p,
          ariaLabel: 'Training and test loss over steps',
          syncKey: SYNC_KEY,
          y: { kind: 'number' },
          series: pair(p.blue, p.orange, formatLoss),
        },
        this.lossHost.clientWidth,
      );
    }
    if (!this.accuracyChart) {
      this.accuracyChart = new LineChart(
        this.accuracyHost,
        {
          height: TRAINING_CHART_HEIGHT,
          palette: p,
          ariaLabel: 'Training and test accuracy over steps',
          syncKey: SYNC_KEY,
          y: { kind: 'percent' },
          series: pair(p.blue, p.green, (v) => formatPercent(v)),
        },
        this.accuracyHost.clientWidth,
      );
    }
    if (!this.learningRateChart) {
      this.learningRateChart = new LineChart(
        this.learningRateHost,
        {
          height: SMALL_CHART_HEIGHT,
          palette: p,
          ariaLabel: 'Learning rate over steps',
          syncKey: SYNC_KEY,
          y: { kind: 'number' },
          series: [
            { label: 'learning rate', color: p.purple, format: (v) => formatSignificant(v) },
          ],
        },
        this.learningRateHost.clientWidth,
      );
    }
    const curves = (r: RunModel): { loss: ColumnGroup[]; accuracy: ColumnGroup[] } => {
      const epochs = [...r.epochs].sort((a, b) => a.step - b.step);
      const epochX = epochs.map((e) => e.step);
      const x = r.training.x;
      return {
        loss: [
          { x, y: [r.training.y[0]] },
          { x: epochX, y: [epochs.map((e) => e.testLoss)] },
        ],
        accuracy: [
          { x, y: [r.training.y[1]] },
          { x: epochX, y: [epochs.map((e) => e.testAccuracy)] },
        ],
      };
    };
    const onScreen = ctx.visible(this.lossHost) || ctx.visible(this.accuracyHost);
    const trainingChanged = onScreen && ctx.changed(this.lossHost, run.training);
    const epochsChanged = onScreen && ctx.changed(this.accuracyHost, run.epochs);
    const compareChanged = onScreen && ctx.changed(this.compareBar, compare);
    if (trainingChanged || epochsChanged || compareChanged) {
      const own = curves(run);
      const other = compare ? curves(compare) : { loss: [], accuracy: [] };
      this.lossChart.setData(alignGroups([...own.loss, ...other.loss]));
      this.accuracyChart.setData(alignGroups([...own.accuracy, ...other.accuracy]));
    }
    if (
      ctx.visible(this.learningRateHost) &&
      ctx.changed(this.learningRateHost, run.learningRate)
    ) {
      this.learningRateChart.setData(alignGroups([run.learningRate]));
    }
    this.renderMethod(run);
  }

  /** τ and the method's losses, when the stream carries any. */
  private renderMethod(run: RunModel): void {
    const ctx = this.ctx;
    const names = Object.keys(run.scalars);
    this.methodFigure.hidden = names.length === 0;
    const key = names.join('\n');
    if (key !== this.methodKey) {
      this.methodKey = key;
      // What each scalar is: lnsAux's large negative values are expected, not a bug.
      setText(this.methodNote, names.map((n) => scalarSpec(n).title).join(' · '));
      this.methodChart?.destroy();
      this.methodChart = undefined;
      ctx.forget(this.methodHost);
    }
    if (names.length === 0) return;
    const p = ctx.palette;
    const colors = [p.red, p.green, p.orange, p.blue, p.yellow, p.purple];
    if (!this.methodChart) {
      this.methodChart = new LineChart(
        this.methodHost,
        {
          height: SMALL_CHART_HEIGHT,
          palette: p,
          ariaLabel: `Method scalars over steps: ${names.map(scalarLabel).join(', ')}`,
          syncKey: SYNC_KEY,
          y: { kind: 'number' },
          // τ lives on its own axis: it is a threshold, not a loss.
          y2:
            names.includes('tau') && names.length > 1
              ? { kind: 'number', color: p.red }
              : undefined,
          series: names.map((name, i) => ({
            label: scalarLabel(name),
            color: colors[i % colors.length],
            scale: name === 'tau' && names.length > 1 ? 'y2' : 'y',
            format: (v: number) => formatMetric(scalarSpec(name), v),
          })),
        },
        this.methodHost.clientWidth,
      );
    }
    const series = names.map((n) => run.scalars[n]);
    if (
      ctx.visible(this.methodHost) &&
      ctx.changed(this.methodHost, series.map((s) => s.x.length).join(',') + run.training.x.at(-1))
    ) {
      this.methodChart.setData(alignGroups(series));
    }
  }
}
