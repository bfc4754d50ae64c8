/**
 * One metric over steps for every binary layer: one line per layer (depth colours, or distinct
 * colours and dashes in high-contrast themes, charts/seriesStyle.ts), a legend naming every line,
 * the nearest line under the cursor highlighted and named in a readout, axes titled with the
 * metric's unit and ranged for its kind (charts/metricScale.ts), cursor, zoom and pan shared with
 * the other step charts, optional log scale, and click-through to the layer. uPlot draws; this
 * class only configures it.
 */
import uPlot from 'uplot';
import './charts.css';
import { MISSING, formatCompact } from '../../core/format';
import { withAlpha, type Palette } from '../shared/theme';
import type { AlignedColumns } from './align';
import { ChartControls, ZOOM_HINT } from './chartControls';
import { TITLE_SIZE, plotHeight, stepAxis } from './lineChart';
import { fitTitle, formatScaled, metricScale, scaleRange, scaleTicks } from './metricScale';
import { layerStyle, type LineStyle } from './seriesStyle';

export { depthColor } from './seriesStyle';

export interface MultiplesSpec {
  height: number;
  palette: Palette;
  /** Layer names, one line each, in model order. */
  layers: readonly string[];
  /** The metric drawn, by its JSON name (docs/metrics.md); its range, ticks and unit follow. */
  metric: { readonly key: string };
  log: boolean;
  syncKey: string;
  ariaLabel: string;
  /** Click on the plot or a legend entry: that layer. */
  onPick: (layer: string) => void;
}

/** Legends longer than this fold into a disclosure ("Legend · 50 layers"). */
export const LEGEND_OPEN_MAX = 12;

/** Log axes cannot show 0 or negatives: such values become gaps. */
export function forLogScale(columns: AlignedColumns): AlignedColumns {
  const [x, ...ys] = columns;
  return [x, ...ys.map((c) => c.map((v) => (v !== null && v > 0 ? v : null)))];
}

const SVG = 'http://www.w3.org/2000/svg';

/** A 22 × 8 px line sample in the series' colour and dash, for the legend. */
export function swatch(style: LineStyle, width: number): SVGSVGElement {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'chart-legend-swatch');
  svg.setAttribute('width', '22');
  svg.setAttribute('height', '8');
  svg.setAttribute('aria-hidden', 'true');
  const line = document.createElementNS(SVG, 'line');
  line.setAttribute('x1', '1');
  line.setAttribute('x2', '21');
  line.setAttribute('y1', '4');
  line.setAttribute('y2', '4');
  line.setAttribute('stroke', style.color);
  line.setAttribute('stroke-width', String(width + 0.5));
  if (style.dash) line.setAttribute('stroke-dasharray', style.dash.join(' '));
  svg.append(line);
  return svg;
}

export class MultiplesChart {
  private readonly plot: uPlot;
  private focused = -1;
  private readonly readout: HTMLElement;
  private readonly legend: HTMLElement;
  private readonly controls: ChartControls;

  constructor(
    container: HTMLElement,
    private readonly spec: MultiplesSpec,
    width: number,
  ) {
    const { palette } = spec;
    const scale = metricScale(spec.metric.key);
    const styles = spec.layers.map((_, i) => layerStyle(palette, i, spec.layers.length));
    const lineWidth = palette.highContrast ? 1.5 : 1;
    const yTitle = spec.log ? `${scale.title}, log` : scale.title;
    this.readout = document.createElement('div');
    this.readout.className = 'multiples-readout';
    this.readout.textContent = ' ';
    this.controls = new ChartControls(container, {
      syncKey: spec.syncKey,
      smoothing: false,
      palette,
      onSmoothing: () => undefined,
    });
    const opts: uPlot.Options = {
      width: Math.max(120, width),
      height: spec.height,
      padding: [8, 14, 0, 0],
      legend: { show: false },
      focus: { alpha: 0.25 },
      scales: {
        x: { time: false },
        y: spec.log
          ? { distr: 3, log: 10 }
          : { range: (_u, min, max) => scaleRange(scale, min, max) },
      },
      axes: [
        stepAxis(palette),
        {
          stroke: palette.muted,
          font: palette.font,
          size: 52,
          gap: 4,
          space: 22,
          ticks: { show: false },
          grid: { stroke: withAlpha(palette.grid, 0.55), width: 1 },
          values: (_u, splits) =>
            spec.log ? splits.map((v) => formatScaled(scale, v)) : scaleTicks(scale, splits),
          label: (u) => fitTitle(yTitle, plotHeight(u)),
          labelSize: TITLE_SIZE,
          labelFont: `10px ${palette.fontFamily}`,
          labelGap: 0,
        },
      ],
      cursor: {
        drag: { x: true, y: false, setScale: false },
        focus: { prox: 24 },
        points: { size: 5 },
        sync: { key: spec.syncKey },
      },
      series: [
        {},
        ...spec.layers.map((name, i): uPlot.Series => ({
          label: name,
          stroke: styles[i].color,
          dash: styles[i].dash,
          width: lineWidth,
          points: { show: false },
        })),
      ],
      hooks: {
        setSeries: [
          (_u, idx, o) => {
            if ((o as { focus?: boolean }).focus) this.focused = idx ?? -1;
            this.updateReadout();
          },
        ],
        setCursor: [() => this.updateReadout()],
      },
    };
    this.plot = new uPlot(opts, [[], ...spec.layers.map(() => [])], container);
    this.plot.root.setAttribute('role', 'img');
    // The axis titles (drawn on the canvas), readable without pixels.
    this.plot.root.dataset.axes = `${metricScale('step').title} | ${yTitle}`;
    this.plot.root.setAttribute('aria-label', `${spec.ariaLabel}. ${ZOOM_HINT}`);
    this.plot.root.dataset.layers = String(spec.layers.length);
    this.plot.root.dataset.log = String(spec.log);
    this.plot.root.dataset.metric = spec.metric.key;
    this.controls.attach(this.plot);
    this.legend = this.buildLegend(styles, lineWidth);
    container.append(this.legend, this.readout);
    this.plot.over.addEventListener('click', () => {
      if (this.controls.wasDrag()) return;
      const name = this.spec.layers[this.focused - 1];
      if (name !== undefined) this.spec.onPick(name);
    });
  }

  /** One entry per layer: hover highlights its line, click (or Enter) opens the layer. */
  private buildLegend(styles: LineStyle[], lineWidth: number): HTMLElement {
    const list = document.createElement('div');
    list.className = 'chart-legend';
    list.setAttribute('role', 'list');
    list.setAttribute('aria-label', `Legend: one line per binary layer`);
    this.spec.layers.forEach((name, i) => {
      const item = document.createElement('button');
      item.type = 'button';
      item.className = 'chart-legend-item';
      item.setAttribute('role', 'listitem');
      item.dataset.layer = name;
      item.dataset.color = styles[i].color;
      item.dataset.dash = styles[i].dash?.join(' ') ?? '';
      item.title = `${name}: highlight its line; click to open the layer`;
      const label = document.createElement('span');
      label.textContent = name;
      item.append(swatch(styles[i], lineWidth), label);
      const focus = (): void => this.plot.setSeries(i + 1, { focus: true });
      const blur = (): void => this.plot.setSeries(null, { focus: true });
      item.addEventListener('mouseenter', focus);
      item.addEventListener('focus', focus);
      item.addEventListener('mouseleave', blur);
      item.addEventListener('blur', blur);
      item.addEventListener('click', () => this.spec.onPick(name));
      list.append(item);
    });
    if (this.spec.layers.length <= LEGEND_OPEN_MAX) return list;
    const details = document.createElement('details');
    details.className = 'chart-legend-fold';
    const summary = document.createElement('summary');
    summary.className = 'chart-legend-more';
    summary.textContent = `Legend · ${this.spec.layers.length} layers`;
    details.append(summary, list);
    return details;
  }

  private updateReadout(): void {
    const idx = this.plot.cursor.idx;
    const name = this.spec.layers[this.focused - 1];
    let text = ' ';
    if (name !== undefined && idx != null) {
      const v = this.plot.data[this.focused]?.[idx];
      const step = this.plot.data[0][idx];
      const scale = metricScale(this.spec.metric.key);
      text = `${name} · step ${formatCompact(step)}: ${v == null ? MISSING : formatScaled(scale, v)} — click to open`;
    }
    if (this.readout.textContent !== text) this.readout.textContent = text;
  }

  setData(columns: AlignedColumns): void {
    const data = this.spec.log ? forLogScale(columns) : columns;
    this.controls.setData(data as uPlot.AlignedData, true);
  }

  setWidth(width: number): void {
    const w = Math.max(120, Math.floor(width));
    if (w !== this.plot.width) this.plot.setSize({ width: w, height: this.spec.height });
  }

  /** The plot canvas (for export). */
  get uplot(): uPlot {
    return this.plot;
  }

  destroy(): void {
    this.controls.destroy();
    this.plot.destroy();
    this.legend.remove();
    this.readout.remove();
  }
}
