/**
 * Bounds-checked random access to a file's bytes. Readers never load a whole checkpoint as one
 * string or buffer: they read the header ranges they parse and each tensor's range on demand.
 */
import { FileFormatError } from '../errors';
import { openRegularFile } from '../io/boundedFile';

/** Random access to `size` bytes; every read is checked against `size`. */
export interface ByteSource {
  /** Name used in error messages (the file path, or `file.zip!entry`). */
  readonly name: string;
  readonly size: number;
  /** Reads `[offset, offset + length)`; throws a FileFormatError naming `what` if out of range. */
  read(offset: number, length: number, what: string): Promise<Uint8Array>;
  close(): Promise<void>;
}

function checkRange(name: string, size: number, offset: number, length: number, what: string) {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > size
  ) {
    throw new FileFormatError(
      name,
      `${what} needs bytes ${offset}…${offset + length} but the file has ${size} bytes (truncated or corrupt)`,
    );
  }
}

/**
 * Opens `path` for ranged reads. Anything but a regular file (after following symlinks: FIFOs,
 * devices, sockets, folders) is refused before it is opened (see core/io/boundedFile.ts).
 * Throws UserError when the file cannot be opened.
 */
export async function openFileSource(path: string, what = 'checkpoint'): Promise<ByteSource> {
  const { handle, size } = await openRegularFile(path, { what });
  let closed = false;
  return {
    name: path,
    size,
    async read(offset, length, what) {
      checkRange(path, size, offset, length, what);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(out, done, length - done, offset + done);
        if (bytesRead === 0) {
          throw new FileFormatError(path, `${what}: the file changed size while being read`);
        }
        done += bytesRead;
      }
      return out;
    },
    async close() {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}

/** A window `[start, start + length)` of another source, e.g. a STORED zip entry. */
export function sliceSource(
  parent: ByteSource,
  start: number,
  length: number,
  name: string,
): ByteSource {
  checkRange(parent.name, parent.size, start, length, name);
  return {
    name,
    size: length,
    async read(offset, count, what) {
      checkRange(name, length, offset, count, what);
      return parent.read(start + offset, count, what);
    },
    async close() {
      // The parent owns the handle.
    },
  };
}

/** A source over bytes already in memory (small zip entries, tests). */
export function memorySource(bytes: Uint8Array, name: string): ByteSource {
  return {
    name,
    size: bytes.length,
    async read(offset, length, what) {
      checkRange(name, bytes.length, offset, length, what);
      return bytes.subarray(offset, offset + length);
    },
    async close() {},
  };
}
