/**
 * What every dashboard section gets from the page: the host, the palette, and the page-wide
 * services (visibility, change tracking, throttling, resizing, opening a layer's card).
 */
import type { ToHost } from '../../core/protocol';
import type { Palette } from '../shared/theme';
import type { ViewState } from './vscodeApi';

/** Shared by every chart of the page so hovering one shows the same step in all of them. */
export const SYNC_KEY = 'bnnLab.steps';

export type Command = Extract<ToHost, { kind: 'command' }>['command'];

/** What the view needs from the outside world. */
export interface DashboardHost {
  post(msg: ToHost): void;
  readonly view: ViewState;
  updateView(patch: Partial<ViewState>): void;
}

/** The page's services, as the sections see them. */
export interface SectionContext {
  readonly host: DashboardHost;
  /** The current theme's colours (replaced on a theme change, when charts are recreated). */
  readonly palette: Palette;
  /** The run id used in exported file names. */
  readonly runIdText: string;
  command(command: Command): void;
  /** False once the element has been reported off screen (true until the first report). */
  visible(element: Element): boolean;
  /** Watches whether `element` is on screen; it redraws when scrolled back. */
  observeVisibility(element: Element): void;
  /** Resizes the section's charts when `element` changes size. */
  observeSize(element: Element): void;
  /** True once per new value of `value` for `slot` (skips redrawing unchanged data). */
  changed(slot: object, value: unknown): boolean;
  /** Forgets what `slot` last drew, so the next render draws it. */
  forget(slot: object): void;
  /**
   * True when the part named `name` may redraw now: its `key` changed or `intervalMs` passed
   * since it last drew; otherwise a render is scheduled for when the interval is over.
   */
  throttle(name: string, key: string, intervalMs: number): boolean;
  /** Shows that layer's card and moves focus to it. */
  openLayer(name: string): void;
}

/** A part of the page with charts that follow the theme and the width. */
export interface ChartSection {
  /** Drops every chart; the next render recreates them with the current palette. */
  destroyCharts(): void;
  /** Fits every chart to its host's width. */
  resize(): void;
}

/** Sets a chart's width to its host's, when the host has one. */
export function fitWidth(
  chart: { setWidth(w: number): void } | undefined,
  host: HTMLElement,
): void {
  const w = host.clientWidth;
  if (w > 0) chart?.setWidth(w);
}
