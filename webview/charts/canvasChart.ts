/**
 * Shared plumbing of the dashboard's hand-drawn canvas charts: device-pixel sizing through the
 * CSSOM (a strict CSP forbids style attributes in markup, not `element.style`), theme palette,
 * and export of what is on screen.
 */
import type { Palette } from '../shared/theme';

/** Height of the row under a canvas chart's tick labels that holds the x-axis title, and width
 * of the column left of its y ticks that holds the (rotated) y-axis title. */
export const TITLE_ROW = 12;

/**
 * Axis titles of a canvas chart in 10 px muted text: `x` centred under the plot box at the bottom
 * of the canvas, `y` rotated along the left edge, centred on the plot box.
 */
export function drawAxisTitles(
  ctx: CanvasRenderingContext2D,
  palette: Palette,
  box: { left: number; top: number; width: number; height: number },
  canvasHeight: number,
  titles: { x?: string; y?: string },
): void {
  // The titles, readable without pixels (tests, accessibility tools).
  ctx.canvas.dataset.axes = [titles.x, titles.y].filter((t) => t).join(' | ');
  ctx.save();
  ctx.font = `10px ${palette.fontFamily}`;
  ctx.fillStyle = palette.muted;
  ctx.textBaseline = 'bottom';
  if (titles.x) {
    const w = ctx.measureText(titles.x).width;
    ctx.fillText(titles.x, Math.max(0, box.left + (box.width - w) / 2), canvasHeight);
  }
  if (titles.y) {
    const w = ctx.measureText(titles.y).width;
    ctx.translate(0, box.top + box.height / 2 + w / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = 'top';
    ctx.fillText(titles.y, 0, 0);
  }
  ctx.restore();
}

export abstract class CanvasChart {
  protected readonly canvas: HTMLCanvasElement;
  protected width = 0;

  constructor(
    container: HTMLElement,
    className: string,
    protected palette: Palette,
    protected readonly height: number,
    ariaLabel: string,
  ) {
    this.canvas = document.createElement('canvas');
    this.canvas.className = className;
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute('aria-label', ariaLabel);
    container.append(this.canvas);
  }

  setWidth(width: number): void {
    const w = Math.max(80, Math.floor(width));
    if (w === this.width) return;
    this.width = w;
    this.draw();
  }

  setPalette(palette: Palette): void {
    this.palette = palette;
    this.draw();
  }

  destroy(): void {
    this.canvas.remove();
  }

  /** The canvas as drawn, on the theme background (PNG export, SVG fallback image). */
  snapshotCanvas(): HTMLCanvasElement {
    const out = document.createElement('canvas');
    out.width = this.canvas.width;
    out.height = this.canvas.height;
    const ctx = out.getContext('2d');
    if (ctx) {
      ctx.fillStyle = this.palette.background;
      ctx.fillRect(0, 0, out.width, out.height);
      ctx.drawImage(this.canvas, 0, 0);
    }
    return out;
  }

  get cssSize(): { width: number; height: number } {
    return { width: this.width, height: this.height };
  }

  /** Sizes the backing store for the device pixel ratio; undefined while there is no width. */
  protected context(): CanvasRenderingContext2D | undefined {
    const { canvas, width, height } = this;
    if (width === 0) return undefined;
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
      canvas.style.width = `${width}px`;
      canvas.style.height = `${height}px`;
    }
    const ctx = canvas.getContext('2d');
    if (!ctx) return undefined;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    return ctx;
  }

  protected abstract draw(): void;
}
