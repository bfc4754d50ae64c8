/** The side view's loss and accuracy sparkline (webview/dashboard/sparkline.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sparklinePoints } from '../../../webview/dashboard/sparkline';

const parse = (points: string) => points.split(' ').map((p) => p.split(',').map(Number));

void test('a sparkline spans its box: first step left, last right, larger values up', () => {
  const points = parse(sparklinePoints([10, 20, 30], [2, 1, 0.5]));
  assert.deepEqual(
    points.map(([x]) => x),
    [0, 100, 200],
  );
  // Own range [0.5, 2]: the largest loss at the top (y 1), the smallest at the bottom (y 35).
  assert.deepEqual(
    points.map(([, y]) => y),
    [1, 23.7, 35],
  );
});

void test('accuracy is drawn on [0, 1], so 50% sits half way whatever the run reached', () => {
  const [[, y]] = parse(sparklinePoints([1, 2], [0.5, 0.5], [0, 1]));
  assert.equal(y, 18);
});

void test('missing values are skipped; a long run is thinned but keeps its last report', () => {
  assert.equal(parse(sparklinePoints([1, 2, 3], [1, NaN, 3])).length, 2);
  assert.equal(sparklinePoints([], []), '');
  const x = Array.from({ length: 1000 }, (_, i) => i + 1);
  const points = parse(sparklinePoints(x, x));
  assert.ok(points.length <= 101, `${points.length} points`);
  assert.deepEqual(points.at(-1), [200, 1]);
});
