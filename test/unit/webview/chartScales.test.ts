import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { thresholdLabel } from '../../../webview/charts/histogramChart';
import {
  METRIC_SCALES,
  fitTitle,
  formatScaled,
  metricScale,
  scaleRange,
  scaleTicks,
} from '../../../webview/charts/metricScale';
import {
  DASHES,
  distinctColors,
  layerStyle,
  resolveCollisions,
  signColors,
} from '../../../webview/charts/seriesStyle';
import { emaSmooth } from '../../../webview/charts/smoothing';
import {
  clampRange,
  dataBounds,
  isFullRange,
  keyAction,
  panBy,
  zoomAbout,
} from '../../../webview/charts/zoom';
import type { Palette } from '../../../webview/shared/theme';

// node:test schedules suites and tests itself; their returned promises are voided on purpose.

const close = (a: number, b: number, eps = 1e-9): boolean => Math.abs(a - b) <= eps;

void describe('metric scales', () => {
  void it('covers every per-layer metric of docs/metrics.md and the LNS scalars', () => {
    for (const key of [
      'params',
      'absMean',
      'quantizationError',
      'deadWeightRatio',
      'starvedWeightRatio',
      'signBalance',
      'signEntropyBits',
      'flipRate',
      'frozenRatio',
      'auxLoss',
      'lnsAux',
      'tau',
      'loss',
      'accuracy',
      'learningRate',
    ]) {
      assert.ok(METRIC_SCALES[key], key);
      assert.equal(metricScale(key).key, key);
      assert.ok(metricScale(key).title.length > 0, `${key} has an axis title`);
    }
    assert.equal(metricScale('deadWeightRatio').title, 'Dead weights (%)');
    assert.match(metricScale('loss').title, /nats/);
    assert.match(metricScale('step').title, /Step/);
  });

  void it('an unknown metric (a method’s own loss) is signed and never clamped', () => {
    assert.equal(metricScale('loss:lnsAux'), METRIC_SCALES.lnsAux, 'method-scalar stream name');
    const s = metricScale('myLoss');
    assert.equal(s.kind, 'signed');
    const [lo, hi] = scaleRange(s, -5, -1);
    assert.ok(lo < -5 && hi > -1 && hi < 0);
  });

  void it('keeps the signed LNS sums where they are, far outside [0, 1]', () => {
    const [lo, hi] = scaleRange(metricScale('lnsAux'), -67_000, -66_000);
    assert.ok(close(lo, -67_060) && close(hi, -65_940), `${lo}, ${hi}`);
    const [alo, ahi] = scaleRange(metricScale('auxLoss'), -3600, -880);
    assert.ok(alo < -3600 && ahi > -880 && ahi < 0);
    // All values equal: 10 % of the value on both sides.
    assert.deepEqual(scaleRange(metricScale('lnsAux'), -67_000, -67_000), [-73_700, -60_300]);
  });

  void it('keeps ratios in [0, 1] unless a value lies outside', () => {
    const [lo, hi] = scaleRange(metricScale('deadWeightRatio'), 0.02, 0.04);
    assert.ok(lo > 0.018 && lo < 0.02 && hi > 0.04 && hi < 0.042);
    assert.deepEqual(scaleRange(metricScale('frozenRatio'), 0, 1), [0, 1]);
    assert.deepEqual(scaleRange(metricScale('accuracy'), 1, 1), [0.9, 1]);
    const [blo, bhi] = scaleRange(metricScale('flipRate'), -0.1, 1.2);
    assert.ok(blo <= -0.1 && bhi >= 1.2, 'a buggy value outside [0, 1] is still drawn');
  });

  void it('keeps losses, counts and bounded values on their side of zero and in bounds', () => {
    assert.equal(scaleRange(metricScale('loss'), 0.01, 2.3)[0], 0);
    assert.equal(scaleRange(metricScale('params'), 0, 500)[0], 0);
    const [elo, ehi] = scaleRange(metricScale('signEntropyBits'), 0.9, 1);
    assert.ok(elo > 0.8 && ehi === 1, `entropy stays ≤ 1 bit: ${elo}, ${ehi}`);
    assert.deepEqual(scaleRange(metricScale('auxLoss'), NaN, 3), [0, 1], 'no data yet');
    assert.deepEqual(scaleRange(metricScale('auxLoss'), null, null), [0, 1]);
  });

  void it('formats ticks per kind: percent, compact counts, compact large sums', () => {
    assert.deepEqual(scaleTicks(metricScale('deadWeightRatio'), [0.02, 0.03]), ['2%', '3%']);
    assert.deepEqual(scaleTicks(metricScale('flipRate'), [0.001, 0.0015]), ['0.10%', '0.15%']);
    assert.deepEqual(scaleTicks(metricScale('params'), [0, 12_300]), ['0', '12.3k']);
    assert.deepEqual(scaleTicks(metricScale('lnsAux'), [-67_000, -66_500]), ['-67k', '-66.5k']);
    assert.deepEqual(scaleTicks(metricScale('auxLoss'), [-3000, -2000]), ['-3,000', '-2,000']);
    assert.deepEqual(scaleTicks(metricScale('loss'), [0.5, 1, 1.5]), ['0.5', '1', '1.5']);
  });

  void it('shortens an axis title to the room the plot gives it', () => {
    const t = metricScale('loss').title;
    assert.equal(fitTitle(t, 400), 'Loss (cross-entropy, nats)');
    assert.equal(fitTitle(t, 60), 'Loss');
    assert.equal(fitTitle('QE, dead, frozen (%)', 100), 'QE, dead, frozen');
    assert.equal(fitTitle('QE, dead, frozen (%)', 50), 'QE, dead');
    assert.equal(fitTitle('Quantization', 10), 'Quantization', 'one word is kept whole');
  });

  void it('formats readouts per kind', () => {
    assert.equal(formatScaled(metricScale('accuracy'), 0.97421), '97.42%');
    assert.equal(formatScaled(metricScale('quantizationError'), 0.4213), '42.1%');
    assert.equal(formatScaled(metricScale('params'), 18_432), '18,432');
    assert.equal(formatScaled(metricScale('lnsAux'), -67_012.4), '-67,012');
    assert.equal(formatScaled(metricScale('loss'), 0.29312), '0.2931');
    assert.equal(formatScaled(metricScale('auxLoss'), null), '—');
  });
});

void describe('smoothing', () => {
  void it('is a bias-corrected EMA (TensorBoard): the first point is the raw value', () => {
    const out = emaSmooth([1, 3, 3], 0.5);
    assert.equal(out[0], 1);
    assert.ok(close(out[1] as number, (0.5 * 0.5 + 0.5 * 3) / 0.75));
    // m3 = 0.5·1.75 + 1.5 = 2.375, debiased by 1 − 0.125.
    assert.ok(close(out[2] as number, 2.375 / 0.875));
  });

  void it('weight 0 returns the values; gaps stay gaps and do not move the average', () => {
    assert.deepEqual(emaSmooth([1, null, 2], 0), [1, null, 2]);
    const out = emaSmooth([2, null, NaN, 2], 0.9);
    assert.deepEqual(out, [2, null, null, 2]);
  });

  void it('a constant stays constant and the result lies between min and max', () => {
    for (const v of emaSmooth([5, 5, 5, 5], 0.95)) assert.ok(close(v as number, 5, 1e-12));
    const noisy = [1, 0, 1, 0, 1, 0, 1, 0];
    const smooth = emaSmooth(noisy, 0.8) as number[];
    assert.ok(smooth.every((v) => v >= 0 && v <= 1));
    assert.ok(Math.abs(smooth[7] - 0.5) < 0.2, 'oscillation averaged out');
  });

  void it('clamps the weight to [0, 0.99]', () => {
    assert.deepEqual(emaSmooth([1, 2], -1), [1, 2]);
    const out = emaSmooth([0, 100], 5) as number[];
    assert.ok(out[1] > 0 && out[1] < 100);
  });
});

void describe('zoom and pan', () => {
  const all = [0, 600] as const;

  void it('zooms about the anchor, which stays put', () => {
    assert.deepEqual(zoomAbout([0, 100], 50, 0.5, [0, 100]), [25, 75]);
    const [lo, hi] = zoomAbout([0, 600], 150, 0.5, all);
    assert.ok(close((150 - lo) / (hi - lo), 150 / 600), 'anchor at the same relative place');
    assert.ok(close(hi - lo, 300));
  });

  void it('never zooms out past the data nor in past 0.5 % of it', () => {
    assert.deepEqual(zoomAbout([100, 200], 150, 100, all), [0, 600]);
    const [lo, hi] = zoomAbout([100, 200], 150, 1e-6, all);
    assert.ok(close(hi - lo, 3), `${lo}, ${hi}`);
  });

  void it('pans inside the data and keeps the width', () => {
    assert.deepEqual(panBy([100, 200], 50, all), [150, 250]);
    assert.deepEqual(panBy([100, 200], 1000, all), [500, 600]);
    assert.deepEqual(panBy([100, 200], -1000, all), [0, 100]);
    assert.deepEqual(clampRange([-50, 700], all), [0, 600]);
  });

  void it('knows when the whole run is shown', () => {
    assert.ok(isFullRange([0, 600], all));
    assert.ok(isFullRange([-1, 601], all));
    assert.ok(!isFullRange([0, 599], all));
    assert.deepEqual(dataBounds([20, 40, 600]), [20, 600]);
    assert.equal(dataBounds([20]), undefined);
  });

  void it('maps keys: + − zoom, arrows pan, 0 resets, others pass', () => {
    const zoomIn = keyAction('+', [0, 600], all) as [number, number];
    assert.ok(close(zoomIn[1] - zoomIn[0], 480) && close(zoomIn[0], 60));
    const zoomOut = keyAction('-', [200, 400], all) as [number, number];
    assert.ok(close(zoomOut[1] - zoomOut[0], 250));
    assert.deepEqual(keyAction('ArrowRight', [100, 200], all), [110, 210]);
    assert.deepEqual(keyAction('ArrowLeft', [100, 200], all), [90, 190]);
    assert.equal(keyAction('0', [100, 200], all), 'reset');
    assert.equal(keyAction('Escape', [100, 200], all), 'reset');
    assert.equal(keyAction('a', [100, 200], all), undefined);
  });
});

/** A palette as VS Code's themes resolve it (only the colours matter here). */
function palette(colors: Partial<Palette>, highContrast: boolean): Palette {
  return {
    foreground: '#cccccc',
    muted: '#9d9d9d',
    grid: '#454545',
    background: '#181818',
    blue: '#3794ff',
    red: '#f14c4c',
    green: '#89d185',
    yellow: '#cca700',
    orange: '#d18616',
    purple: '#b180d7',
    font: '11px sans-serif',
    fontFamily: 'sans-serif',
    highContrast,
    ...colors,
  };
}

void describe('per-layer line styles', () => {
  void it('ordinary themes: depth colours from blue to orange, solid', () => {
    const p = palette({}, false);
    assert.deepEqual(layerStyle(p, 0, 4), { color: 'rgb(55, 148, 255)', dash: undefined });
    assert.deepEqual(layerStyle(p, 3, 4), { color: 'rgb(209, 134, 22)', dash: undefined });
  });

  void it('Light HC (blue = orange): distinct colours, then dashes; no two layers alike', () => {
    const p = palette(
      {
        foreground: '#292929',
        background: '#ffffff',
        blue: '#0f4a85',
        orange: '#0f4a85',
        red: '#b5200d',
        green: '#374e06',
        yellow: '#895503',
        purple: '#652d90',
      },
      true,
    );
    const colors = distinctColors(p);
    assert.equal(colors.length, 6, 'blue and orange count once');
    const n = colors.length * DASHES.length;
    const styles = Array.from({ length: n }, (_, i) => layerStyle(p, i, n));
    const keys = new Set(styles.map((s) => `${s.color}/${s.dash?.join(' ') ?? ''}`));
    assert.equal(keys.size, n, 'every layer has its own colour and dash');
    const firstFour = new Set(styles.slice(0, 4).map((s) => s.color));
    assert.equal(firstFour.size, 4, 'the first layers are not all blues');
  });

  void it('Dark HC: distinct colours too', () => {
    const p = palette({ background: '#000000', foreground: '#ffffff' }, true);
    const styles = [0, 1, 2].map((i) => layerStyle(p, i, 3).color);
    assert.equal(new Set(styles).size, 3);
  });
});

void describe('sign colours and colliding series', () => {
  const hcLight = palette(
    {
      foreground: '#292929',
      blue: '#0f4a85',
      orange: '#0f4a85',
      red: '#b5200d',
      yellow: '#895503',
    },
    true,
  );

  void it('w < 0 and w ≥ 0 get different colours even where orange is blue', () => {
    assert.deepEqual(signColors(palette({}, false)), { negative: '#d18616', positive: '#3794ff' });
    const { negative, positive } = signColors(hcLight);
    assert.notEqual(negative, positive);
    assert.notEqual(negative, hcLight.red, 'red stays the ±Q(τ) colour');
  });

  void it('a series that repeats an earlier colour and dash gets a spare colour', () => {
    const train = { color: hcLight.blue };
    const test = { color: hcLight.orange };
    const [a, b] = resolveCollisions([train, test], hcLight);
    assert.equal(a, hcLight.blue);
    assert.notEqual(b, hcLight.blue);
    // A compared run drawn dashed in the same colour is meant to match: left alone.
    const dashed = { color: hcLight.blue, dash: [5, 4] };
    assert.deepEqual(resolveCollisions([train, dashed], hcLight), [hcLight.blue, hcLight.blue]);
    const p = palette({}, false);
    assert.deepEqual(resolveCollisions([{ color: p.blue }, { color: p.orange }], p), [
      p.blue,
      p.orange,
    ]);
  });
});

void describe('±Q(τ) labels', () => {
  const measure = (text: string): number => text.length * 6;
  void it('name the line and, with room, its value', () => {
    assert.equal(thresholdLabel(0.3142, measure, 200), '+Q(τ) = 0.31');
    assert.equal(thresholdLabel(-0.3142, measure, 200), '−Q(τ) = −0.31');
    assert.equal(thresholdLabel(0.3142, measure, 40), '+Q(τ)');
  });
});
