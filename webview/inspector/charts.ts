/**
 * Small canvas charts of the checkpoint inspector: α per output channel (bars) and one metric
 * over a checkpoint series (a line with points). Sizing and theme come from CanvasChart.
 */
import { formatSignificant } from '../../core/format';
import { CanvasChart } from '../charts/canvasChart';
import { niceTicks } from '../charts/histogramGeometry';
import { withAlpha, type Palette } from '../shared/theme';

const AXIS_HEIGHT = 16;
const LEFT_AXIS = 44;
const TOP_PAD = 6;

/** Draws the y axis ticks for [0, hi] or [lo, hi]; returns the y mapping. */
function yAxis(
  ctx: CanvasRenderingContext2D,
  palette: Palette,
  lo: number,
  hi: number,
  plotTop: number,
  plotBottom: number,
  width: number,
  format: (v: number) => string,
): (v: number) => number {
  const yOf = (v: number): number =>
    plotBottom - ((v - lo) / (hi - lo || 1)) * (plotBottom - plotTop);
  ctx.font = palette.font;
  ctx.textBaseline = 'middle';
  ctx.fillStyle = palette.muted;
  ctx.strokeStyle = withAlpha(palette.grid, 0.5);
  for (const v of niceTicks(lo, hi, 4)) {
    if (v < lo || v > hi) continue;
    const y = Math.round(yOf(v)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(LEFT_AXIS, y);
    ctx.lineTo(width, y);
    ctx.stroke();
    const label = format(v);
    ctx.fillText(label, Math.max(0, LEFT_AXIS - 4 - ctx.measureText(label).width), y);
  }
  return yOf;
}

/** α_c per output channel as bars, channel index on x. */
export class AlphaChart extends CanvasChart {
  private alpha: readonly number[] = [];

  constructor(container: HTMLElement, palette: Palette, height: number) {
    super(container, 'alpha-canvas', palette, height, 'Scale α per output channel');
  }

  setData(alpha: readonly number[]): void {
    this.alpha = alpha;
    this.canvas.dataset.channels = String(alpha.length);
    this.draw();
  }

  protected draw(): void {
    const ctx = this.context();
    if (!ctx) return;
    const { palette: p, width, height, alpha } = this;
    if (alpha.length === 0) return;
    const hi = Math.max(...alpha) || 1;
    const bottom = height - AXIS_HEIGHT;
    const yOf = yAxis(ctx, p, 0, hi, TOP_PAD, bottom, width, (v) => formatSignificant(v, 2));
    const plotW = width - LEFT_AXIS;
    const step = plotW / alpha.length;
    ctx.fillStyle = withAlpha(p.blue, 0.85);
    alpha.forEach((a, c) => {
      const x = LEFT_AXIS + c * step;
      const y = yOf(a);
      ctx.fillRect(x, y, Math.max(1, step - (step > 3 ? 1 : 0)), bottom - y);
    });
    ctx.fillStyle = p.muted;
    ctx.textBaseline = 'top';
    ctx.fillText('channel 0', LEFT_AXIS, bottom + 3);
    const last = `${alpha.length - 1}`;
    ctx.fillText(last, width - ctx.measureText(last).width, bottom + 3);
  }
}

/** One value per checkpoint, joined by a line; gaps where a checkpoint lacks the value. */
export class SeriesChart extends CanvasChart {
  private values: readonly (number | undefined)[] = [];
  private labels: readonly string[] = [];
  private format: (v: number) => string = (v) => formatSignificant(v, 3);

  constructor(container: HTMLElement, palette: Palette, height: number) {
    super(container, 'series-canvas', palette, height, 'Metric over the checkpoints');
  }

  setData(
    values: readonly (number | undefined)[],
    labels: readonly string[],
    format: (v: number) => string,
  ): void {
    this.values = values;
    this.labels = labels;
    this.format = format;
    this.canvas.dataset.points = String(values.filter((v) => v !== undefined).length);
    this.draw();
  }

  protected draw(): void {
    const ctx = this.context();
    if (!ctx) return;
    const { palette: p, width, height, values } = this;
    const defined = values.filter((v): v is number => v !== undefined);
    if (defined.length === 0) return;
    let lo = Math.min(...defined);
    let hi = Math.max(...defined);
    if (hi - lo < 1e-12) {
      lo -= Math.abs(lo) * 0.1 || 0.5;
      hi += Math.abs(hi) * 0.1 || 0.5;
    }
    const bottom = height - AXIS_HEIGHT;
    const yOf = yAxis(ctx, p, lo, hi, TOP_PAD, bottom, width, this.format);
    const n = values.length;
    const xOf = (i: number): number =>
      n <= 1
        ? LEFT_AXIS + (width - LEFT_AXIS) / 2
        : LEFT_AXIS + 6 + (i / (n - 1)) * (width - LEFT_AXIS - 12);
    ctx.strokeStyle = p.blue;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let drawing = false;
    values.forEach((v, i) => {
      if (v === undefined) {
        drawing = false;
        return;
      }
      if (drawing) ctx.lineTo(xOf(i), yOf(v));
      else ctx.moveTo(xOf(i), yOf(v));
      drawing = true;
    });
    ctx.stroke();
    ctx.fillStyle = p.blue;
    values.forEach((v, i) => {
      if (v === undefined) return;
      ctx.beginPath();
      ctx.arc(xOf(i), yOf(v), 2.5, 0, 2 * Math.PI);
      ctx.fill();
    });
    ctx.fillStyle = p.muted;
    ctx.textBaseline = 'top';
    const first = this.labels[0] ?? '';
    ctx.fillText(first, LEFT_AXIS, bottom + 3);
    if (n > 1) {
      const last = this.labels[n - 1] ?? '';
      ctx.fillText(last, width - ctx.measureText(last).width, bottom + 3);
    }
  }
}

/**
 * Compare page: the share of flipped signs per tensor in file order, one bar each; binary
 * tensors in the theme's blue, full-precision ones in its muted colour (the caption says which).
 */
export class FlipChart extends CanvasChart {
  private bars: readonly { flipRate: number; binary: boolean | null }[] = [];
  private format: (v: number) => string = (v) => formatSignificant(v, 3);

  constructor(container: HTMLElement, palette: Palette, height: number) {
    super(container, 'flip-canvas', palette, height, 'Signs flipped per tensor, in file order');
  }

  setData(
    bars: readonly { flipRate: number; binary: boolean | null }[],
    format: (v: number) => string,
  ): void {
    this.bars = bars;
    this.format = format;
    this.canvas.dataset.bars = String(bars.length);
    this.draw();
  }

  protected draw(): void {
    const ctx = this.context();
    if (!ctx) return;
    const { palette: p, width, height, bars } = this;
    if (bars.length === 0) return;
    const hi = Math.max(...bars.map((b) => b.flipRate)) || 0.01;
    const bottom = height - AXIS_HEIGHT;
    const yOf = yAxis(ctx, p, 0, hi, TOP_PAD, bottom, width, this.format);
    const step = (width - LEFT_AXIS) / bars.length;
    bars.forEach((b, i) => {
      ctx.fillStyle = b.binary === true ? withAlpha(p.blue, 0.9) : withAlpha(p.muted, 0.7);
      const y = yOf(b.flipRate);
      ctx.fillRect(
        LEFT_AXIS + i * step,
        y,
        Math.max(1, step - (step > 3 ? 1 : 0)),
        Math.max(1, bottom - y),
      );
    });
    ctx.fillStyle = p.muted;
    ctx.textBaseline = 'top';
    ctx.fillText('first tensor', LEFT_AXIS, bottom + 3);
    const last = `tensor ${bars.length}`;
    ctx.fillText(last, width - ctx.measureText(last).width, bottom + 3);
  }
}
