/**
 * Colours and dash patterns of the per-layer lines. In the ordinary themes a line's colour says
 * how deep its layer sits (first layer blue → last layer orange). High-contrast themes have few
 * chart colours and Light HC maps both blue and orange to the same dark blue, so there every
 * layer gets a distinct theme colour, and a dash pattern once the colours run out.
 */
import { mixRgb, toRgb, type Palette } from '../theme';

export interface LineStyle {
  color: string;
  /** Canvas dash pattern in px; undefined for a solid line. */
  dash: number[] | undefined;
}

/** Solid, dashed, dotted, dash-dot: the patterns cycled through once the colours run out. */
export const DASHES: readonly (number[] | undefined)[] = [undefined, [6, 3], [2, 3], [8, 3, 2, 3]];

/** The palette's chart colours that differ from each other, in a fixed order. */
export function distinctColors(palette: Palette): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const c of [
    palette.blue,
    palette.orange,
    palette.green,
    palette.red,
    palette.purple,
    palette.yellow,
    palette.foreground,
  ]) {
    const rgb = toRgb(c);
    const id = rgb ? rgb.join(',') : c.toLowerCase();
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(c);
  }
  return out;
}

/** Depth colour of layer `i` of `n`: blue for the first, orange for the last. */
export function depthColor(palette: Palette, i: number, n: number): string {
  const from = toRgb(palette.blue);
  const to = toRgb(palette.orange);
  if (!from || !to) return palette.blue;
  const [r, g, b] = mixRgb(from, to, n > 1 ? i / (n - 1) : 0);
  return `rgb(${r}, ${g}, ${b})`;
}

/**
 * The line of layer `i` of `n`. Depth colours (solid) in ordinary themes; in high-contrast
 * themes, or when blue and orange are the same colour, the palette's distinct colours in turn,
 * each round with the next dash pattern, so no two of the first `colours × 4` layers look alike.
 */
export function layerStyle(palette: Palette, i: number, n: number): LineStyle {
  const from = toRgb(palette.blue)?.join(',');
  const to = toRgb(palette.orange)?.join(',');
  if (!palette.highContrast && from !== to) {
    return { color: depthColor(palette, i, n), dash: undefined };
  }
  const colors = distinctColors(palette);
  const k = Math.max(1, colors.length);
  return {
    color: colors[i % k] ?? palette.foreground,
    dash: DASHES[Math.floor(i / k) % DASHES.length],
  };
}
