/**
 * Keras readers: tf.keras 2 `.h5` files and Keras 3 `.keras` archives (config.json +
 * model.weights.h5). HDF5 parsing runs in a worker thread (h5Worker.ts) with a watchdog, because
 * the HDF5 library can loop forever on a corrupt file; if the worker script is missing (a bundle
 * without it), reading falls back to this thread without that protection.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileFormatError, UserError } from '../errors';
import { openFileSource, type ByteSource } from './byteSource';
import { FILE_CAPS } from '../io/boundedFile';
import { openKerasLocal } from './h5Reader';
import { isFromH5, type FromH5, type H5TensorInfo, type ToH5 } from './h5Protocol';
import type { CheckpointModel, CheckpointTensor } from './model';
import { RequestWorker } from '../workers/requests';
import { extractEntry, openEntry, openZip, type ZipArchive, type ZipEntry } from './zip';

/** The 8-byte HDF5 signature at the start of the file. */
const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/** True when `head` (the first bytes of a file) starts with the HDF5 signature. */
export function looksLikeHdf5(head: Uint8Array): boolean {
  return head.length >= 8 && HDF5_SIGNATURE.every((b, i) => head[i] === b);
}

/** Base time HDF5 may take for one request before the file is declared corrupt. */
let hdf5TimeoutMs = 30_000;

/**
 * Sets how long one HDF5 request (open, or one dataset; plus 1 s per 50 MB) may run before the
 * h5 worker is stopped and the file reported as corrupt. For tests; 30 s by default.
 */
export function setHdf5TimeoutMs(ms: number): void {
  hdf5TimeoutMs = ms;
}

/** What an error about a request names: the file (as the user knows it) and what was read. */
interface H5Context {
  file: string;
  what: string;
}

type H5Client = RequestWorker<ToH5, FromH5, H5Context>;

/** One shared h5 worker per process, started on demand and again after a hang or a crash. */
function newH5Client(script: string): H5Client {
  return new RequestWorker<ToH5, FromH5, H5Context>({
    thread: { name: 'the HDF5 reader', script, accepts: isFromH5 },
    answers: (message) => message.id,
    // A library's helper thread: it must not keep a CLI process alive when nothing is pending.
    unrefWhenIdle: true,
    errors: {
      timedOut: ({ file, what }, ms) =>
        new FileFormatError(
          file,
          `HDF5 did not finish reading ${what} within ${Math.round(ms / 1000)} s; the file is corrupt (its HDF5 structures loop)`,
        ),
      stopped: ({ file, what }) =>
        new FileFormatError(
          file,
          `HDF5 could not read ${what} (the HDF5 reader was stopped on a corrupt file)`,
        ),
      lost: ({ file, what }, error) =>
        new FileFormatError(file, `HDF5 could not read ${what} (${error.message})`),
    },
  });
}

/** How long one request may take: the base time plus 1 s per 50 MB to decode. */
function h5TimeoutMs(bytes: number): number {
  return hdf5TimeoutMs + Math.ceil(bytes / 50e6) * 1000;
}

let client: H5Client | null | undefined;

/** The worker client, or null when the worker script is not next to this module. */
function h5Client(): H5Client | null {
  if (client === undefined) {
    const script = join(__dirname, 'h5Worker.js');
    client = existsSync(script) ? newH5Client(script) : null;
  }
  return client;
}

/** The answer of kind `kind`; `h5Failed` becomes the error the worker caught. */
function unwrap<K extends FromH5['kind']>(response: FromH5, kind: K): Extract<FromH5, { kind: K }> {
  if (response.kind === kind) return response as Extract<FromH5, { kind: K }>;
  if (response.kind !== 'h5Failed') {
    throw new Error(`the HDF5 reader answered ${kind} with ${response.kind}`);
  }
  if (response.fileError) {
    throw new FileFormatError(response.fileError.file, response.fileError.detail);
  }
  if (response.userError) throw new UserError(response.message);
  throw new Error(response.message);
}

/** Opens an HDF5 Keras weights file in the worker (or in this thread as a fallback). */
async function openKeras(
  path: string,
  displayName: string,
  layout: 'keras2' | 'keras3',
  configText: string | undefined,
  cleanup: () => Promise<void>,
): Promise<Omit<CheckpointModel, 'format' | 'file'>> {
  const h5 = h5Client();
  if (h5 === null) {
    const local = await openKerasLocal(path, displayName, layout, configText);
    return { ...local, close: async () => (local.close(), cleanup()) };
  }
  const opening = h5.request(
    { kind: 'open', path, displayName, layout, configText },
    { file: displayName, what: 'the file' },
    h5TimeoutMs(0),
  );
  const generation = h5.generation; // the thread serving `opening`: it holds the handle
  const opened = unwrap(await opening, 'opened');
  const { handle } = opened;
  const tensors: CheckpointTensor[] = opened.tensors.map((info: H5TensorInfo, index) => ({
    ...info,
    channelAxis: 'last',
    async data() {
      if (h5.generation !== generation) {
        throw new FileFormatError(
          displayName,
          'the HDF5 reader was restarted; open the file again',
        );
      }
      const bytes = info.shape.reduce((a, b) => a * b, 1) * 4;
      const reply = await h5.request(
        { kind: 'data', handle, index },
        { file: displayName, what: `tensor "${info.name}"` },
        h5TimeoutMs(bytes),
      );
      return unwrap(reply, 'tensorData').values;
    },
  }));
  let closed = false;
  return {
    tensors,
    binarySource: opened.binarySource,
    note: opened.note,
    async close() {
      if (closed) return;
      closed = true;
      if (h5.generation === generation) {
        await h5
          .request({ kind: 'close', handle }, { file: displayName, what: 'close' }, h5TimeoutMs(0))
          .catch(() => undefined);
      }
      await cleanup();
    },
  };
}

/**
 * Reads a tf.keras 2 `.h5` (full model or `save_weights`). Kernels keep the Keras layout
 * (`[kh, kw, cin, cout]`, `[in, out]`: channel axis `last`); Larq layers in `model_config`
 * mark their kernels binary.
 */
export async function readKerasH5(path: string): Promise<CheckpointModel> {
  const model = await openKeras(path, path, 'keras2', undefined, async () => {});
  return { format: 'keras-h5', file: path, ...model };
}

/**
 * Copies a zip member to a private temporary file (h5wasm's Node build reads host files),
 * streaming it so that memory stays bounded; a DEFLATE member inflates to its declared size only.
 */
async function extractToTemp(
  archive: ZipArchive,
  entry: ZipEntry,
): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const folder = await mkdtemp(join(tmpdir(), 'bnn-lab-keras-'));
  const path = join(folder, 'model.weights.h5');
  const cleanup = () => rm(folder, { recursive: true, force: true });
  try {
    const handle = await open(path, 'w', 0o600);
    try {
      await extractEntry(archive, entry, FILE_CAPS.kerasWeights, async (bytes) => {
        await handle.write(bytes);
      });
    } finally {
      await handle.close();
    }
  } catch (error) {
    await cleanup();
    throw error;
  }
  return { path, cleanup };
}

/** The first `length` bytes of a file (fewer when it is shorter). */
async function readHead(path: string, length: number): Promise<Uint8Array> {
  const source = await openFileSource(path);
  try {
    return await source.read(0, Math.min(length, source.size), 'file signature');
  } finally {
    await source.close();
  }
}

/** Reads a Keras 3 `.keras` archive: `config.json` for the layers, `model.weights.h5` for weights. */
export async function readKeras3(source: ByteSource): Promise<CheckpointModel> {
  const file = source.name;
  try {
    const archive = await openZip(source);
    const weightsEntry = archive.entries.get('model.weights.h5');
    if (!weightsEntry) {
      throw new FileFormatError(file, 'this .keras archive has no model.weights.h5 member');
    }
    const configEntry = archive.entries.get('config.json');
    let configText: string | undefined;
    if (configEntry) {
      const member = await openEntry(archive, configEntry, {
        allowDeflate: true,
        maxInflatedBytes: FILE_CAPS.kerasConfig,
      });
      configText = new TextDecoder().decode(await member.read(0, member.size, 'config.json'));
    }
    const temp = await extractToTemp(archive, weightsEntry);
    const head = await readHead(temp.path, 8);
    if (!looksLikeHdf5(head)) {
      await temp.cleanup();
      throw new FileFormatError(
        file,
        'model.weights.h5 in this .keras archive is not an HDF5 file',
      );
    }
    await source.close();
    let model: Omit<CheckpointModel, 'format' | 'file'>;
    try {
      model = await openKeras(temp.path, file, 'keras3', configText, temp.cleanup);
    } catch (error) {
      await temp.cleanup();
      throw error;
    }
    return { format: 'keras3', file, ...model };
  } finally {
    await source.close();
  }
}
