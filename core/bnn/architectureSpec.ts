/**
 * Validation of the ResNetE and BinaryDenseNet families' architecture parameters (bnn-methods.md
 * §4.2, §4.3; their types, `ResNetESpec` and `DenseNetSpec`, are the run config's, in
 * protocol/schema.ts), without TensorFlow.js: run configs are checked in the extension host
 * before a worker starts. The builders live in architectures.ts.
 */
import { ConfigError } from '../errors';
import type { ArchitectureParameters } from '../protocol/schema';

export type { DenseNetSpec, ResNetESpec } from '../protocol/schema';
/** ResNetE or BinaryDenseNet parameters, as a run config's `architecture` holds them. */
export type ArchitectureSpec = ArchitectureParameters;

/** Keys a config's `architecture` object may override, per family. */
export const ARCHITECTURE_KEYS: Record<ArchitectureSpec['kind'], readonly string[]> = {
  resnete: ['stemFilters', 'stemStrides', 'stageFilters', 'blocksPerStage'],
  densenet: ['initialFilters', 'stemStrides', 'growthRate', 'blocks', 'reductions', 'channelRound'],
};

/** Python 3's `round` (half to even), which the official channel formula uses. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Output channels of a BinaryDenseNet transition: `round((C // r) / unit) · unit`. */
export function transitionChannels(channels: number, reduction: number, unit: number): number {
  return roundHalfEven(Math.floor(channels / reduction) / unit) * unit;
}

/** Spatial size after `n` stride-2 'same' reductions: ceil(size / 2^n). */
function reduced(size: number, n: number): number {
  let s = size;
  for (let i = 0; i < n; i++) s = Math.ceil(s / 2);
  return s;
}

function intList(source: string, field: string, v: unknown, min: number, max: number): number[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > 8) {
    throw new ConfigError(source, field, `must be a list of 1 to 8 integers in [${min}, ${max}]`);
  }
  v.forEach((x, i) => {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max) {
      throw new ConfigError(
        source,
        `${field}[${i}]`,
        `must be an integer in [${min}, ${max}], got ${JSON.stringify(x)}`,
      );
    }
  });
  return v as number[];
}

function int(source: string, field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(
      source,
      field,
      `must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

/**
 * Checks an architecture (a preset's, possibly with overrides from a run config) against the
 * input shape: widths, depths, that every transition keeps at least one rounding unit of
 * channels, and that the image is large enough for every downsampling.
 * @param inputShape `[height, width, channels]`.
 * @throws ConfigError naming `architecture.<field>` and the allowed range.
 */
export function validateArchitecture(
  spec: ArchitectureSpec,
  inputShape: readonly [number, number, number],
  source: string,
): ArchitectureSpec {
  const f = (name: string) => `architecture.${name}`;
  const [h, w] = inputShape;
  const side = Math.min(h, w);
  const stemStrides = int(source, f('stemStrides'), spec.stemStrides ?? 1, 1, 2);
  let downsamplings: number;
  if (spec.kind === 'resnete') {
    int(source, f('stemFilters'), spec.stemFilters, 1, 1024);
    const stages = intList(source, f('stageFilters'), spec.stageFilters, 1, 2048);
    const blocks = intList(source, f('blocksPerStage'), spec.blocksPerStage, 1, 64);
    if (blocks.length !== stages.length) {
      throw new ConfigError(
        source,
        f('blocksPerStage'),
        `must have one entry per stage (${stages.length}, as stageFilters), got ${blocks.length}`,
      );
    }
    downsamplings = stages.length - 1 + (stemStrides - 1);
  } else {
    int(source, f('initialFilters'), spec.initialFilters, 1, 1024);
    int(source, f('growthRate'), spec.growthRate, 1, 512);
    const blocks = intList(source, f('blocks'), spec.blocks, 1, 64);
    const unit = int(source, f('channelRound'), spec.channelRound, 1, 256);
    const r = spec.reductions;
    if (!Array.isArray(r) || r.length !== blocks.length - 1) {
      throw new ConfigError(
        source,
        f('reductions'),
        `must hold one reduction rate per transition (${blocks.length - 1}, one fewer than blocks)`,
      );
    }
    let channels = spec.initialFilters;
    for (let i = 0; i < blocks.length; i++) {
      channels += blocks[i] * spec.growthRate;
      if (i === blocks.length - 1) break;
      const ri = r[i];
      if (typeof ri !== 'number' || !Number.isFinite(ri) || ri < 1 || ri > 16) {
        throw new ConfigError(
          source,
          `${f('reductions')}[${i}]`,
          `must be a number in [1, 16], got ${JSON.stringify(ri)}`,
        );
      }
      const next = transitionChannels(channels, ri, unit);
      if (next < unit) {
        const maxR = Math.floor(channels / (unit / 2));
        throw new ConfigError(
          source,
          `${f('reductions')}[${i}]`,
          `rounds transition ${i + 1} to ${next} channels (round((${channels} // ${ri}) / ${unit}) · ${unit}); use a rate in [1, ${Math.max(1, maxR)}), a smaller channelRound or more growth`,
        );
      }
      channels = next;
    }
    downsamplings = blocks.length - 1 + (stemStrides - 1);
  }
  const minSide = 2 ** downsamplings;
  if (side < minSide || Math.max(h, w) > 1024) {
    throw new ConfigError(
      source,
      'architecture',
      `takes images from ${minSide}×${minSide} to 1024×1024 (${downsamplings} downsamplings), got ${h}×${w}`,
    );
  }
  if (reduced(side, downsamplings) < 1) {
    throw new ConfigError(source, 'architecture', `reduces ${h}×${w} images to nothing`);
  }
  return spec;
}

/**
 * Applies a run config's `architecture` overrides to a preset's spec (only known keys).
 * @throws ConfigError for an unknown key or a non-object value.
 */
export function overrideArchitecture(
  base: ArchitectureSpec,
  raw: unknown,
  source: string,
): ArchitectureSpec {
  if (raw === undefined) return base;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(source, 'architecture', 'must be an object of architecture parameters');
  }
  const allowed = ARCHITECTURE_KEYS[base.kind];
  const { kind, ...rest } = raw as { kind?: unknown };
  // A run's config.json holds the resolved spec, kind included: it must read back as it was.
  if (kind !== undefined && kind !== base.kind) {
    throw new ConfigError(
      source,
      'architecture.kind',
      `is "${String(kind)}" but the preset builds ${base.kind}; leave it out or use "${base.kind}"`,
    );
  }
  raw = rest;
  for (const key of Object.keys(raw as object)) {
    if (!allowed.includes(key)) {
      throw new ConfigError(
        source,
        `architecture.${key}`,
        `is not a parameter of ${base.kind} (allowed: ${allowed.join(', ')})`,
      );
    }
  }
  return { ...base, ...(raw as object) } as ArchitectureSpec;
}

/** Precision of a conv or dense layer in a run config's `layerPrecision`. */
export type LayerPrecisionSetting = 'binary' | 'full';

/**
 * The conv and dense layers of a preset's model, in build order, and whether each is binary by
 * default: the first conv, the 1×1 shortcut and transition convs and the last dense are full
 * precision (the papers' rule), every 3×3 conv inside a block is binary. `spec` undefined is the
 * fixed mnist-cnn. The builders (architectures.ts, presets.ts) use exactly these names; a unit
 * test checks that they agree.
 */
export function weightLayers(
  spec: ArchitectureSpec | undefined,
): { name: string; binary: boolean }[] {
  if (!spec) {
    return [
      { name: 'conv1', binary: false },
      { name: 'bconv2', binary: true },
      { name: 'bconv3', binary: true },
      { name: 'bdense4', binary: true },
      { name: 'dense5', binary: false },
    ];
  }
  const out = [{ name: 'stem_conv', binary: false }];
  if (spec.kind === 'resnete') {
    let channels = spec.stemFilters;
    spec.stageFilters.forEach((filters, stage) => {
      for (let block = 0; block < spec.blocksPerStage[stage]; block++) {
        const id = `s${stage + 1}b${block + 1}`;
        const strides = stage > 0 && block === 0 ? 2 : 1;
        if (strides === 2 || channels !== filters)
          out.push({ name: `${id}_sc_conv`, binary: false });
        out.push({ name: `${id}_bconv`, binary: true });
        channels = filters;
      }
    });
  } else {
    spec.blocks.forEach((layers, block) => {
      for (let l = 0; l < layers; l++)
        out.push({ name: `d${block + 1}l${l + 1}_bconv`, binary: true });
      if (block < spec.blocks.length - 1) out.push({ name: `t${block + 1}_conv`, binary: false });
    });
  }
  out.push({ name: 'logits', binary: false });
  return out;
}

/**
 * Checks a run config's `layerPrecision`: `{ "<layer>": "binary" | "full" }` for layers of
 * {@link weightLayers}. @throws ConfigError naming the key and listing the layers.
 */
export function validateLayerPrecision(
  value: unknown,
  spec: ArchitectureSpec | undefined,
  source: string,
): Record<string, LayerPrecisionSetting> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(
      source,
      'layerPrecision',
      'must be an object like { "stem_conv": "binary", "s1b1_bconv": "full" }',
    );
  }
  const names = weightLayers(spec).map((l) => l.name);
  const out: Record<string, LayerPrecisionSetting> = {};
  for (const [name, setting] of Object.entries(value as Record<string, unknown>)) {
    if (!names.includes(name)) {
      const shown = names.length > 12 ? [...names.slice(0, 12), '…'] : names;
      throw new ConfigError(
        source,
        `layerPrecision.${name}`,
        `is not a conv or dense layer of this model (its layers: ${shown.join(', ')})`,
      );
    }
    if (setting !== 'binary' && setting !== 'full') {
      throw new ConfigError(
        source,
        `layerPrecision.${name}`,
        `must be "binary" or "full", got ${JSON.stringify(setting)}`,
      );
    }
    out[name] = setting;
  }
  return out;
}
