/**
 * Pure geometry for the histogram-over-time views: every report's histogram has its own
 * `[min, max]`, so they are rebinned onto one common value grid before they can be drawn side by
 * side (heatmap columns) or stacked (ridgeline). Drawing lives in overTimeChart.ts.
 */
import type { Histogram } from '../../core/protocol';

/** A step × value matrix of weight fractions; `values[column * rows + row]`, row 0 at `lo`. */
export interface HeatmapMatrix {
  lo: number;
  hi: number;
  columns: number;
  rows: number;
  values: Float32Array;
  /** Largest entry (0 when empty), for the colour scale. */
  max: number;
}

/** The value range that holds every histogram (`[-1, 1]` around a constant or empty input). */
export function commonRange(histograms: readonly Histogram[]): { lo: number; hi: number } {
  let lo = Infinity;
  let hi = -Infinity;
  for (const h of histograms) {
    if (h.counts.length === 0 || !Number.isFinite(h.min) || !Number.isFinite(h.max)) continue;
    if (h.min < lo) lo = h.min;
    if (h.max > hi) hi = h.max;
  }
  if (!(lo <= hi)) return { lo: -1, hi: 1 };
  if (lo === hi) return { lo: lo - 1e-3, hi: hi + 1e-3 };
  return { lo, hi };
}

/**
 * Spreads `h`'s counts over `rows` equal rows on `[lo, hi]`, in proportion to how much of each
 * source bin a row overlaps (so totals are kept for the part of `h` inside `[lo, hi]`), and adds
 * them to `out[offset .. offset + rows)`. A histogram with `max == min` puts everything in the row
 * holding `min`.
 */
export function rebinInto(
  h: Histogram,
  lo: number,
  hi: number,
  rows: number,
  out: Float32Array | number[],
  offset = 0,
): void {
  const k = h.counts.length;
  if (k === 0 || rows <= 0 || !(hi > lo)) return;
  const rowWidth = (hi - lo) / rows;
  const rowOf = (v: number): number =>
    Math.min(rows - 1, Math.max(0, Math.floor((v - lo) / rowWidth)));
  if (!(h.max > h.min)) {
    if (h.min < lo || h.min > hi) return;
    let total = 0;
    for (const c of h.counts) total += c;
    out[offset + rowOf(h.min)] += total;
    return;
  }
  const binWidth = (h.max - h.min) / k;
  for (let i = 0; i < k; i++) {
    const count = h.counts[i];
    if (!(count > 0)) continue;
    const a = Math.max(lo, h.min + i * binWidth);
    const b = Math.min(hi, i === k - 1 ? h.max : h.min + (i + 1) * binWidth);
    if (!(b > a)) continue;
    const density = count / binWidth;
    let r = rowOf(a);
    let x = a;
    while (x < b && r < rows) {
      const rowEnd = Math.min(b, lo + (r + 1) * rowWidth);
      out[offset + r] += density * (rowEnd - x);
      x = rowEnd;
      r++;
    }
  }
}

/**
 * One column per histogram, `rows` rows over their common range; each column holds the fraction
 * of that report's weights per row (columns sum to 1 unless empty).
 */
export function heatmapMatrix(histograms: readonly Histogram[], rows: number): HeatmapMatrix {
  const { lo, hi } = commonRange(histograms);
  const columns = histograms.length;
  const values = new Float32Array(columns * rows);
  let max = 0;
  histograms.forEach((h, c) => {
    const offset = c * rows;
    rebinInto(h, lo, hi, rows, values, offset);
    let total = 0;
    for (let r = 0; r < rows; r++) total += values[offset + r];
    if (total > 0) {
      for (let r = 0; r < rows; r++) {
        const v = values[offset + r] / total;
        values[offset + r] = v;
        if (v > max) max = v;
      }
    }
  });
  return { lo, hi, columns, rows, values, max };
}

/**
 * Up to `k` indices spread evenly over `0 .. count-1`, always including the first and the last
 * (the ridgeline draws these reports): `ridgeIndices(10, 4)` → `[0, 3, 6, 9]`.
 */
export function ridgeIndices(count: number, k: number): number[] {
  if (count <= 0 || k <= 0) return [];
  if (count <= k) return Array.from({ length: count }, (_, i) => i);
  if (k === 1) return [count - 1];
  const out: number[] = [];
  for (let j = 0; j < k; j++) {
    const i = Math.round((j * (count - 1)) / (k - 1));
    if (out.at(-1) !== i) out.push(i);
  }
  return out;
}

/** Colour-scale position in [0, 1] of a fraction: square root, so thin tails stay visible. */
export function intensity(value: number, max: number): number {
  if (!(max > 0) || !(value > 0)) return 0;
  return Math.min(1, Math.sqrt(value / max));
}

/**
 * The binary view of a layer: the forward pass uses `±α_c` per output channel, so the binary
 * weights sit at `2 × channels` values. Returns `{ value, fraction }` spikes (negative side first)
 * weighted by the sign balance `p` (fraction of +1). Without per-channel `alpha` it falls back to
 * the layer-wide scale `absMean` (one spike per sign).
 */
export function binarySpikes(
  alpha: readonly number[] | Float32Array | undefined,
  absMean: number,
  signBalance: number,
): { value: number; fraction: number }[] {
  const p = Number.isFinite(signBalance) ? Math.min(1, Math.max(0, signBalance)) : 0.5;
  const scales = alpha && alpha.length > 0 ? Array.from(alpha) : [absMean];
  const each = 1 / scales.length;
  const neg = scales.map((a) => ({ value: -Math.abs(a), fraction: (1 - p) * each }));
  const pos = scales.map((a) => ({ value: Math.abs(a), fraction: p * each }));
  return [...neg, ...pos].filter((s) => Number.isFinite(s.value));
}
