/**
 * Latent-weight histogram drawn as bars on a canvas. Bars left of zero (binary weight −1) and
 * right of zero (+1) get different colours; dashed lines mark the dead-weight threshold ±Q(τ).
 * Hovering a bar reports its range and count through `onHover`.
 */
import type { Histogram } from '../../core/protocol';
import { formatCompact, formatSignificant } from '../../core/format';
import { withAlpha, type Palette } from '../shared/theme';
import { CanvasChart, TITLE_ROW, drawAxisTitles } from './canvasChart';
import { signColors } from './seriesStyle';
import { binIndexOf, histogramBins, niceTicks } from './histogramGeometry';

const AXIS_HEIGHT = 16;
const TOP_PAD = 14;

/** A canvas histogram that redraws on `setData` and `setWidth`. */
export class HistogramChart extends CanvasChart {
  private histogram: Histogram | undefined;
  private threshold: number | undefined;
  private hoverBin = -1;
  /** Where the plot starts, right of the count axis (set by draw). */
  private plotLeft = 0;

  constructor(
    container: HTMLElement,
    palette: Palette,
    height: number,
    ariaLabel: string,
    private readonly onHover: (text: string | undefined) => void,
  ) {
    super(container, 'hist-canvas', palette, height, ariaLabel);
    this.canvas.addEventListener('mousemove', (e) => this.hover(e.offsetX));
    this.canvas.addEventListener('mouseleave', () => {
      this.hoverBin = -1;
      this.onHover(undefined);
      this.draw();
    });
  }

  /** New histogram and dead-weight threshold (`|w| > threshold` is dead), then redraw. */
  setData(histogram: Histogram | undefined, threshold: number | undefined): void {
    this.histogram = histogram;
    this.threshold = threshold;
    // The number of weights drawn, for tests and screen readers' inspection tools.
    let total = 0;
    for (const c of histogram?.counts ?? []) total += c;
    this.canvas.dataset.weights = String(total);
    this.draw();
  }

  private hover(offsetX: number): void {
    const h = this.histogram;
    if (!h || !(h.max > h.min) || this.width === 0) return;
    const plotW = Math.max(1, this.width - this.plotLeft);
    const value = h.min + ((offsetX - this.plotLeft) / plotW) * (h.max - h.min);
    const i = binIndexOf(h, value);
    if (i === this.hoverBin) return;
    this.hoverBin = i;
    const bin = histogramBins(h)[i];
    this.onHover(
      bin
        ? `[${formatSignificant(bin.lo)}, ${formatSignificant(bin.hi)}${i === h.counts.length - 1 ? ']' : ')'}: ${bin.count.toLocaleString('en-US')} weights`
        : undefined,
    );
    this.draw();
  }

  protected draw(): void {
    const { palette, height } = this;
    const width = this.width;
    const ctx = this.context();
    if (!ctx) return;
    const h = this.histogram;
    ctx.font = palette.font;
    const maxCount = h && h.counts.length > 0 ? Math.max(1, ...h.counts) : 1;
    // Count axis on the left: a few nice ticks from 0 to the peak bin, and its title.
    const plotH = height - AXIS_HEIGHT - TITLE_ROW - TOP_PAD;
    const baseY = TOP_PAD + plotH;
    const countTicks = niceTicks(0, maxCount, Math.max(1, Math.floor(plotH / 18))).filter(
      (v) => v <= maxCount,
    );
    const countLabels = countTicks.map((v) => formatCompact(v));
    const left = TITLE_ROW + 4 + Math.max(0, ...countLabels.map((l) => ctx.measureText(l).width));
    const plotW = Math.max(1, width - left);
    ctx.strokeStyle = withAlpha(palette.grid, 0.9);
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(left, baseY + 0.5);
    ctx.lineTo(width, baseY + 0.5);
    ctx.moveTo(left - 0.5, TOP_PAD);
    ctx.lineTo(left - 0.5, baseY);
    ctx.stroke();
    ctx.fillStyle = palette.muted;
    ctx.textBaseline = 'middle';
    countTicks.forEach((v, i) => {
      const y = baseY - (v / maxCount) * plotH;
      ctx.fillText(countLabels[i], left - 3 - ctx.measureText(countLabels[i]).width, y);
    });
    drawAxisTitles(ctx, palette, { left, top: TOP_PAD, width: plotW, height: plotH }, height, {
      x: 'latent weight w',
      y: 'count',
    });
    this.plotLeft = left;
    if (!h || h.counts.length === 0) return;

    const lo = h.max > h.min ? h.min : h.min - 1;
    const hi = h.max > h.min ? h.max : h.max + 1;
    const xOf = (v: number): number => left + ((v - lo) / (hi - lo)) * plotW;
    const bins = histogramBins(h);
    const signs = signColors(palette);
    bins.forEach((bin, i) => {
      if (bin.count === 0) return;
      const x0 = xOf(bin.lo);
      const x1 = Math.max(x0 + 1, xOf(bin.hi));
      const barH = Math.max(1, (bin.count / maxCount) * plotH);
      const centre = (bin.lo + bin.hi) / 2;
      const color = centre < 0 ? signs.negative : signs.positive;
      ctx.fillStyle = i === this.hoverBin ? palette.foreground : withAlpha(color, 0.85);
      // A hairline gap keeps neighbouring bars distinct when there are many bins.
      const gap = x1 - x0 > 3 ? 0.5 : 0;
      ctx.fillRect(x0 + gap, baseY - barH, x1 - x0 - 2 * gap, barH);
    });

    ctx.textBaseline = 'top';
    ctx.setLineDash([3, 3]);
    ctx.strokeStyle = palette.red;
    const t = this.threshold;
    if (t !== undefined && Number.isFinite(t)) {
      for (const v of [-t, t]) {
        if (v <= lo || v >= hi) continue;
        const x = Math.round(xOf(v)) + 0.5;
        ctx.beginPath();
        ctx.moveTo(x, TOP_PAD);
        ctx.lineTo(x, baseY);
        ctx.stroke();
        // Named where it is drawn, with its value when there is room: the dead-weight threshold,
        // outside it the dead weights.
        const room = v < 0 ? x - left - 3 : width - x - 3;
        const label = thresholdLabel(v, (text) => ctx.measureText(text).width, room);
        const w = ctx.measureText(label).width;
        ctx.fillStyle = palette.red;
        ctx.fillText(label, v < 0 ? Math.max(left, x - w - 3) : Math.min(width - w, x + 3), 1);
      }
    }
    ctx.setLineDash([]);
    if (lo < 0 && hi > 0) {
      const x = Math.round(xOf(0)) + 0.5;
      ctx.strokeStyle = withAlpha(palette.foreground, 0.6);
      ctx.beginPath();
      ctx.moveTo(x, TOP_PAD);
      ctx.lineTo(x, baseY);
      ctx.stroke();
    }

    ctx.fillStyle = palette.muted;
    ctx.strokeStyle = withAlpha(palette.grid, 0.9);
    const ticks = niceTicks(lo, hi, Math.max(2, Math.floor(plotW / 70)));
    for (const v of ticks) {
      const x = Math.round(xOf(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, baseY);
      ctx.lineTo(x, baseY + 3);
      ctx.stroke();
      const label = formatSignificant(v, 2);
      const w = ctx.measureText(label).width;
      ctx.fillText(label, Math.min(width - w, Math.max(left, x - w / 2)), baseY + 4);
    }
  }
}

/**
 * The label of a ±Q(τ) line: `+Q(τ) = 0.31` when it fits in `room` px, else `+Q(τ)`.
 * `measure` gives a text's width in px.
 */
export function thresholdLabel(
  value: number,
  measure: (text: string) => number,
  room: number,
): string {
  const short = value < 0 ? '−Q(τ)' : '+Q(τ)';
  const long = `${short} = ${formatSignificant(value, 2).replace('-', '−')}`;
  return measure(long) <= room ? long : short;
}
