/**
 * TF.js layers-model reader: `model.json` (topology + `weightsManifest`) and its binary shards.
 * Each manifest group's shards are one concatenated buffer holding its weights in order;
 * quantized weights (`quantization: { dtype: 'uint8' | 'uint16', scale, min }` or
 * `{ dtype: 'float16' }`) are dequantized. BNN Lab's own checkpoints add
 * `"bnnLab": { "binaryLayers": { "<layer>": { "quantizer", "clip" } } }` to model.json.
 */
import { dirname, join } from 'node:path';
import { FileFormatError } from '../errors';
import { confinedPath, FILE_CAPS, readBoundedText } from '../io/boundedFile';
import { openFileSource, type ByteSource } from './byteSource';
import {
  allocateValues,
  checkTensorCount,
  readDecoded,
  shapeSize,
  type BinaryHint,
  type CheckpointModel,
  type CheckpointTensor,
  type TensorDtype,
} from './model';
import { hintFromLayerConfig } from './kerasConfig';

interface ManifestWeight {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number; original_dtype?: string };
}

const LOGICAL_DTYPES: Readonly<Record<string, TensorDtype>> = {
  float32: 'float32',
  int32: 'int32',
  bool: 'bool',
};

const STORED_SIZE: Readonly<Record<string, number>> = {
  float32: 4,
  int32: 4,
  bool: 1,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

/** One group of shards seen as a single byte range. */
class ShardGroup {
  private sources: ByteSource[] = [];
  private starts: number[] = [];
  size = 0;

  static async open(file: string, folder: string, paths: string[]): Promise<ShardGroup> {
    const group = new ShardGroup();
    try {
      for (const relative of paths) {
        // Lexically and after following symlinks, the shard must stay inside the folder.
        const full = await confinedPath(file, folder, relative, 'weight shard path');
        let source: ByteSource;
        try {
          source = await openFileSource(full, 'weight shard');
        } catch (error) {
          throw new FileFormatError(
            file,
            `weight shard "${relative}" cannot be opened (${(error as Error).message}); copy the .bin files next to model.json`,
          );
        }
        group.sources.push(source);
        group.starts.push(group.size);
        group.size += source.size;
      }
    } catch (error) {
      await group.close();
      throw error;
    }
    return group;
  }

  /** Reads `[offset, offset + length)` of the concatenation of the shards. */
  async read(offset: number, length: number, what: string): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    let done = 0;
    for (let i = 0; i < this.sources.length && done < length; i++) {
      const start = this.starts[i];
      const source = this.sources[i];
      const from = offset + done - start;
      if (from >= source.size || from < 0) continue;
      const take = Math.min(source.size - from, length - done);
      out.set(await source.read(from, take, what), done);
      done += take;
    }
    return out;
  }

  async close(): Promise<void> {
    for (const source of this.sources) await source.close();
  }
}

function hintsFromMetadata(file: string, json: Record<string, unknown>): Map<string, BinaryHint> {
  const hints = new Map<string, BinaryHint>();
  const meta = json.bnnLab as { binaryLayers?: unknown } | undefined;
  if (meta === undefined) return hints;
  if (typeof meta !== 'object' || meta === null) {
    throw new FileFormatError(file, '"bnnLab" in model.json is not an object');
  }
  const layers = meta.binaryLayers;
  if (layers === undefined) return hints;
  if (typeof layers !== 'object' || layers === null || Array.isArray(layers)) {
    throw new FileFormatError(file, '"bnnLab.binaryLayers" in model.json is not an object');
  }
  for (const [layer, value] of Object.entries(layers as Record<string, unknown>)) {
    const entry = (value ?? {}) as { quantizer?: unknown; clip?: unknown };
    const quantizer = typeof entry.quantizer === 'string' ? entry.quantizer : 'sign';
    const clip = typeof entry.clip === 'number' && entry.clip > 0 ? entry.clip : null;
    hints.set(layer, {
      binary: true,
      reason: `model.json bnnLab.binaryLayers: ${quantizer}${clip === null ? '' : ` (clip ${clip})`}`,
      clip,
    });
  }
  return hints;
}

/** Larq-style layer configs in the topology (a converted Larq model keeps them). */
function hintsFromTopology(json: Record<string, unknown>): Map<string, BinaryHint> {
  const hints = new Map<string, BinaryHint>();
  let visited = 0;
  const walk = (node: unknown, depth: number): void => {
    if (depth > 32 || ++visited > 100_000 || typeof node !== 'object' || node === null) return;
    const record = node as { class_name?: unknown; config?: Record<string, unknown> };
    const config = record.config;
    if (typeof record.class_name === 'string' && typeof config === 'object' && config !== null) {
      if (typeof config.name === 'string' && /^Quant/.test(record.class_name)) {
        const hint = hintFromLayerConfig(record.class_name, config, 'modelTopology');
        if (hint) hints.set(config.name, hint);
      }
      if (Array.isArray(config.layers)) for (const l of config.layers) walk(l, depth + 1);
    }
    const topology = (node as { model_config?: unknown }).model_config;
    if (topology) walk(topology, depth + 1);
  };
  walk(json.modelTopology, 0);
  return hints;
}

function weightHint(hints: Map<string, BinaryHint>, weightName: string): BinaryHint | undefined {
  const slash = weightName.lastIndexOf('/');
  if (slash < 0) return undefined;
  const layer = weightName.slice(0, slash);
  const variable = weightName.slice(slash + 1);
  const hint = hints.get(layer) ?? hints.get(layer.split('/').pop() ?? layer);
  if (!hint) return undefined;
  if (/kernel$/.test(variable)) return hint;
  return {
    binary: false,
    reason: `${variable} of a binary layer stays full precision`,
    clip: null,
  };
}

/**
 * Reads a TF.js layers model. `path` is the model.json; shards are resolved next to it and must
 * stay inside its folder. Kernels keep the TF.js layout (channel axis `last`).
 */
export async function readTfjs(path: string): Promise<CheckpointModel> {
  // Refuses FIFOs, devices and folders before opening, and files above the cap before reading.
  const text = await readBoundedText(path, { what: 'model.json', maxBytes: FILE_CAPS.modelJson });
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new FileFormatError(path, `model.json is not valid JSON (${(error as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || !Array.isArray(json.weightsManifest)) {
    throw new FileFormatError(
      path,
      'model.json has no "weightsManifest" array, so it is not a TF.js layers model',
    );
  }
  // Bounded before any shard is opened: each path is a file handle, each weight a record.
  let paths = 0;
  let weights = 0;
  for (const group of json.weightsManifest as { paths?: unknown; weights?: unknown }[]) {
    if (Array.isArray(group?.paths)) paths += group.paths.length;
    if (Array.isArray(group?.weights)) weights += group.weights.length;
  }
  checkTensorCount(path, Math.max(paths, weights));
  const hints = hintsFromTopology(json);
  for (const [layer, hint] of hintsFromMetadata(path, json)) hints.set(layer, hint);
  const folder = dirname(path);
  const groups: ShardGroup[] = [];
  const tensors: CheckpointTensor[] = [];
  const close = async () => {
    for (const group of groups) await group.close();
  };
  try {
    for (const [g, rawGroup] of (json.weightsManifest as unknown[]).entries()) {
      const groupJson = rawGroup as { paths?: unknown; weights?: unknown } | null;
      if (
        typeof groupJson !== 'object' ||
        groupJson === null ||
        !Array.isArray(groupJson.paths) ||
        !groupJson.paths.every((p) => typeof p === 'string') ||
        !Array.isArray(groupJson.weights)
      ) {
        throw new FileFormatError(path, `weightsManifest[${g}] needs "paths" and "weights" arrays`);
      }
      const group = await ShardGroup.open(path, folder, groupJson.paths as string[]);
      groups.push(group);
      let offset = 0;
      for (const rawWeight of groupJson.weights as unknown[]) {
        const weight = rawWeight as ManifestWeight;
        if (
          typeof weight !== 'object' ||
          weight === null ||
          typeof weight.name !== 'string' ||
          !Array.isArray(weight.shape)
        ) {
          throw new FileFormatError(path, `weightsManifest[${g}] has an entry without name/shape`);
        }
        const name = weight.name;
        const logical = LOGICAL_DTYPES[weight.dtype];
        if (logical === undefined) {
          throw new FileFormatError(
            path,
            `weight "${name}" has dtype ${String(weight.dtype)}, which is not read`,
          );
        }
        const shape = weight.shape as number[];
        const count = shapeSize(path, name, shape);
        const quantization = weight.quantization;
        let storedDtype: TensorDtype = logical;
        let storedSize = STORED_SIZE[weight.dtype];
        let scale = 1;
        let min = 0;
        if (quantization !== undefined) {
          const qd =
            typeof quantization === 'object' && quantization !== null
              ? quantization.dtype
              : undefined;
          if (qd !== 'uint8' && qd !== 'uint16' && qd !== 'float16') {
            throw new FileFormatError(
              path,
              `weight "${name}" has unsupported quantization ${JSON.stringify(quantization)}`,
            );
          }
          storedDtype = qd;
          storedSize = STORED_SIZE[qd];
          if (qd !== 'float16') {
            if (typeof quantization.scale !== 'number' || typeof quantization.min !== 'number') {
              throw new FileFormatError(
                path,
                `weight "${name}" is ${qd}-quantized without scale/min`,
              );
            }
            scale = quantization.scale;
            min = quantization.min;
          }
        }
        const byteLength = count * storedSize;
        const start = offset;
        offset += byteLength;
        if (offset > group.size) {
          throw new FileFormatError(
            path,
            `weight "${name}" (shape [${shape.join(', ')}], ${byteLength} bytes) runs past the end of its shards (${group.size} bytes): a shard is truncated or the manifest does not match`,
          );
        }
        tensors.push({
          name,
          shape: shape.slice(),
          dtype: logical,
          channelAxis: 'last',
          hint: weightHint(hints, name),
          async data() {
            const out = allocateValues(path, name, count);
            await readDecoded(group, start, storedDtype, count, out, `weight "${name}"`);
            if (storedDtype === 'uint8' || storedDtype === 'uint16') {
              for (let i = 0; i < count; i++) out[i] = out[i] * scale + min;
            }
            return out;
          },
        });
      }
    }
  } catch (error) {
    await close();
    throw error;
  }
  const binarySource =
    json.bnnLab !== undefined
      ? 'model.json bnnLab.binaryLayers'
      : hints.size > 0
        ? 'model.json modelTopology'
        : undefined;
  try {
    checkTensorCount(path, tensors.length);
  } catch (error) {
    await close();
    throw error;
  }
  return { format: 'tfjs', file: path, tensors, binarySource, close };
}

/** The model.json inside `folder`, for checkpoint folders such as `epoch-3/`. */
export function modelJsonIn(folder: string): string {
  return join(folder, 'model.json');
}
