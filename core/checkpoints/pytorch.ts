/**
 * PyTorch checkpoint reader for the zip format torch.save writes since 1.6:
 * `<prefix>/data.pkl` (the pickled object, tensors as persistent ids), `<prefix>/data/<key>`
 * (one STORED record per storage) and `<prefix>/version`. Tensors are rebuilt from storage,
 * offset, size and stride, so views (transposes, slices sharing a storage) read correctly.
 */
import { FileFormatError } from '../errors';
import type { ByteSource } from './byteSource';
import {
  DTYPE_SIZE,
  allocateValues,
  checkTensorCount,
  elementReader,
  readDecoded,
  shapeSize,
  type CheckpointModel,
  type CheckpointTensor,
  type TensorDtype,
} from './model';
import { keyName, PyDict, PyGlobal, PyTuple, unpickle, type GlobalTable } from './pickle';
import { openEntry, openZip, type ZipArchive, type ZipEntry } from './zip';

/**
 * Tensors may share storages (tied weights, views): identical views are read once (`viewKey`),
 * and all distinct views together may cover at most this many times the elements their
 * storages hold (plus SHARED_SLACK). Real checkpoints stay near 1 (tied embeddings: ~1.3); a
 * file of 2,000 views of one 1M-element storage (4 MB) would otherwise cost minutes.
 */
const MAX_VIEW_AMPLIFICATION = 4;
const SHARED_SLACK = 1 << 20;

/** The pickled data of data.pkl above this size is refused (it holds only metadata). */
const MAX_PICKLE_BYTES = 64 * 1024 * 1024;

const STORAGE_DTYPES: Readonly<Record<string, TensorDtype>> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  UntypedStorage: 'uint8',
};

/** Keys under which training scripts commonly nest the state dict, tried in this order. */
const NESTED_KEYS = ['state_dict', 'model_state_dict', 'model', 'net', 'network', 'module', 'ema'];

const RESAVE_ADVICE =
  're-save just the weights with torch.save(model.state_dict(), path) and inspect that file';

/** Storage type globals (`torch.FloatStorage` …) and the dtype of their elements. */
const storageTypes = new Map<string, TensorDtype>();

/** A storage resolved from a persistent id: one record of the archive. */
interface StorageRef {
  key: string;
  dtype: TensorDtype;
  /** Elements the storage holds. */
  numel: number;
  entry: ZipEntry;
}

/** A tensor rebuilt by `_rebuild_tensor_v2`: a strided view of a storage. */
class TorchTensor {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}
}

/** True when the first bytes look like a pickle (legacy torch.save output starts with PROTO 2). */
export function looksLikeLegacyTorch(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x80 && head[1] >= 2 && head[1] <= 5;
}

/** The message for pre-1.6 (non-zip) torch files, which are pickles with raw storages appended. */
export function legacyTorchError(file: string): FileFormatError {
  return new FileFormatError(
    file,
    'this is a PyTorch checkpoint in the legacy (pre-1.6, non-zip) format, which BNN Lab does not read. ' +
      'Re-save it with a current torch: torch.save(torch.load(old_path), new_path) ' +
      '(the default _use_new_zipfile_serialization=True writes the zip format)',
  );
}

function intList(file: string, what: string, value: unknown): number[] {
  const items = value instanceof PyTuple ? value.items : Array.isArray(value) ? value : null;
  if (items === null || !items.every((v) => Number.isSafeInteger(v) && (v as number) >= 0)) {
    throw new FileFormatError(file, `tensor ${what} is not a tuple of non-negative integers`);
  }
  return items as number[];
}

function buildGlobals(file: string): GlobalTable {
  const table = new Map<string, ((args: unknown[]) => unknown) | null>();
  const rebuildTensor = (args: unknown[]): TorchTensor => {
    const [storage, offset, size, stride] = args;
    if (typeof storage !== 'object' || storage === null || !('entry' in storage)) {
      throw new FileFormatError(file, 'a tensor refers to something that is not a storage');
    }
    if (!Number.isSafeInteger(offset) || (offset as number) < 0) {
      throw new FileFormatError(file, 'a tensor has an invalid storage offset');
    }
    const sizes = intList(file, 'size', size);
    const strides = intList(file, 'stride', stride);
    if (sizes.length !== strides.length) {
      throw new FileFormatError(file, 'a tensor has different numbers of sizes and strides');
    }
    return new TorchTensor(storage as StorageRef, offset as number, sizes, strides);
  };
  table.set('torch._utils._rebuild_tensor_v2', rebuildTensor);
  table.set('torch._utils._rebuild_tensor', rebuildTensor);
  table.set('torch._utils._rebuild_parameter', (args) => args[0]);
  table.set('torch._utils._rebuild_parameter_with_state', (args) => args[0]);
  table.set('torch._tensor._rebuild_from_type_v2', (args) => {
    const [func, , inner] = args;
    if (!(func instanceof PyGlobal) || func.call === null || !(inner instanceof PyTuple)) {
      throw new FileFormatError(file, '_rebuild_from_type_v2 with unexpected arguments');
    }
    return func.call(inner.items);
  });
  table.set('collections.OrderedDict', () => new PyDict());
  table.set('builtins.dict', () => new PyDict());
  table.set('builtins.set', (args) => (Array.isArray(args[0]) ? args[0] : []));
  table.set('builtins.frozenset', (args) => (Array.isArray(args[0]) ? args[0] : []));
  table.set('torch.Size', (args) => (args[0] instanceof PyTuple ? args[0] : new PyTuple([])));
  // Protocol 2 pickles bytes as _codecs.encode(text, 'latin1'): a pure conversion.
  table.set('_codecs.encode', (args) => {
    const text = typeof args[0] === 'string' ? args[0] : '';
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
    return out;
  });
  // Types that appear as arguments only (tensor subclasses); calling them is refused.
  table.set('torch.Tensor', null);
  table.set('torch.nn.parameter.Parameter', null);
  for (const [name, dtype] of Object.entries(STORAGE_DTYPES)) {
    table.set(`torch.${name}`, null);
    table.set(`torch.storage.${name}`, null);
    storageTypes.set(`torch.${name}`, dtype);
    storageTypes.set(`torch.storage.${name}`, dtype);
  }
  return table;
}

function persistentLoader(file: string, archive: ZipArchive, prefix: string) {
  const cache = new Map<string, StorageRef>();
  return (pid: unknown): StorageRef => {
    if (!(pid instanceof PyTuple) || pid.items.length < 5 || pid.items[0] !== 'storage') {
      throw new FileFormatError(file, 'a persistent id in data.pkl is not a torch storage');
    }
    const [, type, key, , numel] = pid.items;
    const dtype = type instanceof PyGlobal ? storageTypes.get(type.qualifiedName) : undefined;
    if (dtype === undefined) {
      throw new FileFormatError(file, 'a storage in data.pkl has an unknown storage type');
    }
    if (typeof key !== 'string' || !Number.isSafeInteger(numel) || (numel as number) < 0) {
      throw new FileFormatError(file, 'a storage in data.pkl has an invalid key or size');
    }
    const cached = cache.get(key);
    if (cached) return cached;
    const recordName = `${prefix}data/${key}`;
    const entry = archive.entries.get(recordName);
    if (!entry) {
      throw new FileFormatError(
        file,
        `storage record "${recordName}" is missing from the archive (the file is incomplete; save it again)`,
      );
    }
    const needed = (numel as number) * DTYPE_SIZE[dtype];
    if (entry.size < needed) {
      throw new FileFormatError(
        file,
        `storage record "${recordName}" has ${entry.size} bytes but its tensors need ${needed}`,
      );
    }
    const ref: StorageRef = { key, dtype, numel: numel as number, entry };
    cache.set(key, ref);
    return ref;
  };
}

/** Finds the dict of tensors: the top level, or one nested under a common key. */
function findStateDict(value: unknown): { dict: PyDict; note?: string } | null {
  const hasTensors = (d: PyDict) => [...d.map.values()].some((v) => v instanceof TorchTensor);
  if (value instanceof PyDict) {
    if (hasTensors(value)) return { dict: value };
    for (const key of NESTED_KEYS) {
      const inner = value.map.get(key);
      if (inner instanceof PyDict && hasTensors(inner)) return { dict: inner, note: key };
    }
    for (const [key, inner] of value.map) {
      if (inner instanceof PyDict && hasTensors(inner)) return { dict: inner, note: keyName(key) };
    }
  }
  return null;
}

function tensorFromTorch(
  file: string,
  archive: ZipArchive,
  name: string,
  t: TorchTensor,
  records: Map<string, Promise<ByteSource>>,
): CheckpointTensor {
  const { dtype, numel: storageNumel } = t.storage;
  const count = shapeSize(file, name, t.size);
  let lastIndex = t.offset;
  if (count > 0) {
    for (let d = 0; d < t.size.length; d++) lastIndex += (t.size[d] - 1) * t.stride[d];
  }
  if (count > 0 && lastIndex >= storageNumel) {
    throw new FileFormatError(
      file,
      `tensor "${name}" (offset ${t.offset}, shape [${t.size.join(', ')}], stride [${t.stride.join(', ')}]) reaches element ${lastIndex} of a ${storageNumel}-element storage`,
    );
  }
  if (count > storageNumel) {
    throw new FileFormatError(
      file,
      `tensor "${name}" has ${count} elements but its storage only ${storageNumel}`,
    );
  }
  const elementSize = DTYPE_SIZE[dtype];
  return {
    name,
    shape: t.size.slice(),
    dtype,
    channelAxis: 'first',
    async data() {
      if (count === 0) return allocateValues(file, name, count);
      // One window per storage record, shared by the tensors that view it.
      let opened = records.get(t.storage.key);
      if (!opened) {
        opened = openEntry(archive, t.storage.entry, {
          allowDeflate: false,
          refuseMessage: `storage record "${t.storage.entry.name}" is compressed; torch.save never compresses, so re-save the file with torch.save`,
        });
        records.set(t.storage.key, opened);
        opened.catch(() => records.delete(t.storage.key));
      }
      // Opening the record checks it lies inside the file, so `count` (at most the storage's
      // elements) is backed by real bytes before the output is allocated.
      const record = await opened;
      const out = allocateValues(file, name, count);
      const span = lastIndex - t.offset + 1;
      if (span === count) {
        // Contiguous (or a permutation of size-1 dims): decode in one pass, chunk by chunk.
        let contiguous = true;
        let expected = 1;
        for (let d = t.size.length - 1; d >= 0; d--) {
          if (t.size[d] !== 1 && t.stride[d] !== expected) contiguous = false;
          expected *= t.size[d];
        }
        if (contiguous) {
          await readDecoded(record, t.offset * elementSize, dtype, count, out, `tensor "${name}"`);
          return out;
        }
      }
      // A strided view: read the span it covers once and gather in row-major order with an
      // odometer over the dimensions, decoding each element straight from the bytes.
      const bytes = await record.read(
        t.offset * elementSize,
        span * elementSize,
        `tensor "${name}"`,
      );
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
      const element = elementReader(dtype);
      const rank = t.size.length;
      const index = new Array<number>(rank).fill(0);
      let source = 0;
      for (let i = 0; i < count; i++) {
        out[i] = element(view, source * elementSize);
        for (let d = rank - 1; d >= 0; d--) {
          index[d]++;
          source += t.stride[d];
          if (index[d] < t.size[d]) break;
          source -= t.stride[d] * t.size[d];
          index[d] = 0;
        }
      }
      return out;
    },
  };
}

/**
 * Bounds the work of shared storages: distinct views may cover at most MAX_VIEW_AMPLIFICATION
 * times the elements of the storages they view. Identical views count once (they are read once).
 */
function checkSharedStorages(
  file: string,
  entries: [unknown, TorchTensor][],
  viewUses: Map<string, number>,
): void {
  const storages = new Map<string, number>();
  let viewed = 0;
  const seen = new Set<string>();
  for (const [, t] of entries) {
    storages.set(t.storage.key, t.storage.numel);
    const view = `${t.storage.key}:${t.offset}:${t.size.join(',')}:${t.stride.join(',')}`;
    if (seen.has(view)) continue;
    seen.add(view);
    viewed += t.size.reduce((a, b) => a * b, 1);
  }
  let stored = 0;
  for (const numel of storages.values()) stored += numel;
  if (viewed > MAX_VIEW_AMPLIFICATION * stored + SHARED_SLACK) {
    const shared = [...viewUses.values()].filter((n) => n > 1).length;
    throw new FileFormatError(
      file,
      `its ${entries.length} tensors view ${viewed} elements of storages holding only ${stored}${shared > 0 ? ` (${shared} views are shared)` : ''}: more than ${MAX_VIEW_AMPLIFICATION}× overlap, which a saved model does not have (a crafted file); refused. ${RESAVE_ADVICE}`,
    );
  }
}

/**
 * Reads a torch ≥ 1.6 zip checkpoint: the state dict at the top level or nested under
 * `state_dict`, `model` & co. Tensors keep the PyTorch layout (channel axis `first`).
 */
export async function readPytorch(source: ByteSource): Promise<CheckpointModel> {
  const file = source.name;
  const archive = await openZip(source);
  let pickleEntry: ZipEntry | undefined;
  for (const entry of archive.entries.values()) {
    if (entry.name === 'data.pkl' || entry.name.endsWith('/data.pkl')) {
      if (!pickleEntry || entry.name.length < pickleEntry.name.length) pickleEntry = entry;
    }
  }
  if (!pickleEntry) {
    throw new FileFormatError(
      file,
      'this zip has no data.pkl record, so it is not a torch.save checkpoint (TorchScript archives are not read either)',
    );
  }
  const prefix = pickleEntry.name.slice(0, pickleEntry.name.length - 'data.pkl'.length);
  // torch ≥ 2.1 records the writer's byte order; storages are little-endian unless it says "big".
  const byteorder = archive.entries.get(`${prefix}byteorder`);
  if (byteorder && byteorder.size <= 16) {
    const member = await openEntry(archive, byteorder, { allowDeflate: false });
    const text = new TextDecoder().decode(await member.read(0, member.size, 'byteorder'));
    if (text.trim() === 'big') {
      throw new FileFormatError(
        file,
        'this checkpoint was written on a big-endian machine; load and re-save it with torch on a little-endian one',
      );
    }
  }
  if (pickleEntry.size > MAX_PICKLE_BYTES) {
    throw new FileFormatError(file, `data.pkl is ${pickleEntry.size} bytes, too large to parse`);
  }
  const pickleSource = await openEntry(archive, pickleEntry, {
    allowDeflate: false,
    refuseMessage:
      'data.pkl is compressed; torch.save writes uncompressed (STORED) zips, so this archive was repacked. Save it again with torch.save, or unzip and re-zip with `zip -0`',
  });
  const pickleBytes = await pickleSource.read(0, pickleSource.size, 'data.pkl');
  const root = unpickle(pickleBytes, {
    file,
    globals: buildGlobals(file),
    persistentLoad: persistentLoader(file, archive, prefix),
    refusedAdvice: RESAVE_ADVICE,
  });
  const found = findStateDict(root);
  if (!found) {
    throw new FileFormatError(
      file,
      'no dict of tensors found at the top level or under state_dict/model/…; save model.state_dict()',
    );
  }
  const entries = [...found.dict.map].filter(
    (pair): pair is [unknown, TorchTensor] => pair[1] instanceof TorchTensor,
  );
  checkTensorCount(file, entries.length);
  const records = new Map<string, Promise<ByteSource>>();
  const tensors: CheckpointTensor[] = [];
  const viewUses = new Map<string, number>();
  for (const [key, value] of entries) {
    const tensor = tensorFromTorch(file, archive, keyName(key), value, records);
    const view = `${value.storage.key}:${value.offset}:${value.size.join(',')}:${value.stride.join(',')}`;
    viewUses.set(view, (viewUses.get(view) ?? 0) + 1);
    tensor.viewKey = view;
    tensors.push(tensor);
  }
  checkSharedStorages(file, entries, viewUses);
  return {
    format: 'pytorch',
    file,
    tensors,
    note: found.note === undefined ? undefined : `tensors found under "${found.note}"`,
    close: () => source.close(),
  };
}
