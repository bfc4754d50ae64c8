/**
 * The rows of the Layers view for what an inspector page shows, as plain data (no vscode import)
 * so that tests check them: a checkpoint's tensors with shape, binary flag and the headline
 * metrics, or a series' tensors with their frozenRatio.
 */
import type { InspectorContent } from '../../core/protocol';

export interface LayerItem {
  name: string;
  description: string;
  tooltip: string;
  /** `binary` (marked binary), `float` (full precision or unknown), `other` (no statistics). */
  kind: 'binary' | 'unknown' | 'float' | 'other';
}

function pct(v: number | null | undefined, digits = 1): string {
  return typeof v === 'number' && Number.isFinite(v) ? `${(v * 100).toFixed(digits)}%` : '—';
}

/** Layers view rows for a page's content; empty for a comparison (its table is the view). */
export function layerItems(content: InspectorContent | undefined): LayerItem[] {
  if (!content) return [];
  switch (content.mode) {
    case 'checkpoint':
      return content.report.layers.map((layer) => {
        const s = layer.stats;
        const binary = layer.binary === true ? 'binary' : layer.binary === null ? 'binary?' : '';
        const shape = layer.shape.join('×') || 'scalar';
        const description = [shape, binary, s ? `QE ${pct(s.quantizationError)}` : '']
          .filter((x) => x !== '')
          .join(' · ');
        const tooltip = [
          layer.name,
          `${shape} ${layer.dtype}`,
          `binary: ${layer.binary === null ? 'unknown' : layer.binary ? 'yes' : 'no'} (${layer.binaryReason})`,
          ...(s
            ? [
                `QE ${pct(s.quantizationError, 2)} · dead ${pct(s.deadWeightRatio, 2)} · starved ${pct(s.starvedWeightRatio, 2)}`,
                `+1 ${pct(s.signBalance, 2)} · H ${s.signEntropyBits.toFixed(3)} bits`,
              ]
            : []),
        ].join('\n');
        return {
          name: layer.name,
          description,
          tooltip,
          kind: !s
            ? 'other'
            : layer.binary === true
              ? 'binary'
              : layer.binary === null
                ? 'unknown'
                : 'float',
        };
      });
    case 'series': {
      const frozen = new Map(content.report.frozenRatio.map((f) => [f.name, f.frozenRatio]));
      const last = content.report.checkpoints.at(-1)?.report.layers ?? [];
      return last
        .filter((layer) => layer.stats)
        .map((layer) => ({
          name: layer.name,
          description: `frozen ${pct(frozen.get(layer.name))}`,
          tooltip: `${layer.name}\nfrozenRatio over ${content.report.checkpoints.length} checkpoints: ${pct(frozen.get(layer.name), 2)}`,
          kind:
            layer.binary === true
              ? 'binary'
              : layer.binary === null
                ? 'unknown'
                : ('float' as const),
        }));
    }
    case 'compare':
      return [];
    default:
      return [];
  }
}
