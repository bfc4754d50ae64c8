/**
 * Glue between the charts on screen and the pure builders of export.ts: what a PNG or SVG of a
 * chart looks like, and the PNG / SVG buttons that post it to the host.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import type { VscodeButton } from '@vscode-elements/elements/dist/vscode-button/vscode-button.js';
import type uPlot from 'uplot';
import type { ToHost } from '../../core/protocol';
import type { CanvasChart } from '../charts/canvasChart';
import { el } from '../shared/dom';
import { exportFileName, lineChartSvg, rasterSvg, type ExportStyle } from './export';
import { formatSignificant } from '../../core/format';
import type { Palette } from '../shared/theme';

/** A chart that can be saved. */
export interface ChartExport {
  title: string;
  /** PNG as a data URL. */
  png(): string;
  svg(): string;
}

export function exportStyle(p: Palette): ExportStyle {
  return {
    background: p.background,
    foreground: p.foreground,
    muted: p.muted,
    grid: p.grid,
    fontFamily: p.fontFamily,
  };
}

/** The canvas on the theme background with the chart title above it. */
function titledPng(title: string, source: HTMLCanvasElement, p: Palette): string {
  const dpr = window.devicePixelRatio || 1;
  const top = Math.round(22 * dpr);
  const out = document.createElement('canvas');
  out.width = source.width;
  out.height = source.height + top;
  const ctx = out.getContext('2d');
  if (!ctx) return source.toDataURL('image/png');
  ctx.fillStyle = p.background;
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.fillStyle = p.foreground;
  ctx.font = `bold ${Math.round(12 * dpr)}px ${p.fontFamily}`;
  ctx.textBaseline = 'middle';
  ctx.fillText(title, 4 * dpr, top / 2);
  ctx.drawImage(source, 0, top);
  return out.toDataURL('image/png');
}

/** Export of a uPlot chart: PNG of its canvas, SVG rebuilt from its data as vector paths. */
export function uplotExport(
  title: string,
  plot: uPlot,
  palette: Palette,
  options: { log?: boolean; format?: (v: number) => string } = {},
): ChartExport {
  return {
    title,
    png: () => titledPng(title, plot.ctx.canvas, palette),
    svg: () =>
      lineChartSvg({
        title,
        width: Math.max(320, plot.width),
        height: Math.max(200, plot.height + 40),
        style: exportStyle(palette),
        x: (plot.data[0] ?? []) as number[],
        series: plot.series.slice(1).flatMap((s, i) =>
          s.show === false
            ? []
            : [
                {
                  label: String(s.label ?? `series ${i + 1}`),
                  color: typeof s.stroke === 'string' ? s.stroke : palette.foreground,
                  dash: s.dash,
                  values: (plot.data[i + 1] ?? []) as (number | null)[],
                },
              ],
        ),
        log: options.log,
        formatY: options.format ?? ((v) => formatSignificant(v, 3)),
      }),
  };
}

/** Export of a canvas-drawn chart: PNG as drawn; SVG wraps the same raster. */
export function canvasExport(title: string, chart: CanvasChart, palette: Palette): ChartExport {
  return {
    title,
    png: () => titledPng(title, chart.snapshotCanvas(), palette),
    svg: () => {
      const { width, height } = chart.cssSize;
      return rasterSvg(
        title,
        chart.snapshotCanvas().toDataURL('image/png'),
        width,
        height,
        exportStyle(palette),
      );
    },
  };
}

/** The message that saves `chart` in `format`. */
export function exportMessage(
  runId: string,
  chart: ChartExport,
  format: 'png' | 'svg',
): Extract<ToHost, { kind: 'export' }> {
  const name = exportFileName(runId, chart.title, format);
  if (format === 'svg') return { kind: 'export', format, name, data: chart.svg() };
  const url = chart.png();
  return { kind: 'export', format, name, data: url.slice(url.indexOf(',') + 1) };
}

/** "PNG" and "SVG" buttons; `get` returns the chart at click time (undefined: nothing drawn). */
export function exportButtons(
  get: () => ChartExport | undefined,
  runId: () => string,
  post: (msg: ToHost) => void,
): HTMLElement {
  const box = el('span', 'export-buttons');
  for (const format of ['png', 'svg'] as const) {
    const button = el('vscode-button', 'export-button') as VscodeButton;
    button.secondary = true;
    button.textContent = format.toUpperCase();
    button.dataset.format = format;
    button.title = `Save this chart as ${format.toUpperCase()}`;
    button.addEventListener('click', (e) => {
      e.stopPropagation();
      const chart = get();
      if (chart) post(exportMessage(runId(), chart, format));
    });
    box.append(button);
  }
  return box;
}
