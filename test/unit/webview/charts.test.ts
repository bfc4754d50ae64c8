import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { alignGroups, decimate } from '../../../webview/charts/align';
import { binIndexOf, histogramBins, niceTicks } from '../../../webview/charts/histogramGeometry';

// node:test schedules suites and tests itself; their returned promises are voided on purpose.

void describe('alignGroups', () => {
  void it('merges x values and fills gaps with null', () => {
    const columns = alignGroups([
      {
        x: [10, 20, 30],
        y: [
          [2, 1.5, 1.2],
          [0.1, 0.5, 0.7],
        ],
      },
      { x: [20, 35], y: [[0.6, 0.8]] },
    ]);
    assert.deepEqual(columns, [
      [10, 20, 30, 35],
      [2, 1.5, 1.2, null],
      [0.1, 0.5, 0.7, null],
      [null, 0.6, null, 0.8],
    ]);
  });

  void it('turns non-finite values into gaps and handles empty input', () => {
    assert.deepEqual(alignGroups([{ x: [1, 2], y: [[NaN, Infinity]] }]), [
      [1, 2],
      [null, null],
    ]);
    assert.deepEqual(alignGroups([{ x: [], y: [[]] }]), [[], []]);
  });
});

void describe('histogram geometry', () => {
  const h = { min: -1, max: 1, counts: [1, 2, 3, 4] };

  void it('computes equal-width bins over [min, max]', () => {
    assert.deepEqual(histogramBins(h), [
      { lo: -1, hi: -0.5, count: 1 },
      { lo: -0.5, hi: 0, count: 2 },
      { lo: 0, hi: 0.5, count: 3 },
      { lo: 0.5, hi: 1, count: 4 },
    ]);
    const flat = histogramBins({ min: 0.3, max: 0.3, counts: [5, 0, 0] });
    assert.equal(flat.length, 1);
    assert.equal(flat[0].count, 5);
    assert.deepEqual(histogramBins({ min: 0, max: 1, counts: [] }), []);
  });

  void it('finds bins like docs/metrics.md: last bin closed, outside is -1', () => {
    assert.equal(binIndexOf(h, -1), 0);
    assert.equal(binIndexOf(h, -0.5), 1);
    assert.equal(binIndexOf(h, 0), 2);
    assert.equal(binIndexOf(h, 1), 3);
    assert.equal(binIndexOf(h, 1.01), -1);
    assert.equal(binIndexOf(h, -1.01), -1);
  });

  void it('picks nice ticks including zero', () => {
    assert.deepEqual(niceTicks(-0.13, 0.12, 5), [-0.1, -0.05, 0, 0.05, 0.1]);
    assert.deepEqual(niceTicks(0, 10, 5), [0, 2, 4, 6, 8, 10]);
    assert.deepEqual(niceTicks(1, 1, 5), []);
  });
});

void describe('decimate', () => {
  void it('merges rows into bucket means, keeping the last x of each bucket', () => {
    assert.deepEqual(
      decimate(
        [
          [1, 2, 3, 4, 5],
          [1, 3, null, 5, 7],
          [null, null, 2, 2, null],
        ],
        3,
      ),
      [
        [2, 4, 5],
        [2, 5, 7],
        [null, 2, null],
      ],
    );
  });

  void it('returns small tables as they are', () => {
    const columns: [number[], (number | null)[]] = [
      [1, 2],
      [3, 4],
    ];
    assert.equal(decimate(columns, 2), columns);
  });

  void it('many layers at the same steps share one x column (fast path)', () => {
    const x = [10, 20, 30];
    const columns = alignGroups([
      { x, y: [[0.1, 0.2, NaN]] },
      { x: [10, 20, 30], y: [[0.3, 0.4, 0.5]] },
    ]);
    assert.deepEqual(columns, [x, [0.1, 0.2, null], [0.3, 0.4, 0.5]]);
    assert.notEqual(columns[0], x, 'a copy, not the series itself');
  });
});
