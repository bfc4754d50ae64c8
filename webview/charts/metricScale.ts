/**
 * How each metric sits on a chart axis: its kind of values, unit, axis title, y range, tick labels
 * and cursor readout, keyed by the JSON names of docs/metrics.md (and `auxLoss`, `lnsAux`, `tau`
 * of docs/lns.md). The charts read their axes from here, so a ratio is never drawn as a loss and a
 * signed sum such as `lnsAux` (≈ −67,000) is never clamped into [0, 1]. Pure: no DOM, no uPlot.
 */
import {
  formatCompact,
  formatInteger,
  formatLoss,
  formatPercent,
  formatPercentTicks,
  formatSignificant,
} from '../../core/format';

/**
 * - `ratio`: a fraction in [0, 1], shown as a percentage;
 * - `signed`: unbounded, may be negative (a loss term, a sum over weights);
 * - `positive`: unbounded and ≥ 0 (a loss, a learning rate, a scale);
 * - `count`: a whole number ≥ 0 (weights in a bin, parameters, steps);
 * - `bounded`: a plain number in a known interval (sign entropy in [0, 1] bit, τ in (0, 1)).
 */
export type ScaleKind = 'ratio' | 'signed' | 'positive' | 'count' | 'bounded';

export interface MetricScale {
  /** JSON name. */
  readonly key: string;
  readonly kind: ScaleKind;
  /** What the axis counts in: `%`, `nats`, `bits`, `weights`, `steps`; '' when unitless. */
  readonly unit: string;
  /** Axis title: a short name with the unit, `Dead weights (%)`, `Σ ℓ̃ (sum over weights)`. */
  readonly title: string;
  /** Percent decimals (ratios) or significant digits (other kinds) of a readout. */
  readonly digits: number;
  /** The interval a `bounded` metric lives in. */
  readonly bounds?: readonly [number, number];
}

function scale(
  key: string,
  kind: ScaleKind,
  name: string,
  unit: string,
  digits: number,
  bounds?: readonly [number, number],
): MetricScale {
  const suffix = unit === '' ? '' : ` (${unit})`;
  return { key, kind, unit, title: `${name}${suffix}`, digits, bounds };
}

/** Every metric a chart draws, by JSON name. */
export const METRIC_SCALES: Readonly<Record<string, MetricScale>> = {
  step: scale('step', 'count', 'Step', 'optimizer steps', 3),
  loss: scale('loss', 'positive', 'Loss', 'cross-entropy, nats', 4),
  testLoss: scale('testLoss', 'positive', 'Test loss', 'cross-entropy, nats', 4),
  accuracy: scale('accuracy', 'ratio', 'Accuracy', '%', 2),
  testAccuracy: scale('testAccuracy', 'ratio', 'Test accuracy', '%', 2),
  learningRate: scale('learningRate', 'positive', 'Learning rate', '', 3),
  examplesPerSecond: scale('examplesPerSecond', 'positive', 'Throughput', 'examples/s', 3),
  params: scale('params', 'count', 'Params', 'weights', 0),
  count: scale('count', 'count', 'Count', 'weights', 0),
  weight: scale('weight', 'signed', 'Latent weight w', '', 2),
  absMean: scale('absMean', 'positive', 'Mean |w|', '', 3),
  quantizationError: scale('quantizationError', 'ratio', 'Quantization error', '%', 1),
  deadWeightRatio: scale('deadWeightRatio', 'ratio', 'Dead weights', '%', 2),
  starvedWeightRatio: scale('starvedWeightRatio', 'ratio', 'Starved weights', '%', 2),
  signBalance: scale('signBalance', 'ratio', 'Sign balance, +1', '%', 2),
  signEntropyBits: scale('signEntropyBits', 'bounded', 'Sign entropy', 'bits', 3, [0, 1]),
  flipRate: scale('flipRate', 'ratio', 'Flip rate', '% per step', 3),
  frozenRatio: scale('frozenRatio', 'ratio', 'Frozen weights', '%', 1),
  flipFromStart: scale('flipFromStart', 'ratio', 'Flipped vs start', '%', 2),
  disagreement: scale('disagreement', 'ratio', 'Mapper disagreement', '%', 2),
  auxLoss: scale('auxLoss', 'signed', 'Σ ℓ̃ of the layer', 'sum over weights', 3),
  lnsAux: scale('lnsAux', 'signed', 'Σ ℓ̃, all layers', 'sum over weights', 3),
  tau: scale('tau', 'bounded', 'τ', 'quantile', 3, [0, 1]),
};

/**
 * The scale of `key`; a method's loss may come as `loss:<name>` (the method-scalar stream), and an
 * unknown name is a signed, unitless value.
 */
export function metricScale(key: string): MetricScale {
  const name = key.startsWith('loss:') ? key.slice(5) : key;
  return METRIC_SCALES[name] ?? scale(name, 'signed', name, '', 3);
}

/** One value for a readout: `97.42%`, `-67,012`, `12,345`, `0.2931`. */
export function formatScaled(s: MetricScale, value: number | null | undefined): string {
  switch (s.kind) {
    case 'ratio':
      return formatPercent(value, s.digits);
    case 'count':
      return formatInteger(value);
    case 'positive':
      return s.digits >= 4 ? formatLoss(value) : formatSignificant(value, s.digits);
    default:
      return formatSignificant(value, s.digits);
  }
}

/**
 * Tick labels of an axis: percentages with as many decimals as the spacing needs for ratios,
 * `12k`-style for counts and for any axis whose ticks reach 10,000 in magnitude (`-67k`), else
 * significant digits with no trailing zeros.
 */
export function scaleTicks(s: MetricScale, values: readonly number[]): string[] {
  if (s.kind === 'ratio') return formatPercentTicks(values);
  const big = values.some((v) => Math.abs(v) >= 10_000);
  return values.map((v) => {
    if (!Number.isFinite(v)) return '';
    if (s.kind === 'count' || big) return formatCompact(v);
    return formatSignificant(v, 3);
  });
}

/**
 * The y range of a linear axis showing values in `[min, max]`: 6 % of the spread added on both
 * sides (10 % of the value, or 1e-4, when all values are equal), then
 * - `ratio`: kept inside [0, 1] (unless a value lies outside: a bug upstream, still drawn);
 * - `positive`, `count`: not below 0 when every value is ≥ 0;
 * - `bounded`: kept inside `bounds` (values outside still drawn);
 * - `signed`: never clamped.
 * Always contains `[min, max]`; `[0, 1]` when there is no finite data.
 *
 * @example scaleRange(metricScale('lnsAux'), -67_000, -66_000) // → [-67_060, -65_940]
 */
export function scaleRange(
  s: MetricScale,
  min: number | null | undefined,
  max: number | null | undefined,
): [number, number] {
  if (min == null || max == null || !Number.isFinite(min) || !Number.isFinite(max) || max < min) {
    return [0, 1];
  }
  const pad = max > min ? (max - min) * 0.06 : Math.max(Math.abs(max) * 0.1, 1e-4);
  let lo = min - pad;
  let hi = max + pad;
  const clampTo = (a: number, b: number): void => {
    lo = Math.min(Math.max(a, lo), min);
    hi = Math.max(Math.min(b, hi), max);
  };
  if (s.kind === 'ratio') clampTo(0, 1);
  else if (s.kind === 'bounded' && s.bounds) clampTo(s.bounds[0], s.bounds[1]);
  else if ((s.kind === 'positive' || s.kind === 'count') && min >= 0) lo = Math.max(0, lo);
  if (!(hi > lo)) hi = lo + 1e-4;
  return [lo, hi];
}

/**
 * An axis title that fits `roomPx` (about `charPx` per character of the 10 px title font): the
 * full title, else the title without its parenthesised unit (`Loss (cross-entropy, nats)` →
 * `Loss`), else that cut at a word boundary. Never wider than the plot it labels.
 */
export function fitTitle(title: string, roomPx: number, charPx = 5.8): string {
  const fits = (t: string): boolean => t.length * charPx <= roomPx;
  if (fits(title)) return title;
  const bare = title.replace(/\s*\([^)]*\)\s*$/, '');
  if (fits(bare)) return bare;
  const words = bare.split(' ');
  const joined = (): string => words.join(' ').replace(/,$/, '');
  while (words.length > 1 && !fits(joined())) words.pop();
  return joined();
}
