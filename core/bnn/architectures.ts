/**
 * Model builders for ResNetE and BinaryDenseNet (Bethge et al., "Back to Simplicity";
 * bnn-methods.md §4.2, §4.3), sized by an ArchitectureSpec (architectureSpec.ts).
 *
 * Stem for small images (28×28, 32×32) on a CPU: one full-precision 3×3 conv at stride 1
 * (or 2, `stemStrides`) instead of the ImageNet 7×7/2 conv + 3×3/2 max pool. The ImageNet stem
 * divides the side by 4 before the first block; on 28×28 that would leave 7×7 for the first stage
 * and 1×1 after three downsamplings. With the 3×3 stem the stages run at 32/16/8/4 on CIFAR (the
 * usual CIFAR adaptation); the 28×28 presets use stride 2 (stages at 14/7/4), which quarters the
 * compute of the widest stage so that a Fashion-MNIST epoch fits a CPU. The first conv and the last
 * dense stay full precision by default; so do the 1×1 shortcut and transition convs (the paper's
 * rule: keep them real-valued). A run config's `layerPrecision` overrides any of them.
 */
import * as tf from '../tf';
import {
  transitionChannels,
  type DenseNetSpec,
  type LayerPrecisionSetting,
  type ResNetESpec,
} from './architectureSpec';
import { BinaryConv2D, BinaryDense, type WeightScaling } from './layers';
import type { QuantizerConfig } from './quantizers';

/** What every binary layer of a model gets: quantizers, scaling and the method switches. */
export interface BinaryOptions {
  inputQuantizer: QuantizerConfig;
  kernelQuantizer: QuantizerConfig;
  scaling: WeightScaling;
  /** ReCU weight standardization + clamp, activation normalization in training. */
  recu: boolean;
  /** BONN modulation vector (its losses are added by the trainer). */
  bonn: boolean;
  /** `layerPrecision` of the run config: per-layer overrides of the default precision. */
  precision: Readonly<Record<string, LayerPrecisionSetting>>;
}

/** Name of the layer whose output is the last full-precision feature (BONN's feature loss). */
export const FEATURE_LAYER = 'features';

type Sym = tf.SymbolicTensor;

/** A seed counter so every initializer gets its own, reproducible seed. */
class Seeds {
  constructor(private next: number) {}
  take(): number {
    return this.next++;
  }
}

const bn = (name: string) => tf.layers.batchNormalization({ name, momentum: 0.9 });

/** True when layer `name` is binary: its `layerPrecision` override, else its default. */
function isBinary(name: string, byDefault: boolean, options: BinaryOptions): boolean {
  const set = options.precision[name];
  return set === undefined ? byDefault : set === 'binary';
}

/**
 * A conv layer, binary (`BinaryConv2D` with the run's quantizers) or full precision
 * (`conv2d`, no bias: a batch norm follows), as `binaryByDefault` and `layerPrecision` say.
 */
export function conv(
  name: string,
  filters: number,
  kernelSize: number,
  strides: number,
  seed: number,
  options: BinaryOptions,
  binaryByDefault: boolean,
  padding: 'same' | 'valid' = 'same',
): tf.layers.Layer {
  if (isBinary(name, binaryByDefault, options)) {
    return new BinaryConv2D({
      name,
      filters,
      kernelSize,
      strides,
      padding,
      seed,
      inputQuantizer: options.inputQuantizer,
      kernelQuantizer: options.kernelQuantizer,
      scaling: options.scaling,
      recu: options.recu,
      bonnModulation: options.bonn,
    });
  }
  return tf.layers.conv2d({
    name,
    filters,
    kernelSize,
    strides,
    padding,
    useBias: false,
    kernelInitializer: tf.initializers.glorotUniform({ seed }),
  });
}

/** A dense layer: `BinaryDense` (no bias) or full-precision `dense` (with bias). */
export function dense(
  name: string,
  units: number,
  seed: number,
  options: BinaryOptions,
  binaryByDefault: boolean,
): tf.layers.Layer {
  if (isBinary(name, binaryByDefault, options)) {
    return new BinaryDense({
      name,
      units,
      seed,
      inputQuantizer: options.inputQuantizer,
      kernelQuantizer: options.kernelQuantizer,
      scaling: options.scaling,
      recu: options.recu,
      bonnModulation: options.bonn,
    });
  }
  return tf.layers.dense({
    name,
    units,
    kernelInitializer: tf.initializers.glorotUniform({ seed }),
  });
}

function head(x: Sym, classes: number, seeds: Seeds, options: BinaryOptions): Sym {
  const features = tf.layers.globalAveragePooling2d({ name: FEATURE_LAYER }).apply(x) as Sym;
  return dense('logits', classes, seeds.take(), options, false).apply(features) as Sym;
}

/**
 * ResNetE: stem `conv3×3 → BN → ReLU → BN` (Larq's stem without the pooling), then per stage
 * `blocksPerStage[i]` blocks `x ← BN(BinConv3×3(sgn(x))) + shortcut(x)`; a block that halves the
 * resolution or changes the width takes the shortcut `AvgPool 2×2/2 → FP 1×1 conv → BN`
 * (no pooling when only the width changes). Head `ReLU → GAP → Dense`.
 * @param inputShape `[height, width, channels]`; @returns a model that outputs logits.
 */
export function buildResNetE(
  spec: ResNetESpec,
  inputShape: [number, number, number],
  classes: number,
  seed: number,
  options: BinaryOptions,
  name = 'resnete',
): tf.LayersModel {
  const seeds = new Seeds(seed);
  const input = tf.input({ shape: inputShape, name: 'image' });
  let x = conv(
    'stem_conv',
    spec.stemFilters,
    3,
    spec.stemStrides ?? 1,
    seeds.take(),
    options,
    false,
  ).apply(input) as Sym;
  x = bn('stem_bn').apply(x) as Sym;
  x = tf.layers.reLU({ name: 'stem_relu' }).apply(x) as Sym;
  x = bn('stem_bn2').apply(x) as Sym;
  let channels = spec.stemFilters;
  spec.stageFilters.forEach((filters, stage) => {
    for (let block = 0; block < spec.blocksPerStage[stage]; block++) {
      const id = `s${stage + 1}b${block + 1}`;
      const strides = stage > 0 && block === 0 ? 2 : 1;
      let shortcut = x;
      if (strides === 2 || channels !== filters) {
        if (strides === 2) {
          shortcut = tf.layers
            .averagePooling2d({ name: `${id}_sc_pool`, poolSize: 2, strides: 2, padding: 'same' })
            .apply(shortcut) as Sym;
        }
        shortcut = conv(`${id}_sc_conv`, filters, 1, 1, seeds.take(), options, false).apply(
          shortcut,
        ) as Sym;
        shortcut = bn(`${id}_sc_bn`).apply(shortcut) as Sym;
      }
      let y = conv(`${id}_bconv`, filters, 3, strides, seeds.take(), options, true).apply(x) as Sym;
      y = bn(`${id}_bn`).apply(y) as Sym;
      x = tf.layers.add({ name: `${id}_add` }).apply([y, shortcut]) as Sym;
      channels = filters;
    }
  });
  x = tf.layers.reLU({ name: 'head_relu' }).apply(x) as Sym;
  return tf.model({ inputs: input, outputs: head(x, classes, seeds, options), name });
}

/**
 * BinaryDenseNet: stem `conv3×3 → BN → ReLU`; dense blocks of
 * `x ← concat(x, BinConv3×3(sgn(BN(x))))` (growth rate k, no bottleneck); transitions
 * `BN → MaxPool 2×2/2 → ReLU → FP 1×1 conv` to `round((C // r) / channelRound) · channelRound`
 * channels; head `BN → ReLU → GAP → Dense`.
 */
export function buildBinaryDenseNet(
  spec: DenseNetSpec,
  inputShape: [number, number, number],
  classes: number,
  seed: number,
  options: BinaryOptions,
  name = 'binary-densenet',
): tf.LayersModel {
  const seeds = new Seeds(seed);
  const input = tf.input({ shape: inputShape, name: 'image' });
  let x = conv(
    'stem_conv',
    spec.initialFilters,
    3,
    spec.stemStrides ?? 1,
    seeds.take(),
    options,
    false,
  ).apply(input) as Sym;
  x = bn('stem_bn').apply(x) as Sym;
  x = tf.layers.reLU({ name: 'stem_relu' }).apply(x) as Sym;
  let channels = spec.initialFilters;
  spec.blocks.forEach((layers, block) => {
    for (let l = 0; l < layers; l++) {
      const id = `d${block + 1}l${l + 1}`;
      let y = bn(`${id}_bn`).apply(x) as Sym;
      y = conv(`${id}_bconv`, spec.growthRate, 3, 1, seeds.take(), options, true).apply(y) as Sym;
      x = tf.layers.concatenate({ name: `${id}_concat` }).apply([x, y]) as Sym;
      channels += spec.growthRate;
    }
    if (block === spec.blocks.length - 1) return;
    const id = `t${block + 1}`;
    channels = transitionChannels(channels, spec.reductions[block], spec.channelRound);
    x = bn(`${id}_bn`).apply(x) as Sym;
    x = tf.layers
      .maxPooling2d({ name: `${id}_pool`, poolSize: 2, strides: 2, padding: 'same' })
      .apply(x) as Sym;
    x = tf.layers.reLU({ name: `${id}_relu` }).apply(x) as Sym;
    x = conv(`${id}_conv`, channels, 1, 1, seeds.take(), options, false).apply(x) as Sym;
  });
  x = bn('head_bn').apply(x) as Sym;
  x = tf.layers.reLU({ name: 'head_relu' }).apply(x) as Sym;
  return tf.model({ inputs: input, outputs: head(x, classes, seeds, options), name });
}
