/**
 * Latent-weight histogram drawn as bars on a canvas. Bars left of zero (binary weight −1) and
 * right of zero (+1) get different colours; dashed lines mark the dead-weight threshold ±Q(τ).
 * Hovering a bar reports its range and count through `onHover`.
 */
import type { Histogram } from '../../core/protocol';
import { formatCompact, formatSignificant } from '../../core/format';
import { withAlpha, type Palette } from '../shared/theme';
import { CanvasChart } from './canvasChart';
import { binIndexOf, histogramBins, niceTicks } from './histogramGeometry';

const AXIS_HEIGHT = 16;
const TOP_PAD = 14;

/** A canvas histogram that redraws on `setData` and `setWidth`. */
export class HistogramChart extends CanvasChart {
  private histogram: Histogram | undefined;
  private threshold: number | undefined;
  private hoverBin = -1;

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
    const value = h.min + (offsetX / this.width) * (h.max - h.min);
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
    const plotH = height - AXIS_HEIGHT - TOP_PAD;
    const baseY = TOP_PAD + plotH;
    ctx.strokeStyle = withAlpha(palette.grid, 0.9);
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(0, baseY + 0.5);
    ctx.lineTo(width, baseY + 0.5);
    ctx.stroke();
    if (!h || h.counts.length === 0) return;

    const lo = h.max > h.min ? h.min : h.min - 1;
    const hi = h.max > h.min ? h.max : h.max + 1;
    const xOf = (v: number): number => ((v - lo) / (hi - lo)) * width;
    const maxCount = Math.max(1, ...h.counts);
    const bins = histogramBins(h);
    bins.forEach((bin, i) => {
      if (bin.count === 0) return;
      const x0 = xOf(bin.lo);
      const x1 = Math.max(x0 + 1, xOf(bin.hi));
      const barH = Math.max(1, (bin.count / maxCount) * plotH);
      const centre = (bin.lo + bin.hi) / 2;
      const color = centre < 0 ? palette.orange : palette.blue;
      ctx.fillStyle = i === this.hoverBin ? palette.foreground : withAlpha(color, 0.85);
      // A hairline gap keeps neighbouring bars distinct when there are many bins.
      const gap = x1 - x0 > 3 ? 0.5 : 0;
      ctx.fillRect(x0 + gap, baseY - barH, x1 - x0 - 2 * gap, barH);
    });

    ctx.font = palette.font;
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
        // Named where it is drawn: the dead-weight threshold, outside it the dead weights.
        const label = v < 0 ? '−Q(τ)' : '+Q(τ)';
        const w = ctx.measureText(label).width;
        ctx.fillStyle = palette.red;
        // Outside the line, on the side of the dead weights it marks.
        ctx.fillText(label, v < 0 ? Math.max(0, x - w - 3) : Math.min(width - w, x + 3), 1);
      }
    }
    ctx.setLineDash([]);
    // Count scale: bars are drawn to the peak bin's count, named above that bin.
    const peak = bins.reduce((best, bin) => (bin.count > best.count ? bin : best), bins[0]);
    const peakLabel = `${formatCompact(maxCount)} weights`;
    const pw = ctx.measureText(peakLabel).width;
    const px = xOf((peak.lo + peak.hi) / 2);
    ctx.fillStyle = palette.muted;
    ctx.fillText(peakLabel, Math.min(width - pw, Math.max(0, px - pw / 2)), 1);
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
    const ticks = niceTicks(lo, hi, Math.max(2, Math.floor(width / 70)));
    for (const v of ticks) {
      const x = Math.round(xOf(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, baseY);
      ctx.lineTo(x, baseY + 3);
      ctx.stroke();
      const label = formatSignificant(v, 2);
      const w = ctx.measureText(label).width;
      ctx.fillText(label, Math.min(width - w, Math.max(0, x - w / 2)), baseY + 4);
    }
  }
}
