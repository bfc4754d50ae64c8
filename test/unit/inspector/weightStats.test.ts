/**
 * The two-pass, branch-free weightStatsWithAlpha (core/metrics/layerStats.ts) gives the numbers
 * of the plain definition (docs/metrics.md, one loop per metric, in storage order), for both
 * channel axes and for awkward inputs: NaN, ±Infinity, constant tensors, signed zeros. float32
 * tensors go through the SIMD passes (stats_kernels.c), whose float64 sums run in lanes: counts
 * and extremes must be identical, sums equal to 1e-12 relative. float64 inputs stay exact.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  binaryEntropyBits,
  channelAlpha,
  histogram,
  laplaceQuantile,
  weightStats,
  weightStatsWithAlpha,
  type ChannelAxis,
} from '../../../core/metrics/layerStats';
import { statsKernelAvailable } from '../../../core/metrics/statsKernel';
import type { WeightStats } from '../../../core/protocol';

/** docs/metrics.md, written the obvious way (the implementation before it was optimized). */
function reference(
  w: Float32Array | Float64Array,
  shape: number[],
  axis: ChannelAxis,
  bins: number,
  tau: number,
  clip: number | null,
): WeightStats {
  const n = w.length;
  let sum = 0;
  let sumSq = 0;
  let absSum = 0;
  let min = Infinity;
  let max = -Infinity;
  let positives = 0;
  for (let i = 0; i < n; i++) {
    const x = w[i];
    sum += x;
    sumSq += x * x;
    absSum += x < 0 ? -x : x;
    if (x < min) min = x;
    if (x > max) max = x;
    if (x >= 0) positives++;
  }
  const mean = sum / n;
  const absMean = absSum / n;
  const alpha = channelAlpha(w, shape, axis);
  const channels = alpha.length;
  const per = n / channels;
  const q = laplaceQuantile(absMean, tau);
  let errSq = 0;
  let dead = 0;
  let starved = 0;
  for (let i = 0; i < n; i++) {
    const x = w[i];
    const a = alpha[axis === 'last' ? i % channels : Math.floor(i / per)];
    const d = x >= 0 ? x - a : x + a;
    errSq += d * d;
    const ax = x < 0 ? -x : x;
    if (ax > q) dead++;
    if (clip !== null && ax >= clip) starved++;
  }
  return {
    params: n,
    mean,
    std: Math.sqrt(Math.max(0, sumSq / n - mean * mean)),
    min,
    max,
    absMean,
    histogram: histogram(w, bins, min, max),
    quantizationError: sumSq > 0 ? errSq / sumSq : 0,
    deadWeightRatio: dead / n,
    starvedWeightRatio: clip === null ? null : starved / n,
    signBalance: positives / n,
    signEntropyBits: binaryEntropyBits(positives / n),
  };
}

/** Deterministic Laplace-ish values (a small LCG), with a few exact ±α-like repeats. */
function values(n: number, seed: number, scale = 0.05): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = (s + 0.5) / 2 ** 32;
    out[i] = (u < 0.5 ? Math.log(2 * u) : -Math.log(2 - 2 * u)) * scale;
  }
  return out;
}

/** Relative difference within 1e-12 (or both equal, NaN and ±Infinity included). */
function close(a: number | null, b: number | null): boolean {
  if (a === b || Object.is(a, b)) return true;
  if (a === null || b === null) return false;
  return Math.abs(a - b) <= 1e-12 * Math.max(Math.abs(a), Math.abs(b));
}

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, label: string): void {
  assert.equal(got.length, want.length, label);
  for (let i = 0; i < got.length; i++) {
    assert.ok(close(got[i], want[i]), `${label}: [${i}] ${got[i]} vs ${want[i]}`);
  }
}

/** Counts and extremes identical; the float64 sums (mean, std, absMean, QE) within 1e-12. */
function assertSameStats(got: WeightStats, want: WeightStats, label: string): void {
  const sums = new Set(['mean', 'std', 'absMean', 'quantizationError']);
  for (const key of Object.keys(want) as (keyof WeightStats)[]) {
    if (sums.has(key)) {
      const [a, b] = [got[key] as number | null, want[key] as number | null];
      assert.ok(close(a, b), `${label}: ${key} ${a} vs ${b}`);
    } else {
      assert.deepStrictEqual(got[key], want[key], `${label}: ${key}`);
    }
  }
}

const CASES: { label: string; w: Float32Array | Float64Array; shape: number[] }[] = [
  { label: 'conv [16, 8, 3, 3]', w: values(16 * 8 * 9, 1), shape: [16, 8, 3, 3] },
  { label: 'dense [33, 7]', w: values(33 * 7, 2), shape: [33, 7] },
  { label: 'one channel', w: values(500, 3), shape: [500, 1] },
  { label: 'float64 input', w: Float64Array.from(values(240, 4)), shape: [12, 20] },
];

test('identical to the plain definition for both channel axes, any bins, tau and clip', () => {
  for (const { label, w, shape } of CASES) {
    for (const axis of ['first', 'last'] as const) {
      for (const [bins, tau, clip] of [
        [64, 0.99, null],
        [7, 0.9, 0.05],
        [1024, 0.75, 0],
      ] as const) {
        const options = { shape, channelAxis: axis, bins, deadTau: tau, clip };
        const { stats, alpha } = weightStatsWithAlpha(w, options);
        const want = reference(w, shape, axis, bins, tau, clip);
        if (w instanceof Float64Array) {
          assert.deepStrictEqual(stats, want, label);
          assert.deepStrictEqual(alpha, channelAlpha(w, shape, axis), label);
        } else {
          assertSameStats(stats, want, label);
          assertClose(alpha, channelAlpha(w, shape, axis), label);
        }
        assert.deepStrictEqual(weightStats(w, options), stats);
      }
    }
  }
});

test('NaN, ±Infinity, constant tensors and signed zeros give the plain definition too', () => {
  const awkward: Float32Array[] = [];
  const withNaN = values(64, 5);
  withNaN[3] = NaN;
  awkward.push(withNaN);
  const withInf = values(64, 6);
  withInf[10] = Infinity;
  withInf[11] = -Infinity;
  awkward.push(withInf);
  awkward.push(new Float32Array(64).fill(0.25));
  const zeros = values(64, 7);
  zeros[0] = -0;
  zeros[1] = 0;
  awkward.push(zeros);
  const allNaN = new Float32Array(64).fill(NaN);
  awkward.push(allNaN);
  for (const w of awkward) {
    for (const axis of ['first', 'last'] as const) {
      const got = weightStatsWithAlpha(w, { shape: [8, 8], channelAxis: axis, clip: 0.1 }).stats;
      const want = reference(w, [8, 8], axis, 64, 0.99, 0.1);
      // JSON is what the inspector reports: NaN and ±Infinity both become null there.
      assertSameStats(
        JSON.parse(JSON.stringify(got)) as WeightStats,
        JSON.parse(JSON.stringify(want)) as WeightStats,
        `awkward ${axis}`,
      );
      assert.deepStrictEqual(got.histogram.counts, want.histogram.counts);
    }
  }
});

test('the SIMD passes are in use for float32 and agree with the definition on odd shapes', () => {
  assert.ok(statsKernelAvailable(), 'core/kernels/stats-kernels.wasm loads');
  const shapes: number[][] = [
    [3],
    [7, 1],
    [5, 10],
    [9, 12],
    [64, 3, 3, 3],
    [3, 3, 32, 64],
    [1000, 13],
    [2, 2, 3, 5],
  ];
  let seed = 11;
  for (const shape of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const w = values(n, seed++);
    for (const axis of ['first', 'last'] as const) {
      for (const clip of [null, 0.03]) {
        const label = `[${shape.join(', ')}] ${axis} clip ${clip}`;
        const { stats, alpha } = weightStatsWithAlpha(w, {
          shape,
          channelAxis: axis,
          bins: 64,
          deadTau: 0.95,
          clip,
        });
        assertSameStats(stats, reference(w, shape, axis, 64, 0.95, clip), label);
        assertClose(alpha, channelAlpha(w, shape, axis), label);
      }
    }
  }
});
