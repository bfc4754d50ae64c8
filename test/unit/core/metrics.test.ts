import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  binaryEntropyBits,
  channelAlpha,
  flipRateBetween,
  histogram,
  laplaceQuantile,
  SignTracker,
  weightStats,
} from '../../../core/metrics/layerStats';

const close = (actual: number, expected: number, tol = 1e-9) =>
  assert.ok(Math.abs(actual - expected) <= tol, `${actual} is not within ${tol} of ${expected}`);

// W = [[0.5, -1], [2, -0.25]] in TF.js layout [in, out]: channel 0 = {0.5, 2}, channel 1 = {-1, -0.25}.
const W = new Float32Array([0.5, -1, 2, -0.25]);

test('alpha is mean |W| per output channel, for either channel axis', () => {
  assert.deepEqual([...channelAlpha(W, [2, 2], 'last')], [1.25, 0.625]);
  assert.deepEqual([...channelAlpha(W, [2, 2], 'first')], [0.75, 1.125]);
});

test('every single-snapshot metric matches a hand computation', () => {
  const s = weightStats(W, { shape: [2, 2], channelAxis: 'last', bins: 4, deadTau: 0.75, clip: 1 });
  assert.equal(s.params, 4);
  close(s.mean, 0.3125);
  close(s.absMean, 0.9375);
  close(s.std, Math.sqrt(5.3125 / 4 - 0.3125 ** 2));
  assert.equal(s.min, -1);
  assert.equal(s.max, 2);
  // Σ(W − α·sgn W)² = 0.5625 + 0.140625 + 0.5625 + 0.140625; ΣW² = 5.3125.
  close(s.quantizationError, 1.40625 / 5.3125);
  // Q(0.75) = 0.9375·ln 2 = 0.6498: |−1| and |2| lie beyond it.
  close(s.deadWeightRatio, 0.5);
  // |W| >= t_clip = 1: −1 and 2.
  close(s.starvedWeightRatio ?? NaN, 0.5);
  close(s.signBalance, 0.5);
  close(s.signEntropyBits, 1);
  assert.deepEqual(s.histogram, { min: -1, max: 2, counts: [1, 1, 1, 1] });
});

test('the default τ is 0.99 and an unknown clip gives starvedWeightRatio null', () => {
  const s = weightStats(W, { shape: [2, 2], channelAxis: 'last' });
  assert.equal(s.starvedWeightRatio, null);
  assert.equal(s.deadWeightRatio, 0); // Q(0.99) = 3.67 > every |W|.
  assert.equal(s.histogram.counts.length, 64);
  assert.equal(
    Array.from(s.histogram.counts).reduce((a, b) => a + b, 0),
    4,
  );
});

test('QE is 0 when every channel shares one magnitude; sgn(0) counts as +1', () => {
  const s = weightStats(new Float32Array([0.3, -0.3, 0, 0]), {
    shape: [4, 1],
    channelAxis: 'last',
  });
  // α = 0.15; Σ(W − αB)² = 2·0.0225 + 2·0.0225 = 0.09; ΣW² = 0.18.
  close(s.quantizationError, 0.5, 1e-7);
  close(s.signBalance, 0.75);
  const flat = weightStats(new Float32Array([0.2, -0.2, 0.2, -0.2]), {
    shape: [4, 1],
    channelAxis: 'last',
  });
  close(flat.quantizationError, 0, 1e-12);
});

test('histogram puts max in the last bin and everything in bin 0 when max == min', () => {
  assert.deepEqual(histogram([0, 1, 2, 3, 4], 4, 0, 4).counts, [1, 1, 1, 2]);
  assert.deepEqual(histogram([7, 7, 7], 3, 7, 7).counts, [3, 0, 0]);
});

test('Laplace quantile and entropy', () => {
  close(laplaceQuantile(2, 0.99), -2 * Math.log(0.02));
  close(binaryEntropyBits(0), 0);
  close(binaryEntropyBits(1), 0);
  close(binaryEntropyBits(0.25), 0.8112781244591328);
});

test('for an exactly Laplace layer the dead-weight ratio is 2(1 − τ)', () => {
  // Quantiles of Laplace(0, 1): a deterministic sample with the exact distribution.
  const n = 200_000;
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = (i + 0.5) / n;
    w[i] = u < 0.5 ? Math.log(2 * u) : -Math.log(2 - 2 * u);
  }
  const s = weightStats(w, { shape: [n, 1], channelAxis: 'last', deadTau: 0.99 });
  close(s.deadWeightRatio, 0.02, 2e-4);
});

test('flipRate between snapshots compares sgn with zero as +1', () => {
  close(flipRateBetween([1, -1, 0, -0], [1, 1, -0, 2]), 0.25);
  assert.throws(() => flipRateBetween([1], [1, 2]), /1 vs 2/);
});

test('SignTracker: per-step flip fraction averaged per report, frozen ratio over the window', () => {
  const t = new SignTracker([1, -1, 1, -1]);
  close(t.update([1, 1, 1, -1]), 0.25);
  close(t.update([1, 1, -1, -1]), 0.25);
  close(t.update([1, -1, -1, -1]), 0.25);
  close(t.takeFlipRate(), 0.25);
  close(t.takeFlipRate(), 0); // nothing since the last report
  close(t.frozenRatio(), 0.5); // weights 1 and 2 flipped at some point
  const restored = SignTracker.fromState(t.state().signs, t.state().everFlipped);
  close(restored.frozenRatio(), 0.5);
  close(restored.update([1, -1, -1, 1]), 0.25);
  close(restored.frozenRatio(), 0.25);
});
