import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  appendPoints,
  emptySeries,
  pushPointInPlace,
  rawPointCount,
  type Series,
} from '../../../webview/dashboard/series';

// node:test schedules suites and tests itself; their returned promises are voided on purpose.

function near(actual: number, expected: number, tolerance = 1e-9): void {
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `${actual} is not within ${tolerance} of ${expected}`,
  );
}

function fill(series: Series, count: number, f: (x: number) => number[]): Series {
  for (let x = 1; x <= count; x++) pushPointInPlace(series, x, f(x));
  return series;
}

void describe('series downsampling', () => {
  void it('keeps every point until maxPoints', () => {
    const s = fill(emptySeries(2, 8), 8, (x) => [x, -x]);
    assert.deepEqual(s.x, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(s.y[1], [-1, -2, -3, -4, -5, -6, -7, -8]);
    assert.equal(s.bucketSize, 1);
  });

  void it('merges neighbours pairwise on overflow, x of the later point, mean of values', () => {
    const s = fill(emptySeries(1, 8), 9, (x) => [x * 10]);
    assert.equal(s.bucketSize, 2);
    assert.deepEqual(s.x, [2, 4, 6, 8, 9]);
    assert.deepEqual(s.y[0], [15, 35, 55, 75, 90]);
    assert.deepEqual(s.n, [2, 2, 2, 2, 1]);
  });

  void it('fills a partial bucket before opening a new one, weighting by count', () => {
    const s = fill(emptySeries(1, 8), 10, (x) => [x]);
    assert.deepEqual(s.x, [2, 4, 6, 8, 10]);
    assert.deepEqual(s.y[0], [1.5, 3.5, 5.5, 7.5, 9.5]);
  });

  void it('stays bounded and preserves the overall mean over a long run', () => {
    const count = 100_000;
    const s = fill(emptySeries(1, 1000), count, (x) => [Math.sin(x) + x / count]);
    assert.ok(s.x.length <= 1000, `length ${s.x.length}`);
    assert.ok(s.x.length >= 500, `length ${s.x.length}`);
    assert.equal(rawPointCount(s), count);
    assert.equal(s.x.at(-1), count, 'the newest step is always the last x');
    let exact = 0;
    for (let x = 1; x <= count; x++) exact += Math.sin(x) + x / count;
    const stored = s.y[0].reduce((acc, v, i) => acc + v * s.n[i], 0);
    near(stored / count, exact / count, 1e-9);
    for (let i = 1; i < s.x.length; i++) assert.ok(s.x[i] > s.x[i - 1], 'x stays ascending');
  });

  void it('appendPoints is pure', () => {
    const before = fill(emptySeries(1, 4), 4, (x) => [x]);
    const snapshot = JSON.stringify(before);
    const after = appendPoints(before, [{ x: 5, values: [5] }]);
    assert.equal(JSON.stringify(before), snapshot);
    assert.deepEqual(after.x, [2, 4, 5]);
    assert.equal(after.bucketSize, 2);
  });

  void it('rejects a bad maxPoints and a wrong channel count', () => {
    assert.throws(() => emptySeries(1, 3), /maxPoints must be an even integer >= 4, got 3/);
    assert.throws(() => pushPointInPlace(emptySeries(2), 1, [1]), /expected 2 values, got 1/);
  });

  void it('carries NaN through instead of hiding it', () => {
    const s = fill(emptySeries(1, 4), 6, (x) => [x === 3 ? NaN : x]);
    assert.ok(s.y[0].some((v) => Number.isNaN(v)));
  });
});
