/**
 * One metric over steps for every binary layer: one line per layer, coloured by depth (first
 * layer blue → last layer orange), the nearest line under the cursor highlighted and named in a
 * readout, cursor shared with the other step charts, optional log scale, and click-through to the
 * layer. uPlot draws; this class only configures it.
 */
import uPlot from 'uplot';
import { MISSING, formatCompact } from '../../core/format';
import {
  formatMetric,
  metricRange,
  metricTicks,
  type MetricSpec,
} from '../shared/metricVocabulary';
import { mixRgb, toRgb, withAlpha, type Palette } from '../shared/theme';
import type { AlignedColumns } from './align';

export interface MultiplesSpec {
  height: number;
  palette: Palette;
  /** Layer names, one line each, in model order. */
  layers: readonly string[];
  /** The metric drawn: its range (ratios in [0, 1], signed losses unclamped) and formats. */
  metric: MetricSpec;
  log: boolean;
  syncKey: string;
  ariaLabel: string;
  /** Click on the plot: the highlighted layer. */
  onPick: (layer: string) => void;
}

/** Depth colour of layer `i` of `n`: blue for the first, orange for the last. */
export function depthColor(palette: Palette, i: number, n: number): string {
  const from = toRgb(palette.blue);
  const to = toRgb(palette.orange);
  if (!from || !to) return palette.blue;
  const [r, g, b] = mixRgb(from, to, n > 1 ? i / (n - 1) : 0);
  return `rgb(${r}, ${g}, ${b})`;
}

/** Log axes cannot show 0 or negatives: such values become gaps. */
export function forLogScale(columns: AlignedColumns): AlignedColumns {
  const [x, ...ys] = columns;
  return [x, ...ys.map((c) => c.map((v) => (v !== null && v > 0 ? v : null)))];
}

export class MultiplesChart {
  private readonly plot: uPlot;
  private focused = -1;
  private readonly readout: HTMLElement;

  constructor(
    container: HTMLElement,
    private readonly spec: MultiplesSpec,
    width: number,
  ) {
    const { palette } = spec;
    this.readout = document.createElement('div');
    this.readout.className = 'multiples-readout';
    this.readout.textContent = ' ';
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
          : { range: (_u, min, max) => metricRange(spec.metric, min, max) },
      },
      axes: [
        {
          stroke: palette.muted,
          font: palette.font,
          size: 20,
          gap: 3,
          ticks: { show: true, stroke: withAlpha(palette.grid, 0.9), size: 3 },
          grid: { stroke: withAlpha(palette.grid, 0.35), width: 1 },
          values: (_u, splits) => splits.map((v) => formatCompact(v)),
        },
        {
          stroke: palette.muted,
          font: palette.font,
          size: 52,
          gap: 4,
          space: 22,
          ticks: { show: false },
          grid: { stroke: withAlpha(palette.grid, 0.55), width: 1 },
          values: (_u, splits) =>
            spec.log
              ? splits.map((v) => formatMetric(spec.metric, v))
              : metricTicks(spec.metric, splits),
        },
      ],
      cursor: {
        drag: { x: false, y: false },
        focus: { prox: 24 },
        points: { size: 5 },
        sync: { key: spec.syncKey },
      },
      series: [
        {},
        ...spec.layers.map((name, i): uPlot.Series => ({
          label: name,
          stroke: depthColor(palette, i, spec.layers.length),
          width: palette.highContrast ? 1.5 : 1,
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
    this.plot.root.setAttribute('aria-label', spec.ariaLabel);
    this.plot.root.dataset.layers = String(spec.layers.length);
    this.plot.root.dataset.log = String(spec.log);
    this.plot.root.dataset.metric = spec.metric.key;
    container.append(this.readout);
    this.plot.over.addEventListener('click', () => {
      const name = this.spec.layers[this.focused - 1];
      if (name !== undefined) this.spec.onPick(name);
    });
  }

  private updateReadout(): void {
    const idx = this.plot.cursor.idx;
    const name = this.spec.layers[this.focused - 1];
    let text = ' ';
    if (name !== undefined && idx != null) {
      const v = this.plot.data[this.focused]?.[idx];
      const step = this.plot.data[0][idx];
      text = `${name} · step ${formatCompact(step)}: ${v == null ? MISSING : formatMetric(this.spec.metric, v)} — click to open`;
    }
    if (this.readout.textContent !== text) this.readout.textContent = text;
  }

  setData(columns: AlignedColumns): void {
    const data = this.spec.log ? forLogScale(columns) : columns;
    this.plot.setData(data as uPlot.AlignedData);
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
    this.plot.destroy();
    this.readout.remove();
  }
}
