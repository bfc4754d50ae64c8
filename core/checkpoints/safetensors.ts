/**
 * safetensors reader: an 8-byte little-endian header length N, N bytes of JSON
 * (`{ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": {...} }`), then the
 * data buffer; offsets are relative to the start of the data buffer.
 */
import { FileFormatError } from '../errors';
import type { ByteSource } from './byteSource';
import {
  DTYPE_SIZE,
  allocateValues,
  checkTensorCount,
  readDecoded,
  shapeSize,
  type CheckpointModel,
  type CheckpointTensor,
  type TensorDtype,
} from './model';

const SAFETENSORS_DTYPES: Readonly<Record<string, TensorDtype>> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  U16: 'uint16',
  U32: 'uint32',
  BOOL: 'bool',
};

/** Headers above this are refused (the format's own reference reader uses 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

/** Cheap check used by format detection: a plausible header length followed by `{`. */
export function looksLikeSafetensors(head: Uint8Array, fileSize: number): boolean {
  if (head.length < 9) return false;
  const view = new DataView(head.buffer, head.byteOffset, head.length);
  const n = Number(view.getBigUint64(0, true));
  return n > 1 && fileSize >= 9 && head[8] === 0x7b;
}

/**
 * The tensors' byte ranges must tile the data buffer: sorted by offset, each starts where the
 * previous one ended, and the last ends at the end of the file. This is the reference loader's
 * rule (safetensors' `validate`: InvalidOffset, MetadataIncompleteBuffer); it also means no two
 * tensors share bytes, so inspecting a file costs no more than reading it once.
 */
function checkContiguous(
  file: string,
  ranges: { name: string; begin: number; end: number }[],
  dataSize: number,
): void {
  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const range of ranges) {
    if (range.begin !== expected) {
      throw new FileFormatError(
        file,
        range.begin < expected
          ? `tensor "${range.name}" data_offsets [${range.begin}, ${range.end}] overlap the tensor before it (which ends at ${expected}); safetensors tensors may not share bytes, so the file is corrupt or crafted`
          : `tensor "${range.name}" data_offsets [${range.begin}, ${range.end}] leave a gap after byte ${expected}; safetensors data must be contiguous, so the file is corrupt`,
      );
    }
    expected = range.end;
  }
  if (expected !== dataSize) {
    throw new FileFormatError(
      file,
      `the tensors cover ${expected} bytes of the ${dataSize}-byte data buffer; the rest belongs to no tensor (corrupt, or not written by safetensors)`,
    );
  }
}

/**
 * Reads a safetensors file's header and describes its tensors (channel axis `first`, the
 * PyTorch convention). Tensor data is read from `source` when `data()` is called.
 */
export async function readSafetensors(source: ByteSource): Promise<CheckpointModel> {
  const file = source.name;
  if (source.size < 8) {
    throw new FileFormatError(file, `only ${source.size} bytes: too short for a safetensors file`);
  }
  const lengthBytes = await source.read(0, 8, 'header length');
  const headerLength = Number(
    new DataView(lengthBytes.buffer, lengthBytes.byteOffset, 8).getBigUint64(0, true),
  );
  if (headerLength > source.size - 8) {
    throw new FileFormatError(
      file,
      `safetensors header says ${headerLength} bytes of JSON but the file has only ${source.size - 8} after the length field (truncated, or not a safetensors file)`,
    );
  }
  if (headerLength > MAX_HEADER_BYTES || headerLength < 2) {
    throw new FileFormatError(file, `safetensors header length ${headerLength} is implausible`);
  }
  const headerBytes = await source.read(8, headerLength, 'safetensors header');
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (error) {
    throw new FileFormatError(
      file,
      `safetensors header is not valid JSON (${(error as Error).message}); the file is corrupt or not safetensors`,
    );
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new FileFormatError(file, 'safetensors header is not a JSON object');
  }
  const dataStart = 8 + headerLength;
  const dataSize = source.size - dataStart;
  const tensors: CheckpointTensor[] = [];
  const ranges: { name: string; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const entry = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (typeof entry !== 'object' || entry === null) {
      throw new FileFormatError(file, `safetensors entry "${name}" is not an object`);
    }
    const dtype = typeof entry.dtype === 'string' ? SAFETENSORS_DTYPES[entry.dtype] : undefined;
    if (dtype === undefined) {
      throw new FileFormatError(
        file,
        `tensor "${name}" has dtype ${JSON.stringify(entry.dtype)}, which the inspector does not read (F64, F32, F16, BF16, I64, I32, I16, I8, U8, U16, U32, BOOL)`,
      );
    }
    if (!Array.isArray(entry.shape) || !entry.shape.every((d) => typeof d === 'number')) {
      throw new FileFormatError(file, `tensor "${name}" has no valid "shape" array`);
    }
    const shape = entry.shape as number[];
    const offsets = entry.data_offsets;
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)
    ) {
      throw new FileFormatError(file, `tensor "${name}" has no valid "data_offsets" pair`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin || end > dataSize) {
      throw new FileFormatError(
        file,
        `tensor "${name}" data_offsets [${begin}, ${end}] lie outside the ${dataSize}-byte data buffer (truncated or corrupt)`,
      );
    }
    const count = shapeSize(file, name, shape);
    const elementSize = DTYPE_SIZE[dtype];
    if (count * elementSize !== end - begin) {
      throw new FileFormatError(
        file,
        `tensor "${name}" has shape [${shape.join(', ')}] (${count} × ${elementSize} bytes) but ${end - begin} bytes of data`,
      );
    }
    ranges.push({ name, begin, end });
    tensors.push({
      name,
      shape: shape.slice(),
      dtype,
      channelAxis: 'first',
      async data() {
        const out = allocateValues(file, name, count);
        await readDecoded(source, dataStart + begin, dtype, count, out, `tensor "${name}"`);
        return out;
      },
    });
  }
  checkContiguous(file, ranges, dataSize);
  checkTensorCount(file, tensors.length);
  return { format: 'safetensors', file, tensors, close: () => source.close() };
}
