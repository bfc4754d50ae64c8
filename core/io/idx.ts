/**
 * IDX files (the MNIST / Fashion-MNIST / KMNIST format), optionally gzipped.
 *
 * Layout: 2 zero bytes, a type byte (0x08 = unsigned byte), a rank byte, `rank` big-endian
 * uint32 dimensions, then the data in row-major order.
 */
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { FileFormatError } from '../errors';

export interface IdxArray {
  shape: number[];
  /** Unsigned bytes, row-major, `shape` product long. */
  data: Uint8Array;
}

const UBYTE = 0x08;

/**
 * Parses IDX bytes. Only the unsigned-byte type is supported (all image datasets use it).
 * @param file used in error messages.
 * @throws FileFormatError naming the file: bad magic, unsupported type, truncated or extra data.
 */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (bytes.length < 4)
    throw new FileFormatError(file, `is ${bytes.length} bytes long, too short for an IDX header`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new FileFormatError(
      file,
      `is not an IDX file (magic starts ${hex(bytes[0])} ${hex(bytes[1])}, expected 00 00)`,
    );
  }
  if (bytes[2] !== UBYTE) {
    throw new FileFormatError(
      file,
      `has IDX data type ${hex(bytes[2])}; only unsigned bytes (0x08) are supported`,
    );
  }
  const rank = bytes[3];
  if (rank < 1 || rank > 4)
    throw new FileFormatError(file, `has IDX rank ${rank}; expected 1 to 4`);
  const headerLength = 4 + 4 * rank;
  if (bytes.length < headerLength)
    throw new FileFormatError(file, `is truncated inside its IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  let count = 1;
  for (let d = 0; d < rank; d++) {
    const size = view.getUint32(4 + 4 * d, false);
    shape.push(size);
    count *= size;
  }
  const available = bytes.length - headerLength;
  if (available < count) {
    throw new FileFormatError(
      file,
      `is truncated: its header declares shape [${shape.join(', ')}] = ${count} bytes of data, but only ${available} follow`,
    );
  }
  if (available > count) {
    throw new FileFormatError(
      file,
      `has ${available - count} bytes after the data its header declares (shape [${shape.join(', ')}])`,
    );
  }
  return { shape, data: bytes.subarray(headerLength, headerLength + count) };
}

function hex(b: number | undefined): string {
  return `0x${(b ?? 0).toString(16).padStart(2, '0')}`;
}

/**
 * Reads an IDX file from disk; `.gz` files (or gzip content) are decompressed.
 * @throws FileFormatError naming the file when it is missing, not gzip as named, or not IDX.
 */
export function readIdxFile(file: string): IdxArray {
  if (!existsSync(file)) throw new FileFormatError(file, 'does not exist');
  let bytes: Uint8Array = readFileSync(file);
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new FileFormatError(file, `is a damaged gzip file: ${(e as Error).message}`);
    }
  }
  return parseIdx(bytes, file);
}
