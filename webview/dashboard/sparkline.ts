/** The points of a sparkline (the side view's loss and accuracy lines); pure, no DOM. */

/** The sparkline's drawing box; the SVG scales it to the width of the side bar. */
export const SPARKLINE_WIDTH = 200;
export const SPARKLINE_HEIGHT = 36;
/** Points drawn per line at most (every k-th report of a long run). */
const MAX_POINTS = 100;

/**
 * The `points` of a polyline through `(x[i], y[i])`, finite values only, in the sparkline's box:
 * x over its own range, y over `[lo, hi]` (its own range when not given), larger up.
 */
export function sparklinePoints(
  x: readonly number[],
  y: readonly number[],
  range?: readonly [number, number],
): string {
  const idx: number[] = [];
  const step = Math.max(1, Math.ceil(x.length / MAX_POINTS));
  for (let i = 0; i < x.length; i += step) if (Number.isFinite(y[i])) idx.push(i);
  const last = x.length - 1;
  if (last >= 0 && idx.at(-1) !== last && Number.isFinite(y[last])) idx.push(last);
  if (idx.length === 0) return '';
  const ys = idx.map((i) => y[i]);
  const [lo, hi] = range ?? [Math.min(...ys), Math.max(...ys)];
  const x0 = x[idx[0]];
  const x1 = x[idx.at(-1)!];
  const sx = (v: number) =>
    x1 > x0 ? ((v - x0) / (x1 - x0)) * SPARKLINE_WIDTH : SPARKLINE_WIDTH / 2;
  const sy = (v: number) =>
    hi > lo
      ? SPARKLINE_HEIGHT - 1 - ((v - lo) / (hi - lo)) * (SPARKLINE_HEIGHT - 2)
      : SPARKLINE_HEIGHT / 2;
  return idx.map((i) => `${sx(x[i]).toFixed(1)},${sy(y[i]).toFixed(1)}`).join(' ');
}
