/**
 * The model an export writes: a BNN Lab checkpoint loaded with TF.js and described layer by layer
 * (class, Keras config, inputs, weights) with, for every binary layer, the values its forward
 * pass uses, computed by BNN Lab's own layer code: the binarized kernel (`sgn`, `s·sgn` for
 * magnitude_aware_sign, ReCU's clamp and τ included) and the per-channel output scale
 * (channel_mean, learnable, BONN's `1 / mean(w)`). Exporters only rearrange these values.
 */
import * as tf from '../tf';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../errors';
import { isBinaryLayer } from '../bnn/layers';
import type { QuantizerConfig } from '../bnn/quantizers';
import { loadCheckpointModel, type CheckpointMeta } from '../training/checkpoint';
import { checkpointFolder } from './files';

/** One weight of a layer, under its TF.js name (`conv1/kernel`). */
export interface ExportWeight {
  /** The weight's own name within the layer: `kernel`, `gamma`, `moving_mean`… */
  name: string;
  shape: number[];
  values: Float32Array;
}

/** What the forward pass of a binary layer computes, besides its latent weights. */
export interface BinaryForward {
  inputQuantizer: QuantizerConfig | null;
  kernelQuantizer: QuantizerConfig;
  scaling: string;
  recu: boolean;
  bonn: boolean;
  /** The kernel the forward pass multiplies with (`[kh, kw, cin, cout]` or `[in, out]`). */
  kernel: Float32Array;
  /** Per output channel multiplier of the output, or null when there is none. */
  outputScale: Float32Array | null;
}

export interface ExportLayer {
  name: string;
  /** TF.js / Keras class name (`Conv2D`, `BinaryConv2D`, `BatchNormalization`…). */
  className: string;
  /** The layer's Keras config as TF.js serialized it (snake_case keys). */
  config: Record<string, unknown>;
  /** Names of the layers whose outputs feed this one, in order. */
  inputs: string[];
  weights: ExportWeight[];
  binary: BinaryForward | null;
  /** Output shape with the batch axis (`[null, h, w, c]`, `[null, units]`). */
  outputShape: (number | null)[];
}

export interface ExportSource {
  /** The checkpoint folder. */
  dir: string;
  /** A name for the model (the run folder and epoch when known). */
  name: string;
  layers: ExportLayer[];
  /** Input shape without the batch axis, `[height, width, channels]`. */
  inputShape: number[];
  inputName: string;
  outputName: string;
  /** The Keras model topology of model.json (class_name, config with layers, …). */
  topology: { class_name: string; config: Record<string, unknown> };
  meta: CheckpointMeta | undefined;
  /** `latentClip` of the run's config.json beside the checkpoints, when there is one. */
  latentClip: number | null;
}

interface TopologyLayer {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: unknown[];
}

function inboundNames(layer: TopologyLayer): string[] {
  const nodes = layer.inbound_nodes as unknown[][][];
  if (!Array.isArray(nodes) || nodes.length === 0) return [];
  if (nodes.length > 1) {
    throw new UserError(
      `layer "${layer.name}" is applied ${nodes.length} times; export supports layers used once`,
    );
  }
  return nodes[0].map((entry) => String(entry[0]));
}

function runLatentClip(dir: string): number | null {
  const config = join(dir, '..', '..', 'config.json');
  if (!existsSync(config)) return null;
  try {
    const json = JSON.parse(readFileSync(config, 'utf8')) as { latentClip?: unknown };
    return typeof json.latentClip === 'number' && json.latentClip > 0 ? json.latentClip : null;
  } catch {
    return null;
  }
}

/**
 * Loads a BNN Lab checkpoint and describes it for the exporters. Needs a TF.js backend (the
 * caller picks it; `useCpuBackend` is enough).
 * @throws UserError naming the folder when it is not a BNN Lab checkpoint.
 */
export async function loadExportSource(source: string): Promise<ExportSource> {
  const dir = checkpointFolder(source);
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as {
    modelTopology?: { class_name: string; config: Record<string, unknown> };
    bnnLab?: CheckpointMeta;
  };
  const topology = json.modelTopology;
  const topologyLayers = topology?.config?.layers as TopologyLayer[] | undefined;
  if (!topology || !Array.isArray(topologyLayers)) {
    throw new UserError(
      `${join(dir, 'model.json')} is not a TF.js layers model (no modelTopology with layers); export reads BNN Lab checkpoints`,
    );
  }
  const { model, meta } = await loadCheckpointModel(dir);
  try {
    const layers: ExportLayer[] = [];
    for (const t of topologyLayers) {
      const layer = model.getLayer(t.name);
      const weights = layer.weights.map((w, i) => {
        const value = layer.getWeights()[i];
        const name = w.originalName.split('/').pop() ?? w.originalName;
        return { name, shape: [...value.shape], values: value.dataSync() as Float32Array };
      });
      let binary: BinaryForward | null = null;
      if (isBinaryLayer(layer)) {
        if (meta?.tau !== undefined) layer.setTau(meta.tau);
        const kernel = tf.tidy(() => {
          const k = (layer as unknown as { binaryKernel(): tf.Tensor }).binaryKernel();
          return k.dataSync() as Float32Array;
        });
        const latent = layer.latentKernel().read();
        const cout = latent.shape[latent.shape.length - 1];
        let scale: Float32Array | null = null;
        if (layer.scaling === 'channel_mean') {
          scale = tf.tidy(
            () =>
              tf
                .mean(tf.abs(latent), [...Array(latent.rank - 1).keys()])
                .dataSync() as Float32Array,
          );
        } else if (layer.scaling === 'learnable') {
          scale = weights.find((w) => w.name === 'scale')?.values.slice() ?? null;
        }
        const modulation = layer.modulationVector();
        if (modulation) {
          const m = modulation.read().dataSync() as Float32Array;
          const mean = m.reduce((a, b) => a + b, 0) / m.length;
          scale ??= new Float32Array(cout).fill(1);
          for (let c = 0; c < cout; c++) scale[c] /= mean;
        }
        binary = {
          inputQuantizer: layer.inputQuantizer,
          kernelQuantizer: layer.kernelQuantizer,
          scaling: layer.scaling,
          recu: layer.recu,
          bonn: modulation !== null,
          kernel,
          outputScale: scale,
        };
      }
      layers.push({
        name: t.name,
        className: t.class_name,
        config: t.config,
        inputs: inboundNames(t),
        weights,
        binary,
        outputShape: [...(layer.outputShape as (number | null)[])],
      });
    }
    const input = layers.find((l) => l.className === 'InputLayer');
    const inputShape = (input?.config.batch_input_shape as (number | null)[] | undefined)?.slice(1);
    if (!input || !inputShape || inputShape.some((d) => d === null)) {
      throw new UserError(`${dir}: the model has no input layer with a known shape`);
    }
    const outputs = topology.config.output_layers as unknown[][] | undefined;
    const outputName = String(outputs?.[0]?.[0] ?? layers[layers.length - 1].name);
    const runName = basename(dirname(dirname(dir)));
    return {
      dir,
      name: `${runName}-${basename(dir)}`.replace(/[^\w.-]+/g, '_'),
      layers,
      inputShape: inputShape as number[],
      inputName: input.name,
      outputName,
      topology,
      meta,
      latentClip: runLatentClip(dir),
    };
  } finally {
    model.dispose();
  }
}

/** The error for a layer an export format cannot express: names the layer and the format. */
export function cannotExpress(format: string, layer: string, what: string): UserError {
  return new UserError(
    `cannot export layer "${layer}" to ${format}: ${what}; nothing was written (another format, e.g. onnx, may express it)`,
  );
}
