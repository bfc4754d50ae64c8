/**
 * IDX files (the MNIST / Fashion-MNIST / KMNIST format), optionally gzipped.
 *
 * Layout: 2 zero bytes, a type byte (0x08 = unsigned byte), a rank byte, `rank` big-endian
 * uint32 dimensions, then the data in row-major order.
 */
import { existsSync } from 'node:fs';
import { FileFormatError } from '../errors';
import {
  checkDeclaredBytes,
  FILE_CAPS,
  gunzipBounded,
  gunzipPrefix,
  readBoundedFileSync,
} from './boundedFile';

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

/** The largest IDX file BNN Lab reads, after inflating (EMNIST's largest is 550 MB). */
const MAX_IDX_BYTES = FILE_CAPS.dataset;

/** Header bytes and declared data bytes of an IDX header, or undefined when too short. */
function declaredIdxBytes(head: Uint8Array): number | undefined {
  if (head.length < 4) return undefined;
  const rank = head[3];
  if (head.length < 4 + 4 * rank) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let count = 1;
  for (let d = 0; d < rank; d++) count *= view.getUint32(4 + 4 * d, false);
  return 4 + 4 * rank + count;
}

/**
 * Reads an IDX file from disk; `.gz` files (or gzip content) are decompressed. Only regular
 * files are read (a FIFO or `/dev/zero` is refused before opening), at most 1 GB; a gzip file
 * is inflated only up to the size its IDX header declares, so a gzip bomb costs nothing.
 * @throws FileFormatError naming the file when it is missing, not gzip as named, or not IDX.
 */
export function readIdxFile(file: string): IdxArray {
  if (!existsSync(file)) throw new FileFormatError(file, 'does not exist');
  let bytes: Uint8Array = readBoundedFileSync(file, {
    what: 'dataset (IDX)',
    maxBytes: MAX_IDX_BYTES,
  });
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    // Read the header from a prefix, then inflate no more than it declares (+1 to see extra).
    const head = gunzipPrefix(bytes, 4 + 4 * 255, file);
    const declared = declaredIdxBytes(head);
    if (declared !== undefined && head[0] === 0 && head[1] === 0 && head[2] === UBYTE) {
      checkDeclaredBytes(file, 'its IDX header', declared, { budget: MAX_IDX_BYTES });
    }
    bytes = gunzipBounded(
      bytes,
      Math.min(MAX_IDX_BYTES, (declared ?? head.length) + 1),
      file,
      'it',
    );
  }
  return parseIdx(bytes, file);
}
