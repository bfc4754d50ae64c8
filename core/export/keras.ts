/**
 * Keras export: a tf.keras 2 `.h5` full-model file that Larq loads (`tf.keras.models.load_model`
 * with Larq imported) and Larq Compute Engine's converter takes.
 *
 * - `model_config` (root attribute): the checkpoint's Keras topology with BNN Lab's
 *   `BinaryConv2D`/`BinaryDense` replaced by Larq's `QuantConv2D`/`QuantDense`, whose
 *   `input_quantizer`/`kernel_quantizer` are Larq's serialized quantizers (`SteSign` with its
 *   `clip_value`, `ApproxSign`, `SwishSign` with `beta`, `MagnitudeAwareSign`) and whose
 *   `kernel_constraint` is Larq's `WeightClip` when the run clipped latent weights
 *   (`latentClip`); every other layer keeps its Keras config.
 * - `model_weights/<layer>` groups with `weight_names` (`<layer>/kernel:0`, …) and the datasets
 *   under `<layer>/<layer>/kernel:0`, `layer_names` listing every layer, as Keras 2's
 *   `save_model_to_hdf5` writes them. Kernels keep the Keras layout (latent float values: Larq
 *   binarizes them in its forward pass, exactly as BNN Lab does).
 *
 * What Larq's layers cannot express (ReCU's weight standardization, BNN Lab's output scaling,
 * BONN's modulation vector) is refused with an error naming the layer.
 */
import { existsSync, renameSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { UserError } from '../errors';
import type { QuantizerConfig } from '../bnn/quantizers';
import { h5wasm, withWritableHdf5File } from '../checkpoints/h5Reader';
import { cannotExpress, type ExportLayer, type ExportSource } from './source';

const FORMAT = 'Keras/Larq (.h5)';
/** The tf.keras version the file says it was written with (Larq supports tf.keras 2). */
export const KERAS_VERSION = '2.15.0';

/** A quantizer as Larq serializes it (`quantizers.serialize`: class name and layer config). */
export function larqQuantizer(
  q: QuantizerConfig,
  layer: string,
): { class_name: string; config: Record<string, unknown> } {
  const base = { trainable: true, dtype: 'float32' };
  switch (q.kind) {
    case 'ste_sign':
      return { class_name: 'SteSign', config: { name: 'ste_sign', ...base, clip_value: q.clip } };
    case 'approx_sign':
      return { class_name: 'ApproxSign', config: { name: 'approx_sign', ...base } };
    case 'swish_sign':
      return {
        class_name: 'SwishSign',
        config: { name: 'swish_sign', ...base, beta: q.beta ?? 5 },
      };
    case 'magnitude_aware_sign':
      return {
        class_name: 'MagnitudeAwareSign',
        config: { name: 'magnitude_aware_sign', ...base, clip_value: q.clip },
      };
    default:
      throw cannotExpress(
        FORMAT,
        layer,
        `quantizer "${(q as QuantizerConfig).kind}" has no Larq equivalent`,
      );
  }
}

function pair(value: unknown, fallback: number): [number, number] {
  if (Array.isArray(value)) return [Number(value[0]), Number(value[1] ?? value[0])];
  if (typeof value === 'number') return [value, value];
  return [fallback, fallback];
}

const GLOROT = { class_name: 'GlorotUniform', config: { seed: null } };
const ZEROS = { class_name: 'Zeros', config: {} };

/** The Larq layer config of a BNN Lab binary layer. @throws UserError when Larq lacks it. */
function larqLayerConfig(layer: ExportLayer, latentClip: number | null): Record<string, unknown> {
  const b = layer.binary;
  if (!b) throw new Error(`${layer.name} is not binary`);
  if (b.recu) {
    throw cannotExpress(
      FORMAT,
      layer.name,
      'ReCU weight standardization and clamp is not a Larq quantizer',
    );
  }
  if (b.scaling !== 'none') {
    throw cannotExpress(
      FORMAT,
      layer.name,
      `output scaling "${b.scaling}" has no Larq layer option (use magnitude_aware_sign for a per-channel scale)`,
    );
  }
  if (b.bonn)
    throw cannotExpress(FORMAT, layer.name, "BONN's modulation vector has no Larq equivalent");
  const common = {
    name: layer.name,
    trainable: layer.config.trainable ?? true,
    dtype: 'float32',
    activation: 'linear',
    use_bias: false,
    kernel_initializer: GLOROT,
    bias_initializer: ZEROS,
    kernel_regularizer: null,
    bias_regularizer: null,
    activity_regularizer: null,
    kernel_constraint:
      latentClip === null ? null : { class_name: 'WeightClip', config: { clip_value: latentClip } },
    bias_constraint: null,
    input_quantizer: b.inputQuantizer ? larqQuantizer(b.inputQuantizer, layer.name) : null,
    kernel_quantizer: larqQuantizer(b.kernelQuantizer, layer.name),
  };
  if (layer.className === 'BinaryDense') {
    return { ...common, units: layer.config.units };
  }
  const k = pair(layer.config.kernel_size, 3);
  return {
    ...common,
    filters: layer.config.filters,
    kernel_size: k,
    strides: pair(layer.config.strides, 1),
    padding: layer.config.padding ?? 'same',
    data_format: 'channels_last',
    dilation_rate: [1, 1],
    groups: 1,
    pad_values: 0.0,
  };
}

/** The Keras model config (`{class_name: 'Functional', config}`) written to `model_config`. */
export function kerasModelConfig(source: ExportSource): Record<string, unknown> {
  const topologyLayers = source.topology.config.layers as Record<string, unknown>[];
  const byName = new Map(source.layers.map((l) => [l.name, l]));
  const layers = topologyLayers.map((t) => {
    const layer = byName.get(String(t.name));
    if (!layer) throw new Error(`layer ${String(t.name)} missing from the export source`);
    if (layer.className === 'BinaryConv2D' || layer.className === 'BinaryDense') {
      return {
        ...t,
        class_name: layer.className === 'BinaryDense' ? 'QuantDense' : 'QuantConv2D',
        config: larqLayerConfig(layer, source.latentClip),
      };
    }
    if (
      layer.binary === null &&
      layer.weights.some((w) => w.name === 'scale' || w.name === 'modulation')
    ) {
      throw cannotExpress(FORMAT, layer.name, 'it has weights Keras does not know');
    }
    return t;
  });
  return {
    class_name: 'Functional',
    config: { ...source.topology.config, layers },
  };
}

/**
 * Writes the Keras `.h5` to `out` (through a temporary file beside it, renamed at the end).
 * @throws UserError naming the layer when Larq cannot express it; nothing is written then.
 */
export async function exportKeras(source: ExportSource, out: string): Promise<void> {
  const config = kerasModelConfig(source);
  const { h5 } = await h5wasm();
  const target = resolve(out);
  const temp = `${target}.partial-${process.pid}`;
  await withWritableHdf5File(temp, async () => {
    const file = new h5.File(temp, 'w');
    try {
      file.create_attribute('backend', 'tensorflow');
      file.create_attribute('keras_version', KERAS_VERSION);
      file.create_attribute('model_config', JSON.stringify(config));
      const root = file.create_group('model_weights');
      root.create_attribute('backend', 'tensorflow');
      root.create_attribute('keras_version', KERAS_VERSION);
      root.create_attribute(
        'layer_names',
        source.layers.map((l) => l.name),
      );
      for (const layer of source.layers) {
        const group = root.create_group(layer.name);
        const names = layer.weights.map((w) => `${layer.name}/${w.name}:0`);
        if (names.length > 0) group.create_attribute('weight_names', names);
        else group.create_attribute('weight_names', new Uint8Array(0), [0], '|S1');
        if (layer.weights.length === 0) continue;
        const inner = group.create_group(layer.name);
        for (const w of layer.weights) {
          inner.create_dataset({
            name: `${w.name}:0`,
            data: w.values,
            shape: w.shape,
            dtype: '<f',
          });
        }
      }
    } catch (error) {
      file.close();
      rmSync(temp, { force: true });
      throw error;
    }
    file.close();
    if (!existsSync(temp)) throw new UserError(`HDF5 did not write ${temp}`);
  });
  renameSync(temp, target);
}
