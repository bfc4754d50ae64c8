/**
 * Named, ready-to-train model + schedule combinations. `bnn-lab presets` lists them.
 */
import * as tf from '../tf';
import type { ArchitectureSpec } from './architectureSpec';
import {
  buildBinaryDenseNet,
  buildResNetE,
  conv,
  dense,
  FEATURE_LAYER,
  type BinaryOptions,
} from './architectures';
import { getPresetInfo, type PresetInfo } from './presetCatalog';
import { skipInputGradients } from './inputConv';
import type { TrainConfig } from '../protocol';

export { listPresets, PRESET_NAMES } from './presetCatalog';

export interface Preset extends PresetInfo {
  /**
   * Builds a fresh model; `seed` makes the initial weights reproducible. Outputs logits.
   * `config` (a resolved run config) supplies quantizers, scaling, methods and architecture
   * overrides; without it the preset's own defaults are used.
   */
  build(seed: number, config?: Partial<TrainConfig>): tf.LayersModel;
  /** Layer whose output feeds the last dense (BONN's feature loss). */
  featureLayer: string;
}

/** The binary-layer options a (resolved or partial) run config asks for. */
export function binaryOptions(info: PresetInfo, config: Partial<TrainConfig> = {}): BinaryOptions {
  const d = info.defaults;
  const fallback = { kind: 'ste_sign', clip: 1 } as const;
  return {
    inputQuantizer: { ...(config.inputQuantizer ?? d.inputQuantizer ?? fallback) },
    kernelQuantizer: { ...(config.kernelQuantizer ?? d.kernelQuantizer ?? fallback) },
    scaling: config.scaling ?? d.scaling ?? 'none',
    recu: (config.recu === undefined ? d.recu : config.recu) != null,
    bonn: (config.bonn === undefined ? d.bonn : config.bonn) != null,
    precision: config.layerPrecision ?? {},
  };
}

/**
 * `mnist-cnn`: full-precision first conv and last dense; two binary convs and a binary dense in
 * between, each `sgn` on inputs and kernels with a clipped straight-through estimator (t_clip = 1)
 * and batch norm after it. Small enough to train on a CPU.
 */
function buildMnistCnn(seed: number, options: BinaryOptions): tf.LayersModel {
  const bn = (name: string) => tf.layers.batchNormalization({ name, momentum: 0.9 });
  const input = tf.input({ shape: [28, 28, 1], name: 'image' });
  let x = conv('conv1', 32, 3, 1, seed, options, false, 'valid').apply(input) as tf.SymbolicTensor;
  x = tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2 }).apply(x) as tf.SymbolicTensor;
  x = bn('bn1').apply(x) as tf.SymbolicTensor;
  x = conv('bconv2', 64, 3, 1, seed + 1, options, true, 'valid').apply(x) as tf.SymbolicTensor;
  x = tf.layers.maxPooling2d({ name: 'pool2', poolSize: 2 }).apply(x) as tf.SymbolicTensor;
  x = bn('bn2').apply(x) as tf.SymbolicTensor;
  x = conv('bconv3', 64, 3, 1, seed + 2, options, true, 'valid').apply(x) as tf.SymbolicTensor;
  x = bn('bn3').apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten({ name: 'flatten' }).apply(x) as tf.SymbolicTensor;
  x = dense('bdense4', 128, seed + 3, options, true).apply(x) as tf.SymbolicTensor;
  x = bn('bn4').apply(x) as tf.SymbolicTensor;
  const logits = dense('dense5', 10, seed + 4, options, false).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits, name: 'mnist-cnn' });
}

/** Builds a preset's model from its architecture spec (or its fixed builder). */
function buildModel(info: PresetInfo, seed: number, config: Partial<TrainConfig>): tf.LayersModel {
  const options = binaryOptions(info, config);
  const spec = (config.architecture ?? info.architecture) as ArchitectureSpec | undefined;
  if (info.name === 'mnist-cnn') return buildMnistCnn(seed, options);
  if (!spec) throw new Error(`preset "${info.name}" has no model builder`);
  return spec.kind === 'resnete'
    ? buildResNetE(spec, info.inputShape, info.classes, seed, options, info.name)
    : buildBinaryDenseNet(spec, info.inputShape, info.classes, seed, options, info.name);
}

/** The preset with its model builder. @throws Error for an unknown name. */
export function getPreset(name: string): Preset {
  const info = getPresetInfo(name);
  return {
    ...info,
    featureLayer: name === 'mnist-cnn' ? 'bn4' : FEATURE_LAYER,
    build: (seed, config = {}) => {
      const model = buildModel(info, seed, config);
      skipInputGradients(model);
      return model;
    },
  };
}
