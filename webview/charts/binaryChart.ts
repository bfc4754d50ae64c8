/**
 * The binary view of a layer: the weights the forward pass uses, `±α_c` per output channel,
 * drawn as spikes on the same value axis as the latent histogram (−α orange, +α blue), height =
 * fraction of weights. Without per-channel α it shows the layer-wide `±mean|w|`.
 */
import type { LayerTelemetry } from '../../core/protocol';
import { formatPercent, formatSignificant } from '../../core/format';
import { withAlpha, type Palette } from '../shared/theme';
import { CanvasChart, TITLE_ROW, drawAxisTitles } from './canvasChart';
import { binarySpikes } from './heatmapGeometry';
import { niceTicks } from './histogramGeometry';
import { signColors } from './seriesStyle';

const AXIS_HEIGHT = 16;
const TOP_PAD = 4;

export class BinaryChart extends CanvasChart {
  private telemetry: LayerTelemetry | undefined;

  constructor(container: HTMLElement, palette: Palette, height: number, ariaLabel: string) {
    super(container, 'binary-canvas', palette, height, ariaLabel);
  }

  setData(telemetry: LayerTelemetry | undefined): void {
    this.telemetry = telemetry;
    this.canvas.dataset.channels = String(telemetry?.alpha?.length ?? 0);
    this.draw();
  }

  /** One-line summary for the caption. */
  describe(): string {
    const t = this.telemetry;
    if (!t) return '';
    const a = t.alpha;
    if (a && a.length > 0) {
      const lo = Math.min(...a);
      const hi = Math.max(...a);
      return `±α over ${a.length} channels: α ∈ [${formatSignificant(lo, 2)}, ${formatSignificant(hi, 2)}] · +1 ${formatPercent(t.signBalance, 1)}`;
    }
    return `±α, α = mean|w| = ${formatSignificant(t.absMean, 2)} (no per-channel α in this run)`;
  }

  protected draw(): void {
    const ctx = this.context();
    if (!ctx) return;
    const { palette: p, width, height } = this;
    const plotH = height - AXIS_HEIGHT - TITLE_ROW - TOP_PAD;
    const baseY = TOP_PAD + plotH;
    ctx.strokeStyle = withAlpha(p.grid, 0.9);
    ctx.beginPath();
    ctx.moveTo(0, baseY + 0.5);
    ctx.lineTo(width, baseY + 0.5);
    ctx.stroke();
    drawAxisTitles(ctx, p, { left: 0, top: TOP_PAD, width, height: plotH }, height, {
      x: 'binary weight ±α',
    });
    const t = this.telemetry;
    if (!t) return;
    const spikes = binarySpikes(t.alpha, t.absMean, t.signBalance);
    const extent = Math.max(1e-9, ...spikes.map((s) => Math.abs(s.value))) * 1.15;
    const xOf = (v: number): number => ((v + extent) / (2 * extent)) * width;
    // Channels with close α share a pixel column: sum them so the heights stay fractions.
    const columns = new Map<number, number>();
    for (const s of spikes) {
      const x = Math.round(xOf(s.value));
      columns.set(x, (columns.get(x) ?? 0) + s.fraction);
    }
    const signs = signColors(p);
    const maxFraction = Math.max(1e-9, ...columns.values());
    for (const [x, fraction] of columns) {
      const h = Math.max(1, (fraction / maxFraction) * plotH);
      ctx.fillStyle = x < xOf(0) ? signs.negative : signs.positive;
      ctx.fillRect(x - 1, baseY - h, 2, h);
    }
    ctx.font = p.font;
    ctx.fillStyle = p.muted;
    ctx.textBaseline = 'top';
    for (const v of niceTicks(-extent, extent, Math.max(2, Math.floor(width / 60)))) {
      const label = formatSignificant(v, 2);
      const w = ctx.measureText(label).width;
      ctx.fillText(label, Math.min(width - w, Math.max(0, xOf(v) - w / 2)), baseY + 4);
    }
  }
}
