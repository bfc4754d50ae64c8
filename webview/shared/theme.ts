/**
 * Chart colours and fonts read from VS Code's theme variables. Canvas drawing cannot use
 * `var(--…)`, so values are resolved here and charts are rebuilt when the theme changes.
 */

/** Resolved colours and fonts for canvas drawing. */
export interface Palette {
  foreground: string;
  muted: string;
  grid: string;
  background: string;
  blue: string;
  red: string;
  green: string;
  yellow: string;
  orange: string;
  purple: string;
  /** CSS font shorthand for tick labels, e.g. `11px "Segoe UI", sans-serif`. */
  font: string;
  fontFamily: string;
  highContrast: boolean;
}

function cssVar(style: CSSStyleDeclaration, name: string, fallback: string): string {
  const value = style.getPropertyValue(name).trim();
  return value === '' ? fallback : value;
}

/** What the page is drawn on: the body's own colour, else the sidebar's (the usual host). */
function opaqueBackground(dark: boolean): string {
  const own = getComputedStyle(document.body).backgroundColor;
  if (own && own !== 'transparent' && !/^rgba\(.*,\s*0\)$/.test(own)) return own;
  const root = getComputedStyle(document.documentElement);
  return cssVar(root, '--vscode-sideBar-background', dark ? '#181818' : '#f8f8f8');
}

/** Reads the current theme from the document's computed style. */
export function readPalette(): Palette {
  const root = getComputedStyle(document.documentElement);
  const body = document.body.classList;
  const dark = body.contains('vscode-dark') || body.contains('vscode-high-contrast');
  const highContrast =
    body.contains('vscode-high-contrast') || body.contains('vscode-high-contrast-light');
  const foreground = cssVar(root, '--vscode-foreground', dark ? '#cccccc' : '#3b3b3b');
  const fontFamily = cssVar(root, '--vscode-font-family', 'system-ui, sans-serif');
  return {
    foreground,
    muted: cssVar(root, '--vscode-descriptionForeground', foreground),
    grid: highContrast
      ? cssVar(root, '--vscode-contrastBorder', foreground)
      : cssVar(root, '--vscode-editorWidget-border', dark ? '#454545' : '#c8c8c8'),
    background: opaqueBackground(dark),
    blue: cssVar(root, '--vscode-charts-blue', '#3794ff'),
    red: cssVar(root, '--vscode-charts-red', '#f14c4c'),
    green: cssVar(root, '--vscode-charts-green', '#89d185'),
    yellow: cssVar(root, '--vscode-charts-yellow', '#cca700'),
    orange: cssVar(root, '--vscode-charts-orange', '#d18616'),
    purple: cssVar(root, '--vscode-charts-purple', '#b180d7'),
    font: `11px ${fontFamily}`,
    fontFamily,
    highContrast,
  };
}

/** Calls `onChange` (at most once per frame) when VS Code switches theme. */
export function watchTheme(onChange: () => void): void {
  let pending = false;
  const observer = new MutationObserver(() => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      onChange();
    });
  });
  // VS Code swaps body classes and rewrites the variables on <html>'s style attribute.
  observer.observe(document.body, { attributes: true, attributeFilter: ['class'] });
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ['style'] });
}

/** `color` with alpha `a` in [0, 1], for grid lines and fills; works for hex and rgb(). */
export function withAlpha(color: string, a: number): string {
  const hex = /^#([0-9a-f]{3,8})$/i.exec(color.trim());
  if (hex) {
    let h = hex[1];
    if (h.length === 3 || h.length === 4) h = [...h].map((c) => c + c).join('');
    const r = parseInt(h.slice(0, 2), 16);
    const g = parseInt(h.slice(2, 4), 16);
    const b = parseInt(h.slice(4, 6), 16);
    return `rgba(${r}, ${g}, ${b}, ${a})`;
  }
  const rgb = /^rgba?\(([^)]+)\)$/i.exec(color.trim());
  if (rgb) {
    const [r, g, b] = rgb[1].split(/[\s,/]+/);
    return `rgba(${r}, ${g}, ${b}, ${a})`;
  }
  return color;
}

/** `[r, g, b]` (0–255) of a hex or rgb() colour, or undefined for anything else. */
export function toRgb(color: string): [number, number, number] | undefined {
  const parsed = withAlpha(color, 1);
  const m = /^rgba\(\s*([\d.]+),\s*([\d.]+),\s*([\d.]+),/.exec(parsed);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

/** A colour `t` of the way from `from` to `to` (t in [0, 1]) as rgb values. */
export function mixRgb(
  from: [number, number, number],
  to: [number, number, number],
  t: number,
): [number, number, number] {
  return [0, 1, 2].map((i) => Math.round(from[i] + (to[i] - from[i]) * t)) as [
    number,
    number,
    number,
  ];
}
