import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Histogram } from '../../../core/protocol';
import {
  binarySpikes,
  commonRange,
  heatmapMatrix,
  intensity,
  rebinInto,
  ridgeIndices,
} from '../../../webview/charts/heatmapGeometry';
import { emptyHistory, pushFrame } from '../../../webview/dashboard/histogramHistory';

// node:test schedules suites and tests itself; their returned promises are voided on purpose.

const close = (a: number, b: number, tol = 1e-9) =>
  assert.ok(Math.abs(a - b) <= tol, `${a} ≉ ${b}`);
const sum = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => a + b, 0);

void describe('heatmap binning', () => {
  void it('common range spans every histogram; degenerate inputs get a small range', () => {
    assert.deepEqual(
      commonRange([
        { min: -0.1, max: 0.2, counts: [1] },
        { min: -0.3, max: 0.1, counts: [1] },
      ]),
      { lo: -0.3, hi: 0.2 },
    );
    assert.deepEqual(commonRange([]), { lo: -1, hi: 1 });
    const one = commonRange([{ min: 0.5, max: 0.5, counts: [3] }]);
    assert.ok(one.lo < 0.5 && one.hi > 0.5);
  });

  void it('rebinning onto the same grid is the identity', () => {
    const h: Histogram = { min: -1, max: 1, counts: [1, 2, 3, 4] };
    const out = new Float32Array(4);
    rebinInto(h, -1, 1, 4, out);
    assert.deepEqual(Array.from(out), [1, 2, 3, 4]);
  });

  void it('rebinning splits bins by overlap and keeps the total', () => {
    // 2 source bins over [0, 1] → 4 rows over [0, 1]: each count splits in half.
    const out = new Float32Array(4);
    rebinInto({ min: 0, max: 1, counts: [10, 6] }, 0, 1, 4, out);
    assert.deepEqual(Array.from(out), [5, 5, 3, 3]);
    // A narrow histogram inside a wide grid lands in the rows it covers.
    const wide = new Float32Array(8);
    rebinInto({ min: 0.25, max: 0.5, counts: [4, 4] }, -1, 1, 8, wide);
    assert.deepEqual(Array.from(wide), [0, 0, 0, 0, 0, 8, 0, 0]);
    const odd = new Float32Array(7);
    rebinInto({ min: -0.37, max: 0.91, counts: [3, 9, 27, 5, 1] }, -0.5, 1, 7, odd);
    close(sum(odd), 45, 1e-4);
  });

  void it('a constant histogram goes to the row holding its value', () => {
    const out = new Float32Array(4);
    rebinInto({ min: 0.3, max: 0.3, counts: [5, 0, 0] }, 0, 1, 4, out);
    assert.deepEqual(Array.from(out), [0, 5, 0, 0]);
  });

  void it('matrix columns are fractions of each report and max is the largest cell', () => {
    const m = heatmapMatrix(
      [
        { min: -1, max: 1, counts: [0, 10, 10, 0] },
        { min: -2, max: 2, counts: [1, 1, 1, 1] },
      ],
      8,
    );
    assert.equal(m.columns, 2);
    assert.equal(m.rows, 8);
    assert.deepEqual([m.lo, m.hi], [-2, 2]);
    for (let c = 0; c < 2; c++) close(sum(m.values.subarray(c * 8, c * 8 + 8)), 1, 1e-6);
    // First report: all weights in [-0.5, 0.5) → rows 3 and 4 of 8 over [-2, 2].
    assert.deepEqual(
      Array.from(m.values.subarray(0, 8)).map((v) => Math.round(v * 100)),
      [0, 0, 0, 50, 50, 0, 0, 0],
    );
    close(m.max, 0.5, 1e-6);
    assert.equal(heatmapMatrix([], 4).columns, 0);
  });

  void it('colour intensity is a clamped square root', () => {
    assert.equal(intensity(0, 1), 0);
    assert.equal(intensity(0.25, 1), 0.5);
    assert.equal(intensity(2, 1), 1);
    assert.equal(intensity(0.5, 0), 0);
  });

  void it('ridgeline picks spread reports including the first and last', () => {
    assert.deepEqual(ridgeIndices(10, 4), [0, 3, 6, 9]);
    assert.deepEqual(ridgeIndices(3, 14), [0, 1, 2]);
    assert.deepEqual(ridgeIndices(100, 1), [99]);
    assert.deepEqual(ridgeIndices(0, 5), []);
  });

  void it('binary spikes sit at ±α per channel, weighted by the sign balance', () => {
    const spikes = binarySpikes([0.1, 0.2], 0.15, 0.75);
    assert.deepEqual(spikes, [
      { value: -0.1, fraction: 0.125 },
      { value: -0.2, fraction: 0.125 },
      { value: 0.1, fraction: 0.375 },
      { value: 0.2, fraction: 0.375 },
    ]);
    // Without per-channel α: the layer-wide mean |w|.
    assert.deepEqual(binarySpikes(undefined, 0.05, 0.5), [
      { value: -0.05, fraction: 0.5 },
      { value: 0.05, fraction: 0.5 },
    ]);
  });
});

void describe('histogram history', () => {
  const h: Histogram = { min: 0, max: 1, counts: [1] };

  void it('keeps every report until full, then every other, and always the newest', () => {
    let history = emptyHistory(4);
    for (let i = 0; i < 4; i++) history = pushFrame(history, (i + 1) * 10, h);
    assert.deepEqual(
      history.frames.map((f) => f.step),
      [10, 20, 30, 40],
    );
    history = pushFrame(history, 50, h);
    assert.equal(history.stride, 2);
    assert.deepEqual(
      history.frames.map((f) => f.step),
      [10, 30, 50],
    );
    history = pushFrame(history, 60, h); // off the stride grid: provisional newest
    assert.deepEqual(
      history.frames.map((f) => f.step),
      [10, 30, 50, 60],
    );
    history = pushFrame(history, 70, h); // replaces 60
    assert.deepEqual(
      history.frames.map((f) => f.step),
      [10, 30, 50, 70],
    );
    for (let s = 80; s <= 1000; s += 10) history = pushFrame(history, s, h);
    assert.ok(history.frames.length <= 4);
    assert.equal(history.frames.at(-1)?.step, 1000);
    assert.equal(history.frames[0].step, 10);
    assert.equal(history.seen, 100);
  });

  void it('never mutates the previous history', () => {
    const a = pushFrame(emptyHistory(4), 10, h);
    const b = pushFrame(a, 20, h);
    assert.equal(a.frames.length, 1);
    assert.equal(b.frames.length, 2);
    assert.throws(() => emptyHistory(2), /maxFrames/);
  });
});
