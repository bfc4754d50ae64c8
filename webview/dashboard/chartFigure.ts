/** A chart card: a title with a tooltip, PNG/SVG export buttons and the chart's host. */
import type uPlot from 'uplot';
import { el } from '../shared/dom';
import { axisTitle, type MetricSpec } from '../shared/metricVocabulary';
import { exportButtons, uplotExport, type ChartExport } from './chartExport';
import type { SectionContext } from './context';

export function chartFigure(
  ctx: SectionContext,
  title: string,
  tooltip: string,
  host: HTMLElement,
  getExport: () => ChartExport | undefined,
): HTMLElement {
  const figure = el('figure', 'chart-card');
  const caption = el('figcaption', 'chart-title');
  const text = el('span', 'chart-title-text', title);
  text.title = tooltip;
  caption.append(
    text,
    el('span', 'spacer'),
    exportButtons(
      getExport,
      () => ctx.runIdText,
      (msg) => ctx.host.post(msg),
    ),
  );
  figure.append(caption, host);
  return figure;
}

/** The export of a line chart under `title`. */
export function lineExport(
  ctx: SectionContext,
  title: string,
  chart: { uplot: uPlot },
): ChartExport {
  return uplotExport(title, chart.uplot, ctx.palette);
}

/**
 * A chart card for one metric (titled with its unit, `data-metric` set) with a fresh host that
 * the page resizes and watches for visibility.
 */
export function metricFigure(
  ctx: SectionContext,
  spec: MetricSpec,
  tooltip: string,
  getExport: () => ChartExport | undefined,
): { figure: HTMLElement; host: HTMLElement } {
  const host = el('div', 'chart-host');
  const figure = chartFigure(ctx, axisTitle(spec), tooltip, host, getExport);
  figure.dataset.metric = spec.key;
  ctx.observeSize(host);
  ctx.observeVisibility(host);
  return { figure, host };
}
