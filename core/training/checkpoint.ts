/**
 * BNN Lab checkpoints: a TF.js layers model (`model.json` + `weights.bin`) with BNN Lab metadata
 * under the top-level `bnnLab` key of model.json, plus the training state needed to resume
 * (`training-state.json` + `state.bin`: optimizer slots and the sign bits behind flipRate).
 */
import * as tf from '../tf';
import { realpathSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { FileFormatError, UserError } from '../errors';
import { FILE_CAPS, inside, readBoundedFileSync, readBoundedTextSync } from '../io/boundedFile';
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
  /** The epoch's mean training loss and accuracy, for its `epoch` record if that was lost. */
  trainLoss?: number;
  trainAccuracy?: number;
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
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
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

/** A checkpoint's `model.json`, checked for the fields loading needs. */
export interface CheckpointManifest {
  modelTopology: object;
  specs: tf.io.WeightsManifestEntry[];
  /** Shard files, absolute, each inside the checkpoint folder. */
  shards: string[];
  meta: CheckpointMeta | undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads and checks a checkpoint's `model.json` without loading any weights: the topology, the
 * weight specs (name, shape, dtype) and the shard paths, which must stay inside `dir` (no
 * absolute paths, no `..`, no symlink out of the folder).
 * @throws FileFormatError naming model.json and the bad field.
 */
export function readCheckpointManifest(dir: string): CheckpointManifest {
  const jsonPath = join(dir, 'model.json');
  let json: unknown;
  try {
    json = JSON.parse(readBoundedTextSync(jsonPath, MODEL_JSON));
  } catch (e) {
    throw new FileFormatError(jsonPath, `cannot be read as a TF.js model: ${(e as Error).message}`);
  }
  if (!isRecord(json) || !isRecord(json.modelTopology) || !Array.isArray(json.weightsManifest)) {
    throw new FileFormatError(
      jsonPath,
      'is not a TF.js layers model (no modelTopology or weightsManifest)',
    );
  }
  const specs: tf.io.WeightsManifestEntry[] = [];
  const shards: string[] = [];
  let realDir: string;
  try {
    realDir = realpathSync(dir);
  } catch (e) {
    throw new FileFormatError(dir, `cannot be read: ${(e as Error).message}`);
  }
  for (const group of json.weightsManifest as unknown[]) {
    if (!isRecord(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw new FileFormatError(jsonPath, 'has a weightsManifest entry without paths or weights');
    }
    for (const w of group.weights as unknown[]) {
      if (
        !isRecord(w) ||
        typeof w.name !== 'string' ||
        !Array.isArray(w.shape) ||
        !w.shape.every((d) => Number.isInteger(d) && (d as number) >= 0)
      ) {
        throw new FileFormatError(jsonPath, 'has a weight without a name or a valid shape');
      }
      specs.push(w as unknown as tf.io.WeightsManifestEntry);
    }
    for (const p of group.paths as unknown[]) {
      if (typeof p !== 'string' || p === '' || isAbsolute(p)) {
        throw new FileFormatError(
          jsonPath,
          `names the weights file ${JSON.stringify(p)}, which is not a file of the checkpoint folder`,
        );
      }
      const shard = resolve(dir, p);
      let real: string;
      try {
        real = realpathSync(shard);
      } catch {
        throw new FileFormatError(shard, 'is missing: the checkpoint is incomplete');
      }
      // The shard must be a file below the folder, not the folder itself.
      if (real === realDir || !inside(realDir, real)) {
        throw new FileFormatError(
          jsonPath,
          `names the weights file "${p}", which lies outside the checkpoint folder; only files inside it are read`,
        );
      }
      shards.push(real);
    }
  }
  const meta = isRecord(json.bnnLab) ? (json.bnnLab as unknown as CheckpointMeta) : undefined;
  return { modelTopology: json.modelTopology, specs, shards, meta };
}

/**
 * Checks that a checkpoint's weights fit `model` (same count and shapes, in order), before any
 * weight is loaded, so a mismatch is one short message rather than a tensor dump.
 * @throws UserError naming the checkpoint, the first weight that differs and what to do.
 */
export function checkWeightsFit(
  dir: string,
  manifest: CheckpointManifest,
  model: tf.LayersModel,
  what: string,
): void {
  const weights = model.weights;
  const shape = (s: readonly (number | null)[]) => `[${s.join(', ')}]`;
  if (manifest.specs.length !== weights.length) {
    throw new UserError(
      `${dir}: the checkpoint holds ${manifest.specs.length} weight tensors, ${what} has ${weights.length}; use the run config the checkpoint was trained with`,
    );
  }
  for (let i = 0; i < weights.length; i++) {
    const saved = manifest.specs[i].shape;
    const here = weights[i].shape;
    if (saved.length !== here.length || saved.some((d, k) => d !== here[k])) {
      throw new UserError(
        `${dir}: weight ${manifest.specs[i].name} has shape ${shape(saved)} in the checkpoint but ${shape(here)} in ${what}; use the run config the checkpoint was trained with`,
      );
    }
  }
}

/**
 * Loads a BNN Lab checkpoint folder with `tf.loadLayersModel` (custom layers are registered).
 * Weight files are read only from inside `dir` (see readCheckpointManifest).
 * @throws FileFormatError naming the file when model.json or weights.bin is missing or broken.
 */
export async function loadCheckpointModel(
  dir: string,
  manifest: CheckpointManifest = readCheckpointManifest(dir),
): Promise<{ model: tf.LayersModel; meta: CheckpointMeta | undefined }> {
  const buffers = manifest.shards.map((p) => readBoundedFileSync(p, WEIGHTS));
  const weights = joinBuffers(
    buffers.map((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer),
  );
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: manifest.modelTopology,
      weightSpecs: manifest.specs,
      weightData: weights.buffer as ArrayBuffer,
    }),
  );
  return { model, meta: manifest.meta };
}

/** A `training-state.json` field check: the message names the field and what it holds. */
function stateProblem(json: Record<string, unknown>, binLength: number): string | undefined {
  const int = (v: unknown, min: number) => Number.isSafeInteger(v) && (v as number) >= min;
  if (!int(json.epoch, 1))
    return `"epoch" must be an integer ≥ 1, got ${JSON.stringify(json.epoch)}`;
  if (!int(json.step, 0)) return `"step" must be an integer ≥ 0, got ${JSON.stringify(json.step)}`;
  if (!int(json.seed, 0)) return `"seed" must be an integer ≥ 0, got ${JSON.stringify(json.seed)}`;
  if (json.optimizer !== undefined && json.optimizer !== 'adam' && json.optimizer !== 'sgd')
    return `"optimizer" must be "adam" or "sgd", got ${JSON.stringify(json.optimizer)}`;
  for (const k of ['learningRate', 'tau', 'trainLoss', 'trainAccuracy']) {
    if (json[k] !== undefined && (typeof json[k] !== 'number' || !Number.isFinite(json[k])))
      return `"${k}" must be a finite number, got ${JSON.stringify(json[k])}`;
  }
  if (!Array.isArray(json.state)) return '"state" (the manifest of state.bin) is missing';
  for (const [i, e] of (json.state as unknown[]).entries()) {
    const where = `"state"[${i}]`;
    if (!isRecord(e)) return `${where} must be an object, got ${JSON.stringify(e)}`;
    if (typeof e.name !== 'string') return `${where}.name must be a string`;
    if (e.dtype !== 'float32' && e.dtype !== 'uint8')
      return `${where} (${e.name}): "dtype" must be "float32" or "uint8", got ${JSON.stringify(e.dtype)}`;
    if (!int(e.offset, 0) || !int(e.length, 0))
      return `${where} (${e.name}): "offset" and "length" must be integers ≥ 0, got ${JSON.stringify(e.offset)} and ${JSON.stringify(e.length)}`;
    const end = (e.offset as number) + (e.length as number) * (e.dtype === 'float32' ? 4 : 1);
    if (end > binLength)
      return `${where} (${e.name}) ends at byte ${end}, past the end of state.bin (${binLength} bytes)`;
  }
  return undefined;
}

/**
 * Reads a checkpoint's `training-state.json` and the named arrays of `state.bin`. Every field is
 * checked (integers in range, offsets inside state.bin, no nulls) before anything is used.
 * @throws FileFormatError naming the file and the field when either is missing or inconsistent.
 */
export function readTrainingState(dir: string): {
  state: TrainingState;
  arrays: Map<string, Float32Array | Uint8Array>;
} {
  const jsonPath = join(dir, 'training-state.json');
  const binPath = join(dir, 'state.bin');
  let json: unknown;
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
  if (!isRecord(json)) throw new FileFormatError(jsonPath, 'must hold a JSON object');
  const problem = stateProblem(json, bin.byteLength);
  if (problem) throw new FileFormatError(jsonPath, problem);
  const manifest = json.state as { name: string; dtype: string; offset: number; length: number }[];
  const bytes = new Uint8Array(bin.buffer, bin.byteOffset, bin.byteLength);
  const arrays = new Map<string, Float32Array | Uint8Array>();
  for (const e of manifest) {
    const width = e.dtype === 'float32' ? 4 : 1;
    const slice = bytes.slice(e.offset, e.offset + e.length * width);
    arrays.set(e.name, width === 4 ? new Float32Array(slice.buffer) : slice);
  }
  const { state: _manifest, ...state } = json;
  return { state: state as unknown as TrainingState, arrays };
}
