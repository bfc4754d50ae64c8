/**
 * The Training section: loss, accuracy, learning rate and the method's scalars over steps; while
 * comparing, loss, accuracy and learning rate overlay every compared run (one colour per run).
 */
import { alignGroups, type ColumnGroup } from '../../charts/align';
import { LineChart, type LineSeriesSpec } from '../../charts/lineChart';
import { el, setText } from '../../shared/dom';
import { formatLoss, formatPercent, formatSignificant } from '../../../core/format';
import { METRICS, axisTitle, formatMetric, metricSpec } from '../../shared/metricVocabulary';
import { chartFigure, lineExport } from '../chartFigure';
import { SYNC_KEY, fitWidth, type ChartSection, type SectionContext } from '../context';
import { runColor } from '../comparison';
import type { RunModel } from '../state';

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
  /** Change-tracking slot of the compared runs. */
  private readonly compareSlot = {};
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
    this.root.append(el('h2', 'section-title', 'Training'), grid);
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

  render(run: RunModel, compare: readonly RunModel[]): void {
    const ctx = this.ctx;
    const p = ctx.palette;
    const comparing = compare.length > 0;
    const runs = [run, ...compare];
    const compareKey = comparing
      ? runs.map((r) => `${r.runId}\n${r.dir}\n${r.name}`).join('\n')
      : '';
    if (compareKey !== this.compareKey) {
      this.compareKey = compareKey;
      this.lossChart?.destroy();
      this.accuracyChart?.destroy();
      this.learningRateChart?.destroy();
      this.lossChart = undefined;
      this.accuracyChart = undefined;
      this.learningRateChart = undefined;
      ctx.forget(this.learningRateHost);
    }
    // One run: train and test in two colours. Comparing: one colour per run (the legend of the
    // comparison section), train solid, test dots; compared runs dashed.
    const pair = (
      trainColor: string,
      testColor: string,
      format: (v: number) => string,
    ): LineSeriesSpec[] =>
      comparing
        ? runs.flatMap((r, i): LineSeriesSpec[] => {
            const color = runColor(p, i);
            const dash = i === 0 ? undefined : [5, 4];
            return [
              { label: `${r.name} train`, color, format, dash },
              { label: `${r.name} test`, color, format, sparse: true, dash },
            ];
          })
        : [
            { label: 'train', color: trainColor, format },
            { label: 'test', color: testColor, format, sparse: true },
          ];
    if (!this.lossChart) {
      this.lossChart = new LineChart(
        this.lossHost,
        {
          height: TRAINING_CHART_HEIGHT,
          palette: p,
          ariaLabel: 'Training and test loss over steps',
          syncKey: SYNC_KEY,
          y: { kind: 'number', metric: 'loss' },
          smoothing: true,
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
          y: { kind: 'percent', metric: 'accuracy' },
          smoothing: true,
          series: pair(p.blue, p.green, (v) => formatPercent(v)),
        },
        this.accuracyHost.clientWidth,
      );
    }
    if (!this.learningRateChart) {
      const format = (v: number): string => formatSignificant(v);
      this.learningRateChart = new LineChart(
        this.learningRateHost,
        {
          height: SMALL_CHART_HEIGHT,
          palette: p,
          ariaLabel: 'Learning rate over steps',
          syncKey: SYNC_KEY,
          y: { kind: 'number', metric: 'learningRate' },
          series: comparing
            ? runs.map((r, i) => ({
                label: r.name,
                color: runColor(p, i),
                format,
                dash: i === 0 ? undefined : [5, 4],
              }))
            : [{ label: 'learning rate', color: p.purple, format }],
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
    const compareChanged = onScreen && ctx.changed(this.compareSlot, compare);
    if (trainingChanged || epochsChanged || compareChanged) {
      const all = runs.map(curves);
      this.lossChart.setData(alignGroups(all.flatMap((c) => c.loss)));
      this.accuracyChart.setData(alignGroups(all.flatMap((c) => c.accuracy)));
    }
    if (
      ctx.visible(this.learningRateHost) &&
      (ctx.changed(this.learningRateHost, run.learningRate) || compareChanged)
    ) {
      this.learningRateChart.setData(alignGroups(runs.map((r) => r.learningRate)));
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
          y: { kind: 'number', metric: names.find((n) => n !== 'tau') ?? names[0] },
          // τ lives on its own axis: it is a threshold, not a loss.
          y2:
            names.includes('tau') && names.length > 1
              ? { kind: 'number', metric: 'tau', color: p.red }
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
