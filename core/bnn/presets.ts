/**
 * Named, ready-to-train model + schedule combinations. `bnn-lab presets` lists them.
 */
import * as tf from '@tensorflow/tfjs';
import { BinaryConv2D, BinaryDense } from './layers';
import { getPresetInfo, type PresetInfo } from './presetCatalog';

export { listPresets, PRESET_NAMES } from './presetCatalog';

export interface Preset extends PresetInfo {
  /** Builds a fresh model; `seed` makes the initial weights reproducible. Outputs logits. */
  build(seed: number): tf.LayersModel;
}

/**
 * `mnist-cnn`: full-precision first conv and last dense; two binary convs and a binary dense in
 * between, each `sgn` on inputs and kernels with a clipped straight-through estimator (t_clip = 1)
 * and batch norm after it. Small enough to train on a CPU.
 */
function buildMnistCnn(seed: number): tf.LayersModel {
  const bn = (name: string) => tf.layers.batchNormalization({ name, momentum: 0.9 });
  const input = tf.input({ shape: [28, 28, 1], name: 'image' });
  let x = tf.layers
    .conv2d({
      name: 'conv1',
      filters: 32,
      kernelSize: 3,
      useBias: false,
      kernelInitializer: tf.initializers.glorotUniform({ seed }),
    })
    .apply(input) as tf.SymbolicTensor;
  x = tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2 }).apply(x) as tf.SymbolicTensor;
  x = bn('bn1').apply(x) as tf.SymbolicTensor;
  x = new BinaryConv2D({
    name: 'bconv2',
    filters: 64,
    kernelSize: 3,
    padding: 'valid',
    seed: seed + 1,
  }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.maxPooling2d({ name: 'pool2', poolSize: 2 }).apply(x) as tf.SymbolicTensor;
  x = bn('bn2').apply(x) as tf.SymbolicTensor;
  x = new BinaryConv2D({
    name: 'bconv3',
    filters: 64,
    kernelSize: 3,
    padding: 'valid',
    seed: seed + 2,
  }).apply(x) as tf.SymbolicTensor;
  x = bn('bn3').apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten({ name: 'flatten' }).apply(x) as tf.SymbolicTensor;
  x = new BinaryDense({ name: 'bdense4', units: 128, seed: seed + 3 }).apply(
    x,
  ) as tf.SymbolicTensor;
  x = bn('bn4').apply(x) as tf.SymbolicTensor;
  const logits = tf.layers
    .dense({
      name: 'dense5',
      units: 10,
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 4 }),
    })
    .apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits, name: 'mnist-cnn' });
}

const BUILDERS: Record<string, (seed: number) => tf.LayersModel> = {
  'mnist-cnn': buildMnistCnn,
};

/** The preset with its model builder. @throws Error for an unknown name. */
export function getPreset(name: string): Preset {
  const info = getPresetInfo(name);
  const build = BUILDERS[name];
  if (!build) throw new Error(`preset "${name}" has no model builder`);
  return { ...info, build };
}
