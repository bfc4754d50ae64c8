/**
 * Run comparison, the pure part: one colour per run, the config fields in which the compared runs differ, and a run's
 * layer metrics reduced to one line (the parameter-weighted mean over its binary layers).
 */
import type { TrainConfig } from '../../core/protocol';
import type { ColumnGroup } from '../charts/align';
import type { Palette } from '../shared/theme';
import { LAYER_CHANNELS, type LayerChannel, type RunModel } from './state';

/** The colour of run `index` (0: the run in view), cycling through the palette's hues. */
export function runColor(palette: Palette, index: number): string {
  const hues = [
    palette.blue,
    palette.orange,
    palette.green,
    palette.purple,
    palette.red,
    palette.yellow,
  ];
  return hues[index % hues.length];
}

/** Fields of a config as dotted paths (`dataset.name`, `recu.tauEnd`) and their JSON text. */
function flatten(value: unknown, prefix: string, out: Map<string, string>): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      flatten(v, prefix ? `${prefix}.${k}` : k, out);
    }
    return;
  }
  out.set(prefix, value === undefined ? '' : JSON.stringify(value));
}

/** One config field in which the compared runs differ, and each run's value ('' when unset). */
export interface ConfigDifference {
  field: string;
  values: string[];
}

/**
 * The config fields whose values differ between `configs` (one per run, undefined when a run has
 * no config record), in the order they first appear. A field a config lacks reads as ''.
 */
export function configDiff(configs: readonly (TrainConfig | undefined)[]): ConfigDifference[] {
  const flat = configs.map((c) => {
    const out = new Map<string, string>();
    if (c) flatten(c, '', out);
    return out;
  });
  const fields: string[] = [];
  for (const f of flat) for (const k of f.keys()) if (!fields.includes(k)) fields.push(k);
  return fields
    .map((field) => ({ field, values: flat.map((f) => f.get(field) ?? '') }))
    .filter((d) => {
      // Runs without a config record (an external run's first lines lost) show '' and decide
      // nothing: a field differs when the runs that have one disagree.
      const known = d.values.filter((_, i) => configs[i] !== undefined);
      return known.some((v) => v !== known[0]);
    });
}

/**
 * `channel` of every binary layer of `run`, reduced to one value per reported step: the mean
 * weighted by the layers' parameter counts (a layer with 10× the weights counts 10×).
 */
export function layerMean(run: RunModel, channel: LayerChannel): ColumnGroup {
  const c = LAYER_CHANNELS.indexOf(channel);
  const sums = new Map<number, { sum: number; weight: number }>();
  for (const layer of run.layers) {
    const weight = Math.max(1, layer.info.params);
    const { x, y } = layer.metrics;
    for (let i = 0; i < x.length; i++) {
      const v = y[c]?.[i];
      if (v === undefined || !Number.isFinite(v)) continue;
      const acc = sums.get(x[i]) ?? { sum: 0, weight: 0 };
      acc.sum += v * weight;
      acc.weight += weight;
      sums.set(x[i], acc);
    }
  }
  const steps = [...sums.keys()].sort((a, b) => a - b);
  return {
    x: steps,
    y: [
      steps.map((s) => {
        const acc = sums.get(s);
        return acc ? acc.sum / acc.weight : NaN;
      }),
    ],
  };
}
