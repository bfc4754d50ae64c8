/**
 * A layer's latent-weight histogram over time, in two modes:
 * - `heatmap`: x = report (step), y = weight value, colour = fraction of the layer's weights
 *   (orange below zero, i.e. binary −1; blue above, +1; square-root scale so tails show);
 * - `ridgeline`: up to 14 reports spread over the run, stacked oldest (top) to newest (bottom).
 * Hovering reports the step, value range and fraction through `onHover`.
 */
import { formatCompact, formatPercent, formatSignificant } from '../../core/format';
import type { HistogramFrame } from '../dashboard/histogramHistory';
import { mixRgb, toRgb, withAlpha, type Palette } from '../shared/theme';
import { CanvasChart, TITLE_ROW, drawAxisTitles } from './canvasChart';
import { signColors } from './seriesStyle';
import { heatmapMatrix, intensity, ridgeIndices, type HeatmapMatrix } from './heatmapGeometry';
import { niceTicks } from './histogramGeometry';

export type OverTimeMode = 'heatmap' | 'ridgeline';

const ROWS = 64;
const LEFT = 38 + TITLE_ROW;
const BOTTOM = 16 + TITLE_ROW;
const TOP = 4;
/** Room right of the heatmap for its colour scale: gap, two 5 px bars, gap, then the labels. */
const SCALE_BARS = 6 + 11 + 4;
/** Room for a colour-scale label such as `25.4%` in 10 px text (measured when drawing). */
const SCALE_LABEL = 34;
const MAX_RIDGES = 14;

/** The heatmap's background and sign colours as RGB, shared by its cells and its colour scale. */
type Rgb = [number, number, number];
function heatmapRgb(p: Palette): { bg: Rgb; neg: Rgb; pos: Rgb } {
  const signs = signColors(p);
  return {
    bg: toRgb(p.background) ?? [0, 0, 0],
    neg: toRgb(signs.negative) ?? [209, 134, 22],
    pos: toRgb(signs.positive) ?? [55, 148, 255],
  };
}

export class OverTimeChart extends CanvasChart {
  private frames: readonly HistogramFrame[] = [];
  private mode: OverTimeMode = 'heatmap';
  private matrix: HeatmapMatrix | undefined;
  private readonly image = document.createElement('canvas');
  /** Width of the colour scale's widest label, measured on the last draw. */
  private scaleLabelWidth = SCALE_LABEL;

  constructor(
    container: HTMLElement,
    palette: Palette,
    height: number,
    ariaLabel: string,
    private readonly onHover: (text: string | undefined) => void,
  ) {
    super(container, 'over-time-canvas', palette, height, ariaLabel);
    this.canvas.addEventListener('mousemove', (e) => this.hover(e.offsetX, e.offsetY));
    this.canvas.addEventListener('mouseleave', () => this.onHover(undefined));
  }

  /** New frames (oldest first) and mode; redraws. */
  setData(frames: readonly HistogramFrame[], mode: OverTimeMode): void {
    this.frames = frames;
    this.mode = mode;
    this.matrix = undefined;
    this.canvas.dataset.mode = mode;
    this.canvas.dataset.frames = String(frames.length);
    this.draw();
  }

  private getMatrix(): HeatmapMatrix {
    this.matrix ??= heatmapMatrix(
      this.frames.map((f) => f.histogram),
      ROWS,
    );
    return this.matrix;
  }

  private plotBox(): { x: number; y: number; w: number; h: number } {
    const right = this.mode === 'heatmap' ? SCALE_BARS + this.scaleLabelWidth : 0;
    return {
      x: LEFT,
      y: TOP,
      w: Math.max(1, this.width - LEFT - right),
      h: this.height - TOP - BOTTOM,
    };
  }

  private hover(offsetX: number, offsetY: number): void {
    if (this.frames.length === 0 || this.mode !== 'heatmap') return;
    const m = this.getMatrix();
    const box = this.plotBox();
    if (offsetX > box.x + box.w) {
      this.onHover(
        `colour: share of the layer’s weights in one value row (square-root scale, 0 to ${formatPercent(m.max, 1)}); orange w < 0 (binary −1), blue w ≥ 0 (+1)`,
      );
      return;
    }
    const col = Math.floor(((offsetX - box.x) / box.w) * m.columns);
    const row = Math.floor(((box.y + box.h - offsetY) / box.h) * m.rows);
    if (col < 0 || col >= m.columns || row < 0 || row >= m.rows) {
      this.onHover(undefined);
      return;
    }
    const rowWidth = (m.hi - m.lo) / m.rows;
    const lo = m.lo + row * rowWidth;
    this.onHover(
      `step ${formatCompact(this.frames[col].step)} · [${formatSignificant(lo)}, ${formatSignificant(lo + rowWidth)}): ` +
        `${formatPercent(m.values[col * m.rows + row], 2)} of weights`,
    );
  }

  protected draw(): void {
    const ctx = this.context();
    if (!ctx) return;
    let box = this.plotBox();
    ctx.font = this.palette.font;
    if (this.frames.length === 0) {
      ctx.fillStyle = this.palette.muted;
      ctx.textBaseline = 'middle';
      ctx.fillText('Histograms over time appear with the first reports.', box.x, box.y + box.h / 2);
      return;
    }
    const m = this.getMatrix();
    if (this.mode === 'heatmap') {
      ctx.save();
      ctx.font = `10px ${this.palette.fontFamily}`;
      const measured = Math.ceil(ctx.measureText(formatPercent(m.max, 1)).width) + 2;
      ctx.restore();
      if (measured !== this.scaleLabelWidth) {
        this.scaleLabelWidth = measured;
        box = this.plotBox();
      }
      this.drawHeatmap(ctx, m, box);
      this.drawColourScale(ctx, m, box);
    } else this.drawRidgeline(ctx, m, box);
    this.drawAxes(ctx, m, box);
    drawAxisTitles(
      ctx,
      this.palette,
      { left: box.x, top: box.y, width: box.w, height: box.h },
      this.height,
      this.mode === 'heatmap'
        ? { x: 'step', y: 'latent weight w' }
        : { x: 'latent weight w', y: 'step' },
    );
  }

  private drawHeatmap(
    ctx: CanvasRenderingContext2D,
    m: HeatmapMatrix,
    box: { x: number; y: number; w: number; h: number },
  ): void {
    const p = this.palette;
    const { bg, neg, pos } = heatmapRgb(p);
    this.image.width = m.columns;
    this.image.height = m.rows;
    const ictx = this.image.getContext('2d');
    if (!ictx) return;
    const data = ictx.createImageData(m.columns, m.rows);
    const rowWidth = (m.hi - m.lo) / m.rows;
    for (let r = 0; r < m.rows; r++) {
      const centre = m.lo + (r + 0.5) * rowWidth;
      const hue = centre < 0 ? neg : pos;
      const y = m.rows - 1 - r; // row 0 (lowest value) at the bottom
      for (let c = 0; c < m.columns; c++) {
        const t = intensity(m.values[c * m.rows + r], m.max);
        const [R, G, B] = mixRgb(bg, hue, t);
        const i = (y * m.columns + c) * 4;
        data.data[i] = R;
        data.data[i + 1] = G;
        data.data[i + 2] = B;
        data.data[i + 3] = 255;
      }
    }
    ictx.putImageData(data, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.image, box.x, box.y, box.w, box.h);
    if (m.lo < 0 && m.hi > 0) {
      const y = Math.round(box.y + box.h - ((0 - m.lo) / (m.hi - m.lo)) * box.h) + 0.5;
      ctx.strokeStyle = withAlpha(p.foreground, 0.45);
      ctx.setLineDash([2, 3]);
      ctx.beginPath();
      ctx.moveTo(box.x, y);
      ctx.lineTo(box.x + box.w, y);
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }

  /**
   * The heatmap's colour scale: one bar per hue (orange: w < 0, blue: w ≥ 0) from the background
   * (no weights) to full colour (the largest share), on the same square-root scale as the cells.
   */
  private drawColourScale(
    ctx: CanvasRenderingContext2D,
    m: HeatmapMatrix,
    box: { x: number; y: number; w: number; h: number },
  ): void {
    const p = this.palette;
    const { bg, neg, pos } = heatmapRgb(p);
    const hues = [neg, pos];
    const x0 = box.x + box.w + 6;
    const barW = 5;
    hues.forEach((hue, k) => {
      const gradient = ctx.createLinearGradient(0, box.y + box.h, 0, box.y);
      for (let i = 0; i <= 8; i++) {
        const [r, g, b] = mixRgb(bg, hue, i / 8);
        gradient.addColorStop(i / 8, `rgb(${r}, ${g}, ${b})`);
      }
      ctx.fillStyle = gradient;
      ctx.fillRect(x0 + k * (barW + 1), box.y, barW, box.h);
    });
    ctx.strokeStyle = withAlpha(p.grid, 0.9);
    ctx.strokeRect(x0 - 0.5, box.y - 0.5, 2 * barW + 2, box.h + 1);
    ctx.save();
    ctx.font = `10px ${p.fontFamily}`;
    ctx.fillStyle = p.muted;
    const lx = x0 + 2 * barW + 4;
    ctx.textBaseline = 'top';
    ctx.fillText(formatPercent(m.max, 1), lx, box.y);
    ctx.textBaseline = 'bottom';
    ctx.fillText('0%', lx, box.y + box.h);
    ctx.restore();
    // The scale's range, for tests and accessibility tools.
    this.canvas.dataset.colourScale = `0,${m.max}`;
  }

  private drawRidgeline(
    ctx: CanvasRenderingContext2D,
    m: HeatmapMatrix,
    box: { x: number; y: number; w: number; h: number },
  ): void {
    const p = this.palette;
    const picks = ridgeIndices(m.columns, Math.min(MAX_RIDGES, Math.floor(box.h / 6)));
    const n = picks.length;
    let peak = 0;
    for (const c of picks) {
      for (let r = 0; r < m.rows; r++) peak = Math.max(peak, m.values[c * m.rows + r]);
    }
    // Ridges overlap: each may rise 2.5 gaps above its baseline.
    const gap = box.h / (n + 1.5);
    const amp = peak > 0 ? (gap * 2.5) / peak : 0;
    const xOf = (r: number): number => box.x + ((r + 0.5) / m.rows) * box.w;
    picks.forEach((c, j) => {
      const base = box.y + box.h - (n - 1 - j) * gap;
      const t = n > 1 ? j / (n - 1) : 1;
      ctx.beginPath();
      ctx.moveTo(box.x, base);
      for (let r = 0; r < m.rows; r++) ctx.lineTo(xOf(r), base - m.values[c * m.rows + r] * amp);
      ctx.lineTo(box.x + box.w, base);
      ctx.closePath();
      // Opaque fill first so a ridge hides the ones behind it, then the tinted one.
      ctx.fillStyle = p.background;
      ctx.fill();
      ctx.fillStyle = withAlpha(p.blue, 0.15 + 0.35 * t);
      ctx.fill();
      ctx.strokeStyle = withAlpha(p.blue, 0.5 + 0.5 * t);
      ctx.lineWidth = p.highContrast ? 1.5 : 1;
      ctx.stroke();
      if (j === 0 || j === n - 1) {
        ctx.fillStyle = p.muted;
        ctx.textBaseline = 'bottom';
        const label = formatCompact(this.frames[c].step);
        ctx.fillText(label, Math.max(0, box.x - ctx.measureText(label).width - 4), base);
      }
    });
    if (m.lo < 0 && m.hi > 0) {
      const x = Math.round(box.x + ((0 - m.lo) / (m.hi - m.lo)) * box.w) + 0.5;
      ctx.strokeStyle = withAlpha(p.foreground, 0.45);
      ctx.setLineDash([2, 3]);
      ctx.beginPath();
      ctx.moveTo(x, box.y);
      ctx.lineTo(x, box.y + box.h);
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }

  private drawAxes(
    ctx: CanvasRenderingContext2D,
    m: HeatmapMatrix,
    box: { x: number; y: number; w: number; h: number },
  ): void {
    const p = this.palette;
    ctx.fillStyle = p.muted;
    ctx.strokeStyle = withAlpha(p.grid, 0.9);
    const bottom = box.y + box.h;
    if (this.mode === 'heatmap') {
      // y: weight value; x: first and last step.
      ctx.textBaseline = 'middle';
      for (const v of niceTicks(m.lo, m.hi, Math.max(2, Math.floor(box.h / 22)))) {
        const y = bottom - ((v - m.lo) / (m.hi - m.lo)) * box.h;
        const label = formatSignificant(v, 2);
        ctx.fillText(label, box.x - ctx.measureText(label).width - 4, y);
      }
      ctx.textBaseline = 'top';
      const first = formatCompact(this.frames[0].step);
      const last = formatCompact(this.frames[this.frames.length - 1].step);
      ctx.fillText(first, box.x, bottom + 3);
      ctx.fillText(last, box.x + box.w - ctx.measureText(last).width, bottom + 3);
    } else {
      // x: weight value.
      ctx.textBaseline = 'top';
      for (const v of niceTicks(m.lo, m.hi, Math.max(2, Math.floor(box.w / 70)))) {
        const x = box.x + ((v - m.lo) / (m.hi - m.lo)) * box.w;
        const label = formatSignificant(v, 2);
        const w = ctx.measureText(label).width;
        ctx.fillText(label, Math.min(box.x + box.w - w, Math.max(box.x, x - w / 2)), bottom + 3);
      }
    }
  }
}
