/**
 * One binary layer's card: latest latent-weight histogram beside the binary `±α` view, the
 * histogram over time (heatmap or ridgeline) and the QE / dead / flip / frozen chart. Cards off
 * screen skip drawing and catch up when scrolled into view, so 50+ layers stay smooth.
 */
import type { ToHost } from '../../../core/protocol';
import { canvasExport, exportButtons } from '../chartExport';
import { SYNC_KEY } from '../context';
import { alignGroups } from '../../charts/align';
import { BinaryChart } from '../../charts/binaryChart';
import { HistogramChart } from '../../charts/histogramChart';
import { METRICS, formatMetric } from '../../shared/metricVocabulary';
import { LineChart } from '../../charts/lineChart';
import { OverTimeChart, type OverTimeMode } from '../../charts/overTimeChart';
import { el, setText } from '../../shared/dom';
import { formatCompact, formatPercent, formatShape, formatSignificant } from '../../../core/format';
import { deadThreshold, FINETUNE_CHANNELS, LAYER_CHANNELS, type LayerModel } from '../state';
import type { Palette } from '../../shared/theme';

const LAYER_CHART_HEIGHT = 140;

/** This layer in a compared run (undefined when that run has no layer of this name). */
export interface ComparedLayer {
  name: string;
  color: string;
  layer: LayerModel | undefined;
}

/** The four training metrics of a layer's series, as chart columns. */
function trainingMetrics(layer: LayerModel): { x: readonly number[]; y: number[][] } {
  // The card plots the four training metrics; fine-tune channels have their own multiples.
  const y = layer.metrics.y.filter((_, c) => !FINETUNE_CHANNELS.has(LAYER_CHANNELS[c]));
  return { x: layer.metrics.x, y };
}
const HISTOGRAM_HEIGHT = 100;
const OVER_TIME_HEIGHT = 124;

export class LayerCard {
  readonly root = el('article', 'layer-card');
  private readonly meta = el('div', 'layer-meta');
  private readonly histHost = el('div', 'hist-host');
  private readonly histCaption = el('div', 'hist-caption');
  private readonly binaryHost = el('div', 'hist-host');
  private readonly binaryCaption = el('div', 'hist-caption');
  private readonly overTimeHost = el('div', 'over-time-host');
  private readonly overTimeCaption = el('div', 'hist-caption');
  private readonly overTimeTitle = el('span', 'sub-title-text', 'Over time');
  private readonly chartHost = el('div', 'chart-host');
  private histogram: HistogramChart | undefined;
  private binary: BinaryChart | undefined;
  private overTime: OverTimeChart | undefined;
  private chart: LineChart | undefined;
  private palette: Palette | undefined;
  private hoverText: string | undefined;
  private overTimeHover: string | undefined;
  private rendered: LayerModel | undefined;
  private pending: LayerModel | undefined;
  private renderedMode: OverTimeMode | undefined;
  private tau = 0.99;
  private mode: OverTimeMode = 'heatmap';
  /** The same layer in each compared run, overlaid on the metrics chart. */
  private compared: readonly ComparedLayer[] = [];
  private comparedKey = '';
  private comparedDrawn: readonly ComparedLayer[] | undefined = [];
  /** Set by the dashboard's IntersectionObserver; charts are created on first sight. */
  private onScreen = false;

  constructor(
    readonly name: string,
    runId: () => string,
    post: (msg: ToHost) => void,
  ) {
    this.root.dataset.layer = name;
    this.root.tabIndex = -1;
    const head = el('header', 'layer-head');
    head.append(el('h3', 'layer-name', name), this.meta);
    const histTitle = el('div', 'sub-title', 'Latent weights');
    histTitle.title =
      'Histogram of the real-valued latent weights. Orange bins binarize to −1, blue to +1; ' +
      'dashed red lines mark ±Q(τ), beyond which weights count as dead. Hover a bar for its count.';
    const binaryTitle = el('div', 'sub-title', 'Binary ±α');
    binaryTitle.title =
      'The weights the forward pass uses: sign(w) scaled by the per-channel α = mean|w| of each ' +
      'output channel. Spike height: fraction of the layer’s weights.';
    const pair = el('div', 'hist-pair');
    const latent = el('div', 'hist-cell');
    latent.append(histTitle, this.histHost, this.histCaption);
    const bin = el('div', 'hist-cell');
    bin.append(binaryTitle, this.binaryHost, this.binaryCaption);
    pair.append(latent, bin);

    const overTimeHead = el('div', 'sub-title sub-title-row');
    overTimeHead.title =
      'Every report’s latent-weight histogram on one value axis. Heatmap: step across, weight ' +
      'value up, colour = share of weights (square-root scale). Ridgeline: reports stacked, ' +
      'oldest at the top.';
    overTimeHead.append(
      this.overTimeTitle,
      el('span', 'spacer'),
      exportButtons(
        () =>
          this.overTime &&
          this.palette &&
          canvasExport(`${this.name} ${this.mode}`, this.overTime, this.palette),
        runId,
        post,
      ),
    );
    const chartTitle = el('div', 'sub-title', 'Over steps');
    chartTitle.title =
      'Quantization error, dead-weight ratio and frozen ratio on the left axis; ' +
      'flip rate (per optimizer step) on the right axis.';
    this.root.append(head, pair, overTimeHead, this.overTimeHost, this.overTimeCaption);
    this.root.append(chartTitle, this.chartHost);
  }

  /**
   * Creates the canvases (drawn only on screen); the uPlot chart, the costly part, is created
   * when the card first comes on screen (opening a run with 50 layers builds a handful, not 50)
   * and rebuilt on theme changes.
   */
  mount(palette: Palette): void {
    const wasMounted = this.chart !== undefined;
    this.unmount();
    this.palette = palette;
    this.rendered = undefined;
    this.renderedMode = undefined;
    this.histogram = new HistogramChart(
      this.histHost,
      palette,
      HISTOGRAM_HEIGHT,
      `Latent weight histogram of ${this.name}`,
      (text) => {
        this.hoverText = text;
        this.updateCaption();
      },
    );
    this.binary = new BinaryChart(
      this.binaryHost,
      palette,
      HISTOGRAM_HEIGHT,
      `Binary weights ±α of ${this.name}`,
    );
    this.overTime = new OverTimeChart(
      this.overTimeHost,
      palette,
      OVER_TIME_HEIGHT,
      `Latent weight histogram over time of ${this.name}`,
      (text) => {
        this.overTimeHover = text;
        this.updateCaption();
      },
    );
    if (wasMounted || this.onScreen) this.createLineChart(palette);
  }

  private createLineChart(palette: Palette): void {
    const {
      quantizationError: qe,
      deadWeightRatio: dead,
      flipRate: flip,
      frozenRatio: frozen,
    } = METRICS;
    this.chart = new LineChart(
      this.chartHost,
      {
        height: LAYER_CHART_HEIGHT,
        palette,
        ariaLabel: `Quantization error, dead-weight ratio, frozen ratio and flip rate of ${this.name}`,
        syncKey: SYNC_KEY,
        y: { kind: 'percent', title: 'QE, dead, frozen (%)' },
        y2: { kind: 'percent', metric: 'flipRate', color: palette.purple },
        series: [
          { label: qe.short, color: palette.blue, format: (v) => formatMetric(qe, v) },
          { label: dead.short, color: palette.red, format: (v) => formatMetric(dead, v) },
          {
            label: flip.short,
            color: palette.purple,
            scale: 'y2',
            format: (v) => formatMetric(flip, v),
          },
          {
            // Near 100% early on, it would flatten QE and dead; one click on the legend shows it.
            label: frozen.short,
            color: palette.green,
            dash: [4, 3],
            format: (v) => formatMetric(frozen, v),
            show: false,
          },
          // Compared runs: the same four metrics in the run's colour, dashed; frozen hidden.
          ...this.compared.flatMap((c) =>
            [qe, dead, flip, frozen].map((spec) => ({
              label: `${c.name} ${spec.short}`,
              color: c.color,
              dash: [5, 4],
              scale: spec === flip ? ('y2' as const) : ('y' as const),
              format: (v: number) => formatMetric(spec, v),
              show: spec !== frozen,
            })),
          ),
        ],
      },
      this.chartHost.clientWidth,
    );
    this.root.dataset.mounted = 'true';
    this.resize();
  }

  unmount(): void {
    this.histogram?.destroy();
    this.binary?.destroy();
    this.overTime?.destroy();
    this.chart?.destroy();
    this.histogram = undefined;
    this.binary = undefined;
    this.overTime = undefined;
    this.chart = undefined;
  }

  resize(): void {
    // Off screen: the new widths are read when the card is next drawn.
    if (!this.onScreen || !this.chart) return;
    const histWidth = this.histHost.clientWidth;
    const binaryWidth = this.binaryHost.clientWidth;
    const overTimeWidth = this.overTimeHost.clientWidth;
    const chartWidth = this.chartHost.clientWidth;
    if (histWidth > 0) this.histogram?.setWidth(histWidth);
    if (binaryWidth > 0) this.binary?.setWidth(binaryWidth);
    if (overTimeWidth > 0) this.overTime?.setWidth(overTimeWidth);
    if (chartWidth > 0) this.chart?.setWidth(chartWidth);
  }

  observe(observer: ResizeObserver): void {
    observer.observe(this.histHost);
    observer.observe(this.binaryHost);
    observer.observe(this.overTimeHost);
    observer.observe(this.chartHost);
  }

  /** Called by the dashboard's IntersectionObserver; drawing resumes when visible again. */
  setOnScreen(onScreen: boolean): void {
    this.onScreen = onScreen;
    if (!onScreen) return;
    if (!this.chart && this.palette) this.createLineChart(this.palette);
    else this.resize();
    if (this.pending) this.update(this.pending, this.tau, this.mode);
  }

  /**
   * Overlays this layer of the compared runs on the metrics chart (none: stop). The chart is
   * rebuilt when the runs change, redrawn when their data does.
   */
  setComparison(compared: readonly ComparedLayer[]): void {
    const key = compared.map((c) => `${c.name}\n${c.color}`).join('\n');
    const same =
      key === this.comparedKey &&
      compared.length === this.compared.length &&
      compared.every((c, i) => c.layer === this.compared[i].layer);
    if (same) return;
    this.compared = compared;
    if (key !== this.comparedKey) {
      this.comparedKey = key;
      if (this.chart && this.palette) {
        this.chart.destroy();
        this.chart = undefined;
        if (this.onScreen) this.createLineChart(this.palette);
      }
    }
    // Redrawn by the next update, even if this layer's own data did not change.
    this.comparedDrawn = undefined;
  }

  update(layer: LayerModel, tau: number, mode: OverTimeMode): void {
    if (
      layer === this.rendered &&
      tau === this.tau &&
      mode === this.renderedMode &&
      this.comparedDrawn === this.compared
    )
      return;
    this.tau = tau;
    this.mode = mode;
    if (!this.onScreen || this.root.hidden) {
      this.pending = layer;
      return;
    }
    this.pending = undefined;
    const { info, latest } = layer;
    const metaParts = [
      info.kind,
      info.shape.length ? formatShape(info.shape) : '',
      `${formatCompact(info.params)} params`,
      info.quantizer,
    ].filter((p) => p !== '');
    setText(this.meta, metaParts.join(' · '));
    if (layer.latest !== this.rendered?.latest) {
      const threshold = latest ? deadThreshold(latest.absMean, tau) : undefined;
      this.histogram?.setData(latest?.histogram, threshold);
      this.binary?.setData(latest);
    }
    if (layer.history !== this.rendered?.history || mode !== this.renderedMode) {
      this.overTime?.setData(layer.history.frames, mode);
      setText(
        this.overTimeTitle,
        mode === 'heatmap' ? 'Over time · heatmap' : 'Over time · ridgeline',
      );
    }
    if (layer.metrics !== this.rendered?.metrics || this.comparedDrawn !== this.compared) {
      this.comparedDrawn = this.compared;
      this.chart?.setData(
        alignGroups([
          trainingMetrics(layer),
          ...this.compared.map((c) =>
            c.layer ? trainingMetrics(c.layer) : { x: [], y: [[], [], [], []] },
          ),
        ]),
      );
    }
    this.rendered = layer;
    this.renderedMode = mode;
    this.updateCaption();
  }

  private updateCaption(): void {
    const layer = this.rendered;
    const latest = layer?.latest;
    if (this.hoverText) {
      setText(this.histCaption, this.hoverText);
    } else if (latest) {
      setText(
        this.histCaption,
        `μ ${formatSignificant(latest.mean, 2)} · σ ${formatSignificant(latest.std, 2)} · ` +
          `|w|>Q ${formatPercent(latest.deadWeightRatio, 1)} · +1 ${formatPercent(latest.signBalance, 1)}`,
      );
    } else {
      setText(this.histCaption, 'Waiting for the first report…');
    }
    const binary = this.binary?.describe() ?? '';
    setText(this.binaryCaption, binary);
    this.binaryCaption.title = binary;
    const frames = layer?.history.frames ?? [];
    setText(
      this.overTimeCaption,
      this.overTimeHover ??
        (frames.length > 0
          ? `${frames.length} reports, steps ${formatCompact(frames[0].step)}–${formatCompact(frames[frames.length - 1].step)}` +
            (layer && layer.history.stride > 1 ? ` (every ${layer.history.stride}th kept)` : '')
          : ''),
    );
  }
}
