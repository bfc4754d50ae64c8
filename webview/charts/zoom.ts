/**
 * The x-range arithmetic behind zoom and pan on the step charts: zoom about a point, pan by a
 * distance, keep the window inside the data. Pure: the charts turn wheel, drag and key events
 * into these calls.
 */

/** `[min, max]` of the x axis. */
export type XRange = readonly [number, number];

/** The narrowest window a zoom may reach, as a fraction of the data's span. */
export const MIN_SPAN_FRACTION = 0.005;

/** Zoom factor of one wheel notch or one `+`/`−` key press (< 1 zooms in). */
export const ZOOM_STEP = 0.8;

/** Share of the window that an arrow key pans. */
export const PAN_STEP = 0.1;

function span(r: XRange): number {
  return r[1] - r[0];
}

/** `r` shifted to lie inside `bounds` (its width kept, or `bounds` itself when wider). */
export function clampRange(r: XRange, bounds: XRange): [number, number] {
  const width = span(r);
  if (!(span(bounds) > 0)) return [bounds[0], bounds[1]];
  if (width >= span(bounds)) return [bounds[0], bounds[1]];
  let lo = r[0];
  if (lo < bounds[0]) lo = bounds[0];
  if (lo + width > bounds[1]) lo = bounds[1] - width;
  return [lo, lo + width];
}

/**
 * The window after zooming `r` by `factor` (0.8 = 20 % narrower) about `anchor` (an x value that
 * stays where it is on screen), kept inside `bounds` and no narrower than
 * `MIN_SPAN_FRACTION` of it.
 *
 * @example zoomAbout([0, 100], 50, 0.5, [0, 100]) // → [25, 75]
 */
export function zoomAbout(
  r: XRange,
  anchor: number,
  factor: number,
  bounds: XRange,
): [number, number] {
  const full = span(bounds);
  if (!(full > 0) || !(factor > 0)) return [r[0], r[1]];
  const width = Math.min(full, Math.max(full * MIN_SPAN_FRACTION, span(r) * factor));
  const a = Math.min(r[1], Math.max(r[0], anchor));
  const t = span(r) > 0 ? (a - r[0]) / span(r) : 0.5;
  const lo = a - t * width;
  return clampRange([lo, lo + width], bounds);
}

/** The window moved by `dx` x units (positive = later steps), kept inside `bounds`. */
export function panBy(r: XRange, dx: number, bounds: XRange): [number, number] {
  return clampRange([r[0] + dx, r[1] + dx], bounds);
}

/** True when `r` shows all of `bounds` (to a millionth of its span): the chart is not zoomed. */
export function isFullRange(r: XRange, bounds: XRange): boolean {
  const eps = Math.abs(span(bounds)) * 1e-6;
  return r[0] <= bounds[0] + eps && r[1] >= bounds[1] - eps;
}

/** The x extent of a sorted x column (`undefined` when it has fewer than two distinct values). */
export function dataBounds(x: ArrayLike<number>): [number, number] | undefined {
  if (x.length < 2) return undefined;
  const lo = x[0];
  const hi = x[x.length - 1];
  return hi > lo ? [lo, hi] : undefined;
}

/**
 * What a key does to the window, or `undefined` for keys the chart leaves alone:
 * `+`/`=` zoom in, `-` zoom out, ←/→ pan, `0`/Home/Escape show everything.
 */
export function keyAction(
  key: string,
  r: XRange,
  bounds: XRange,
): [number, number] | 'reset' | undefined {
  const centre = (r[0] + r[1]) / 2;
  switch (key) {
    case '+':
    case '=':
      return zoomAbout(r, centre, ZOOM_STEP, bounds);
    case '-':
    case '_':
      return zoomAbout(r, centre, 1 / ZOOM_STEP, bounds);
    case 'ArrowLeft':
      return panBy(r, -span(r) * PAN_STEP, bounds);
    case 'ArrowRight':
      return panBy(r, span(r) * PAN_STEP, bounds);
    case '0':
    case 'Home':
    case 'Escape':
      return 'reset';
    default:
      return undefined;
  }
}
