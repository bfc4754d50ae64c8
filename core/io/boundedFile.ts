/**
 * The one way BNN Lab reads a file it did not just write (checkpoints, configs, datasets, run
 * folders). Every reader goes through here so that a hostile or broken path cannot hang or
 * exhaust the process:
 * - the path is resolved (symlinks followed) and stat'ed BEFORE it is opened: FIFOs, devices,
 *   sockets and folders are refused with one message naming the file, so `open()` never blocks
 *   on a pipe and `/dev/zero` is never read;
 * - files are opened with O_NONBLOCK and fstat'ed again, so a file swapped for a FIFO between the
 *   two calls is still refused;
 * - reads are capped with a limit known before the read: the size fstat reports, and the cap of
 *   the kind of file (a config is small, a model.json holds no weights);
 * - gzip/deflate data is inflated with zlib's `maxOutputLength`;
 * - declared sizes (tensor shapes, dataset dimensions) are checked against what the file can hold
 *   and a memory budget before anything is allocated (`checkDeclaredBytes`).
 */
import {
  closeSync,
  constants as fsConstants,
  fstatSync,
  openSync,
  readSync,
  realpathSync,
  statSync,
  type Stats,
} from 'node:fs';
import { open, realpath, stat, type FileHandle } from 'node:fs/promises';
import { relative, resolve, sep, isAbsolute } from 'node:path';
import { gunzipSync, inflateRawSync, constants as zlibConstants } from 'node:zlib';
import { FileFormatError, UserError } from '../errors';

const MB = 1024 * 1024;

/** Caps per kind of file (bytes). A file above its cap is refused before it is read. */
export const FILE_CAPS = {
  /** A run config or fine-tune settings (`--config`, bnnlab.json). */
  config: 4 * MB,
  /** A TF.js model.json: topology and a manifest, no weights. */
  modelJson: 64 * MB,
  /** A small JSON file of a run or checkpoint (meta.json, training-state.json). */
  json: 16 * MB,
  /** A run's metrics.jsonl. */
  metrics: 512 * MB,
  /** A dataset file read whole (IDX, CIFAR batch), before or after inflating. */
  dataset: 1024 * MB,
  /** Weights read whole into memory (BNN Lab's own checkpoint shards, optimizer state). */
  weights: 2048 * MB,
  /** A .keras archive's model.weights.h5, copied to a temporary file to be read. */
  kerasWeights: 4 * 1024 * MB,
  /** A Keras 3 config.json inflated from a .keras archive. */
  kerasConfig: 64 * MB,
} as const;

/** Memory budget of one decoded tensor or dataset (bytes), checked before allocating it. */
export const MEMORY_BUDGET_BYTES = 2048 * MB;

/** Human-readable size: `1.5 GB`, `640 KB`. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * MB) return `${+(bytes / (1024 * MB)).toFixed(1)} GB`;
  if (bytes >= MB) return `${+(bytes / MB).toFixed(1)} MB`;
  if (bytes >= 1024) return `${+(bytes / 1024).toFixed(1)} KB`;
  return `${bytes} bytes`;
}

/** What a non-regular file is, for messages. */
function kindOf(info: Stats): string {
  if (info.isDirectory()) return 'a folder';
  if (info.isFIFO()) return 'a FIFO (named pipe)';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  if (info.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** `path`, plus ` (a link to target)` when symlinks lead elsewhere. */
function named(path: string, real: string | undefined): string {
  return real !== undefined && real !== resolve(path) ? `${path} (a link to ${real})` : path;
}

function notRegular(path: string, real: string | undefined, info: Stats, what: string): UserError {
  const advice = info.isDirectory()
    ? `pass the ${what} file itself`
    : `BNN Lab reads a ${what} only from a regular file, so it was not opened`;
  return new UserError(`${named(path, real)}: is ${kindOf(info)}, not a regular file; ${advice}`);
}

function cannotOpen(path: string, error: unknown): UserError {
  const code = (error as NodeJS.ErrnoException)?.code;
  const reason =
    code === 'ENOENT'
      ? 'no such file'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'ELOOP'
          ? 'a symlink loop'
          : code === 'ENOTDIR'
            ? 'a part of the path is not a folder'
            : (code ?? (error as Error)?.message ?? String(error));
  const err = new UserError(`${path}: cannot open (${reason})`);
  (err as { code?: string }).code = code;
  return err;
}

function tooLarge(path: string, size: number, cap: number, what: string): FileFormatError {
  return new FileFormatError(
    path,
    `is ${formatBytes(size)}, more than the ${formatBytes(cap)} a ${what} file may have; this is not a ${what} file (or a damaged one)`,
  );
}

/** Options of the bounded readers. */
export interface BoundedOptions {
  /** The kind of file for messages, e.g. `model.json`, `run config`, `IDX dataset`. */
  what: string;
  /** Files above this many bytes are refused before reading. */
  maxBytes: number;
}

/** A regular file's resolved path and size, checked without opening it. */
export interface RegularFile {
  path: string;
  real: string;
  size: number;
}

/** The checks of checkRegularFile once the target's stats are known. */
function regularFile(
  path: string,
  real: string,
  info: Stats,
  options: { what: string; maxBytes?: number },
): RegularFile {
  if (!info.isFile()) throw notRegular(path, real, info, options.what);
  if (options.maxBytes !== undefined && info.size > options.maxBytes) {
    throw tooLarge(path, info.size, options.maxBytes, options.what);
  }
  return { path, real, size: info.size };
}

/**
 * Checks that `path` (after following symlinks) is a regular file no larger than `maxBytes`,
 * without opening it. Throws UserError (not a regular file, missing, unreadable) or
 * FileFormatError (too large).
 */
export async function checkRegularFile(
  path: string,
  options: { what: string; maxBytes?: number },
): Promise<RegularFile> {
  let real: string;
  let info: Stats;
  try {
    real = await realpath(path);
    info = await stat(real);
  } catch (error) {
    throw cannotOpen(path, error);
  }
  return regularFile(path, real, info, options);
}

/** Synchronous checkRegularFile. */
export function checkRegularFileSync(
  path: string,
  options: { what: string; maxBytes?: number },
): RegularFile {
  let real: string;
  let info: Stats;
  try {
    real = realpathSync(path);
    info = statSync(real);
  } catch (error) {
    throw cannotOpen(path, error);
  }
  return regularFile(path, real, info, options);
}

const OPEN_FLAGS = fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0);

/** An opened regular file: its handle and its size at open time (from fstat). */
export interface BoundedHandle {
  handle: FileHandle;
  size: number;
  real: string;
}

/**
 * Opens a regular file for reading: checked before opening, opened non-blocking, fstat'ed
 * after opening (a FIFO swapped in between is refused too). The caller closes the handle.
 */
export async function openRegularFile(
  path: string,
  options: { what: string; maxBytes?: number },
): Promise<BoundedHandle> {
  const checked = await checkRegularFile(path, options);
  let handle: FileHandle;
  try {
    handle = await open(checked.real, OPEN_FLAGS);
  } catch (error) {
    throw cannotOpen(path, error);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw notRegular(path, checked.real, info, options.what);
    if (options.maxBytes !== undefined && info.size > options.maxBytes) {
      throw tooLarge(path, info.size, options.maxBytes, options.what);
    }
    return { handle, size: info.size, real: checked.real };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * Reads a whole regular file of at most `maxBytes` bytes. Reads exactly the size fstat reported
 * (a file that grows meanwhile is cut there; one that shrinks is reported).
 */
export async function readBoundedFile(path: string, options: BoundedOptions): Promise<Buffer> {
  const { handle, size } = await openRegularFile(path, options);
  try {
    const out = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const { bytesRead } = await handle.read(out, done, size - done, done);
      if (bytesRead === 0) {
        throw new FileFormatError(path, `the file shrank while it was read (${done} of ${size})`);
      }
      done += bytesRead;
    }
    return out;
  } finally {
    await handle.close();
  }
}

/** readBoundedFile decoded as UTF-8 text (a leading byte-order mark is kept; callers decide). */
export async function readBoundedText(path: string, options: BoundedOptions): Promise<string> {
  return (await readBoundedFile(path, options)).toString('utf8');
}

/** Synchronous readBoundedFile, for the synchronous readers (configs, datasets, run folders). */
export function readBoundedFileSync(path: string, options: BoundedOptions): Buffer {
  const checked = checkRegularFileSync(path, options);
  let fd: number;
  try {
    fd = openSync(checked.real, OPEN_FLAGS);
  } catch (error) {
    throw cannotOpen(path, error);
  }
  try {
    const info = fstatSync(fd);
    if (!info.isFile()) throw notRegular(path, checked.real, info, options.what);
    if (info.size > options.maxBytes)
      throw tooLarge(path, info.size, options.maxBytes, options.what);
    const size = info.size;
    const out = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, out, done, size - done, done);
      if (n === 0) {
        throw new FileFormatError(path, `the file shrank while it was read (${done} of ${size})`);
      }
      done += n;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** Synchronous readBoundedText. */
export function readBoundedTextSync(path: string, options: BoundedOptions): string {
  return readBoundedFileSync(path, options).toString('utf8');
}

/** True when zlib refused because the output would pass `maxOutputLength`. */
function isOutputLimit(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException)?.code;
  return code === 'ERR_BUFFER_TOO_LARGE' || (error as Error)?.name === 'RangeError';
}

/**
 * Inflates gzip data to at most `maxOutputLength` bytes; more is refused as a bomb (or a file
 * larger than its kind allows), a damaged stream as corrupt.
 */
export function gunzipBounded(
  bytes: Uint8Array,
  maxOutputLength: number,
  file: string,
  what: string,
): Buffer {
  try {
    return gunzipSync(bytes, { maxOutputLength: Math.max(1, maxOutputLength) });
  } catch (error) {
    if (isOutputLimit(error)) {
      throw new FileFormatError(
        file,
        `${what} inflates to more than ${formatBytes(maxOutputLength)} (a gzip bomb, or larger than BNN Lab reads); refused`,
      );
    }
    throw new FileFormatError(file, `is a damaged gzip file (${(error as Error).message})`);
  }
}

/**
 * The first bytes of a gzip stream's content (at most `length`), inflating only a prefix of the
 * input so that a bomb costs nothing. Used to read a header before deciding the output size.
 */
export function gunzipPrefix(bytes: Uint8Array, length: number, file: string): Buffer {
  for (let input = 4096; ; input *= 4) {
    let out: Buffer;
    try {
      out = gunzipSync(bytes.subarray(0, Math.min(bytes.length, input)), {
        finishFlush: zlibConstants.Z_SYNC_FLUSH,
        maxOutputLength: Math.max(4 * MB, input * 1100),
      });
    } catch (error) {
      if (isOutputLimit(error)) throw new FileFormatError(file, 'is a damaged gzip file');
      throw new FileFormatError(file, `is a damaged gzip file (${(error as Error).message})`);
    }
    if (out.length >= length || input >= bytes.length) return out.subarray(0, length);
  }
}

/** Inflates raw deflate data (a zip member) to exactly `size` bytes, never more. */
export function inflateRawBounded(
  packed: Uint8Array,
  size: number,
  file: string,
  what: string,
): Buffer {
  let bytes: Buffer;
  try {
    bytes = inflateRawSync(packed, { maxOutputLength: Math.max(1, size) });
  } catch (error) {
    if (isOutputLimit(error)) {
      throw new FileFormatError(file, `${what} inflates to more than its declared ${size} bytes`);
    }
    throw new FileFormatError(file, `${what} does not inflate (${(error as Error).message})`);
  }
  if (bytes.length !== size) {
    throw new FileFormatError(file, `${what} inflates to ${bytes.length} bytes, not ${size}`);
  }
  return bytes;
}

/**
 * Checks a declared size before allocating it: `bytes` must be a safe integer within `budget`
 * and, when `available` is given, no more than the bytes the file can supply for it.
 */
export function checkDeclaredBytes(
  file: string,
  what: string,
  bytes: number,
  options: { budget?: number; available?: number; availableWhat?: string } = {},
): void {
  const budget = options.budget ?? MEMORY_BUDGET_BYTES;
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw new FileFormatError(file, `${what} declares an impossible size (${String(bytes)} bytes)`);
  }
  if (options.available !== undefined && bytes > options.available) {
    throw new FileFormatError(
      file,
      `${what} declares ${formatBytes(bytes)} but ${options.availableWhat ?? 'the file'} holds only ${formatBytes(options.available)}: truncated, corrupt or crafted; refused before allocating`,
    );
  }
  if (bytes > budget) {
    throw new FileFormatError(
      file,
      `${what} needs ${formatBytes(bytes)}, more than the ${formatBytes(budget)} BNN Lab allocates for one item; refused`,
    );
  }
}

/** `relativePath` resolved against `folder`; refused when it is absolute or climbs out. */
function lexicalConfined(file: string, folder: string, relativePath: string, what: string): string {
  const lexical = resolve(folder, relativePath);
  if (isAbsolute(relativePath) || !inside(resolve(folder), lexical)) {
    throw new FileFormatError(
      file,
      `${what} "${relativePath}" leaves the model folder; keep it next to the model`,
    );
  }
  return lexical;
}

/** `real` (where the path leads) when it is inside `realFolder`; refused otherwise. */
function realConfined(
  file: string,
  realFolder: string,
  real: string,
  relativePath: string,
  what: string,
): string {
  if (!inside(realFolder, real)) {
    throw new FileFormatError(
      file,
      `${what} "${relativePath}" is a link to ${real}, outside the model folder; BNN Lab reads only files inside it`,
    );
  }
  return real;
}

/**
 * Resolves `relativePath` against `folder` and checks that the result, after following
 * symlinks, stays inside `folder` (itself resolved). Returns the real path, or the resolved one
 * when it does not exist (the caller's open then reports it with its own message).
 * @throws FileFormatError naming `file` when it leaves the folder.
 */
export async function confinedPath(
  file: string,
  folder: string,
  relativePath: string,
  what: string,
): Promise<string> {
  const lexical = lexicalConfined(file, folder, relativePath, what);
  let realFolder: string;
  let real: string;
  try {
    realFolder = await realpath(folder);
    real = await realpath(lexical);
  } catch {
    return lexical;
  }
  return realConfined(file, realFolder, real, relativePath, what);
}

/** Synchronous confinedPath. */
export function confinedPathSync(
  file: string,
  folder: string,
  relativePath: string,
  what: string,
): string {
  const lexical = lexicalConfined(file, folder, relativePath, what);
  let realFolder: string;
  let real: string;
  try {
    realFolder = realpathSync(folder);
    real = realpathSync(lexical);
  } catch {
    return lexical;
  }
  return realConfined(file, realFolder, real, relativePath, what);
}

/** True when `child` is `folder` itself or below it (both absolute, resolved). */
export function inside(folder: string, child: string): boolean {
  const rel = relative(folder, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}
