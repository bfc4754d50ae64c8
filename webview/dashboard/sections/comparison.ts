/**
 * The comparison section, shown while runs are overlaid on the one in view: which runs (a legend,
 * one colour per run, with preset, seed, learning rate and limit), Pin and Stop comparing, the
 * config fields in which they differ, and the BNN metrics of every run on one chart each
 * (quantization error, dead weights, flip rate, frozen weights: the parameter-weighted mean over
 * each run's binary layers). Loss, accuracy, learning rate and the layer cards overlay the same
 * runs in their own sections.
 */
import type { VscodeButton } from '@vscode-elements/elements/dist/vscode-button/vscode-button.js';
import type { VscodeCheckbox } from '@vscode-elements/elements/dist/vscode-checkbox/vscode-checkbox.js';
import { formatPercent, formatRunFacts } from '../../../core/format';
import { alignGroups } from '../../charts/align';
import { LineChart } from '../../charts/lineChart';
import { el, setText } from '../../shared/dom';
import { METRICS, formatMetric } from '../../shared/metricVocabulary';
import { lineExport, metricFigure } from '../chartFigure';
import { configDiff, layerMean, runColor } from '../comparison';
import { SYNC_KEY, fitWidth, type ChartSection, type SectionContext } from '../context';
import { latestTestAccuracy, type LayerChannel, type RunModel } from '../state';

const CHART_HEIGHT = 130;
/** The layer metrics compared run against run. */
const COMPARED_CHANNELS = [
  'quantizationError',
  'deadWeightRatio',
  'flipRate',
  'frozenRatio',
] as const satisfies readonly LayerChannel[];

export class ComparisonSection implements ChartSection {
  readonly root = el('section', 'section comparison');
  private readonly bar = el('div', 'compare-bar');
  private readonly text = el('span', 'compare-text');
  private readonly pin = el('vscode-checkbox') as VscodeCheckbox;
  private readonly clear = el('vscode-button') as VscodeButton;
  private readonly legend = el('ul', 'compare-legend');
  private readonly diffTitle = el('h3', 'sub-title', 'Config differences');
  private readonly diff = el('table', 'config-diff');
  private readonly hosts = new Map<LayerChannel, HTMLElement>();
  private charts = new Map<LayerChannel, LineChart>();
  private key = '';
  /** The runs' layers last drawn (the reducer replaces them when records arrive). */
  private drawn: readonly unknown[] = [];

  constructor(private readonly ctx: SectionContext) {
    this.pin.textContent = 'Pin';
    this.pin.title = 'Keep this comparison when another run starts';
    this.pin.addEventListener('change', () =>
      ctx.host.post({ kind: 'pinComparison', pinned: this.pin.checked }),
    );
    this.clear.textContent = 'Stop comparing';
    this.clear.secondary = true;
    this.clear.addEventListener('click', () => ctx.host.post({ kind: 'clearComparison' }));
    this.bar.append(this.text, el('span', 'spacer'), this.pin, this.clear);
    this.legend.setAttribute('aria-label', 'Compared runs');
    const diffWrap = el('div', 'table-wrap');
    diffWrap.append(this.diff);
    const grid = el('div', 'chart-grid');
    for (const channel of COMPARED_CHANNELS) {
      const spec = METRICS[channel];
      const { figure, host } = metricFigure(
        ctx,
        spec,
        `${spec.title}. One line per run: the mean over its binary layers, weighted by their parameters.`,
        () => {
          const chart = this.charts.get(channel);
          return chart && lineExport(ctx, `${spec.label} by run`, chart);
        },
      );
      this.hosts.set(channel, host);
      grid.append(figure);
    }
    this.root.append(
      el('h2', 'section-title', 'Run comparison'),
      this.bar,
      this.legend,
      this.diffTitle,
      diffWrap,
      grid,
    );
    this.root.hidden = true;
  }

  destroyCharts(): void {
    for (const chart of this.charts.values()) chart.destroy();
    this.charts = new Map();
    this.key = '';
    this.drawn = [];
  }

  resize(): void {
    for (const [channel, chart] of this.charts) {
      const host = this.hosts.get(channel);
      if (host) fitWidth(chart, host);
    }
  }

  render(run: RunModel, compare: readonly RunModel[], pinned: boolean): void {
    this.root.hidden = compare.length === 0;
    if (compare.length === 0) {
      if (this.key !== '') this.destroyCharts();
      return;
    }
    const runs = [run, ...compare];
    setText(
      this.text,
      `Comparing with ${compare.map((r) => r.runId).join(', ')}` +
        (pinned ? ' · pinned' : ' · ends when another run starts'),
    );
    this.text.title = compare.map((r) => r.dir).join('\n');
    if (this.pin.checked !== pinned) this.pin.checked = pinned;
    const key = runs.map((r) => `${r.runId}\n${r.dir}\n${r.name}`).join('\n');
    if (key !== this.key) {
      this.destroyCharts();
      this.key = key;
      this.renderLegend(runs);
      this.renderDiff(runs);
      const p = this.ctx.palette;
      for (const channel of COMPARED_CHANNELS) {
        const spec = METRICS[channel];
        const host = this.hosts.get(channel);
        if (!host) continue;
        this.charts.set(
          channel,
          new LineChart(
            host,
            {
              height: CHART_HEIGHT,
              palette: p,
              ariaLabel: `${spec.label} of each compared run over steps`,
              syncKey: SYNC_KEY,
              y: { kind: 'percent', metric: channel },
              series: runs.map((r, i) => ({
                label: r.name,
                color: runColor(p, i),
                format: (v: number) => formatMetric(spec, v),
                dash: i === 0 ? undefined : [5, 4],
              })),
            },
            host.clientWidth,
          ),
        );
      }
    }
    // Live test accuracy in the legend.
    runs.forEach((r, i) => {
      const item = this.legend.children[i];
      const acc = item?.querySelector('.compare-accuracy');
      const value = latestTestAccuracy(r);
      if (acc) setText(acc, value === undefined ? '' : `test ${formatPercent(value)}`);
    });
    const onScreen = [...this.hosts.values()].some((h) => this.ctx.visible(h));
    const layers = runs.map((r) => r.layers);
    const same = layers.length === this.drawn.length && layers.every((l, i) => l === this.drawn[i]);
    if (!onScreen || same) return;
    this.drawn = layers;
    for (const channel of COMPARED_CHANNELS) {
      this.charts.get(channel)?.setData(alignGroups(runs.map((r) => layerMean(r, channel))));
    }
  }

  private renderLegend(runs: readonly RunModel[]): void {
    const p = this.ctx.palette;
    this.legend.replaceChildren(
      ...runs.map((r, i) => {
        const item = el('li', 'compare-run');
        item.dataset.runId = r.runId;
        const swatch = el('span', 'compare-swatch');
        swatch.style.backgroundColor = runColor(p, i);
        if (i > 0) swatch.classList.add('dashed');
        const facts = formatRunFacts(r.config, r.preset);
        item.title = `${r.name}\n${r.runId}\n${facts}\n${r.dir}`;
        item.append(
          swatch,
          el('span', 'compare-name', i === 0 ? `${r.name} (in view)` : r.name),
          el('span', 'compare-facts', facts),
          el('span', 'compare-accuracy'),
        );
        return item;
      }),
    );
  }

  private renderDiff(runs: readonly RunModel[]): void {
    const diffs = configDiff(runs.map((r) => r.config));
    const head = el('tr');
    head.append(el('th', undefined, 'Field'), ...runs.map((r) => el('th', undefined, r.name)));
    const rows = diffs.map((d) => {
      const row = el('tr');
      row.dataset.field = d.field;
      row.append(el('td', 'diff-field', d.field), ...d.values.map((v) => el('td', 'num', v)));
      return row;
    });
    const thead = el('thead');
    thead.append(head);
    const tbody = el('tbody');
    if (rows.length === 0) {
      const row = el('tr');
      const cell = el('td', 'diff-none', 'The runs have the same config.');
      cell.colSpan = runs.length + 1;
      row.append(cell);
      tbody.append(row);
    } else {
      tbody.append(...rows);
    }
    this.diff.replaceChildren(thead, tbody);
  }
}
