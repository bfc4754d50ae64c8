/**
 * Pure geometry for the latent-weight histogram: bin edges, the bin under the cursor and nice
 * axis ticks. Drawing lives in histogramChart.ts.
 */
import type { Histogram } from '../../core/protocol';

/** One bar: value range `[lo, hi)` (the last bin is closed) and its count. */
export interface Bin {
  lo: number;
  hi: number;
  count: number;
}

/**
 * The bins of a histogram (equal width over `[min, max]`, docs/metrics.md). When `max == min`
 * every weight is in bin 0, drawn as a single bin of width 1e-6 around the value.
 */
export function histogramBins(h: Histogram): Bin[] {
  const k = h.counts.length;
  if (k === 0) return [];
  if (!(h.max > h.min)) {
    return [
      {
        lo: h.min - 5e-7,
        hi: h.min + 5e-7,
        count: Array.from(h.counts).reduce((a, b) => a + b, 0),
      },
    ];
  }
  const width = (h.max - h.min) / k;
  return Array.from(h.counts, (count, i) => ({
    lo: h.min + i * width,
    hi: i === k - 1 ? h.max : h.min + (i + 1) * width,
    count,
  }));
}

/** Index of the bin holding `value`, or -1 outside `[min, max]`. Mirrors the metric's binning. */
export function binIndexOf(h: Histogram, value: number): number {
  const k = h.counts.length;
  if (k === 0 || value < h.min || value > h.max) return -1;
  if (!(h.max > h.min)) return 0;
  return Math.min(k - 1, Math.floor((k * (value - h.min)) / (h.max - h.min)));
}

/**
 * About `target` evenly spaced "nice" ticks (1, 2, 5 × 10^n) inside `[lo, hi]`.
 * `niceTicks(-0.13, 0.12, 5)` → `[-0.1, -0.05, 0, 0.05, 0.1]`.
 */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo) || !Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  const raw = (hi - lo) / Math.max(1, target);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    // Snap to the step grid so that 0 prints as 0, not 1.4e-17.
    ticks.push(Math.round(v / step) * step);
  }
  return ticks;
}
