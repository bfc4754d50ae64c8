/**
 * Reads Keras weights from an HDF5 file with h5wasm (HDF5 compiled to wasm; its Node build reads
 * host files directly, so datasets are read one at a time from disk). Runs in the h5 worker
 * (h5Worker.ts), or in the calling thread when the worker script is not available.
 * - tf.keras 2 `.h5` full models (`model_weights/<layer>/<layer>/kernel:0`, `model_config`
 *   attribute) and `save_weights` files (the same layer groups at the root);
 * - Keras 3 `model.weights.h5` (`layers/<name>/vars/<i>`).
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FileFormatError, UserError } from '../errors';
import { checkDeclaredBytes, checkRegularFileSync, formatBytes } from '../io/boundedFile';
import {
  allocateValues,
  checkTensorCount,
  decodeInto,
  shapeSize,
  type BinaryHint,
  type CheckpointTensor,
  type TensorDtype,
} from './model';
import { hintForWeight, keras3VariableNames, parseConfig, type LayerConfigs } from './kerasConfig';
import { besideBundle } from '../io/shipped';

type H5Package = typeof import('h5wasm/node', { with: { 'resolution-mode': 'import' } });

/**
 * h5wasm's Node build is an ES module that needs `import.meta.url`, which a CommonJS bundle does
 * not have; a non-literal specifier keeps bundlers from inlining it, so it loads from
 * node_modules at run time (bundles must ship h5wasm next to them).
 */
const H5WASM_NODE = 'h5wasm/node';
/** The copy esbuild.mjs places beside the bundles (the VSIX ships no node_modules). */
const BUNDLED_H5WASM = besideBundle('h5wasm', 'hdf5_hl.js');

const loadH5 = async () => {
  let h5: H5Package;
  try {
    const specifier = existsSync(BUNDLED_H5WASM) ? pathToFileURL(BUNDLED_H5WASM).href : H5WASM_NODE;
    h5 = (await import(specifier)) as H5Package;
  } catch (error) {
    throw new UserError(
      `Keras .h5/.keras files need the h5wasm package, which could not be loaded (${(error as Error).message}); reinstall BNN Lab`,
    );
  }
  const module = await h5.ready;
  // Turn HDF5's printed error stacks into exceptions we can wrap.
  module.activate_throwing_error_handler();
  confineFileSystem(module as unknown as { FS: EmscriptenFs });
  return { h5, module };
};

/** The part of emscripten's FS object the confinement wraps. */
interface EmscriptenFs {
  open(path: string, flags: number | string, mode?: number): unknown;
  ErrnoError: new (errno: number) => Error;
}

/** emscripten's O_DIRECTORY. */
const O_DIRECTORY = 0o200000;
/** emscripten's O_CREAT | O_EXCL. */
const CREATE_EXCLUSIVE = 0o100 | 0o200;
/** Real paths HDF5 may open: the file being read, nothing else. */
const allowedFiles = new Set<string>();
/** Paths HDF5 may create or write: the file an exporter is writing (core/export/keras.ts). */
const writableFiles = new Set<string>();
/** The last path HDF5 tried to open and was refused (external storage, link or VDS source). */
let refusedPath: string | undefined;

function isRegularFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function realOrResolved(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/**
 * h5wasm's Node build opens host files directly. HDF5 opens other files for external raw storage,
 * external links, virtual datasets and filter plugins; all of these could read any file on the
 * host (`/etc/shadow` as a dataset's storage). Every open but the file being read is refused.
 */
function confineFileSystem(module: { FS: EmscriptenFs }): void {
  const fs = module.FS;
  const open = fs.open.bind(fs);
  fs.open = (path, flags, mode) => {
    // h5wasm's error handler captures HDF5's error stack in a tmpfile(): a new file created
    // with O_CREAT | O_EXCL, which cannot be an existing host file.
    const createsNew = typeof flags === 'number' && (flags & CREATE_EXCLUSIVE) === CREATE_EXCLUSIVE;
    // HDF5 lists its filter-plugin folder when a filter is unknown: refused (no plugin is ever
    // loaded), without blaming the file for it.
    if (typeof flags === 'number' && flags & O_DIRECTORY) throw new fs.ErrnoError(44); // ENOENT
    if (writableFiles.has(resolve(String(path)))) return open(path, flags, mode);
    if (!createsNew && !allowedFiles.has(realOrResolved(String(path)))) {
      refusedPath = String(path);
      throw new fs.ErrnoError(2); // EACCES in emscripten's errno numbering
    }
    // emscripten drops O_NONBLOCK, so a file swapped for a FIFO since it was checked would
    // block this open: check again right before it.
    if (!createsNew && !isRegularFile(String(path))) throw new fs.ErrnoError(2);
    return open(path, flags, mode);
  };
}

/** The message for a file that made HDF5 reach for another file. */
function outsideFileError(file: string, what: string, other: string): FileFormatError {
  return new FileFormatError(
    file,
    `${what} refers to another file (${other}) through HDF5 external storage, an external link or a virtual dataset; BNN Lab reads only the file itself, so it is refused`,
  );
}
type H5 = Awaited<ReturnType<typeof loadH5>>;
let h5Promise: Promise<H5> | undefined;

/**
 * Runs `write` while HDF5 may create and write `path` (and nothing else beside the usual rules):
 * the Keras exporter's output file.
 */
export async function withWritableHdf5File<T>(path: string, write: () => Promise<T>): Promise<T> {
  const key = resolve(path);
  writableFiles.add(key);
  try {
    return await write();
  } finally {
    writableFiles.delete(key);
  }
}

/** Loads h5wasm once per thread (also used by the Keras exporter, core/export/keras.ts). */
export function h5wasm(): Promise<H5> {
  h5Promise ??= loadH5();
  return h5Promise;
}

function h5Dtype(
  file: string,
  path: string,
  metadata: { type: number; size: number; signed: boolean },
): TensorDtype {
  if (metadata.type === 1) {
    if (metadata.size === 4) return 'float32';
    if (metadata.size === 8) return 'float64';
    if (metadata.size === 2) return 'float16';
  } else if (metadata.type === 0) {
    const table: Record<number, TensorDtype> = metadata.signed
      ? { 1: 'int8', 2: 'int16', 4: 'int32', 8: 'int64' }
      : { 1: 'uint8', 2: 'uint16', 4: 'uint32' };
    const dtype = table[metadata.size];
    if (dtype) return dtype;
  }
  throw new FileFormatError(
    file,
    `dataset "${path}" has an HDF5 type (class ${metadata.type}, ${metadata.size} bytes) the inspector does not read`,
  );
}

/**
 * The innermost reason of an HDF5 error stack (`truncated file: eof = …`), which is the one
 * that tells the user something; the file paths of HDF5's own sources are dropped.
 */
function hdf5Reason(error: unknown): string {
  const text = String((error as Error)?.message ?? error);
  const reasons = [...text.matchAll(/#\d+:[^\n]*? in [\w:]+\(\): ([^\n]*)/g)].map((m) =>
    m[1].trim(),
  );
  const last = reasons[reasons.length - 1] ?? text.split('\n')[0].slice(0, 200);
  return last ? ` (${last})` : '';
}

let aborted = false;

/**
 * True once the wasm module aborted (HDF5 called abort() on a corrupt file): its memory is then
 * unusable, so the h5 worker exits and is restarted instead of serving more files.
 */
export function h5wasmAborted(): boolean {
  return aborted;
}

/** Runs an h5wasm call, turning whatever it throws into a FileFormatError for `file`. */
function guarded<T>(file: string, what: string, f: () => T): T {
  refusedPath = undefined;
  try {
    const result = f();
    if (refusedPath !== undefined) throw outsideFileError(file, what, refusedPath);
    return result;
  } catch (error) {
    if (error instanceof FileFormatError) throw error;
    if (refusedPath !== undefined) throw outsideFileError(file, what, refusedPath);
    if ((error as Error)?.name === 'RuntimeError' || /Aborted\(/.test(String(error))) {
      aborted = true;
      throw new FileFormatError(file, `HDF5 aborted while reading ${what}: the file is corrupt`);
    }
    throw new FileFormatError(file, `HDF5 could not read ${what}${hdf5Reason(error)}`);
  }
}

interface OpenedH5 {
  h5: H5;
  file: InstanceType<H5['h5']['File']>;
  name: string;
  /** Bytes of the file: what its datasets can hold, before compression. */
  fileSize: number;
}

/**
 * How far a compressed dataset may inflate beyond the file's size: weights compress poorly
 * (random floats by ~10 %), so a dataset declaring more than 64× its file is a bomb, or a
 * never-written dataset of fill values. Small datasets (16 MB) are allowed whatever the file.
 */
const MAX_COMPRESSION_RATIO = 64;
const SMALL_DATASET_BYTES = 16 * 1024 * 1024;
/** Bytes of wasm memory one read of a dataset uses (it is read in slabs of rows). */
const SLAB_BYTES = 16 * 1024 * 1024;

type H5Dataset = InstanceType<H5['h5']['Dataset']>;
type H5Group = InstanceType<H5['h5']['Group']>;

function datasetTensor(
  opened: OpenedH5,
  dataset: H5Dataset,
  name: string,
  hint: BinaryHint | undefined,
): CheckpointTensor {
  const { name: file, h5 } = opened;
  const where = `dataset "${dataset.path}"`;
  const metadata = guarded(file, where, () => dataset.metadata);
  const dtype = h5Dtype(file, dataset.path, metadata);
  const shape = metadata.shape ?? [];
  const count = shapeSize(file, name, shape);
  if (metadata.total_size !== count) {
    throw new FileFormatError(file, `dataset "${dataset.path}" size does not match its shape`);
  }
  // Declared sizes are checked against the file and the budget before anything is allocated:
  // a never-written or gzip-bomb dataset of gigabytes in a file of kilobytes is refused here.
  const byteCount = count * metadata.size;
  const filters = guarded(file, where, () => dataset.filters);
  const compressed = filters.length > 0;
  checkDeclaredBytes(file, where, byteCount, {
    available: compressed
      ? Math.max(SMALL_DATASET_BYTES, opened.fileSize * MAX_COMPRESSION_RATIO)
      : Math.max(opened.fileSize, 1024),
    availableWhat: compressed
      ? `a ${formatBytes(opened.fileSize)} file (even at ${MAX_COMPRESSION_RATIO}:1 compression)`
      : 'the file',
  });
  checkDeclaredBytes(file, `${where} as float32 values`, count * 4);
  const chunks = metadata.chunks ?? null;
  if (chunks) {
    const chunkBytes = chunks.reduce((a, b) => a * b, 1) * metadata.size;
    checkDeclaredBytes(file, `a chunk of ${where}`, chunkBytes, {
      budget: Math.max(SLAB_BYTES, byteCount),
    });
  }
  return {
    name,
    shape: shape.slice(),
    dtype,
    channelAxis: 'last',
    hint,
    async data() {
      const out = allocateValues(file, name, count);
      if (byteCount === 0) return out;
      const module = h5.module;
      // Read in slabs of whole rows along the first axis so the wasm heap holds at most
      // SLAB_BYTES (or one row) of raw data at a time.
      const rank = shape.length;
      const rows = rank === 0 ? 1 : shape[0];
      const rowElements = rank === 0 ? 1 : count / rows;
      const rowBytes = rowElements * metadata.size;
      const rowsPerSlab = Math.max(1, Math.min(rows, Math.floor(SLAB_BYTES / rowBytes)));
      const pointer = guarded(file, where, () => module._malloc(rowsPerSlab * rowBytes));
      if (!pointer) throw new FileFormatError(file, `not enough wasm memory for "${name}"`);
      try {
        for (let row = 0; row < rows; row += rowsPerSlab) {
          const take = Math.min(rowsPerSlab, rows - row);
          const slab =
            rank === 0
              ? null
              : {
                  count: [BigInt(take), ...shape.slice(1).map((d) => BigInt(d))],
                  offset: [BigInt(row), ...shape.slice(1).map(() => 0n)],
                  stride: shape.map(() => 1n),
                };
          // Raw read in the native (little-endian) layout: h5wasm's own getters lack float16.
          guarded(file, where, () =>
            module.get_dataset_data(
              dataset.file_id,
              dataset.path,
              slab?.count ?? null,
              slab?.offset ?? null,
              slab?.stride ?? null,
              BigInt(pointer),
            ),
          );
          const bytes = module.HEAPU8.subarray(pointer, pointer + take * rowBytes);
          decodeInto(bytes, 0, dtype, take * rowElements, out, row * rowElements);
        }
      } finally {
        guarded(file, where, () => module._free(pointer));
      }
      return out;
    },
  };
}

function stringAttribute(file: string, node: H5Group, name: string): string | undefined {
  return guarded(file, `attribute "${name}"`, () => {
    const attribute = node.attrs[name];
    if (!attribute) return undefined;
    const value = attribute.value;
    if (typeof value === 'string') return value;
    if (value instanceof Uint8Array) return new TextDecoder().decode(value);
    if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
    return undefined;
  });
}

function stringListAttribute(file: string, node: H5Group, name: string): string[] | undefined {
  return guarded(file, `attribute "${name}"`, () => {
    const attribute = node.attrs[name];
    if (!attribute) return undefined;
    const value = attribute.value;
    if (typeof value === 'string') return [value];
    if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
    return undefined;
  });
}

/** External links are refused, not skipped: they point at other files on the host. */
function refuseExternalLink(h5: H5, file: string, entity: unknown): void {
  if (entity instanceof h5.h5.ExternalLink) {
    const link = entity as { filename: string; obj_path: string };
    throw outsideFileError(file, `an external link to "${link.obj_path}"`, link.filename);
  }
}

function asGroup(h5: H5, file: string, entity: unknown): H5Group | null {
  refuseExternalLink(h5, file, entity);
  return entity instanceof h5.h5.Group ? (entity as H5Group) : null;
}

function asDataset(h5: H5, file: string, entity: unknown): H5Dataset | null {
  refuseExternalLink(h5, file, entity);
  return entity instanceof h5.h5.Dataset ? (entity as H5Dataset) : null;
}

/** Upper bound on HDF5 objects visited, so a corrupt link structure cannot loop forever. */
const MAX_OBJECTS = 100_000;

async function openH5(path: string, displayName: string): Promise<OpenedH5> {
  const h5 = await h5wasm();
  // A regular file only (a FIFO would block HDF5's open forever), and only this file.
  const { real, size } = checkRegularFileSync(path, { what: 'HDF5' });
  allowedFiles.add(real);
  try {
    const file = guarded(displayName, 'the file', () => new h5.h5.File(real, 'r'));
    if (file.file_id < 0n) {
      throw new FileFormatError(displayName, 'HDF5 could not open the file (corrupt or truncated)');
    }
    return { h5, file, name: displayName, fileSize: size };
  } finally {
    // HDF5 keeps the file open from here on; nothing else may be opened.
    allowedFiles.delete(real);
  }
}

/** Keras 2 layout: `<root>/<layer>/<weight_name>` listed by `layer_names`/`weight_names`. */
function keras2Tensors(opened: OpenedH5, layers: LayerConfigs): CheckpointTensor[] {
  const { h5, file, name } = opened;
  const weightsRoot =
    asGroup(
      h5,
      name,
      guarded(name, 'model_weights', () => file.get('model_weights')),
    ) ?? file;
  const layerNames =
    stringListAttribute(name, weightsRoot, 'layer_names') ??
    guarded(name, 'the layer groups', () => weightsRoot.keys());
  const tensors: CheckpointTensor[] = [];
  let visited = 0;
  for (const layerName of layerNames) {
    const group = asGroup(
      h5,
      name,
      guarded(name, `layer "${layerName}"`, () => weightsRoot.get(layerName)),
    );
    if (!group) continue;
    const weightNames = stringListAttribute(name, group, 'weight_names');
    const paths = weightNames ?? guarded(name, `layer "${layerName}"`, () => group.paths());
    for (const weightName of paths) {
      if (++visited > MAX_OBJECTS) throw new FileFormatError(name, 'too many HDF5 objects');
      const relative = weightName.replace(/^\//, '');
      const dataset = asDataset(
        h5,
        name,
        guarded(name, `weight "${relative}"`, () => group.get(relative)),
      );
      if (!dataset) {
        if (weightNames) {
          throw new FileFormatError(
            name,
            `weight "${layerName}/${relative}" is listed but missing`,
          );
        }
        continue;
      }
      tensors.push(
        datasetTensor(
          opened,
          dataset,
          relative,
          hintForWeight(layers, layerName, relative, 'model_config'),
        ),
      );
    }
  }
  return tensors;
}

/** Keras 3 layout: `layers/<name>/vars/<i>`, nested models under `layers/<name>/layers/…`. */
function keras3Tensors(opened: OpenedH5, layers: LayerConfigs): CheckpointTensor[] {
  const { h5, file, name } = opened;
  const tensors: CheckpointTensor[] = [];
  let visited = 0;
  const walk = (group: H5Group, depth: number): void => {
    if (depth > 16) return;
    for (const layerName of guarded(name, group.path, () => group.keys())) {
      if (++visited > MAX_OBJECTS) throw new FileFormatError(name, 'too many HDF5 objects');
      const layerGroup = asGroup(
        h5,
        name,
        guarded(name, layerName, () => group.get(layerName)),
      );
      if (!layerGroup) continue;
      const vars = asGroup(
        h5,
        name,
        guarded(name, `${layerName}/vars`, () => layerGroup.get('vars')),
      );
      if (vars) {
        const layer = layers.get(layerName);
        const names = layer ? keras3VariableNames(layer.className, layer.config) : [];
        const indices = guarded(name, `${layerName}/vars`, () => vars.keys())
          .filter((k) => /^\d+$/.test(k))
          .sort((a, b) => Number(a) - Number(b));
        for (const index of indices) {
          if (++visited > MAX_OBJECTS) throw new FileFormatError(name, 'too many HDF5 objects');
          const dataset = asDataset(
            h5,
            name,
            guarded(name, `${layerName}/vars/${index}`, () => vars.get(index)),
          );
          if (!dataset) continue;
          const variable = names[Number(index)] ?? `vars/${index}`;
          const tensorName = `${layerName}/${variable}`;
          tensors.push(
            datasetTensor(
              opened,
              dataset,
              tensorName,
              hintForWeight(layers, layerName, variable, 'config.json'),
            ),
          );
        }
      }
      const inner = asGroup(
        h5,
        name,
        guarded(name, `${layerName}/layers`, () => layerGroup.get('layers')),
      );
      if (inner) walk(inner, depth + 1);
    }
  };
  const root = asGroup(
    h5,
    name,
    guarded(name, 'layers', () => file.get('layers')),
  );
  if (root) walk(root, 0);
  return tensors;
}

/** An HDF5 Keras weights file opened in this thread. */
export interface LocalKerasFile {
  tensors: CheckpointTensor[];
  binarySource?: string;
  note?: string;
  close(): void;
}

/**
 * Opens `path` and lists its Keras weights. `layout` is `keras2` for `.h5` files (Keras 3
 * layout accepted as a fallback) and `keras3` for a `.keras` archive's model.weights.h5, whose
 * layer configs come from `configText` (config.json). Errors name `displayName`.
 */
export async function openKerasLocal(
  path: string,
  displayName: string,
  layout: 'keras2' | 'keras3',
  configText: string | undefined,
): Promise<LocalKerasFile> {
  const opened = await openH5(path, displayName);
  const close = () => {
    try {
      opened.file.close();
    } catch {
      // Closing a half-broken HDF5 handle can fail; the handle is gone either way.
    }
  };
  try {
    if (layout === 'keras3') {
      const layers = parseConfig(displayName, configText, 'config.json');
      const tensors = keras3Tensors(opened, layers);
      checkTensorCount(displayName, tensors.length);
      if (tensors.length === 0) {
        throw new FileFormatError(displayName, 'model.weights.h5 holds no layer weights');
      }
      return {
        tensors,
        binarySource: configText === undefined ? undefined : 'config.json',
        close,
      };
    }
    const config = stringAttribute(displayName, opened.file, 'model_config');
    const layers = parseConfig(displayName, config, 'the model_config attribute');
    let tensors = keras2Tensors(opened, layers);
    if (tensors.length === 0) tensors = keras3Tensors(opened, layers);
    checkTensorCount(displayName, tensors.length);
    if (tensors.length === 0) {
      throw new FileFormatError(
        displayName,
        'this HDF5 file holds no Keras weights (no model_weights group or layer weights); save it with model.save("model.h5") or model.save_weights(...)',
      );
    }
    return {
      tensors,
      binarySource: config === undefined ? undefined : 'model_config',
      note: config === undefined ? 'no model_config: binary layers unknown' : undefined,
      close,
    };
  } catch (error) {
    close();
    throw error;
  }
}
