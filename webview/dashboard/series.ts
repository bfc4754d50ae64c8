/**
 * Bounded multi-channel time series for the dashboard charts.
 *
 * A long run reports thousands of steps; drawing and copying all of them on every update would
 * make the panel sluggish. A series therefore holds at most `maxPoints` stored points. When it
 * overflows, neighbouring points are merged pairwise (count-weighted mean of every channel, x of
 * the later point) and the bucket size doubles, so memory stays O(maxPoints) and each push is
 * amortised O(channels). The newest stored point may be a partly filled bucket.
 */

/** One stored point per index: `x[i]`, `y[c][i]` for channel `c`, `n[i]` raw points merged. */
export interface Series {
  readonly maxPoints: number;
  /** Raw points per full bucket; a power of two, 1 until the first compaction. */
  readonly bucketSize: number;
  readonly x: number[];
  readonly y: number[][];
  readonly n: number[];
}

/**
 * An empty series with `channels` value channels.
 * `maxPoints` must be an even integer ≥ 4 so that pairwise compaction halves the length.
 */
export function emptySeries(channels: number, maxPoints = 1000): Series {
  if (!Number.isInteger(maxPoints) || maxPoints < 4 || maxPoints % 2 !== 0) {
    throw new Error(`emptySeries: maxPoints must be an even integer >= 4, got ${maxPoints}`);
  }
  return {
    maxPoints,
    bucketSize: 1,
    x: [],
    y: Array.from({ length: channels }, () => []),
    n: [],
  };
}

/** A copy that can be appended to with {@link pushPointInPlace} without touching `series`. */
export function cloneSeries(series: Series): Series {
  return {
    maxPoints: series.maxPoints,
    bucketSize: series.bucketSize,
    x: series.x.slice(),
    y: series.y.map((c) => c.slice()),
    n: series.n.slice(),
  };
}

/** Mean of two values weighted by how many raw points each stands for; NaN stays NaN. */
function weightedMean(a: number, na: number, b: number, nb: number): number {
  return (a * na + b * nb) / (na + nb);
}

/**
 * Appends one raw point to a series the caller owns (a fresh {@link cloneSeries} copy).
 * `values.length` must equal the channel count. Points should arrive with increasing `x`.
 */
export function pushPointInPlace(series: Series, x: number, values: readonly number[]): Series {
  if (values.length !== series.y.length) {
    throw new Error(
      `pushPoint: expected ${series.y.length} values, got ${values.length} at x=${x}`,
    );
  }
  // Mutation is confined to the copy the caller made; the public API below stays pure.
  const s = series as { bucketSize: number; x: number[]; y: number[][]; n: number[] };
  const last = s.n.length - 1;
  if (last >= 0 && s.n[last] < s.bucketSize) {
    const count = s.n[last];
    for (let c = 0; c < values.length; c++) {
      s.y[c][last] = weightedMean(s.y[c][last], count, values[c], 1);
    }
    s.x[last] = x;
    s.n[last] = count + 1;
    return series;
  }
  s.x.push(x);
  for (let c = 0; c < values.length; c++) s.y[c].push(values[c]);
  s.n.push(1);
  if (s.x.length > series.maxPoints) compactInPlace(s);
  return series;
}

function compactInPlace(s: { bucketSize: number; x: number[]; y: number[][]; n: number[] }): void {
  const len = s.x.length;
  let w = 0;
  for (let r = 0; r < len; r += 2, w++) {
    if (r + 1 >= len) {
      s.x[w] = s.x[r];
      s.n[w] = s.n[r];
      for (const ch of s.y) ch[w] = ch[r];
      continue;
    }
    const na = s.n[r];
    const nb = s.n[r + 1];
    s.x[w] = s.x[r + 1];
    s.n[w] = na + nb;
    for (const ch of s.y) ch[w] = weightedMean(ch[r], na, ch[r + 1], nb);
  }
  s.x.length = w;
  s.n.length = w;
  for (const ch of s.y) ch.length = w;
  s.bucketSize *= 2;
}

/**
 * Pure append: returns a new series with `points` added, leaving `series` untouched.
 *
 * @example
 * let s = emptySeries(2, 4);
 * s = appendPoints(s, [{ x: 10, values: [0.5, 0.9] }]);
 */
export function appendPoints(
  series: Series,
  points: readonly { x: number; values: readonly number[] }[],
): Series {
  const copy = cloneSeries(series);
  for (const p of points) pushPointInPlace(copy, p.x, p.values);
  return copy;
}

/** Number of raw points a series has absorbed. */
export function rawPointCount(series: Series): number {
  let total = 0;
  for (const k of series.n) total += k;
  return total;
}
