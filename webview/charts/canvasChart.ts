/**
 * Shared plumbing of the dashboard's hand-drawn canvas charts: device-pixel sizing through the
 * CSSOM (a strict CSP forbids style attributes in markup, not `element.style`), theme palette,
 * and export of what is on screen.
 */
import type { Palette } from '../shared/theme';

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
