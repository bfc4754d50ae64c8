/**
 * The common in-memory model every checkpoint reader returns, and the dtype decoders they share.
 * Readers only describe tensors; the bytes are read and decoded when `data()` is called.
 */
import type { ChannelAxis } from '../metrics/layerStats';
import { FileFormatError } from '../errors';

/** Checkpoint formats the inspector reads. */
export type CheckpointFormat = 'safetensors' | 'pytorch' | 'keras-h5' | 'keras3' | 'tfjs' | 'onnx';

/** Element types a stored tensor may have; every one decodes to float32 values. */
export type TensorDtype =
  | 'float64'
  | 'float32'
  | 'float16'
  | 'bfloat16'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'bool';

/** Bytes per element of each dtype. */
export const DTYPE_SIZE: Readonly<Record<TensorDtype, number>> = {
  float64: 8,
  float32: 4,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  uint16: 2,
  uint32: 4,
  bool: 1,
};

/** True for the dtypes that hold latent weights (the others are counters, indices, masks). */
export function isFloatDtype(dtype: TensorDtype): boolean {
  return dtype === 'float64' || dtype === 'float32' || dtype === 'float16' || dtype === 'bfloat16';
}

/** What the file itself says about a layer's binarization (Larq configs, BNN Lab metadata). */
export interface BinaryHint {
  binary: boolean;
  /** Human-readable reason, e.g. `model_config: QuantConv2D kernel_quantizer SteSign`. */
  reason: string;
  /** The weight quantizer's gradient clip `t_clip`, or null when none or unknown. */
  clip: number | null;
}

/** One stored tensor. */
export interface CheckpointTensor {
  /** Name as the file spells it (`features.0.weight`, `quant_conv2d/kernel:0`). */
  name: string;
  /** Dimensions, outermost first. */
  shape: number[];
  /** The stored dtype (before dequantization for TF.js quantized weights: their logical dtype). */
  dtype: TensorDtype;
  /** Output-channel axis: `last` for Keras/TF.js kernels, `first` for PyTorch/safetensors. */
  channelAxis: ChannelAxis;
  /** What the file says about this tensor's binarization, when it says anything. */
  hint?: BinaryHint;
  /** Reads and decodes the values in row-major order (contiguous copy, float32). */
  data(): Promise<Float32Array>;
  /**
   * Set when several tensors are the same view of the same stored bytes (PyTorch tied weights):
   * equal keys mean equal values, so the inspector computes their statistics once.
   */
  viewKey?: string;
}

/**
 * Most tensors a checkpoint may list. Each costs a read and a statistics record, so a small file
 * listing millions of tiny views (a 1.5 MB pickle holds 100,000) would cost minutes and
 * gigabytes; real state dicts hold hundreds to a few thousand.
 */
export const MAX_TENSORS = 25_000;

/** Refuses a checkpoint listing more than MAX_TENSORS tensors. */
export function checkTensorCount(file: string, count: number): void {
  if (count > MAX_TENSORS) {
    throw new FileFormatError(
      file,
      `lists ${count} tensors, more than the ${MAX_TENSORS} the inspector reads from one file (a crafted or damaged file); split it into smaller files`,
    );
  }
}

/** A checkpoint opened for reading; `close()` releases the file handle. */
export interface CheckpointModel {
  format: CheckpointFormat;
  /** The file (or model.json) that was opened. */
  file: string;
  tensors: CheckpointTensor[];
  /**
   * Set when the file records which layers are binary (Larq model_config, BNN Lab metadata):
   * names that record, e.g. `model_config`. Tensors without a hint are then full precision.
   */
  binarySource?: string;
  /** Where in the file the tensors were found, e.g. `state_dict` for a nested PyTorch dict. */
  note?: string;
  close(): Promise<void>;
}

/** Product of the dimensions; throws when a dimension is not a safe non-negative integer. */
export function shapeSize(file: string, name: string, shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new FileFormatError(file, `tensor "${name}" has an invalid dimension ${String(d)}`);
    }
    n *= d;
    if (!Number.isSafeInteger(n)) {
      throw new FileFormatError(file, `tensor "${name}" has too many elements`);
    }
  }
  return n;
}

/** Largest tensor the inspector decodes at once (elements); float32 copies above it are refused. */
export const MAX_TENSOR_ELEMENTS = 2 ** 30;

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE half → number. */
export function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** bfloat16 bits → number (the upper half of a float32). */
export function bfloat16ToNumber(h: number): number {
  u32Scratch[0] = (h & 0xffff) << 16;
  return f32Scratch[0];
}

/**
 * Decodes `count` little-endian elements of `dtype` starting at `byteOffset` of `bytes`
 * into `out[outOffset…]`. Callers check bounds first.
 */
export function decodeInto(
  bytes: Uint8Array,
  byteOffset: number,
  dtype: TensorDtype,
  count: number,
  out: Float32Array,
  outOffset = 0,
): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset + byteOffset, count * DTYPE_SIZE[dtype]);
  switch (dtype) {
    case 'float32':
      for (let i = 0; i < count; i++) out[outOffset + i] = view.getFloat32(i * 4, true);
      return;
    case 'float64':
      for (let i = 0; i < count; i++) out[outOffset + i] = view.getFloat64(i * 8, true);
      return;
    case 'float16':
      for (let i = 0; i < count; i++)
        out[outOffset + i] = halfToNumber(view.getUint16(i * 2, true));
      return;
    case 'bfloat16':
      for (let i = 0; i < count; i++) {
        out[outOffset + i] = bfloat16ToNumber(view.getUint16(i * 2, true));
      }
      return;
    case 'int64':
      for (let i = 0; i < count; i++) out[outOffset + i] = Number(view.getBigInt64(i * 8, true));
      return;
    case 'int32':
      for (let i = 0; i < count; i++) out[outOffset + i] = view.getInt32(i * 4, true);
      return;
    case 'uint32':
      for (let i = 0; i < count; i++) out[outOffset + i] = view.getUint32(i * 4, true);
      return;
    case 'int16':
      for (let i = 0; i < count; i++) out[outOffset + i] = view.getInt16(i * 2, true);
      return;
    case 'uint16':
      for (let i = 0; i < count; i++) out[outOffset + i] = view.getUint16(i * 2, true);
      return;
    case 'int8':
      for (let i = 0; i < count; i++) out[outOffset + i] = view.getInt8(i);
      return;
    case 'uint8':
    case 'bool':
      for (let i = 0; i < count; i++) out[outOffset + i] = view.getUint8(i);
      return;
  }
}

/** Allocates the float32 output for a tensor, refusing sizes the inspector cannot hold. */
export function allocateValues(file: string, name: string, count: number): Float32Array {
  if (count > MAX_TENSOR_ELEMENTS) {
    throw new FileFormatError(
      file,
      `tensor "${name}" has ${count} elements, more than the inspector decodes at once (${MAX_TENSOR_ELEMENTS})`,
    );
  }
  return new Float32Array(count);
}

/** Bytes read per chunk when decoding a tensor, so at most this much is held besides the output. */
export const DECODE_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Reads `count` elements of `dtype` starting at `byteOffset` of `source` and decodes them into
 * `out[outOffset…]`, a chunk at a time: the raw bytes are never held in full next to `out`.
 */
export async function readDecoded(
  source: { read(offset: number, length: number, what: string): Promise<Uint8Array> },
  byteOffset: number,
  dtype: TensorDtype,
  count: number,
  out: Float32Array,
  what: string,
  outOffset = 0,
  chunkBytes = DECODE_CHUNK_BYTES,
): Promise<void> {
  const size = DTYPE_SIZE[dtype];
  const perChunk = Math.max(1, Math.floor(chunkBytes / size));
  for (let done = 0; done < count; done += perChunk) {
    const n = Math.min(perChunk, count - done);
    const bytes = await source.read(byteOffset + done * size, n * size, what);
    decodeInto(bytes, 0, dtype, n, out, outOffset + done);
  }
}

/** A reader of one element of `dtype` at a byte offset (little-endian), for strided gathers. */
export function elementReader(dtype: TensorDtype): (view: DataView, byteOffset: number) => number {
  switch (dtype) {
    case 'float32':
      return (v, o) => v.getFloat32(o, true);
    case 'float64':
      return (v, o) => v.getFloat64(o, true);
    case 'float16':
      return (v, o) => halfToNumber(v.getUint16(o, true));
    case 'bfloat16':
      return (v, o) => bfloat16ToNumber(v.getUint16(o, true));
    case 'int64':
      return (v, o) => Number(v.getBigInt64(o, true));
    case 'int32':
      return (v, o) => v.getInt32(o, true);
    case 'uint32':
      return (v, o) => v.getUint32(o, true);
    case 'int16':
      return (v, o) => v.getInt16(o, true);
    case 'uint16':
      return (v, o) => v.getUint16(o, true);
    case 'int8':
      return (v, o) => v.getInt8(o);
    case 'uint8':
    case 'bool':
      return (v, o) => v.getUint8(o);
  }
}
