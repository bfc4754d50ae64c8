import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cropAndFlip, decodeCifarRecords, loadDataset } from '../../../core/data/datasets';
import { FileFormatError } from '../../../core/errors';
import { mulberry32 } from '../../../core/training/random';

const RECORD = 3073;

/** `count` records; record i has label i % 10 and every R byte = i, G = 100, B = 255. */
function records(count: number, first = 0): Buffer {
  const b = Buffer.alloc(count * RECORD);
  for (let i = 0; i < count; i++) {
    const o = i * RECORD;
    b[o] = (first + i) % 10;
    b.fill(first + i, o + 1, o + 1025);
    b.fill(100, o + 1025, o + 2049);
    b.fill(255, o + 2049, o + 3073);
  }
  return b;
}

function cifarFolder(perBatch = 3): string {
  const dir = mkdtempSync(join(tmpdir(), 'cifar-'));
  for (let i = 1; i <= 5; i++)
    writeFileSync(join(dir, `data_batch_${i}.bin`), records(perBatch, (i - 1) * perBatch));
  writeFileSync(join(dir, 'test_batch.bin'), records(2, 50));
  return dir;
}

test('CIFAR-10 records decode to normalized NHWC with the planes interleaved', () => {
  const split = decodeCifarRecords(new Uint8Array(records(2)));
  assert.equal(split.count, 2);
  assert.deepEqual([...split.labels], [0, 1]);
  const px = (n: number, c: number) => split.images[n * 3072 + c];
  const norm = (v: number, m: number, s: number) => v / 255 / s - m / s;
  assert.ok(Math.abs(px(1, 0) - norm(1, 0.4914, 0.247)) < 1e-5);
  assert.ok(Math.abs(px(1, 1) - norm(100, 0.4822, 0.2435)) < 1e-5);
  assert.ok(Math.abs(px(1, 2) - norm(255, 0.4465, 0.2616)) < 1e-5);
  // The last pixel of image 0 holds the last bytes of its three planes.
  assert.ok(Math.abs(split.images[3071] - norm(255, 0.4465, 0.2616)) < 1e-5);
});

test('a CIFAR-10 folder loads all five batches and the test batch; limit reads fewer', () => {
  const dir = cifarFolder();
  const all = loadDataset({ name: 'cifar10', path: dir }, { limit: 0, testLimit: 0 });
  assert.equal(all.train.count, 15);
  assert.equal(all.test.count, 2);
  assert.deepEqual(all.shape, [32, 32, 3]);
  assert.deepEqual([...all.train.labels.slice(3, 6)], [3, 4, 5]);
  const some = loadDataset({ name: 'cifar10', path: dir }, { limit: 4, testLimit: 1 });
  assert.equal(some.train.count, 4);
  assert.equal(some.test.count, 1);
});

test('a missing or truncated CIFAR-10 batch is an error naming the file', () => {
  const dir = cifarFolder();
  unlinkSync(join(dir, 'data_batch_4.bin'));
  assert.throws(
    () => loadDataset({ name: 'cifar10', path: dir }, { limit: 1, testLimit: 0 }),
    (e: Error) =>
      e instanceof FileFormatError &&
      e.file === join(dir, 'data_batch_4.bin') &&
      /is missing: a CIFAR-10 folder needs data_batch_1.bin/.test(e.message),
  );
  writeFileSync(join(dir, 'data_batch_4.bin'), records(2).subarray(0, RECORD + 7));
  assert.throws(
    () => loadDataset({ name: 'cifar10', path: dir }, { limit: 0, testLimit: 0 }),
    (e: Error) =>
      e instanceof FileFormatError &&
      /3080 bytes, not a whole number of 3073-byte records/.test(e.message),
  );
});

test('crop with 4-pixel padding and flip: seeded, pads with the given value, keeps content', () => {
  const shape = [6, 6, 1] as const;
  const image = Float32Array.from({ length: 36 }, (_, i) => i);
  const a = image.slice();
  const b = image.slice();
  cropAndFlip(a, 1, shape, mulberry32(7), [-9]);
  cropAndFlip(b, 1, shape, mulberry32(7), [-9]);
  assert.deepEqual(a, b);
  // Reproduce the draw: dy, dx in [−4, 4], then the flip coin.
  const r = mulberry32(7);
  const dy = Math.floor(r() * 9) - 4;
  const dx = Math.floor(r() * 9) - 4;
  const flip = r() < 0.5;
  for (let y = 0; y < 6; y++) {
    for (let x = 0; x < 6; x++) {
      const sy = y + dy;
      const sx = (flip ? 5 - x : x) + dx;
      const expected = sy >= 0 && sy < 6 && sx >= 0 && sx < 6 ? sy * 6 + sx : -9;
      assert.equal(a[y * 6 + x], expected, `(${y}, ${x})`);
    }
  }
  // Over many draws every offset and both flips occur.
  const seen = new Set<string>();
  const rand = mulberry32(1);
  for (let i = 0; i < 400; i++) {
    seen.add(`${Math.floor(rand() * 9) - 4},${Math.floor(rand() * 9) - 4},${rand() < 0.5}`);
  }
  assert.ok(seen.size > 100);
});
