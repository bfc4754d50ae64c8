/**
 * The model summary table: one row per layer with weights, Larq's summary columns (layer, kind,
 * kernel shape, params, binary, quantizer) followed by the BNN Lab metrics of docs/metrics.md.
 * Pure: building rows and sorting them, so both are unit-tested without a DOM.
 */
import type { LayerInfo, LayerTelemetry } from '../../core/protocol';
import {
  MISSING,
  formatCompact,
  formatInteger,
  formatPercent,
  formatShape,
  formatSignificant,
} from '../../core/format';
import { compareSortKeys, nextSortOf, type SortDirection } from '../shared/sorting';
import { METRICS, metricColumn } from '../shared/metricVocabulary';

export type { SortDirection };

/** The sortable columns, in display order. */
export const TABLE_COLUMNS = [
  'name',
  'kind',
  'shape',
  'params',
  'binary',
  'quantizer',
  'absMean',
  'quantizationError',
  'deadWeightRatio',
  'flipRate',
  'frozenRatio',
  'signBalance',
] as const;
export type TableColumn = (typeof TABLE_COLUMNS)[number];

/** Header label and tooltip of each column (metric columns named as in docs/metrics.md). */
export const COLUMN_LABELS: Record<TableColumn, { label: string; title: string }> = {
  name: { label: 'Layer', title: 'Layer name' },
  kind: { label: 'Kind', title: 'Layer class' },
  shape: {
    label: 'Kernel',
    title: 'Kernel shape in TF.js order ([kh, kw, cin, cout] or [in, out])',
  },
  params: metricColumn(METRICS.params),
  binary: { label: 'Binary', title: 'Weights binarized in the forward pass' },
  quantizer: { label: 'Quantizer', title: 'Kernel quantizer' },
  absMean: metricColumn(METRICS.absMean),
  quantizationError: metricColumn(METRICS.quantizationError),
  deadWeightRatio: metricColumn(METRICS.deadWeightRatio),
  flipRate: metricColumn(METRICS.flipRate),
  frozenRatio: metricColumn(METRICS.frozenRatio),
  signBalance: metricColumn(METRICS.signBalance),
};

/** One table row: the layer's static info and its latest telemetry (binary layers only). */
export interface LayerRow {
  /** Position in the model, the tie-breaker that keeps sorting stable. */
  order: number;
  info: LayerInfo;
  latest: LayerTelemetry | undefined;
}

/** The value a column sorts by: a number, a string, or undefined (always sorted last). */
export function sortValue(row: LayerRow, column: TableColumn): number | string | undefined {
  const { info, latest } = row;
  switch (column) {
    case 'name':
    case 'kind':
    case 'quantizer':
      return info[column] || undefined;
    case 'shape':
      // By element count, as a kernel's size is what one compares.
      return info.shape.length ? info.shape.reduce((a, b) => a * b, 1) : undefined;
    case 'params':
      return info.params;
    case 'binary':
      return info.binary ? 1 : 0;
    default: {
      const v = latest?.[column];
      return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
    }
  }
}

/**
 * Rows sorted by `column`; missing values go last in both directions, ties keep model order.
 * Strings compare naturally (`conv2d_2` before `conv2d_10`).
 */
export function sortRows(
  rows: readonly LayerRow[],
  column: TableColumn,
  direction: SortDirection,
): LayerRow[] {
  return rows
    .map((row) => ({ row, key: sortValue(row, column) }))
    .sort((a, b) => compareSortKeys(a.key, b.key, direction, a.row.order - b.row.order))
    .map((x) => x.row);
}

/** The text of every cell of a row, in {@link TABLE_COLUMNS} order. */
export function rowCells(row: LayerRow): string[] {
  const { info, latest } = row;
  return TABLE_COLUMNS.map((column) => {
    switch (column) {
      case 'name':
        return info.name;
      case 'kind':
        return info.kind || MISSING;
      case 'shape':
        return formatShape(info.shape);
      case 'params':
        return info.params >= 1e5 ? formatCompact(info.params) : formatInteger(info.params);
      case 'binary':
        return info.binary ? 'yes' : 'no';
      case 'quantizer':
        return info.quantizer || MISSING;
      case 'absMean':
        return formatSignificant(latest?.absMean, 3);
      case 'flipRate':
        return formatPercent(latest?.flipRate, 3);
      default:
        return formatPercent(latest?.[column], 1);
    }
  });
}

/** Whether a column holds numbers (right-aligned). */
export function isNumericColumn(column: TableColumn): boolean {
  return !['name', 'kind', 'shape', 'binary', 'quantizer'].includes(column);
}

/** Next sort after a click on `column`: a new column starts descending for metrics. */
export function nextSort(
  current: { column: TableColumn; direction: SortDirection } | undefined,
  column: TableColumn,
): { column: TableColumn; direction: SortDirection } {
  return nextSortOf(current, column, isNumericColumn(column));
}
