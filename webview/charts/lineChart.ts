/**
 * A thin wrapper around uPlot for the dashboard's step-indexed line charts: theme colours,
 * compact axes, a live legend (uPlot's, with values at the cursor) and cursor sync across charts.
 */
import uPlot from 'uplot';
import { MISSING, formatCompact, formatNumberTicks, formatPercentTicks } from '../../core/format';
import { withAlpha, type Palette } from '../shared/theme';
import type { AlignedColumns } from './align';

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

/** A y axis: tick format and whether its values are ratios clamped to [0, 1]. */
export interface AxisSpec {
  kind: 'percent' | 'number';
  /** Tick label colour; defaults to the palette's muted foreground. */
  color?: string;
}

export interface LineChartSpec {
  height: number;
  palette: Palette;
  y: AxisSpec;
  y2?: AxisSpec;
  series: LineSeriesSpec[];
  /** Charts with the same key share the cursor (same step highlighted everywhere). */
  syncKey?: string;
  /** Accessible name of the plot. */
  ariaLabel: string;
}

/** Axis range with 6% headroom; ratio axes stay inside [0, 1], losses do not go below 0. */
function paddedRange(kind: AxisSpec['kind']): uPlot.Range.Function {
  return (_u, min, max) => {
    if (min == null || max == null || !Number.isFinite(min) || !Number.isFinite(max)) {
      return [0, 1];
    }
    const span = max - min;
    const pad = span > 0 ? span * 0.06 : Math.max(Math.abs(max) * 0.1, 1e-3);
    let lo = min - pad;
    let hi = max + pad;
    if (min >= 0) lo = Math.max(0, lo);
    if (kind === 'percent') hi = Math.min(1, hi);
    if (!(hi > lo)) hi = lo + 1e-3;
    return [lo, hi];
  };
}

/** Room for the widest tick label, so that stacked charts keep their plots aligned. */
function axisSize(self: uPlot, values: string[] | null, axisIdx: number): number {
  const longest = (values ?? []).reduce((n, v) => Math.max(n, v.length), 0);
  const base = axisIdx === 0 ? 20 : Math.max(4, longest) * 6.4 + 12;
  return Math.ceil(base + (self.axes[axisIdx].gap ?? 0));
}

function yAxis(spec: AxisSpec, palette: Palette, scale: string, side: 1 | 3): uPlot.Axis {
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
    values: (_u, splits) =>
      spec.kind === 'percent' ? formatPercentTicks(splits) : formatNumberTicks(splits),
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

  constructor(
    container: HTMLElement,
    private readonly spec: LineChartSpec,
    width: number,
  ) {
    const { palette } = spec;
    const scales: uPlot.Scales = {
      x: { time: false },
      y: { range: paddedRange(spec.y.kind) },
    };
    const axes: uPlot.Axis[] = [
      {
        stroke: palette.muted,
        font: palette.font,
        size: axisSize,
        gap: 3,
        ticks: { show: true, stroke: withAlpha(palette.grid, 0.9), size: 3 },
        grid: { stroke: withAlpha(palette.grid, 0.35), width: 1 },
        values: (_u, splits) => splits.map((v) => formatCompact(v)),
      },
      yAxis(spec.y, palette, 'y', 3),
    ];
    if (spec.y2) {
      scales.y2 = { range: paddedRange(spec.y2.kind) };
      axes.push(yAxis(spec.y2, palette, 'y2', 1));
    }
    const opts: uPlot.Options = {
      width: Math.max(120, width),
      height: spec.height,
      scales,
      axes,
      // uPlot's automatic right padding leaves ~30px for the last x label; a y2 axis has room.
      padding: [8, spec.y2 ? 0 : 14, 0, 0],
      legend: { show: true, live: true },
      cursor: {
        drag: { x: false, y: false },
        points: { size: 6 },
        ...(spec.syncKey ? { sync: { key: spec.syncKey } } : {}),
      },
      series: [
        { label: 'step', value: legendValue((v) => formatCompact(v)) },
        ...spec.series.map((s): uPlot.Series => ({
          label: s.label,
          scale: s.scale ?? 'y',
          stroke: s.color,
          width: palette.highContrast ? 2 : 1.5,
          dash: s.dash,
          show: s.show ?? true,
          spanGaps: s.sparse ?? false,
          points: s.sparse
            ? { show: true, size: 6, stroke: s.color, fill: palette.background, width: 1.5 }
            : { show: false },
          value: legendValue(s.format),
        })),
      ],
    };
    this.plot = new uPlot(opts, [[], ...spec.series.map(() => [])], container);
    this.plot.root.setAttribute('role', 'img');
    this.plot.root.setAttribute('aria-label', spec.ariaLabel);
  }

  /** Replaces the data; columns must match the spec's series order. */
  setData(columns: AlignedColumns): void {
    if (columns.length !== this.spec.series.length + 1) {
      throw new Error(
        `LineChart.setData: expected ${this.spec.series.length + 1} columns, got ${columns.length}`,
      );
    }
    this.plot.setData(columns as uPlot.AlignedData);
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
    this.plot.destroy();
  }
}
