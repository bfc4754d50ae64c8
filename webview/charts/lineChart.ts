/**
 * A thin wrapper around uPlot for the dashboard's step-indexed line charts: theme colours, axes
 * with titles and units and a range per metric (charts/metricScale.ts), a live legend (uPlot's,
 * with values at the cursor), cursor sync, and the view controls of charts/chartControls.ts:
 * smoothing, zoom and pan, shared with the other step charts of the page.
 */
import uPlot from 'uplot';
import './charts.css';
import { MISSING, formatCompact } from '../../core/format';
import { withAlpha, type Palette } from '../shared/theme';
import type { AlignedColumns } from './align';
import { ChartControls, ZOOM_HINT } from './chartControls';
import { fitTitle, metricScale, scaleRange, scaleTicks, type MetricScale } from './metricScale';
import { resolveCollisions } from './seriesStyle';
import { emaSmooth } from './smoothing';

/** One y channel. `sparse` series (one point per epoch) draw markers and span gaps. */
export interface LineSeriesSpec {
  label: string;
  color: string;
  /** `y` (left axis) or `y2` (right axis). */
  scale?: 'y' | 'y2';
  /** Legend value at the cursor. */
  format: (value: number) => string;
  sparse?: boolean;
  dash?: number[];
  /** Initially visible; the user toggles series by clicking the legend. */
  show?: boolean;
}

/** A y axis: what it holds (range and ticks), its title, and its tick colour. */
export interface AxisSpec {
  /** Ratios in [0, 1] shown as percentages, or plain numbers (not below 0 unless negative). */
  kind: 'percent' | 'number';
  /** The metric's JSON name (docs/metrics.md): its range, ticks and axis title win over `kind`. */
  metric?: string;
  /** Axis title; defaults to the metric's (`Loss (cross-entropy, nats)`). */
  title?: string;
  /** Tick label colour; defaults to the palette's muted foreground. */
  color?: string;
}

export interface LineChartSpec {
  height: number;
  palette: Palette;
  y: AxisSpec;
  y2?: AxisSpec;
  series: LineSeriesSpec[];
  /** Charts with the same key share the cursor, the zoom window and the smoothing weight. */
  syncKey?: string;
  /** Show a smoothing slider (EMA of the dense series; epoch points stay raw). */
  smoothing?: boolean;
  /** Accessible name of the plot. */
  ariaLabel: string;
}

const GENERIC_RATIO: MetricScale = { ...metricScale('accuracy'), key: 'ratio', title: '%' };
const GENERIC_NUMBER: MetricScale = { ...metricScale('loss'), key: 'number', title: '' };

/** The scale of an axis: its metric's, else a generic ratio or non-negative number. */
export function axisScale(spec: AxisSpec): MetricScale {
  if (spec.metric) return metricScale(spec.metric);
  return spec.kind === 'percent' ? GENERIC_RATIO : GENERIC_NUMBER;
}

/** Room for the widest tick label, so that stacked charts keep their plots aligned. */
function axisSize(self: uPlot, values: string[] | null, axisIdx: number): number {
  const longest = (values ?? []).reduce((n, v) => Math.max(n, v.length), 0);
  const base = axisIdx === 0 ? 20 : Math.max(3, longest) * 6.4 + 10;
  return Math.ceil(base + (self.axes[axisIdx].gap ?? 0));
}

/** Axis titles: one line of 10 px text, muted, beside or under the tick labels. */
export const TITLE_SIZE = 13;

function titleFont(palette: Palette): string {
  return `10px ${palette.fontFamily}`;
}

function yAxis(spec: AxisSpec, palette: Palette, scale: string, side: 1 | 3): uPlot.Axis {
  const s = axisScale(spec);
  const title = spec.title ?? s.title;
  return {
    scale,
    side,
    stroke: spec.color ?? palette.muted,
    font: palette.font,
    size: axisSize,
    space: 22,
    gap: 4,
    ticks: { show: false },
    grid: side === 3 ? { stroke: withAlpha(palette.grid, 0.55), width: 1 } : { show: false },
    values: (_u, splits) => scaleTicks(s, splits),
    ...(title
      ? {
          label: (u: uPlot) => fitTitle(title, plotHeight(u)),
          labelSize: TITLE_SIZE,
          labelFont: titleFont(palette),
          labelGap: 0,
        }
      : {}),
  };
}

/** The plot's height and width in CSS px (what a rotated or horizontal axis title may span). */
export function plotHeight(u: uPlot): number {
  return u.bbox.height / (window.devicePixelRatio || 1);
}
export function plotWidth(u: uPlot): number {
  return u.bbox.width / (window.devicePixelRatio || 1);
}

/** The full axis titles of a spec, for `data-axes` (the canvas may show them shortened). */
export function axisTitles(spec: { y: AxisSpec; y2?: AxisSpec }): string[] {
  const title = (a: AxisSpec): string => a.title ?? axisScale(a).title;
  return [metricScale('step').title, title(spec.y), ...(spec.y2 ? [title(spec.y2)] : [])];
}

/** The step axis every line chart shares. */
export function stepAxis(palette: Palette, title = metricScale('step').title): uPlot.Axis {
  return {
    stroke: palette.muted,
    font: palette.font,
    size: 18,
    gap: 2,
    ticks: { show: true, stroke: withAlpha(palette.grid, 0.9), size: 3 },
    grid: { stroke: withAlpha(palette.grid, 0.35), width: 1 },
    values: (_u, splits) => splits.map((v) => formatCompact(v)),
    label: (u: uPlot) => fitTitle(title, plotWidth(u)),
    labelSize: TITLE_SIZE,
    labelFont: titleFont(palette),
    labelGap: 0,
  };
}

/** Last non-null value of a column (what the legend shows while the cursor is away). */
function lastValue(column: ArrayLike<number | null | undefined> | undefined): number | null {
  if (!column) return null;
  for (let i = column.length - 1; i >= 0; i--) {
    const v = column[i];
    if (v != null) return v;
  }
  return null;
}

/** Legend text: the value under the cursor, or the latest value when the cursor is away. */
function legendValue(format: (value: number) => string): uPlot.Series.Value {
  return (u, raw, seriesIdx, idx) => {
    const v = idx == null ? lastValue(u.data[seriesIdx]) : raw;
    return v == null ? MISSING : format(v);
  };
}

/** A live line chart bound to a container element. */
export class LineChart {
  private readonly plot: uPlot;
  private readonly controls: ChartControls;
  private raw: AlignedColumns = [[]];
  private smoothing = 0;
  private readonly colors: string[];

  constructor(
    container: HTMLElement,
    private readonly spec: LineChartSpec,
    width: number,
  ) {
    const { palette } = spec;
    const yScale = axisScale(spec.y);
    const scales: uPlot.Scales = {
      x: { time: false },
      y: { range: (_u, min, max) => scaleRange(yScale, min, max) },
    };
    const axes: uPlot.Axis[] = [stepAxis(palette), yAxis(spec.y, palette, 'y', 3)];
    if (spec.y2) {
      const y2Scale = axisScale(spec.y2);
      scales.y2 = { range: (_u, min, max) => scaleRange(y2Scale, min, max) };
      axes.push(yAxis(spec.y2, palette, 'y2', 1));
    }
    this.controls = new ChartControls(container, {
      syncKey: spec.syncKey,
      smoothing: spec.smoothing ?? false,
      palette,
      onSmoothing: (w) => {
        this.smoothing = w;
        this.draw(false);
      },
    });
    const colors = resolveCollisions(spec.series, palette);
    this.colors = colors;
    const opts: uPlot.Options = {
      width: Math.max(120, width),
      height: spec.height,
      scales,
      axes,
      // uPlot's automatic right padding leaves ~30px for the last x label; a y2 axis has room.
      padding: [8, spec.y2 ? 0 : 14, 0, 0],
      legend: { show: true, live: true },
      cursor: {
        drag: { x: true, y: false, setScale: false },
        points: { size: 6 },
        ...(spec.syncKey ? { sync: { key: spec.syncKey } } : {}),
      },
      series: [
        { label: 'step', value: legendValue((v) => formatCompact(v)) },
        ...spec.series.map((s, i): uPlot.Series => ({
          label: s.label,
          scale: s.scale ?? 'y',
          stroke: colors[i],
          width: palette.highContrast ? 2 : 1.5,
          dash: s.dash,
          show: s.show ?? true,
          spanGaps: s.sparse ?? false,
          points: s.sparse
            ? { show: true, size: 6, stroke: colors[i], fill: palette.background, width: 1.5 }
            : { show: false },
          value: legendValue(s.format),
        })),
      ],
      hooks: {
        // The raw curve, faint, under its smoothed line (as TensorBoard draws it).
        drawAxes: [(u) => this.drawRaw(u)],
      },
    };
    this.plot = new uPlot(opts, [[], ...spec.series.map(() => [])], container);
    this.plot.root.setAttribute('role', 'img');
    // The axis titles (drawn on the canvas), readable without pixels.
    this.plot.root.dataset.axes = axisTitles(spec).join(' | ');
    this.plot.root.setAttribute('aria-label', `${spec.ariaLabel}. ${ZOOM_HINT}`);
    this.smoothing = this.controls.attach(this.plot);
  }

  /** Replaces the data; columns must match the spec's series order. */
  setData(columns: AlignedColumns): void {
    if (columns.length !== this.spec.series.length + 1) {
      throw new Error(
        `LineChart.setData: expected ${this.spec.series.length + 1} columns, got ${columns.length}`,
      );
    }
    this.raw = columns;
    this.draw(true);
  }

  /** The columns on screen: dense series smoothed with the current weight. */
  private shown(): AlignedColumns {
    if (!(this.smoothing > 0)) return this.raw;
    const [x, ...ys] = this.raw;
    return [
      x,
      ...ys.map((c, i) => (this.spec.series[i]?.sparse ? c : emaSmooth(c, this.smoothing))),
    ];
  }

  private draw(newData: boolean): void {
    this.controls.setData(this.shown() as uPlot.AlignedData, newData);
  }

  private drawRaw(u: uPlot): void {
    if (!(this.smoothing > 0) || this.raw[0].length < 2) return;
    const { ctx } = u;
    const { left, top, width, height } = u.bbox;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    ctx.lineWidth = 1;
    this.spec.series.forEach((s, i) => {
      if (s.sparse || u.series[i + 1]?.show === false) return;
      const x = this.raw[0];
      const y = this.raw[i + 1];
      const scale = s.scale ?? 'y';
      ctx.strokeStyle = withAlpha(this.colors[i] ?? s.color, 0.3);
      ctx.beginPath();
      let pen = false;
      for (let j = 0; j < x.length; j++) {
        const v = y[j];
        if (v == null) {
          pen = false;
          continue;
        }
        const px = u.valToPos(x[j], 'x', true);
        const py = u.valToPos(v, scale, true);
        if (pen) ctx.lineTo(px, py);
        else ctx.moveTo(px, py);
        pen = true;
      }
      ctx.stroke();
    });
    ctx.restore();
  }

  /** Resizes the plot (legend height comes on top of `spec.height`). */
  setWidth(width: number): void {
    const w = Math.max(120, Math.floor(width));
    if (w !== this.plot.width) this.plot.setSize({ width: w, height: this.spec.height });
  }

  /** The uPlot instance (for export). */
  get uplot(): uPlot {
    return this.plot;
  }

  destroy(): void {
    this.controls.destroy();
    this.plot.destroy();
  }
}
