/**
 * A small read-only zip reader for PyTorch (torch ≥ 1.6) and Keras 3 archives: it finds the end
 * of central directory record (zip64 too), lists entries from the central directory and opens
 * STORED entries as byte windows of the file, without copying them. DEFLATE entries can be
 * inflated into memory for small members (Keras config files); PyTorch never compresses.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createInflateRaw } from 'node:zlib';
import { FileFormatError } from '../errors';
import { memorySource, sliceSource, type ByteSource } from './byteSource';
import { formatBytes, inflateRawBounded } from '../io/boundedFile';

/** One member of a zip archive, from its central directory record. */
export interface ZipEntry {
  name: string;
  /** 0 = STORED, 8 = DEFLATE; others are refused when opened. */
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  flags: number;
}

/** An opened archive: its entries by name. */
export interface ZipArchive {
  source: ByteSource;
  entries: Map<string, ZipEntry>;
}

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
/** Members inflated into memory are capped (config files); callers may lower the cap. */
const MAX_INFLATED_BYTES = 64 * 1024 * 1024;
/** A central directory above this is refused (25,000 entries take about 3 MB). */
const MAX_DIRECTORY_BYTES = 64 * 1024 * 1024;
/** deflate cannot expand data by more than about 1032:1; a member declaring more is crafted. */
const MAX_DEFLATE_RATIO = 1032;

/** True when the first bytes are a zip local file header (`PK\x03\x04`). */
export function looksLikeZip(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 3 && head[3] === 4;
}

function u64(view: DataView, offset: number): number {
  const value = view.getBigUint64(offset, true);
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value);
}

/** Reads the central directory of `source`. Throws FileFormatError on any inconsistency. */
export async function openZip(source: ByteSource): Promise<ZipArchive> {
  const file = source.name;
  if (source.size < 22) throw new FileFormatError(file, 'too short to be a zip archive');
  const tailLength = Math.min(source.size, 22 + 0xffff);
  const tailStart = source.size - tailLength;
  const tail = await source.read(tailStart, tailLength, 'zip end of central directory');
  const tailView = new DataView(tail.buffer, tail.byteOffset, tail.length);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tailView.getUint32(i, true) === EOCD_SIGNATURE) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    throw new FileFormatError(
      file,
      'no zip end-of-central-directory record: the archive is truncated or not a zip file',
    );
  }
  let entryCount = tailView.getUint16(eocd + 10, true);
  let directorySize = tailView.getUint32(eocd + 12, true);
  let directoryOffset = tailView.getUint32(eocd + 16, true);
  if (
    (entryCount === 0xffff || directorySize === 0xffffffff || directoryOffset === 0xffffffff) &&
    eocd >= 20 &&
    tailView.getUint32(eocd - 20, true) === ZIP64_LOCATOR_SIGNATURE
  ) {
    const zip64Offset = u64(tailView, eocd - 20 + 8);
    const record = await source.read(zip64Offset, 56, 'zip64 end of central directory');
    const view = new DataView(record.buffer, record.byteOffset, 56);
    if (view.getUint32(0, true) !== ZIP64_EOCD_SIGNATURE) {
      throw new FileFormatError(file, 'zip64 end-of-central-directory record is missing');
    }
    entryCount = u64(view, 32);
    directorySize = u64(view, 40);
    directoryOffset = u64(view, 48);
  }
  if (directoryOffset + directorySize > source.size) {
    throw new FileFormatError(
      file,
      `zip central directory (${directorySize} bytes at ${directoryOffset}) runs past the end of the ${source.size}-byte file: truncated`,
    );
  }
  if (directorySize > MAX_DIRECTORY_BYTES) {
    throw new FileFormatError(
      file,
      `zip central directory claims ${formatBytes(directorySize)}, more than the ${formatBytes(MAX_DIRECTORY_BYTES)} of any checkpoint's (corrupt or crafted); refused before reading it`,
    );
  }
  if (entryCount * 46 > directorySize) {
    throw new FileFormatError(file, `zip claims ${entryCount} entries in ${directorySize} bytes`);
  }
  const directory = await source.read(directoryOffset, directorySize, 'zip central directory');
  const view = new DataView(directory.buffer, directory.byteOffset, directory.length);
  const entries = new Map<string, ZipEntry>();
  const decoder = new TextDecoder('utf-8');
  let p = 0;
  for (let i = 0; i < entryCount; i++) {
    if (p + 46 > directory.length || view.getUint32(p, true) !== CENTRAL_SIGNATURE) {
      throw new FileFormatError(file, `zip central directory entry ${i} is corrupt`);
    }
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    let compressedSize = view.getUint32(p + 20, true);
    let size = view.getUint32(p + 24, true);
    const nameLength = view.getUint16(p + 28, true);
    const extraLength = view.getUint16(p + 30, true);
    const commentLength = view.getUint16(p + 32, true);
    let localHeaderOffset = view.getUint32(p + 42, true);
    const end = p + 46 + nameLength + extraLength + commentLength;
    if (end > directory.length) {
      throw new FileFormatError(file, `zip central directory entry ${i} runs past its directory`);
    }
    const name = decoder.decode(directory.subarray(p + 46, p + 46 + nameLength));
    // zip64 extended information: the 64-bit values of the fields saturated above, in order.
    let e = p + 46 + nameLength;
    const extraEnd = e + extraLength;
    while (e + 4 <= extraEnd) {
      const id = view.getUint16(e, true);
      const length = view.getUint16(e + 2, true);
      if (e + 4 + length > extraEnd) break;
      if (id === 0x0001) {
        let q = e + 4;
        const take = (): number | undefined => {
          if (q + 8 > e + 4 + length) return undefined;
          const v = u64(view, q);
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = take() ?? size;
        if (compressedSize === 0xffffffff) compressedSize = take() ?? compressedSize;
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = take() ?? localHeaderOffset;
      }
      e += 4 + length;
    }
    entries.set(name, { name, method, compressedSize, size, localHeaderOffset, flags });
    p = end;
  }
  return { source, entries };
}

/** Where an entry's data starts, from its local header. */
async function dataOffset(archive: ZipArchive, entry: ZipEntry): Promise<number> {
  const file = archive.source.name;
  const header = await archive.source.read(
    entry.localHeaderOffset,
    30,
    `zip local header of "${entry.name}"`,
  );
  const view = new DataView(header.buffer, header.byteOffset, 30);
  if (view.getUint32(0, true) !== LOCAL_SIGNATURE) {
    throw new FileFormatError(file, `zip local header of "${entry.name}" is corrupt`);
  }
  const start = entry.localHeaderOffset + 30 + view.getUint16(26, true) + view.getUint16(28, true);
  if (start + entry.compressedSize > archive.source.size) {
    throw new FileFormatError(
      file,
      `zip entry "${entry.name}" (${entry.compressedSize} bytes at ${start}) runs past the end of the file: truncated`,
    );
  }
  return start;
}

/**
 * Opens one member. STORED members become windows of the file (no copy); DEFLATE members are
 * inflated into memory only when `allowDeflate` is set, otherwise `refuseMessage` is thrown.
 */
export async function openEntry(
  archive: ZipArchive,
  entry: ZipEntry,
  options: { allowDeflate: boolean; refuseMessage?: string; maxInflatedBytes?: number },
): Promise<ByteSource> {
  const file = archive.source.name;
  const label = `${file}!${entry.name}`;
  const start = await checkedDataOffset(archive, entry);
  if (entry.method === 0) {
    return sliceSource(archive.source, start, entry.size, label);
  }
  if (entry.method === 8 && options.allowDeflate) {
    const cap = options.maxInflatedBytes ?? MAX_INFLATED_BYTES;
    if (entry.size > cap) {
      throw new FileFormatError(
        file,
        `zip entry "${entry.name}" declares ${formatBytes(entry.size)}, more than the ${formatBytes(cap)} BNN Lab inflates for it`,
      );
    }
    checkRatio(file, entry);
    const packed = await archive.source.read(
      start,
      entry.compressedSize,
      `zip entry "${entry.name}"`,
    );
    // Never more than the declared size: a member that inflates further is refused.
    const bytes = inflateRawBounded(packed, entry.size, file, `zip entry "${entry.name}"`);
    return memorySource(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), label);
  }
  throw new FileFormatError(
    file,
    options.refuseMessage ??
      `zip entry "${entry.name}" uses compression method ${entry.method}, which is not supported`,
  );
}

/** Refuses a DEFLATE member whose declared size deflate could not have produced. */
function checkRatio(file: string, entry: ZipEntry): void {
  if (entry.size > Math.max(1024, entry.compressedSize * MAX_DEFLATE_RATIO)) {
    throw new FileFormatError(
      file,
      `zip entry "${entry.name}" declares ${entry.size} bytes from ${entry.compressedSize} compressed: more than deflate can produce (a zip bomb); refused`,
    );
  }
}

/** The data offset of an entry after checking its flags and sizes. */
async function checkedDataOffset(archive: ZipArchive, entry: ZipEntry): Promise<number> {
  const file = archive.source.name;
  if (entry.flags & 1) {
    throw new FileFormatError(file, `zip entry "${entry.name}" is encrypted`);
  }
  if (entry.method === 0 && entry.compressedSize !== entry.size) {
    throw new FileFormatError(file, `zip entry "${entry.name}" is STORED but its sizes differ`);
  }
  return dataOffset(archive, entry);
}

/**
 * Streams one member (STORED or DEFLATE) to `write` in chunks of at most a few MB, so memory
 * stays bounded whatever its size; a DEFLATE member is inflated to exactly its declared size,
 * never more. `maxBytes` caps the declared size (the disk the copy may take).
 */
export async function extractEntry(
  archive: ZipArchive,
  entry: ZipEntry,
  maxBytes: number,
  write: (chunk: Uint8Array) => Promise<void>,
): Promise<void> {
  const file = archive.source.name;
  const start = await checkedDataOffset(archive, entry);
  if (entry.method !== 0 && entry.method !== 8) {
    throw new FileFormatError(
      file,
      `zip entry "${entry.name}" uses compression method ${entry.method}, which is not supported`,
    );
  }
  if (entry.size > maxBytes) {
    throw new FileFormatError(
      file,
      `zip entry "${entry.name}" declares ${formatBytes(entry.size)}, more than the ${formatBytes(maxBytes)} BNN Lab extracts`,
    );
  }
  const chunk = 4 * 1024 * 1024;
  const source = archive.source;
  const stored = entry.method === 0 ? entry.size : entry.compressedSize;
  async function* packed(): AsyncGenerator<Uint8Array> {
    for (let offset = 0; offset < stored; offset += chunk) {
      const length = Math.min(chunk, stored - offset);
      yield await source.read(start + offset, length, `zip entry "${entry.name}"`);
    }
  }
  if (entry.method === 0) {
    for await (const bytes of packed()) await write(bytes);
    return;
  }
  checkRatio(file, entry);
  let total = 0;
  try {
    await pipeline(Readable.from(packed()), createInflateRaw(), async (inflated) => {
      for await (const bytes of inflated as AsyncIterable<Buffer>) {
        total += bytes.length;
        if (total > entry.size) {
          throw new FileFormatError(
            file,
            `zip entry "${entry.name}" inflates to more than its declared ${entry.size} bytes (a zip bomb); refused`,
          );
        }
        await write(bytes);
      }
    });
  } catch (error) {
    if (error instanceof FileFormatError) throw error;
    throw new FileFormatError(
      file,
      `zip entry "${entry.name}" does not inflate (${(error as Error).message})`,
    );
  }
  if (total !== entry.size) {
    throw new FileFormatError(
      file,
      `zip entry "${entry.name}" inflates to ${total} bytes, not the declared ${entry.size}`,
    );
  }
}
