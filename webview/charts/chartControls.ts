/**
 * The view controls of a step chart: a smoothing slider (optional), zoom and pan of the step axis
 * and a "Show all steps" button while zoomed. Mouse: drag across the plot to zoom into those
 * steps, Shift+drag to pan, Ctrl/⌘/Alt+wheel to zoom about the pointer, a sideways wheel
 * (trackpad) to pan, double-click to show all. Keyboard (the plot takes focus): + − ← → and 0.
 * A plain wheel keeps scrolling the page: a chart that swallowed it would trap the user in the
 * narrow side view. Charts of one `syncKey` share zoom and smoothing (charts/chartGroup.ts).
 */
import type uPlot from 'uplot';
import { el } from '../shared/dom';
import type { Palette } from '../shared/theme';
import {
  joinGroup,
  leaveGroup,
  publishSmoothing,
  publishZoom,
  type GroupMember,
} from './chartGroup';
import { MAX_SMOOTHING } from './smoothing';
import {
  ZOOM_STEP,
  clampRange,
  dataBounds,
  isFullRange,
  keyAction,
  panBy,
  zoomAbout,
  type XRange,
} from './zoom';

/** What the controls do, in words (tooltips, aria-label, docs). */
export const ZOOM_HINT =
  'Drag across the plot to zoom into those steps, Shift+drag or ←/→ to pan, Ctrl+wheel or +/− to zoom, double-click or 0 to show all steps';

export interface ControlsOptions {
  syncKey?: string;
  /** Show the smoothing slider. */
  smoothing: boolean;
  palette: Palette;
  /** The smoothing weight changed (slider or another chart of the group). */
  onSmoothing: (weight: number) => void;
}

export class ChartControls implements GroupMember {
  private readonly row = el('div', 'chart-tools');
  private readonly slider: HTMLInputElement | undefined;
  private readonly sliderValue: HTMLElement | undefined;
  private readonly reset = el('button', 'chart-reset', 'Show all steps');
  private plot: uPlot | undefined;
  private data: uPlot.AlignedData = [[]];
  private zoom: XRange | undefined;
  private smoothing: number;
  private dragged = false;
  private readonly cleanups: (() => void)[] = [];

  constructor(
    container: HTMLElement,
    private readonly opts: ControlsOptions,
  ) {
    const shared = opts.syncKey ? joinGroup(opts.syncKey, this) : { zoom: undefined, smoothing: 0 };
    this.zoom = shared.zoom;
    this.smoothing = opts.smoothing ? shared.smoothing : 0;
    if (opts.smoothing) {
      const label = el('label', 'chart-smoothing');
      label.title =
        'Exponential moving average of the training curve, bias-corrected as in TensorBoard; ' +
        'the raw curve stays drawn, faint. Epoch (test) points are never smoothed. 0 = raw.';
      const slider = el('input', 'chart-smoothing-slider');
      slider.type = 'range';
      slider.min = '0';
      slider.max = String(MAX_SMOOTHING);
      slider.step = '0.01';
      slider.value = String(this.smoothing);
      slider.setAttribute('aria-label', 'Smoothing');
      const value = el('span', 'chart-smoothing-value', this.smoothing.toFixed(2));
      label.append(el('span', undefined, 'Smoothing'), slider, value);
      slider.addEventListener('input', () => {
        const w = Number(slider.value);
        this.setSmoothing(w);
        if (opts.syncKey) publishSmoothing(opts.syncKey, this, w);
      });
      this.slider = slider;
      this.sliderValue = value;
      this.row.append(label);
    }
    this.reset.type = 'button';
    this.reset.title = 'Show every step again (double-click the plot, or press 0)';
    this.reset.addEventListener('click', () => this.userZoom(undefined));
    this.row.append(this.reset);
    container.append(this.row);
    this.updateRow();
  }

  /** The weight to draw with from the start (the group's, when the slider is shown). */
  get weight(): number {
    return this.smoothing;
  }

  /** Binds the mouse and keyboard to a created plot; returns the smoothing weight. */
  attach(plot: uPlot): number {
    this.plot = plot;
    const { over, root } = plot;
    (plot.hooks.setSelect ??= []).push((u) => this.onSelect(u));
    root.tabIndex = 0;
    root.setAttribute('aria-keyshortcuts', '+ - ArrowLeft ArrowRight 0');
    root.title = ZOOM_HINT;
    const on = <K extends keyof HTMLElementEventMap>(
      target: HTMLElement,
      type: K,
      fn: (e: HTMLElementEventMap[K]) => void,
      options?: AddEventListenerOptions,
    ): void => {
      target.addEventListener(type, fn, options);
      this.cleanups.push(() => target.removeEventListener(type, fn, options));
    };
    on(over, 'dblclick', () => this.userZoom(undefined));
    on(over, 'wheel', (e) => this.onWheel(e), { passive: false });
    // Capture phase on the root: a Shift+drag pans instead of starting uPlot's selection.
    on(root, 'mousedown', (e) => this.onMouseDown(e), { capture: true });
    on(root, 'keydown', (e) => this.onKey(e));
    return this.smoothing;
  }

  /** True when the last mouse press on the plot moved (a zoom or pan, not a click). */
  wasDrag(): boolean {
    return this.dragged;
  }

  /** New data for the plot; a zoomed chart keeps its window as a live run grows. */
  setData(data: uPlot.AlignedData, _newData: boolean): void {
    this.data = data;
    const plot = this.plot;
    if (!plot) return;
    if (this.zoom) {
      plot.setData(data, false);
      plot.setScale('x', { min: this.zoom[0], max: this.zoom[1] });
    } else {
      plot.setData(data);
    }
  }

  applyZoom(range: XRange | undefined): void {
    this.zoom = range;
    this.updateRow();
    const plot = this.plot;
    if (!plot) return;
    if (range) {
      plot.setScale('x', { min: range[0], max: range[1] });
    } else {
      // Back to every step: uPlot recomputes the x range from the data.
      plot.setData(this.data);
    }
  }

  applySmoothing(weight: number): void {
    if (!this.opts.smoothing) return;
    if (this.slider) this.slider.value = String(weight);
    this.setSmoothing(weight);
  }

  destroy(): void {
    if (this.opts.syncKey) leaveGroup(this.opts.syncKey, this);
    for (const c of this.cleanups) c();
    this.cleanups.length = 0;
    this.row.remove();
  }

  private setSmoothing(weight: number): void {
    this.smoothing = weight;
    if (this.sliderValue) this.sliderValue.textContent = weight.toFixed(2);
    this.opts.onSmoothing(weight);
  }

  private updateRow(): void {
    this.reset.hidden = !this.zoom;
    this.row.hidden = !this.slider && !this.zoom;
    if (this.plot) {
      if (this.zoom) this.plot.root.dataset.zoom = `${this.zoom[0]},${this.zoom[1]}`;
      else delete this.plot.root.dataset.zoom;
    }
  }

  private bounds(): [number, number] | undefined {
    return dataBounds(this.data[0]);
  }

  private current(): [number, number] | undefined {
    const x = this.plot?.scales.x;
    if (x?.min == null || x.max == null) return this.bounds();
    return [x.min, x.max];
  }

  /** A zoom the user made here: apply, normalise "everything" to no zoom, tell the group. */
  private userZoom(range: XRange | undefined): void {
    const bounds = this.bounds();
    let next = range;
    if (next && bounds) {
      next = clampRange(next, bounds);
      if (isFullRange(next, bounds)) next = undefined;
    }
    if (next && !(next[1] > next[0])) return;
    this.applyZoom(next);
    if (this.opts.syncKey) publishZoom(this.opts.syncKey, this, next);
  }

  private onSelect(u: uPlot): void {
    const { left, width } = u.select;
    if (!(width > 2)) return;
    const lo = u.posToVal(left, 'x');
    const hi = u.posToVal(left + width, 'x');
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    this.dragged = true;
    this.userZoom([lo, hi]);
  }

  private onWheel(e: WheelEvent): void {
    const plot = this.plot;
    const bounds = this.bounds();
    const range = this.current();
    if (!plot || !bounds || !range) return;
    if (e.ctrlKey || e.metaKey || e.altKey) {
      e.preventDefault();
      const anchor = plot.posToVal(e.offsetX, 'x');
      const factor = e.deltaY < 0 ? ZOOM_STEP : 1 / ZOOM_STEP;
      this.userZoom(zoomAbout(range, anchor, factor, bounds));
    } else if (this.zoom && Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
      e.preventDefault();
      const perPixel = (range[1] - range[0]) / Math.max(1, plot.over.clientWidth);
      this.userZoom(panBy(range, e.deltaX * perPixel, bounds));
    }
  }

  private onMouseDown(e: MouseEvent): void {
    this.dragged = false;
    const plot = this.plot;
    if (!plot || !e.shiftKey || !this.zoom || e.button !== 0) return;
    e.stopPropagation();
    e.preventDefault();
    const start = e.clientX;
    const startRange = this.current();
    const bounds = this.bounds();
    if (!startRange || !bounds) return;
    const perPixel = (startRange[1] - startRange[0]) / Math.max(1, plot.over.clientWidth);
    const move = (m: MouseEvent): void => {
      const dx = m.clientX - start;
      if (Math.abs(dx) > 2) this.dragged = true;
      this.userZoom(panBy(startRange, -dx * perPixel, bounds));
    };
    const up = (): void => {
      window.removeEventListener('mousemove', move);
      window.removeEventListener('mouseup', up);
    };
    window.addEventListener('mousemove', move);
    window.addEventListener('mouseup', up);
  }

  private onKey(e: KeyboardEvent): void {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const bounds = this.bounds();
    const range = this.current();
    if (!bounds || !range) return;
    const action = keyAction(e.key, range, bounds);
    if (action === undefined) return;
    e.preventDefault();
    this.userZoom(action === 'reset' ? undefined : action);
  }
}
