/**
 * The per-layer metrics of docs/metrics.md, as pure functions over typed arrays.
 * Every sum is accumulated in float64 (JS numbers) whatever the input dtype. float32 tensors take
 * the SIMD passes of statsKernel.ts (the same terms, summed in lanes: the last bits of a sum may
 * differ from a sequential loop; counts and extremes are exact).
 */
import type { Histogram, WeightStats } from '../protocol';
import { StatsKernel } from './statsKernel';

/** Where the output-channel axis of a weight tensor is. */
export type ChannelAxis = 'last' | 'first';

export interface StatsOptions {
  /** Tensor shape; its product must equal the element count. */
  shape: readonly number[];
  /** `last` for TF.js/Keras kernels, `first` for PyTorch/ONNX. */
  channelAxis: ChannelAxis;
  /** Histogram bins (docs/metrics.md: 64 by default). */
  bins?: number;
  /** τ for `deadWeightRatio`, in (0.5, 1); 0.99 by default. */
  deadTau?: number;
  /** The weight quantizer's gradient clip `t_clip`, or null when it has none or it is unknown. */
  clip?: number | null;
}

export const DEFAULT_BINS = 64;
export const DEFAULT_DEAD_TAU = 0.99;

/** `sgn(x)`: +1 for x >= 0 (zero maps to +1), -1 otherwise. */
export function sgn(x: number): 1 | -1 {
  return x >= 0 ? 1 : -1;
}

/** Number of output channels and the stride layout for a shape and channel axis. */
export function channelCount(shape: readonly number[], channelAxis: ChannelAxis): number {
  if (shape.length === 0) return 1;
  return channelAxis === 'last' ? shape[shape.length - 1] : shape[0];
}

/**
 * `α_c = mean_{i in c} |W_i|` for every output channel c (the L2-optimal scale for sgn).
 * @returns one value per output channel.
 */
export function channelAlpha(
  w: ArrayLike<number>,
  shape: readonly number[],
  channelAxis: ChannelAxis,
): Float64Array {
  const channels = Math.max(1, channelCount(shape, channelAxis));
  const sums = new Float64Array(channels);
  const n = w.length;
  if (channelAxis === 'last') {
    for (let i = 0; i < n; i++) sums[i % channels] += Math.abs(w[i]);
  } else {
    const per = n / channels;
    for (let c = 0; c < channels; c++) {
      let s = 0;
      const end = (c + 1) * per;
      for (let i = c * per; i < end; i++) s += Math.abs(w[i]);
      sums[c] = s;
    }
  }
  const per = n / channels;
  for (let c = 0; c < channels; c++) sums[c] = per > 0 ? sums[c] / per : 0;
  return sums;
}

/** `H(p)` in bits; 0 when p is 0 or 1. */
export function binaryEntropyBits(p: number): number {
  if (p <= 0 || p >= 1) return 0;
  return -p * Math.log2(p) - (1 - p) * Math.log2(1 - p);
}

/** ReCU's Laplace quantile `Q(τ) = −b · ln(2 − 2τ)` for scale `b = absMean`. */
export function laplaceQuantile(absMean: number, tau: number): number {
  return -absMean * Math.log(2 - 2 * tau);
}

/**
 * Equal-width histogram over `[min, max]`, last bin closed: bin of x is
 * `min(bins − 1, floor(bins (x − min) / (max − min)))`; all in bin 0 when max == min.
 */
export function histogram(w: ArrayLike<number>, bins: number, min: number, max: number): Histogram {
  const n = w.length;
  if (n === 0) return { min: 0, max: 0, counts: new Array<number>(bins).fill(0) };
  const counts = new Float64Array(bins);
  const range = max - min;
  if (!(range > 0)) {
    counts[0] = n;
    return { min, max, counts: Array.from(counts) };
  }
  const scale = bins / range;
  const last = bins - 1;
  for (let i = 0; i < n; i++) {
    const b = Math.floor((w[i] - min) * scale);
    counts[b > last ? last : b]++;
  }
  return { min, max, counts: Array.from(counts) };
}

/** {@link weightStats} and {@link channelAlpha} of one tensor, computed together. */
export interface WeightStatsWithAlpha {
  stats: WeightStats;
  /** `α_c` per output channel, as {@link channelAlpha} returns it. */
  alpha: Float64Array;
}

/** Sums of the first pass over a tensor (see {@link weightStatsWithAlpha}). */
interface Moments {
  sum: number;
  sumSq: number;
  absSum: number;
  min: number;
  max: number;
  positives: number;
}

/**
 * First pass: moments, extremes, positives and the per-channel sums of |W| (into `absSums`).
 * Elements are visited in storage order, so every float64 sum is accumulated in the same order
 * as a plain loop over `w` (results do not depend on the loop structure).
 *
 * Signs of latent weights are a coin flip, so a branch on them is mispredicted half the time
 * (about 4× slower measured): counts use `+(cond)`, magnitudes `Math.abs` and extremes
 * `Math.min/max`, which compile without branches.
 */
function firstPass(
  w: ArrayLike<number>,
  channels: number,
  lastAxis: boolean,
  absSums: Float64Array,
): Moments {
  const n = w.length;
  let sum = 0;
  let sumSq = 0;
  let absSum = 0;
  let min = Infinity;
  let max = -Infinity;
  let positives = 0;
  if (lastAxis) {
    let c = 0;
    for (let i = 0; i < n; i++) {
      const x = w[i];
      sum += x;
      sumSq += x * x;
      const ax = Math.abs(x);
      absSum += ax;
      absSums[c] += ax;
      min = Math.min(min, x);
      max = Math.max(max, x);
      positives += +(x >= 0);
      if (++c === channels) c = 0;
    }
  } else {
    const per = n / channels;
    for (let c = 0, start = 0; c < channels; c++, start += per) {
      const end = start + per;
      let channelSum = 0;
      for (let i = start; i < end; i++) {
        const x = w[i];
        sum += x;
        sumSq += x * x;
        const ax = Math.abs(x);
        absSum += ax;
        channelSum += ax;
        min = Math.min(min, x);
        max = Math.max(max, x);
        positives += +(x >= 0);
      }
      absSums[c] = channelSum;
    }
  }
  return withExtremes(w, { sum, sumSq, absSum, min, max, positives });
}

/**
 * Math.min/max (and SIMD min/max) propagate NaN, and are ~2× faster than compare-and-branch;
 * extremes ignore NaN values, as `x < min` comparisons would: recomputed when one was NaN.
 */
function withExtremes(w: ArrayLike<number>, m: Moments): Moments {
  if (!Number.isNaN(m.min) && !Number.isNaN(m.max)) return m;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < w.length; i++) {
    const x = w[i];
    if (x < min) min = x;
    if (x > max) max = x;
  }
  return { ...m, min, max };
}

/**
 * Second pass: squared quantization error, dead and starved counts, histogram counts.
 * `(x − α·sgn x)² = (|x| − α)²` holds exactly in floating point (rounding is symmetric), so the
 * error needs no branch on the sign either.
 *
 * `counts` has one spare slot: with `scale = bins / (max − min)` and finite values, the bin
 * position `(x − min)·scale` lies in [0, bins], so truncation (`| 0`) equals `floor`, and the
 * slot `bins` (x == max) is folded into the last bin by the caller. With `scale = 0` every
 * value lands in slot 0 (used when the caller builds the histogram another way).
 */
function secondPass(
  w: ArrayLike<number>,
  alpha: Float64Array,
  lastAxis: boolean,
  deadAbove: number,
  clip: number | null,
  counts: Int32Array,
  min: number,
  scale: number,
): { errSq: number; dead: number; starved: number } {
  const n = w.length;
  const channels = alpha.length;
  // A clip of +Infinity never counts; `starved` is discarded when clip is null.
  const clipAt = clip === null ? Infinity : clip;
  let errSq = 0;
  let dead = 0;
  let starved = 0;
  if (lastAxis) {
    let c = 0;
    for (let i = 0; i < n; i++) {
      const x = w[i];
      const ax = Math.abs(x);
      const d = ax - alpha[c];
      errSq += d * d;
      dead += +(ax > deadAbove);
      starved += +(ax >= clipAt);
      counts[((x - min) * scale) | 0]++;
      if (++c === channels) c = 0;
    }
  } else {
    const per = n / channels;
    for (let c = 0, start = 0; c < channels; c++, start += per) {
      const end = start + per;
      const a = alpha[c];
      for (let i = start; i < end; i++) {
        const x = w[i];
        const ax = Math.abs(x);
        const d = ax - a;
        errSq += d * d;
        dead += +(ax > deadAbove);
        starved += +(ax >= clipAt);
        counts[((x - min) * scale) | 0]++;
      }
    }
  }
  return { errSq, dead, starved };
}

/**
 * All single-snapshot metrics of docs/metrics.md for one latent weight tensor, and `α_c` per
 * output channel, in two passes over the values (the first for the moments and the channel
 * sums, the second for what needs them: QE, dead weights, histogram).
 *
 * @param w latent weights, any float dtype, in the layout `options.shape` describes.
 * @returns the same numbers as {@link weightStats} and {@link channelAlpha}.
 */
export function weightStatsWithAlpha(
  w: ArrayLike<number>,
  options: StatsOptions,
): WeightStatsWithAlpha {
  const n = w.length;
  const bins = options.bins ?? DEFAULT_BINS;
  const tau = options.deadTau ?? DEFAULT_DEAD_TAU;
  const clip = options.clip ?? null;
  const expected = options.shape.reduce((a, b) => a * b, 1);
  if (expected !== n) {
    throw new Error(
      `weightStats: shape [${options.shape.join(', ')}] needs ${expected} values, got ${n}`,
    );
  }
  if (n === 0) {
    return {
      stats: {
        params: 0,
        mean: 0,
        std: 0,
        min: 0,
        max: 0,
        absMean: 0,
        histogram: histogram(w, bins, 0, 0),
        quantizationError: 0,
        deadWeightRatio: 0,
        starvedWeightRatio: clip === null ? null : 0,
        signBalance: 0,
        signEntropyBits: 0,
      },
      alpha: channelAlpha(w, options.shape, options.channelAxis),
    };
  }
  const channels = Math.max(1, channelCount(options.shape, options.channelAxis));
  const lastAxis = options.channelAxis === 'last';
  const alpha = new Float64Array(channels);
  // float32 tensors go through the SIMD passes of stats_kernels.c when the module loads.
  const kernel = StatsKernel.load(w, channels, lastAxis, bins);
  const { sum, sumSq, absSum, min, max, positives } = kernel
    ? withExtremes(w, kernel.pass1(alpha))
    : firstPass(w, channels, lastAxis, alpha);
  const per = n / channels;
  for (let c = 0; c < channels; c++) alpha[c] = per > 0 ? alpha[c] / per : 0;
  const mean = sum / n;
  const absMean = absSum / n;
  const variance = Math.max(0, sumSq / n - mean * mean);
  const q = laplaceQuantile(absMean, tau);
  // The histogram is binned inside the second pass when every value is finite and they differ;
  // otherwise (NaN, ±Infinity, a constant tensor) by histogram(), which handles those cases.
  const range = max - min;
  const binInLoop = Number.isFinite(sum) && range > 0 && Number.isFinite(range);
  const counts = new Int32Array(bins + 1);
  const scale = binInLoop ? bins / range : 0;
  const { errSq, dead, starved } = kernel
    ? kernel.pass2(alpha, q, clip === null ? Infinity : clip, counts, min, scale)
    : secondPass(w, alpha, lastAxis, q, clip, counts, min, scale);
  let binned: Histogram;
  if (binInLoop) {
    counts[bins - 1] += counts[bins];
    binned = { min, max, counts: Array.from(counts.subarray(0, bins)) };
  } else {
    binned = histogram(w, bins, min, max);
  }
  const signBalance = positives / n;
  return {
    stats: {
      params: n,
      mean,
      std: Math.sqrt(variance),
      min,
      max,
      absMean,
      histogram: binned,
      quantizationError: sumSq > 0 ? errSq / sumSq : 0,
      deadWeightRatio: dead / n,
      starvedWeightRatio: clip === null ? null : starved / n,
      signBalance,
      signEntropyBits: binaryEntropyBits(signBalance),
    },
    alpha,
  };
}

/**
 * All single-snapshot metrics of docs/metrics.md for one latent weight tensor.
 * Use {@link weightStatsWithAlpha} when `α_c` is needed too: it saves a pass.
 *
 * @param w latent weights, any float dtype, in the layout `shape` describes.
 * @example weightStats(new Float32Array([0.5, -1, 2, -0.25]), { shape: [2, 2], channelAxis: 'last' })
 */
export function weightStats(w: ArrayLike<number>, options: StatsOptions): WeightStats {
  return weightStatsWithAlpha(w, options).stats;
}

/** `flipRate` between two snapshots: fraction of i with sgn(a_i) ≠ sgn(b_i). */
export function flipRateBetween(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) {
    throw new Error(`flipRateBetween: ${a.length} vs ${b.length} elements`);
  }
  const n = a.length;
  if (n === 0) return 0;
  let flips = 0;
  for (let i = 0; i < n; i++) if (a[i] >= 0 !== b[i] >= 0) flips++;
  return flips / n;
}

/**
 * Tracks one layer's signs across optimizer steps: the training `flipRate` (mean per-step flip
 * fraction since the last report, Larq's FlipRatio) and `frozenRatio` (never flipped since start).
 */
export class SignTracker {
  private readonly signs: Uint8Array;
  private readonly everFlipped: Uint8Array;
  private flippedEver = 0;
  private flipFractionSum = 0;
  private stepsSinceReport = 0;

  /** @param initial the latent weights at the start of the observed window. */
  constructor(initial: ArrayLike<number>) {
    this.signs = new Uint8Array(initial.length);
    for (let i = 0; i < initial.length; i++) this.signs[i] = initial[i] >= 0 ? 1 : 0;
    this.everFlipped = new Uint8Array(initial.length);
  }

  /** Restore from saved sign bits (after a resume). */
  static fromState(signs: Uint8Array, everFlipped: Uint8Array): SignTracker {
    const t = new SignTracker(new Float32Array(0));
    (t as unknown as { signs: Uint8Array }).signs = signs.slice();
    (t as unknown as { everFlipped: Uint8Array }).everFlipped = everFlipped.slice();
    t.flippedEver = everFlipped.reduce((acc, v) => acc + v, 0);
    return t;
  }

  /** Record the weights after one optimizer step. @returns that step's flip fraction. */
  update(w: ArrayLike<number>): number {
    const n = this.signs.length;
    if (w.length !== n) throw new Error(`SignTracker: ${n} weights expected, got ${w.length}`);
    const signs = this.signs;
    const ever = this.everFlipped;
    // Count first, without a branch, then update only when something flipped: a step flips few
    // signs, and this runs on the trainer's thread between steps (11 M weights: ~30 ms, against
    // ~75 ms for one pass that tests every weight).
    let flips = 0;
    for (let i = 0; i < n; i++) flips += +(w[i] >= 0) ^ signs[i];
    if (flips > 0) {
      for (let i = 0; i < n; i++) {
        const s = +(w[i] >= 0);
        if (s !== signs[i]) {
          signs[i] = s;
          if (ever[i] === 0) {
            ever[i] = 1;
            this.flippedEver++;
          }
        }
      }
    }
    const fraction = n > 0 ? flips / n : 0;
    this.flipFractionSum += fraction;
    this.stepsSinceReport++;
    return fraction;
  }

  /** Mean per-step flip fraction since the last call; 0 when no step was recorded. */
  takeFlipRate(): number {
    const rate = this.stepsSinceReport > 0 ? this.flipFractionSum / this.stepsSinceReport : 0;
    this.flipFractionSum = 0;
    this.stepsSinceReport = 0;
    return rate;
  }

  /** Fraction of weights whose sign never changed over the observed window. */
  frozenRatio(): number {
    const n = this.signs.length;
    return n > 0 ? 1 - this.flippedEver / n : 1;
  }

  /** Sign bits and ever-flipped bits, to save with a checkpoint. */
  state(): { signs: Uint8Array; everFlipped: Uint8Array } {
    return { signs: this.signs.slice(), everFlipped: this.everFlipped.slice() };
  }
}
