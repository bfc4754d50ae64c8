/**
 * The one vocabulary of metrics the dashboard shows: for every metric named in docs/metrics.md
 * (and the run-level and method scalars of docs/lns.md), its label, short column label, tooltip,
 * unit, how its values are formatted and which axis range fits them. Charts, the layer table and
 * the fine-tune table take their names and formats from here, so a metric reads the same
 * everywhere.
 */
import {
  formatCompact,
  formatInteger,
  formatLoss,
  formatNumberTicks,
  formatPercent,
  formatPercentTicks,
  formatSignificant,
} from '../../core/format';

/**
 * How a metric's values behave:
 * - `ratio`: a fraction in [0, 1], shown as a percentage;
 * - `signed`: an unbounded value that may be negative (a loss term, a sum);
 * - `positive`: an unbounded value ≥ 0 (a loss, a learning rate, a scale);
 * - `count`: a non-negative whole number.
 */
export type MetricKind = 'ratio' | 'signed' | 'positive' | 'count';

export interface MetricSpec {
  /** The JSON name (docs/metrics.md). */
  readonly key: string;
  /** Chart title and long label. */
  readonly label: string;
  /** Column header and legend label. */
  readonly short: string;
  /** Tooltip: what the number is, in one sentence. */
  readonly title: string;
  readonly kind: MetricKind;
  /** Axis unit: `%` for ratios, '' when the value has none. */
  readonly unit: string;
  /** Decimals of a percentage (ratios only). */
  readonly digits: number;
}

function metric(
  key: string,
  kind: MetricKind,
  label: string,
  short: string,
  title: string,
  digits = 2,
): MetricSpec {
  return { key, kind, label, short, title, unit: kind === 'ratio' ? '%' : '', digits };
}

/** Every metric by its JSON name. */
export const METRICS = {
  loss: metric('loss', 'positive', 'Loss', 'loss', 'Cross-entropy loss of the classifier'),
  accuracy: metric(
    'accuracy',
    'ratio',
    'Accuracy',
    'acc.',
    'Fraction of examples classified right',
  ),
  learningRate: metric(
    'learningRate',
    'positive',
    'Learning rate',
    'lr',
    'Optimizer learning rate',
  ),
  params: metric('params', 'count', 'Params', 'Params', 'Weight elements of the layer'),
  absMean: metric(
    'absMean',
    'positive',
    'Mean |w|',
    'mean|w|',
    'absMean: mean |w| of the latent weights (the layer-wide scale α)',
  ),
  quantizationError: metric(
    'quantizationError',
    'ratio',
    'Quantization error',
    'QE',
    'quantizationError: Σ (W − α_c·sgn W)² / Σ W², relative and channel-scaled, in [0, 1]',
    1,
  ),
  deadWeightRatio: metric(
    'deadWeightRatio',
    'ratio',
    'Dead weights',
    'Dead',
    'deadWeightRatio: fraction of latent weights with |w| > Q(τ) (ReCU), per layer',
  ),
  starvedWeightRatio: metric(
    'starvedWeightRatio',
    'ratio',
    'Starved weights',
    'Starved',
    "starvedWeightRatio: fraction of weights beyond the quantizer's clip, which get no gradient (Larq)",
  ),
  signBalance: metric(
    'signBalance',
    'ratio',
    'Sign balance',
    '+1',
    'signBalance: fraction of binary weights equal to +1',
  ),
  signEntropyBits: metric(
    'signEntropyBits',
    'positive',
    'Sign entropy',
    'H',
    'signEntropyBits: entropy of the signs in bits, 1 bit = balanced',
  ),
  flipRate: metric(
    'flipRate',
    'ratio',
    'Flip rate',
    'Flip',
    'flipRate: mean per-step sign-flip fraction since the previous report (Larq FlipRatio)',
    3,
  ),
  frozenRatio: metric(
    'frozenRatio',
    'ratio',
    'Frozen weights',
    'Frozen',
    'frozenRatio: fraction of weights whose sign never changed since the run started',
    1,
  ),
  flipFromStart: metric(
    'flipFromStart',
    'ratio',
    'Flipped vs start',
    'Flipped',
    'flipFromStart: fine-tune, fraction of binary weights whose sign differs from the source checkpoint',
  ),
  disagreement: metric(
    'disagreement',
    'ratio',
    'Mapper disagreement',
    'Disagree',
    'disagreement: LNS, mean(sgn(f(W)) ≠ sgn(W)), where the mapper overrules sgn',
  ),
  auxLoss: metric(
    'auxLoss',
    'signed',
    'Auxiliary loss',
    'aux',
    'auxLoss: LNS, the loss-corrected auxiliary loss Σ ℓ̃ of the layer (a sum over its weights, often negative), mean since the last report',
  ),
  lnsAux: metric(
    'lnsAux',
    'signed',
    'LNS auxiliary loss (all layers)',
    'lnsAux',
    'lnsAux: LNS, Σ ℓ̃ over every binary weight of every layer. The loss correction makes it negative and large (a sum over all weights); its trend matters, not its value',
  ),
  tau: metric(
    'tau',
    'positive',
    'τ',
    'τ',
    "ReCU's τ: the quantile that sets the dead-weight threshold",
  ),
} as const satisfies Record<string, MetricSpec>;

export type MetricName = keyof typeof METRICS;

/** The spec of a known metric, or a plain signed one named after `key` (a method's own loss). */
export function metricSpec(key: string): MetricSpec {
  return (METRICS as Record<string, MetricSpec>)[key] ?? metric(key, 'signed', key, key, key);
}

/** One value, as the metric's kind reads: `97.42%`, `-67,012`, `12,345`. */
export function formatMetric(spec: MetricSpec, value: number | null | undefined): string {
  switch (spec.kind) {
    case 'ratio':
      return formatPercent(value, spec.digits);
    case 'count':
      return formatInteger(value);
    case 'positive':
      return spec.key === 'loss' ? formatLoss(value) : formatSignificant(value, 3);
    case 'signed':
      return formatSignificant(value, 3);
  }
}

/** Tick labels of an axis holding this metric. */
export function metricTicks(spec: MetricSpec, values: readonly number[]): string[] {
  switch (spec.kind) {
    case 'ratio':
      return formatPercentTicks(values);
    case 'count':
      return values.map((v) => (Number.isFinite(v) ? formatCompact(v) : ''));
    default:
      return formatNumberTicks(values);
  }
}

/**
 * The y range of a linear axis showing values in [min, max] of this metric: a margin of 6 % of
 * the spread (or of the value when all are equal), clamped to [0, 1] for ratios and to ≥ 0 for
 * counts and positive values, never clamped for signed values. Always contains [min, max].
 */
export function metricRange(
  spec: MetricSpec,
  min: number | null | undefined,
  max: number | null | undefined,
): [number, number] {
  if (min == null || max == null || !Number.isFinite(min) || !Number.isFinite(max)) {
    return [0, 1];
  }
  const pad = max > min ? (max - min) * 0.06 : Math.max(Math.abs(max) * 0.1, 1e-4);
  let lo = min - pad;
  let hi = max + pad;
  if (spec.kind === 'ratio') {
    lo = Math.max(0, lo);
    hi = Math.min(1, hi);
    // A ratio outside [0, 1] is a bug upstream, but it must still be visible.
    lo = Math.min(lo, min);
    hi = Math.max(hi, max);
  } else if (spec.kind !== 'signed' && min >= 0) {
    lo = Math.max(0, lo);
  }
  return [lo, hi];
}

/** Axis title: the label with its unit, `Dead weights (%)`. */
export function axisTitle(spec: MetricSpec): string {
  return spec.unit ? `${spec.label} (${spec.unit})` : spec.label;
}

/** A table column for this metric: its short label as header, its sentence as tooltip. */
export function metricColumn(spec: MetricSpec): { label: string; title: string } {
  return { label: spec.short, title: spec.title };
}
