/**
 * "Watch": the binary layers most in trouble, one per BNN failure mode, for the line under the
 * stats strip (most useful in the narrow side view, where the cards are far down). Pure.
 */
import type { LayerTelemetry } from '../../core/protocol';
import { METRICS, formatMetric, type MetricSpec } from '../shared/metricVocabulary';

export interface TroubleEntry {
  /** What the figure says: `most dead`, `most frozen`, `fewest flips`. */
  label: string;
  metric: MetricSpec;
  layer: string;
  value: number;
  /** `dead conv2d_2 4.2%` */
  text: string;
}

type Pick = { label: string; key: 'deadWeightRatio' | 'frozenRatio' | 'flipRate'; high: boolean };

/**
 * The layer with the most dead weights, the most frozen signs and the lowest flip rate (signs
 * that stopped moving), from each layer's latest telemetry. Layers without a finite value are
 * skipped; with fewer than two binary layers there is nothing to compare and the list is empty.
 */
export function troubleLayers(latest: readonly (LayerTelemetry | undefined)[]): TroubleEntry[] {
  const layers = latest.filter((l): l is LayerTelemetry => l !== undefined);
  if (layers.length < 2) return [];
  const picks: Pick[] = [
    { label: 'most dead', key: 'deadWeightRatio', high: true },
    { label: 'most frozen', key: 'frozenRatio', high: true },
    { label: 'fewest flips', key: 'flipRate', high: false },
  ];
  const out: TroubleEntry[] = [];
  for (const { label, key, high } of picks) {
    let best: LayerTelemetry | undefined;
    for (const l of layers) {
      const v = l[key];
      if (typeof v !== 'number' || !Number.isFinite(v)) continue;
      if (!best || (high ? v > best[key] : v < best[key])) best = l;
    }
    if (!best) continue;
    const metric = METRICS[key];
    out.push({
      label,
      metric,
      layer: best.name,
      value: best[key],
      text: `${label}: ${best.name} ${formatMetric(metric, best[key])}`,
    });
  }
  return out;
}
