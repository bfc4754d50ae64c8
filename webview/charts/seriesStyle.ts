/**
 * Colours and dash patterns of the per-layer lines. In the ordinary themes a line's colour says
 * how deep its layer sits (first layer blue → last layer orange). High-contrast themes have few
 * chart colours and Light HC maps both blue and orange to the same dark blue, so there every
 * layer gets a distinct theme colour, and a dash pattern once the colours run out.
 */
import { mixRgb, toRgb, type Palette } from '../shared/theme';

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

/**
 * The two colours of a weight's sign: orange for w < 0 (binary −1), blue for w ≥ 0 (+1). Where the
 * theme gives both the same colour (Light HC), the negative side takes the first chart colour that
 * differs from blue and from red (red marks ±Q(τ)).
 */
export function signColors(palette: Palette): { negative: string; positive: string } {
  const id = (c: string): string => toRgb(c)?.join(',') ?? c.toLowerCase();
  const taken = new Set([id(palette.blue), id(palette.red)]);
  const negative =
    [palette.orange, palette.yellow, palette.purple, palette.green, palette.foreground].find(
      (c) => !taken.has(id(c)),
    ) ?? palette.orange;
  return { negative, positive: palette.blue };
}

/**
 * Series colours with collisions resolved: a series whose colour and dash repeat an earlier
 * series' (Light HC draws train loss in blue and test loss in "orange", the same dark blue) takes
 * the first of the palette's distinct colours that no series uses yet.
 */
export function resolveCollisions(
  series: readonly { color: string; dash?: readonly number[] }[],
  palette: Palette,
): string[] {
  const id = (c: string): string => toRgb(c)?.join(',') ?? c.toLowerCase();
  const used = new Set(series.map((s) => id(s.color)));
  const spare = distinctColors(palette).filter((c) => !used.has(id(c)));
  const seen = new Set<string>();
  return series.map((s) => {
    const key = `${id(s.color)}/${s.dash?.join(' ') ?? ''}`;
    if (!seen.has(key)) {
      seen.add(key);
      return s.color;
    }
    const replacement = spare.shift() ?? s.color;
    seen.add(`${id(replacement)}/${s.dash?.join(' ') ?? ''}`);
    return replacement;
  });
}
