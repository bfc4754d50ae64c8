/** Layer metrics over steps: one small chart per metric, one line per binary layer. */
import type { VscodeCheckbox } from '@vscode-elements/elements/dist/vscode-checkbox/vscode-checkbox.js';
import { alignGroups, decimate } from '../../charts/align';
import { MultiplesChart } from '../../charts/multiplesChart';
import { el } from '../../shared/dom';
import { METRICS, formatMetric } from '../../shared/metricVocabulary';
import { uplotExport } from '../chartExport';
import { metricFigure } from '../chartFigure';
import { SYNC_KEY, fitWidth, type ChartSection, type SectionContext } from '../context';
import { FINETUNE_CHANNELS, LAYER_CHANNELS, type LayerChannel, type RunModel } from '../state';

const MULTIPLES_HEIGHT = 150;
/** Least time between two redraws of the small multiples while streaming. */
const MULTIPLES_INTERVAL_MS = 500;

export class MultiplesSection implements ChartSection {
  readonly root = el('section', 'section');
  private readonly logToggle = el('vscode-checkbox') as VscodeCheckbox;
  private readonly hosts = new Map<LayerChannel, HTMLElement>();
  private readonly figures = new Map<LayerChannel, HTMLElement>();
  private charts = new Map<LayerChannel, MultiplesChart>();
  private key = '';
  /** The layers last drawn (redrawn when the reducer replaced them). */
  private drawn: unknown;

  constructor(private readonly ctx: SectionContext) {
    const head = el('div', 'section-head');
    this.logToggle.textContent = 'Log scale';
    this.logToggle.title = 'Log-10 y axis (zeros are left out)';
    this.logToggle.addEventListener('change', () => {
      ctx.host.updateView({ logScale: this.logToggle.checked });
    });
    // The lines are coloured by depth; a swatch says which end is which.
    const depthKey = el('span', 'depth-key');
    depthKey.append(
      el('span', undefined, 'first layer'),
      el('span', 'depth-swatch'),
      el('span', undefined, 'last layer · hover names a line, click opens it'),
    );
    head.append(
      el('h2', 'section-title', 'Layer metrics over steps'),
      depthKey,
      el('span', 'spacer'),
      this.logToggle,
    );
    const grid = el('div', 'chart-grid multiples-grid');
    for (const channel of LAYER_CHANNELS) {
      const spec = METRICS[channel];
      const { figure, host } = metricFigure(
        ctx,
        spec,
        `${spec.title}. One line per binary layer. Click a line to open its layer.`,
        () => {
          const chart = this.charts.get(channel);
          return (
            chart &&
            uplotExport(spec.label, chart.uplot, ctx.palette, {
              log: ctx.host.view.logScale,
              format: (v) => formatMetric(spec, v),
            })
          );
        },
      );
      figure.hidden = FINETUNE_CHANNELS.has(channel);
      this.hosts.set(channel, host);
      this.figures.set(channel, figure);
      grid.append(figure);
    }
    this.root.append(head, grid);
  }

  destroyCharts(): void {
    for (const chart of this.charts.values()) chart.destroy();
    this.charts = new Map();
    this.key = '';
    this.drawn = undefined;
  }

  resize(): void {
    for (const [channel, chart] of this.charts) {
      const host = this.hosts.get(channel);
      if (host) fitWidth(chart, host);
    }
  }

  render(run: RunModel): void {
    const ctx = this.ctx;
    const names = run.layers.map((l) => l.info.name);
    this.root.hidden = names.length === 0;
    if (names.length === 0) return;
    const log = ctx.host.view.logScale;
    if (this.logToggle.checked !== log) this.logToggle.checked = log;
    const key = `${names.join('\n')}\n${log}\n${run.finetune}`;
    if (key !== this.key) {
      this.destroyCharts();
      this.key = key;
      for (const channel of LAYER_CHANNELS) {
        const host = this.hosts.get(channel);
        const shown = run.finetune || !FINETUNE_CHANNELS.has(channel);
        const figure = this.figures.get(channel);
        if (figure) figure.hidden = !shown;
        if (!host || !shown) continue;
        const spec = METRICS[channel];
        this.charts.set(
          channel,
          new MultiplesChart(
            host,
            {
              height: MULTIPLES_HEIGHT,
              palette: ctx.palette,
              layers: names,
              metric: spec,
              log,
              syncKey: SYNC_KEY,
              ariaLabel: `${spec.label} of every binary layer over steps`,
              onPick: (layer) => ctx.openLayer(layer),
            },
            host.clientWidth,
          ),
        );
      }
    }
    const onScreen = [...this.hosts.values()].some((h) => ctx.visible(h));
    if (!onScreen || this.drawn === run.layers) return;
    // 4 charts × one line per layer: redrawn at most twice a second while a run streams.
    if (run.status === 'running' && !ctx.throttle('multiples', key, MULTIPLES_INTERVAL_MS)) return;
    this.drawn = run.layers;
    const width = this.hosts.get('quantizationError')?.clientWidth ?? 0;
    LAYER_CHANNELS.forEach((channel, c) => {
      if (!this.charts.has(channel)) return;
      const groups = run.layers.map((l) => ({ x: l.metrics.x, y: [l.metrics.y[c]] }));
      this.charts.get(channel)?.setData(decimate(alignGroups(groups), Math.max(200, width)));
    });
  }
}
