/**
 * BNN Lab checkpoints: a TF.js layers model (`model.json` + `weights.bin`) with BNN Lab metadata
 * under the top-level `bnnLab` key of model.json, plus the training state needed to resume
 * (`training-state.json` + `state.bin`: optimizer slots and the sign bits behind flipRate).
 */
import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { FileFormatError } from '../errors';
import { FILE_CAPS, readBoundedFileSync, readBoundedTextSync } from '../io/boundedFile';
import { isBinaryLayer } from '../bnn/layers';
import { quantizerClip } from '../bnn/quantizers';
import '../bnn/layers';

export type { CheckpointMeta } from './checkpointMeta';
import type { CheckpointMeta } from './checkpointMeta';

/** What `training-state.json` holds besides the `state` manifest. */
export interface TrainingState {
  /** Last completed epoch (1-based) and global step. */
  epoch: number;
  step: number;
  seed: number;
  optimizer: 'adam' | 'sgd';
  learningRate: number;
  /** How the run's random streams are derived (all from seed and epoch; nothing else to save). */
  rng: string;
  tau?: number;
}

function joinBuffers(data: ArrayBuffer | ArrayBuffer[] | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  const parts = Array.isArray(data) ? data : [data];
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(new Uint8Array(p), offset);
    offset += p.byteLength;
  }
  return out;
}

/** Binary-layer metadata of a model, as stored in checkpoints. */
export function binaryLayerMeta(model: tf.LayersModel): CheckpointMeta['binaryLayers'] {
  const out: CheckpointMeta['binaryLayers'] = {};
  for (const layer of model.layers) {
    if (!isBinaryLayer(layer)) continue;
    out[layer.name] = {
      quantizer: layer.kernelQuantizer.kind,
      scaling: layer.scaling,
      recu: layer.recu,
      clip: quantizerClip(layer.kernelQuantizer),
      inputQuantizer: layer.inputQuantizer ? layer.inputQuantizer.kind : null,
    };
  }
  return out;
}

/**
 * Serializes a model and its training state into the files of one checkpoint folder.
 * @param extraState named float arrays saved in `state.bin` (optimizer slots, sign bits, …).
 */
export async function serializeCheckpoint(
  model: tf.LayersModel,
  meta: CheckpointMeta,
  trainingState: Record<string, unknown>,
  extraState: { name: string; data: Float32Array | Uint8Array }[],
): Promise<Record<string, Uint8Array | string>> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!artifacts) throw new Error('serializeCheckpoint: the model produced no artifacts');
  const weights = joinBuffers(artifacts.weightData as ArrayBuffer | ArrayBuffer[] | undefined);
  const modelJson = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
    convertedBy: null,
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
    bnnLab: meta,
  };
  const manifest: { name: string; dtype: string; offset: number; length: number }[] = [];
  let offset = 0;
  for (const s of extraState) {
    manifest.push({
      name: s.name,
      dtype: s.data instanceof Float32Array ? 'float32' : 'uint8',
      offset,
      length: s.data.length,
    });
    offset += s.data.byteLength;
  }
  const state = new Uint8Array(offset);
  for (let i = 0; i < extraState.length; i++) {
    const d = extraState[i].data;
    state.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), manifest[i].offset);
  }
  return {
    'model.json': JSON.stringify(modelJson),
    'weights.bin': weights,
    'training-state.json': JSON.stringify({ ...trainingState, state: manifest }, null, 2),
    'state.bin': state,
  };
}

/** Caps of the files of a checkpoint folder, read through core/io/boundedFile.ts. */
const MODEL_JSON = { what: 'model.json', maxBytes: FILE_CAPS.modelJson };
const WEIGHTS = { what: 'weights', maxBytes: FILE_CAPS.weights };
const STATE_JSON = { what: 'training-state.json', maxBytes: FILE_CAPS.json };
const STATE_BIN = { what: 'state.bin', maxBytes: FILE_CAPS.weights };

/**
 * Loads a BNN Lab checkpoint folder with `tf.loadLayersModel` (custom layers are registered).
 * @throws FileFormatError naming the file when model.json or weights.bin is missing or broken.
 */
export async function loadCheckpointModel(
  dir: string,
): Promise<{ model: tf.LayersModel; meta: CheckpointMeta | undefined }> {
  const jsonPath = join(dir, 'model.json');
  let json: {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
    bnnLab?: CheckpointMeta;
  };
  try {
    json = JSON.parse(readBoundedTextSync(jsonPath, MODEL_JSON));
  } catch (e) {
    throw new FileFormatError(jsonPath, `cannot be read as a TF.js model: ${(e as Error).message}`);
  }
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const buffers = json.weightsManifest.flatMap((g) =>
    g.paths.map((p) => readBoundedFileSync(join(dir, p), WEIGHTS)),
  );
  const weights = joinBuffers(
    buffers.map((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer),
  );
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: specs,
      weightData: weights.buffer as ArrayBuffer,
    }),
  );
  return { model, meta: json.bnnLab };
}

/**
 * Reads a checkpoint's `training-state.json` and the named arrays of `state.bin`.
 * @throws FileFormatError naming the file when either is missing or inconsistent.
 */
export function readTrainingState(dir: string): {
  state: TrainingState;
  arrays: Map<string, Float32Array | Uint8Array>;
} {
  const jsonPath = join(dir, 'training-state.json');
  const binPath = join(dir, 'state.bin');
  let json: TrainingState & {
    state: { name: string; dtype: string; offset: number; length: number }[];
  };
  let bin: Buffer;
  try {
    json = JSON.parse(readBoundedTextSync(jsonPath, STATE_JSON));
  } catch (e) {
    throw new FileFormatError(jsonPath, `cannot be read: ${(e as Error).message}`);
  }
  try {
    bin = readBoundedFileSync(binPath, STATE_BIN);
  } catch (e) {
    throw new FileFormatError(binPath, `cannot be read: ${(e as Error).message}`);
  }
  if (!Number.isInteger(json.epoch) || !Number.isInteger(json.step) || !Array.isArray(json.state)) {
    throw new FileFormatError(jsonPath, 'lacks epoch, step or the state manifest');
  }
  const bytes = new Uint8Array(bin.buffer, bin.byteOffset, bin.byteLength);
  const arrays = new Map<string, Float32Array | Uint8Array>();
  for (const e of json.state) {
    const width = e.dtype === 'float32' ? 4 : 1;
    if (e.offset + e.length * width > bytes.length) {
      throw new FileFormatError(binPath, `is truncated: ${e.name} ends past the end of the file`);
    }
    const slice = bytes.slice(e.offset, e.offset + e.length * width);
    arrays.set(e.name, width === 4 ? new Float32Array(slice.buffer) : slice);
  }
  const { state: _manifest, ...state } = json;
  return { state, arrays };
}
