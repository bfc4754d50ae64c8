/**
 * Keras model configs: which layers are binary (Larq quantizers and their clip) and the names of
 * Keras 3 weight variables. Pure functions over parsed JSON.
 */
import { FileFormatError } from '../errors';
import type { BinaryHint } from './model';

/** Binary quantizers of Larq (class names and their string aliases) and their default clip. */
const BINARY_QUANTIZERS: Readonly<Record<string, number | null>> = {
  stesign: 1,
  ste_sign: 1,
  approxsign: 1,
  approx_sign: 1,
  magnitudeawaresign: 1,
  magnitude_aware_sign: 1,
  swishsign: null,
  swish_sign: null,
  steheaviside: 1,
  ste_heaviside: 1,
};

/** Layer configs by layer name, collected from a Keras model config (nested models too). */
export type LayerConfigs = Map<string, { className: string; config: Record<string, unknown> }>;

export function collectLayers(node: unknown, out: LayerConfigs, depth = 0): void {
  if (depth > 32 || typeof node !== 'object' || node === null) return;
  const record = node as { class_name?: unknown; config?: unknown };
  const config = record.config as Record<string, unknown> | undefined;
  if (typeof record.class_name === 'string' && typeof config === 'object' && config !== null) {
    if (typeof config.name === 'string') {
      out.set(config.name, { className: record.class_name, config });
    }
    if (Array.isArray(config.layers)) {
      for (const layer of config.layers) collectLayers(layer, out, depth + 1);
    }
    if (typeof config.layer === 'object') collectLayers(config.layer, out, depth + 1);
  }
}

/** The binary hint a layer config gives its kernel, or undefined when it says nothing. */
export function hintFromLayerConfig(
  className: string,
  config: Record<string, unknown>,
  source: string,
): BinaryHint | undefined {
  if (!('kernel_quantizer' in config) && !('depthwise_quantizer' in config)) {
    return {
      binary: false,
      reason: `${source}: ${className} has no kernel quantizer (full precision)`,
      clip: null,
    };
  }
  const quantizer = config.kernel_quantizer ?? config.depthwise_quantizer;
  if (quantizer === null || quantizer === undefined) {
    return {
      binary: false,
      reason: `${source}: ${className} kernel_quantizer is None (full precision)`,
      clip: null,
    };
  }
  let name: string;
  let clip: number | null | undefined;
  if (typeof quantizer === 'string') {
    name = quantizer;
  } else if (typeof quantizer === 'object') {
    const q = quantizer as { class_name?: unknown; config?: { clip_value?: unknown } };
    name = typeof q.class_name === 'string' ? q.class_name : '?';
    const value = q.config?.clip_value;
    if (typeof value === 'number') clip = value;
    else if (value === null) clip = null;
  } else {
    return undefined;
  }
  const key = name.toLowerCase();
  if (!(key in BINARY_QUANTIZERS)) {
    return {
      binary: false,
      reason: `${source}: ${className} kernel_quantizer ${name} is not a sign quantizer`,
      clip: null,
    };
  }
  const effectiveClip = clip === undefined ? BINARY_QUANTIZERS[key] : clip;
  return {
    binary: true,
    reason: `${source}: ${className} kernel_quantizer ${name}${effectiveClip === null ? '' : ` (clip_value ${effectiveClip})`}`,
    clip: effectiveClip,
  };
}

const KERNEL_NAMES = new Set(['kernel', 'depthwise_kernel', 'pointwise_kernel']);

/** Applies a layer's hint to one of its weights: only kernels are binarized. */
export function hintForWeight(
  layers: LayerConfigs,
  layerName: string,
  weightName: string,
  source: string,
): BinaryHint | undefined {
  const layer = layers.get(layerName);
  if (!layer) return undefined;
  const hint = hintFromLayerConfig(layer.className, layer.config, source);
  if (!hint || !hint.binary) return hint;
  const base = weightName.replace(/:\d+$/, '').split('/').pop() ?? '';
  if (KERNEL_NAMES.has(base)) return hint;
  return {
    binary: false,
    reason: `${source}: ${base} of ${layer.className} stays full precision`,
    clip: null,
  };
}

/** Layer configs of a Keras model config JSON text (empty when `text` is undefined). */
export function parseConfig(file: string, text: string | undefined, what: string): LayerConfigs {
  const layers: LayerConfigs = new Map();
  if (text === undefined) return layers;
  try {
    collectLayers(JSON.parse(text), layers);
  } catch (error) {
    throw new FileFormatError(file, `${what} is not valid JSON (${(error as Error).message})`);
  }
  return layers;
}

/** Variable names by position in a Keras 3 `vars` group, for the common layer classes. */
export function keras3VariableNames(className: string, config: Record<string, unknown>): string[] {
  if (/BatchNormalization/.test(className)) {
    const names: string[] = [];
    if (config.scale !== false) names.push('gamma');
    if (config.center !== false) names.push('beta');
    return [...names, 'moving_mean', 'moving_variance'];
  }
  if (/SeparableConv/.test(className)) return ['depthwise_kernel', 'pointwise_kernel', 'bias'];
  if (/DepthwiseConv/.test(className)) return ['depthwise_kernel', 'bias'];
  if (/Dense|Conv/.test(className)) return ['kernel', 'bias'];
  return [];
}
