/**
 * A layer's latent-weight histograms over time, bounded like the line series: at most
 * `maxFrames` reports are kept; when full, every other one is dropped and the stride between
 * kept reports doubles. The newest report is always the last frame (a provisional one between
 * stride points), so the heatmap's right edge is never stale. Pure: `pushFrame` returns a new
 * history and shares the (immutable) frames with the old one.
 */
import { DASHBOARD_HISTOGRAM_FRAMES, type Histogram } from '../../core/protocol';

/** One report's histogram; `index` counts reports of the layer from 0. */
export interface HistogramFrame {
  step: number;
  index: number;
  histogram: Histogram;
}

export interface HistogramHistory {
  readonly maxFrames: number;
  /** Reports between two kept frames (a power of two). */
  readonly stride: number;
  /** Reports seen so far. */
  readonly seen: number;
  readonly frames: readonly HistogramFrame[];
}

/** An empty history; `maxFrames` must be an integer ≥ 4. */
export function emptyHistory(maxFrames = DASHBOARD_HISTOGRAM_FRAMES): HistogramHistory {
  if (!Number.isInteger(maxFrames) || maxFrames < 4) {
    throw new Error(`emptyHistory: maxFrames must be an integer >= 4, got ${maxFrames}`);
  }
  return { maxFrames, stride: 1, seen: 0, frames: [] };
}

/**
 * Adds the histogram of the next report.
 *
 * @example
 * let h = emptyHistory(4);
 * for (let s = 1; s <= 9; s++) h = pushFrame(h, s * 10, hist);
 * h.frames.map((f) => f.step); // [10, 50, 90]: stride 4 keeps reports 0, 4, 8
 */
export function pushFrame(
  history: HistogramHistory,
  step: number,
  histogram: Histogram,
): HistogramHistory {
  return pushFrameInPlace(cloneHistory(history), step, histogram);
}

/** A copy whose frame list may be appended to with {@link pushFrameInPlace}. */
export function cloneHistory(history: HistogramHistory): HistogramHistory {
  return { ...history, frames: history.frames.slice() };
}

/**
 * {@link pushFrame} on a history the caller owns (a fresh {@link cloneHistory} copy): a batch of
 * N reports then costs one copy of the frame list instead of N. Returns the updated history.
 */
export function pushFrameInPlace(
  history: HistogramHistory,
  step: number,
  histogram: Histogram,
): HistogramHistory {
  const index = history.seen;
  let frames = history.frames as HistogramFrame[];
  let stride = history.stride;
  const last = frames.at(-1);
  // A provisional newest frame (off the stride grid) is replaced by the next report.
  if (last && last.index % stride !== 0) frames.pop();
  frames.push({ step, index, histogram });
  while (frames.length > history.maxFrames) {
    stride *= 2;
    const newest = frames[frames.length - 1];
    frames = frames.filter((f) => f.index % stride === 0);
    if (frames.at(-1) !== newest) frames.push(newest);
  }
  return { maxFrames: history.maxFrames, stride, seen: index + 1, frames };
}

/**
 * Counts a report whose histogram a snapshot left out (`counts = []`, see `RunSnapshot`): the
 * report indices of later frames stay those of the stream, so the same frames are kept.
 */
export function skipFrameInPlace(history: HistogramHistory): HistogramHistory {
  return { ...history, seen: history.seen + 1 };
}
