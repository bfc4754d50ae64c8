/**
 * ONNX reader: the initializers of a model's graph (ModelProto.graph.initializer), read by
 * walking the protobuf wire format with ranged reads. Only field headers and small fields are
 * read while listing; each tensor's `raw_data` (or packed `float_data`/`int32_data`/…) is read
 * when its values are needed. External data (`data_location = EXTERNAL`) is read from files
 * next to the model. ONNX does not record binarization: name patterns decide (docs/inspect.md).
 */
import { dirname, resolve, sep } from 'node:path';
import { FileFormatError } from '../errors';
import { openFileSource, type ByteSource } from './byteSource';
import { confinedPath } from '../io/boundedFile';
import {
  DTYPE_SIZE,
  allocateValues,
  checkTensorCount,
  bfloat16ToNumber,
  readDecoded,
  halfToNumber,
  shapeSize,
  type CheckpointModel,
  type CheckpointTensor,
  type TensorDtype,
} from './model';

/** TensorProto.DataType → dtype (strings and complex numbers are not weights). */
const ONNX_DTYPES: Readonly<Record<number, TensorDtype>> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  16: 'bfloat16',
};

/** Longest string field read (tensor names, external-data keys and values). */
const MAX_TEXT_BYTES = 1024 * 1024;

/** A byte range of the file. */
interface Span {
  start: number;
  end: number;
}

/** Reads protobuf fields from a source through a small cache window. */
class WireReader {
  private cacheStart = 0;
  private cache: Uint8Array = new Uint8Array(0);

  constructor(readonly source: ByteSource) {}

  private async bytesAt(offset: number, length: number): Promise<Uint8Array> {
    if (offset >= this.cacheStart && offset + length <= this.cacheStart + this.cache.length) {
      return this.cache.subarray(offset - this.cacheStart, offset - this.cacheStart + length);
    }
    const windowLength = Math.min(Math.max(length, 64 * 1024), this.source.size - offset);
    if (windowLength < length) {
      throw new FileFormatError(
        this.source.name,
        `ONNX data ends inside a field at byte ${offset}`,
      );
    }
    this.cache = await this.source.read(offset, windowLength, 'ONNX protobuf');
    this.cacheStart = offset;
    return this.cache.subarray(0, length);
  }

  /** A varint at `offset` within `limit`: its value (exact up to 2^53) and the next offset. */
  async varint(offset: number, limit: number): Promise<{ value: number; next: number }> {
    const bytes = await this.bytesAt(offset, Math.min(10, limit - offset));
    let value = 0;
    let scale = 1;
    for (let i = 0; i < bytes.length; i++) {
      value += (bytes[i] & 0x7f) * scale;
      scale *= 128;
      if ((bytes[i] & 0x80) === 0) return { value, next: offset + i + 1 };
    }
    throw new FileFormatError(this.source.name, `ONNX protobuf: bad varint at byte ${offset}`);
  }

  /**
   * Visits the fields of the message in `span`: `visit(field, wireType, valueSpan, varintValue)`.
   * Length-delimited values are given as spans and are not read.
   */
  async fields(
    span: Span,
    visit: (field: number, wireType: number, value: Span, varint: number) => Promise<void> | void,
  ): Promise<void> {
    let at = span.start;
    while (at < span.end) {
      const tag = await this.varint(at, span.end);
      const field = Math.floor(tag.value / 8);
      const wireType = tag.value % 8;
      at = tag.next;
      let value: Span;
      let varint = 0;
      if (wireType === 0) {
        const v = await this.varint(at, span.end);
        varint = v.value;
        value = { start: at, end: v.next };
      } else if (wireType === 1) {
        value = { start: at, end: at + 8 };
      } else if (wireType === 5) {
        value = { start: at, end: at + 4 };
      } else if (wireType === 2) {
        const length = await this.varint(at, span.end);
        value = { start: length.next, end: length.next + length.value };
      } else {
        throw new FileFormatError(
          this.source.name,
          `ONNX protobuf: wire type ${wireType} at byte ${at} (corrupt, or not an ONNX model)`,
        );
      }
      if (value.end > span.end || field === 0) {
        throw new FileFormatError(
          this.source.name,
          `ONNX protobuf: field ${field} at byte ${at} runs past its message (truncated or corrupt)`,
        );
      }
      await visit(field, wireType, value, varint);
      at = value.end;
    }
  }

  async text(span: Span): Promise<string> {
    // Names and external-data keys are short; a huge string field is refused before reading.
    if (span.end - span.start > MAX_TEXT_BYTES) {
      throw new FileFormatError(
        this.source.name,
        `ONNX string field at byte ${span.start} is ${span.end - span.start} bytes long, more than any name (corrupt or crafted)`,
      );
    }
    return new TextDecoder().decode(await this.bytesAt(span.start, span.end - span.start));
  }

  /** Packed varints in `span` (or a single unpacked one), as numbers; negative int64 wrap. */
  async packedVarints(span: Span, out: number[], limit: number): Promise<void> {
    // A varint takes at most 10 bytes: a longer field holds more than `limit` values.
    if (span.end - span.start > limit * 10) {
      throw new FileFormatError(this.source.name, 'ONNX packed field holds too many values');
    }
    const bytes = await this.source.read(span.start, span.end - span.start, 'ONNX packed values');
    let value = 0;
    let scale = 1;
    for (let i = 0; i < bytes.length; i++) {
      value += (bytes[i] & 0x7f) * scale;
      scale *= 128;
      if ((bytes[i] & 0x80) === 0) {
        // int64 negatives are 10-byte two's complement varints.
        out.push(value >= 2 ** 63 ? value - 2 ** 64 : value);
        if (out.length > limit) {
          throw new FileFormatError(this.source.name, 'ONNX packed field holds too many values');
        }
        value = 0;
        scale = 1;
      } else if (scale > 2 ** 70) {
        throw new FileFormatError(
          this.source.name,
          `ONNX protobuf: bad varint at byte ${span.start + i}`,
        );
      }
    }
  }
}

/** Where a tensor's values are stored. */
type Storage =
  | { kind: 'raw'; span: Span }
  | { kind: 'fixed'; spans: Span[]; dtype: 'float32' | 'float64' }
  | { kind: 'varint'; spans: Span[] }
  | { kind: 'external'; location: string; offset: number; length: number | undefined };

interface InitializerInfo {
  name: string;
  dims: number[];
  dataType: number;
  storage: Storage | undefined;
}

async function readInitializer(reader: WireReader, span: Span): Promise<InitializerInfo> {
  const file = reader.source.name;
  const info: InitializerInfo = { name: '', dims: [], dataType: 0, storage: undefined };
  const fixed: Span[] = [];
  const varints: Span[] = [];
  let fixedType: 'float32' | 'float64' = 'float32';
  let external = false;
  const externalData = new Map<string, string>();
  await reader.fields(span, async (field, wireType, value, varint) => {
    switch (field) {
      case 1: // dims
        if (wireType === 0) info.dims.push(varint);
        else if (wireType === 2) await reader.packedVarints(value, info.dims, 64);
        if (info.dims.length > 64) throw new FileFormatError(file, 'ONNX tensor has too many dims');
        break;
      case 2:
        info.dataType = varint;
        break;
      case 8:
        if (wireType === 2) info.name = await reader.text(value);
        break;
      case 9:
        if (wireType === 2) info.storage = { kind: 'raw', span: value };
        break;
      case 4: // float_data
      case 10: // double_data
        if (wireType === 2) {
          fixed.push(value);
          fixedType = field === 4 ? 'float32' : 'float64';
        } else {
          fixed.push(value);
          fixedType = wireType === 1 ? 'float64' : 'float32';
        }
        break;
      case 5: // int32_data (also float16/bfloat16/int8/uint8/bool bit patterns)
      case 7: // int64_data
      case 11: // uint64_data
        varints.push(value);
        break;
      case 13: {
        // external_data: StringStringEntryProto { key = 1, value = 2 }
        let key = '';
        let text = '';
        await reader.fields(value, async (f, w, v) => {
          if (w !== 2) return;
          if (f === 1) key = await reader.text(v);
          if (f === 2) text = await reader.text(v);
        });
        externalData.set(key, text);
        break;
      }
      case 14:
        external = varint === 1;
        break;
    }
  });
  if (external) {
    const location = externalData.get('location');
    if (!location)
      throw new FileFormatError(file, `ONNX tensor "${info.name}" has no external location`);
    const offset = Number(externalData.get('offset') ?? '0');
    const length = externalData.has('length') ? Number(externalData.get('length')) : undefined;
    if (!Number.isSafeInteger(offset) || (length !== undefined && !Number.isSafeInteger(length))) {
      throw new FileFormatError(
        file,
        `ONNX tensor "${info.name}" has a bad external offset/length`,
      );
    }
    info.storage = { kind: 'external', location, offset, length };
  } else if (info.storage === undefined && fixed.length > 0) {
    info.storage = { kind: 'fixed', spans: fixed, dtype: fixedType };
  } else if (info.storage === undefined && varints.length > 0) {
    info.storage = { kind: 'varint', spans: varints };
  }
  return info;
}

function tensorFromInitializer(
  reader: WireReader,
  folder: string,
  info: InitializerInfo,
  index: number,
): CheckpointTensor | undefined {
  const file = reader.source.name;
  const dtype = ONNX_DTYPES[info.dataType];
  if (dtype === undefined) return undefined; // strings, complex: not weights
  const name = info.name || `initializer_${index}`;
  const count = shapeSize(file, name, info.dims);
  const byteLength = count * DTYPE_SIZE[dtype];
  const storage = info.storage;
  if (storage === undefined) {
    if (count === 0) {
      return {
        name,
        shape: info.dims,
        dtype,
        channelAxis: 'first',
        data: async () => new Float32Array(0),
      };
    }
    throw new FileFormatError(file, `ONNX tensor "${name}" has no data`);
  }
  if (storage.kind === 'raw' && storage.span.end - storage.span.start !== byteLength) {
    throw new FileFormatError(
      file,
      `ONNX tensor "${name}" has shape [${info.dims.join(', ')}] (${byteLength} bytes of ${dtype}) but ${storage.span.end - storage.span.start} bytes of raw_data`,
    );
  }
  if (storage.kind === 'fixed') {
    const size = storage.dtype === 'float32' ? 4 : 8;
    const total = storage.spans.reduce((a, s) => a + (s.end - s.start), 0);
    if (total !== count * size) {
      throw new FileFormatError(
        file,
        `ONNX tensor "${name}" has ${total / size} values for shape [${info.dims.join(', ')}]`,
      );
    }
  }
  if (storage.kind === 'external') {
    if (storage.length !== undefined && storage.length !== byteLength) {
      throw new FileFormatError(
        file,
        `ONNX tensor "${name}": external length ${storage.length} ≠ ${byteLength} bytes`,
      );
    }
    const full = resolve(folder, storage.location);
    if (!full.startsWith(resolve(folder) + sep)) {
      throw new FileFormatError(
        file,
        `ONNX tensor "${name}": external data path leaves the model folder`,
      );
    }
  }
  return {
    name,
    shape: info.dims.slice(),
    dtype,
    channelAxis: 'first',
    async data() {
      // External data: confined to the model folder after following symlinks, opened (regular
      // files only) and its declared range checked against the file before allocating.
      let external: ByteSource | undefined;
      if (storage.kind === 'external') {
        const what = `ONNX tensor "${name}": external data path`;
        const full = await confinedPath(file, folder, storage.location, what);
        external = await openFileSource(full, 'ONNX external data').catch((error: Error) => {
          throw new FileFormatError(
            file,
            `ONNX external data "${storage.location}" cannot be opened (${error.message})`,
          );
        });
        if (storage.offset + byteLength > external.size) {
          await external.close();
          throw new FileFormatError(
            file,
            `ONNX tensor "${name}" needs bytes ${storage.offset}…${storage.offset + byteLength} of "${storage.location}", which has ${external.size} bytes (truncated or corrupt)`,
          );
        }
      }
      const out = allocateValues(file, name, count);
      switch (storage.kind) {
        case 'raw': {
          await readDecoded(
            reader.source,
            storage.span.start,
            dtype,
            count,
            out,
            `tensor "${name}"`,
          );
          return out;
        }
        case 'fixed': {
          let filled = 0;
          for (const span of storage.spans) {
            const n = (span.end - span.start) / (storage.dtype === 'float32' ? 4 : 8);
            await readDecoded(
              reader.source,
              span.start,
              storage.dtype,
              n,
              out,
              `tensor "${name}"`,
              filled,
            );
            filled += n;
          }
          return out;
        }
        case 'varint': {
          const values: number[] = [];
          for (const span of storage.spans) await reader.packedVarints(span, values, count);
          if (values.length !== count) {
            throw new FileFormatError(
              file,
              `ONNX tensor "${name}" has ${values.length} values for ${count} elements`,
            );
          }
          for (let i = 0; i < count; i++) {
            const v = values[i];
            out[i] =
              dtype === 'float16'
                ? halfToNumber(v)
                : dtype === 'bfloat16'
                  ? bfloat16ToNumber(v)
                  : v;
          }
          return out;
        }
        case 'external': {
          const source = external!;
          try {
            await readDecoded(source, storage.offset, dtype, count, out, `tensor "${name}"`);
          } finally {
            await source.close();
          }
          return out;
        }
      }
    },
  };
}

/** True when the first bytes look like an ONNX ModelProto (field 1 `ir_version` varint). */
export function looksLikeOnnx(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x08 && head[1] > 0 && head[1] < 32;
}

/**
 * Reads the initializers of an ONNX model (channel axis `first`, as PyTorch exports them).
 * Tensor values are read when `data()` is called.
 */
export async function readOnnx(source: ByteSource): Promise<CheckpointModel> {
  const file = source.name;
  try {
    const reader = new WireReader(source);
    let graph: Span | undefined;
    await reader.fields({ start: 0, end: source.size }, (field, wireType, value) => {
      if (field === 7 && wireType === 2) graph = value;
    });
    if (!graph) throw new FileFormatError(file, 'this ONNX model has no graph');
    const infos: InitializerInfo[] = [];
    await reader.fields(graph, async (field, wireType, value) => {
      if (field === 5 && wireType === 2) infos.push(await readInitializer(reader, value));
    });
    const folder = dirname(file);
    const tensors = infos
      .map((info, i) => tensorFromInitializer(reader, folder, info, i))
      .filter((t): t is CheckpointTensor => t !== undefined);
    if (tensors.length === 0) {
      throw new FileFormatError(file, 'this ONNX model has no initializers (weights)');
    }
    checkTensorCount(file, tensors.length);
    return { format: 'onnx', file, tensors, close: () => source.close() };
  } catch (error) {
    await source.close();
    throw error;
  }
}
