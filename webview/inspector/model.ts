/**
 * Pure parts of the checkpoint inspector page: the layer table's columns, sorting and cell text,
 * the model summary, the compare and series tables. No DOM, so all of it is unit-tested.
 */
import type {
  CompareReport,
  InspectLayer,
  InspectStats,
  InspectSummary,
  LayerTelemetry,
  SeriesReport,
} from '../../core/protocol';
import {
  MISSING,
  formatCompact,
  formatInteger,
  formatPercent,
  formatShape,
  formatSignificant,
} from '../../core/format';
import { collator, compareSortKeys, nextSortOf, type SortDirection } from '../shared/sorting';
import { METRICS, metricColumn } from '../shared/metricVocabulary';

export type { SortDirection };

/** The layer table's sortable columns, in display order. */
export const INSPECTOR_COLUMNS = [
  'name',
  'shape',
  'dtype',
  'binary',
  'params',
  'absMean',
  'quantizationError',
  'deadWeightRatio',
  'starvedWeightRatio',
  'signBalance',
  'signEntropyBits',
] as const;
export type InspectorColumn = (typeof INSPECTOR_COLUMNS)[number];
export interface SortState {
  column: InspectorColumn;
  direction: SortDirection;
}

/** Header label and tooltip of each column (names as in docs/metrics.md). */
export const INSPECTOR_COLUMN_LABELS: Record<InspectorColumn, { label: string; title: string }> = {
  name: { label: 'Tensor', title: 'Weight tensor name in the file' },
  shape: { label: 'Shape', title: 'Shape as stored in the file' },
  dtype: { label: 'Dtype', title: 'Stored dtype' },
  binary: {
    label: 'Binary',
    title: 'Binarized in the forward pass: yes, no or ? (unknown); hover a cell for the reason',
  },
  params: { label: 'Params', title: 'Elements of the tensor' },
  absMean: metricColumn(METRICS.absMean),
  quantizationError: metricColumn(METRICS.quantizationError),
  deadWeightRatio: metricColumn(METRICS.deadWeightRatio),
  starvedWeightRatio: {
    label: METRICS.starvedWeightRatio.short,
    title: `${METRICS.starvedWeightRatio.title}; — when the clip is unknown`,
  },
  signBalance: metricColumn(METRICS.signBalance),
  signEntropyBits: metricColumn(METRICS.signEntropyBits),
};

/** Whether a column holds numbers (right-aligned, sorted descending first). */
export function isNumericColumn(column: InspectorColumn): boolean {
  return !['name', 'shape', 'dtype', 'binary'].includes(column);
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** `binary` as a sortable number: yes 2, unknown 1, no 0. */
function binaryRank(binary: boolean | null): number {
  return binary === true ? 2 : binary === null ? 1 : 0;
}

/** The value a column sorts by; undefined (no statistics) always sorts last. */
export function layerSortValue(
  layer: InspectLayer,
  column: InspectorColumn,
): number | string | undefined {
  switch (column) {
    case 'name':
    case 'dtype':
      return layer[column];
    case 'shape':
    case 'params':
      return elementCount(layer.shape);
    case 'binary':
      return binaryRank(layer.binary);
    default: {
      const v = layer.stats?.[column];
      return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
    }
  }
}

/**
 * Indices of `layers` in table order: sorted by `sort` (file order without one), missing values
 * last in both directions, ties in file order. Names compare naturally (`layer2` < `layer10`).
 */
export function sortLayers(layers: readonly InspectLayer[], sort: SortState | undefined): number[] {
  const order = layers.map((_, i) => i);
  if (!sort) return order;
  const keys = layers.map((layer) => layerSortValue(layer, sort.column));
  return order.sort((a, b) => compareSortKeys(keys[a], keys[b], sort.direction, a - b));
}

/** Next sort after a click on a header: the same column flips; a metric starts descending. */
export function nextSort(current: SortState | undefined, column: InspectorColumn): SortState {
  return nextSortOf(current, column, isNumericColumn(column));
}

/** `yes` / `no` / `?` for `binary`. */
export function formatBinary(binary: boolean | null): string {
  return binary === true ? 'yes' : binary === false ? 'no' : '?';
}

/** Text of every cell of a layer row, in {@link INSPECTOR_COLUMNS} order. */
export function layerCells(layer: InspectLayer): string[] {
  const s = layer.stats;
  return INSPECTOR_COLUMNS.map((column) => {
    switch (column) {
      case 'name':
        return layer.name;
      case 'shape':
        return formatShape(layer.shape);
      case 'dtype':
        return layer.dtype;
      case 'binary':
        return formatBinary(layer.binary);
      case 'params': {
        const n = elementCount(layer.shape);
        return n >= 1e5 ? formatCompact(n) : formatInteger(n);
      }
      case 'absMean':
        return formatSignificant(s?.absMean, 3);
      case 'signEntropyBits':
        return formatSignificant(s?.signEntropyBits, 3);
      case 'quantizationError':
        return formatPercent(s?.quantizationError, 1);
      default:
        return formatPercent(s?.[column], 1);
    }
  });
}

/** A byte count: `4936` → `"4.82 KiB"`, `46_834_825` → `"44.7 MiB"`. */
export function formatBytes(bytes: number | null | undefined): string {
  if (typeof bytes !== 'number' || !Number.isFinite(bytes)) return MISSING;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${formatSignificant(value, 3)} ${units[unit]}`;
}

/** The model summary as label/value pairs, in Larq's vocabulary. */
export function summaryItems(
  summary: InspectSummary,
): { label: string; value: string; title: string }[] {
  const share = summary.params > 0 ? summary.binaryParams / summary.params : undefined;
  return [
    { label: 'Params', value: formatInteger(summary.params), title: 'All float weight elements' },
    {
      label: 'Binary params',
      value:
        share === undefined
          ? formatInteger(summary.binaryParams)
          : `${formatInteger(summary.binaryParams)} (${formatPercent(share, 1)})`,
      title: 'Elements of the tensors marked binary',
    },
    {
      label: 'Float32 size',
      value: formatBytes(summary.bytesFloat32),
      title: '4 bytes per parameter',
    },
    {
      label: 'Packed size',
      value: formatBytes(summary.bytesPacked),
      title: 'Binary weights at 1 bit, the rest float32',
    },
    {
      label: 'Compression',
      value: `${formatSignificant(summary.compression, 3)}×`,
      title: 'Float32 size / packed size',
    },
  ];
}

/** `Q(τ) = −absMean · ln(2 − 2τ)`: weights beyond ±Q are dead (docs/metrics.md). */
export function deadThreshold(stats: Pick<InspectStats, 'absMean'>, deadTau: number): number {
  return -stats.absMean * Math.log(2 - 2 * deadTau);
}

/**
 * A layer's statistics in the shape the dashboard's binary (±α) chart draws. A checkpoint has no
 * step history, so flipRate and frozenRatio are NaN and not shown.
 */
export function binaryViewOf(layer: InspectLayer): LayerTelemetry | undefined {
  if (!layer.stats) return undefined;
  return { ...layer.stats, name: layer.name, flipRate: NaN, frozenRatio: NaN };
}

/** `min … max (mean)` of the per-channel α, for the caption of the α chart. */
export function alphaSummary(alpha: readonly number[]): string {
  if (alpha.length === 0) return MISSING;
  let lo = Infinity;
  let hi = -Infinity;
  let sum = 0;
  for (const a of alpha) {
    lo = Math.min(lo, a);
    hi = Math.max(hi, a);
    sum += a;
  }
  return `${alpha.length} channels, α from ${formatSignificant(lo, 3)} to ${formatSignificant(hi, 3)} (mean ${formatSignificant(sum / alpha.length, 3)})`;
}

/** The compare page's name for the sign flips between two files (not the per-step flipRate). */
export const COMPARE_METRIC = {
  label: 'Signs flipped',
  title: 'Fraction of the weights whose sign differs between the two files (zero counts as +)',
};

export interface CompareRow {
  name: string;
  flipRate: number;
  /** `Signs flipped` as shown. */
  text: string;
  binary: boolean | null;
}

/** The compare page's tables: binary, full-precision and unmarked tensors apart. */
export interface CompareSection {
  id: 'binary' | 'full' | 'unknown';
  title: string;
  rows: CompareRow[];
}

const COMPARE_SECTIONS: { id: CompareSection['id']; title: string }[] = [
  { id: 'binary', title: 'Binary tensors' },
  { id: 'full', title: 'Full-precision tensors' },
  { id: 'unknown', title: 'Tensors not marked binary or full precision' },
];

function sectionOf(binary: boolean | null | undefined): CompareSection['id'] {
  return binary === true ? 'binary' : binary === false ? 'full' : 'unknown';
}

/** Compare rows, highest share of flipped signs first, ties by name. */
export function compareRows(report: CompareReport): CompareRow[] {
  return [...report.layers]
    .sort((a, b) => b.flipRate - a.flipRate || collator.compare(a.name, b.name))
    .map((l) => ({
      name: l.name,
      flipRate: l.flipRate,
      text: formatPercent(l.flipRate, 2),
      binary: l.binary ?? null,
    }));
}

/** {@link compareRows} split into sections (empty ones left out), binary tensors first. */
export function compareSections(report: CompareReport): CompareSection[] {
  const rows = compareRows(report);
  return COMPARE_SECTIONS.map(({ id, title }) => ({
    id,
    title,
    rows: rows.filter((r) => sectionOf(r.binary) === id),
  })).filter((s) => s.rows.length > 0);
}

/** Mean share of flipped signs of some rows, weighting each tensor once. */
export function meanFlipRate(rows: readonly CompareRow[]): number | undefined {
  return rows.length ? rows.reduce((a, r) => a + r.flipRate, 0) / rows.length : undefined;
}

/** Metrics shown over a checkpoint series. */
export const SERIES_METRICS = [
  'quantizationError',
  'deadWeightRatio',
  'signBalance',
  'absMean',
  'starvedWeightRatio',
] as const;
export type SeriesMetric = (typeof SERIES_METRICS)[number];

export interface SeriesTable {
  /** Column headers: `from → to` per consecutive pair. */
  pairs: string[];
  rows: { name: string; flips: string[]; frozen: string }[];
}

/**
 * Series table: one row per weight tensor (those with statistics in any checkpoint, in the first
 * checkpoint's order), its flip rate between each consecutive pair and its frozenRatio.
 */
export function seriesTable(report: SeriesReport): SeriesTable {
  const names: string[] = [];
  const seen = new Set<string>();
  for (const checkpoint of report.checkpoints) {
    for (const layer of checkpoint.report.layers) {
      if (layer.stats && !seen.has(layer.name)) {
        seen.add(layer.name);
        names.push(layer.name);
      }
    }
  }
  const frozen = new Map(report.frozenRatio.map((f) => [f.name, f.frozenRatio]));
  const flips = report.pairs.map((p) => new Map(p.layers.map((l) => [l.name, l.flipRate])));
  return {
    pairs: report.pairs.map((p) => `${p.from} → ${p.to}`),
    rows: names.map((name) => ({
      name,
      flips: flips.map((m) => formatPercent(m.get(name), 2)),
      frozen: formatPercent(frozen.get(name), 1),
    })),
  };
}

/** One metric of one tensor over the checkpoints (undefined where a checkpoint lacks it). */
export function seriesValues(
  report: SeriesReport,
  name: string,
  metric: SeriesMetric,
): (number | undefined)[] {
  return report.checkpoints.map((c) => {
    const v = c.report.layers.find((l) => l.name === name)?.stats?.[metric];
    return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
  });
}

/** A series metric's name as the page shows it (the one vocabulary). */
export function seriesMetricLabel(metric: SeriesMetric): string {
  return METRICS[metric].label;
}

/** A metric's value as the series view shows it. */
export function formatSeriesValue(metric: SeriesMetric, value: number | undefined): string {
  return metric === 'absMean' ? formatSignificant(value, 3) : formatPercent(value, 2);
}
