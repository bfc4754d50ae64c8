/**
 * Export of what the dashboard shows: a line chart as a vector SVG, any chart as PNG, and the
 * run's metrics as CSV. The builders are pure (strings in, strings out) and unit-tested; the
 * dashboard posts their output to the host, which asks where to save it.
 */
import { runCsvText } from '../../core/export/csv';
import type { RunModel } from './state';

export { csvField } from '../../core/export/csv';
import { niceTicks } from '../charts/histogramGeometry';
import { formatCompact } from '../../core/format';

/**
 * The run's metrics as CSV (core/export/csv.ts defines the columns, shared with
 * `bnn-lab export csv`): one row per plotted report, `reports` the size of a downsampled bucket.
 */
export function runCsv(run: RunModel): string {
  return runCsvText(run);
}

/** Escapes text for SVG content and attribute values. */
export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** Theme colours and font an exported image is drawn with. */
export interface ExportStyle {
  background: string;
  foreground: string;
  muted: string;
  grid: string;
  fontFamily: string;
}

/** A line chart to render as SVG; `values` align with `x`, `null` is a gap. */
export interface SvgLineChart {
  title: string;
  width: number;
  height: number;
  style: ExportStyle;
  x: readonly number[];
  series: readonly {
    label: string;
    color: string;
    dash?: readonly number[];
    values: readonly (number | null | undefined)[];
  }[];
  /** Log-10 y axis (non-positive values are gaps). */
  log?: boolean;
  /** Tick label of a y value. */
  formatY: (value: number) => string;
}

const PAD = { left: 56, right: 14, top: 40, bottom: 26 };

function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    const v = 10 ** e;
    if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
  }
  return out.length > 0 ? out : [lo, hi];
}

/** A self-contained SVG document of a line chart: title, legend, axes, grid, one path per series. */
export function lineChartSvg(chart: SvgLineChart): string {
  const { width, height, style } = chart;
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const usable = (v: number | null | undefined): v is number =>
    typeof v === 'number' && Number.isFinite(v) && (!chart.log || v > 0);
  let yLo = Infinity;
  let yHi = -Infinity;
  for (const s of chart.series) {
    for (const v of s.values) {
      if (!usable(v)) continue;
      yLo = Math.min(yLo, v);
      yHi = Math.max(yHi, v);
    }
  }
  if (!(yLo <= yHi)) [yLo, yHi] = chart.log ? [0.1, 1] : [0, 1];
  if (yLo === yHi) [yLo, yHi] = chart.log ? [yLo / 2, yHi * 2] : [yLo - 0.5, yHi + 0.5];
  const xs = chart.x;
  const xLo = xs.length ? xs[0] : 0;
  const xHi = xs.length > 1 ? xs[xs.length - 1] : xLo + 1;
  const fy = (v: number): number => (chart.log ? Math.log10(v) : v);
  const [fLo, fHi] = [fy(yLo), fy(yHi)];
  const px = (x: number): number => PAD.left + ((x - xLo) / (xHi - xLo || 1)) * plotW;
  const py = (v: number): number => PAD.top + plotH - ((fy(v) - fLo) / (fHi - fLo || 1)) * plotH;
  const r = (v: number): string => v.toFixed(1);
  const font = `font-family="${escapeXml(style.fontFamily)}" font-size="11"`;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="100%" height="100%" fill="${escapeXml(style.background)}"/>`,
    `<text x="${PAD.left}" y="16" ${font} font-weight="bold" fill="${escapeXml(style.foreground)}">${escapeXml(chart.title)}</text>`,
  ];
  let legendX = PAD.left;
  for (const s of chart.series) {
    parts.push(
      `<rect x="${r(legendX)}" y="24" width="10" height="3" fill="${escapeXml(s.color)}"/>`,
      `<text x="${r(legendX + 14)}" y="29" ${font} fill="${escapeXml(style.foreground)}">${escapeXml(s.label)}</text>`,
    );
    legendX += 24 + s.label.length * 6.5;
  }
  const yTicks = chart.log ? logTicks(yLo, yHi) : niceTicks(yLo, yHi, Math.max(2, plotH / 30));
  for (const v of yTicks) {
    const y = r(py(v));
    parts.push(
      `<line x1="${PAD.left}" x2="${PAD.left + plotW}" y1="${y}" y2="${y}" stroke="${escapeXml(style.grid)}" stroke-width="1"/>`,
      `<text x="${PAD.left - 4}" y="${y}" ${font} fill="${escapeXml(style.muted)}" text-anchor="end" dominant-baseline="middle">${escapeXml(chart.formatY(v))}</text>`,
    );
  }
  for (const v of niceTicks(xLo, xHi, Math.max(2, plotW / 80))) {
    parts.push(
      `<text x="${r(px(v))}" y="${height - 8}" ${font} fill="${escapeXml(style.muted)}" text-anchor="middle">${escapeXml(formatCompact(v))}</text>`,
    );
  }
  parts.push(
    `<line x1="${PAD.left}" x2="${PAD.left + plotW}" y1="${PAD.top + plotH}" y2="${PAD.top + plotH}" stroke="${escapeXml(style.muted)}"/>`,
  );
  for (const s of chart.series) {
    let d = '';
    let pen = false;
    s.values.forEach((v, i) => {
      if (!usable(v) || i >= xs.length) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${r(px(xs[i]))} ${r(py(v))}`;
      pen = true;
    });
    if (d === '') continue;
    const dash = s.dash?.length ? ` stroke-dasharray="${s.dash.join(' ')}"` : '';
    parts.push(
      `<path d="${d}" fill="none" stroke="${escapeXml(s.color)}" stroke-width="1.5"${dash}><title>${escapeXml(s.label)}</title></path>`,
    );
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** An SVG wrapping a raster (for canvas-drawn charts: heatmap, ridgeline, histograms). */
export function rasterSvg(
  title: string,
  pngDataUrl: string,
  width: number,
  height: number,
  style: ExportStyle,
): string {
  const top = 24;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height + top}" viewBox="0 0 ${width} ${height + top}">`,
    `<rect width="100%" height="100%" fill="${escapeXml(style.background)}"/>`,
    `<text x="4" y="16" font-family="${escapeXml(style.fontFamily)}" font-size="11" font-weight="bold" fill="${escapeXml(style.foreground)}">${escapeXml(title)}</text>`,
    `<image x="0" y="${top}" width="${width}" height="${height}" href="${escapeXml(pngDataUrl)}"/>`,
    '</svg>',
    '',
  ].join('\n');
}

/** A file name from a run id and a chart title: `run-1 loss.png` → `run-1-loss.png`. */
export function exportFileName(runId: string, title: string, ext: string): string {
  const slug = `${runId}-${title}`
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  return `${slug || 'bnn-lab'}.${ext}`;
}
