/**
 * The PNG → CIFAR-10 binary conversion (test/bench/cifarFromNpm.ts) on a hand-encoded PNG that
 * uses every PNG row filter, against the pixels it was made from.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deflateSync } from 'node:zlib';
import { decodeRgbPng, toCifarRecords } from '../../bench/cifarFromNpm';

function crcTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}
const CRC = crcTable();

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  let c = 0xffffffff;
  for (const b of Buffer.concat([head.subarray(4), data])) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE((c ^ 0xffffffff) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** An 8-bit RGB PNG whose row y uses filter y % 5 (None, Sub, Up, Average, Paeth). */
function encode(width: number, height: number, rgb: Buffer): Buffer {
  const stride = width * 3;
  const raw = Buffer.alloc(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    const filter = y % 5;
    raw[y * (stride + 1)] = filter;
    for (let i = 0; i < stride; i++) {
      const x = rgb[y * stride + i];
      const a = i >= 3 ? rgb[y * stride + i - 3] : 0;
      const b = y > 0 ? rgb[(y - 1) * stride + i] : 0;
      const c = y > 0 && i >= 3 ? rgb[(y - 1) * stride + i - 3] : 0;
      const p = a + b - c;
      const paeth =
        Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c)
          ? a
          : Math.abs(p - b) <= Math.abs(p - c)
            ? b
            : c;
      const predictor = [0, a, b, (a + b) >> 1, paeth][filter];
      raw[y * (stride + 1) + 1 + i] = (x - predictor) & 0xff;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

test('decodes every PNG filter and writes planar CIFAR records with labels', () => {
  const images = 6;
  const rgb = Buffer.alloc(images * 1024 * 3);
  let s = 7;
  for (let i = 0; i < rgb.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    rgb[i] = s >>> 24;
  }
  const decoded = decodeRgbPng(encode(1024, images, rgb), 'x.png');
  assert.equal(decoded.width, 1024);
  assert.equal(decoded.height, images);
  assert.ok(decoded.rgb.equals(rgb), 'pixels round-trip through all five filters');

  const labels = [3, 8, 8, 0, 6, 9];
  const records = toCifarRecords(decoded.rgb, labels, 'x.png');
  assert.equal(records.length, images * 3073);
  // Image 4: label, then R of pixel 0..1023, then G, then B.
  const o = 4 * 3073;
  assert.equal(records[o], 6);
  assert.equal(records[o + 1 + 5], rgb[(4 * 1024 + 5) * 3]);
  assert.equal(records[o + 1 + 1024 + 5], rgb[(4 * 1024 + 5) * 3 + 1]);
  assert.equal(records[o + 1 + 2048 + 1023], rgb[(4 * 1024 + 1023) * 3 + 2]);
  assert.throws(() => toCifarRecords(decoded.rgb, [1, 2], 'x.png'), /6 images but 2 labels/);
  assert.throws(() => decodeRgbPng(Buffer.from('not a png'), 'y.png'), /y\.png: not a PNG file/);
});
