import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  METRICS,
  axisTitle,
  formatMetric,
  metricRange,
  metricSpec,
  metricTicks,
} from '../../../webview/shared/metricVocabulary';
import { cancelledText } from '../../../webview/shared/runMessages';

// node:test schedules suites and tests itself; their returned promises are voided on purpose.

const contains = ([lo, hi]: [number, number], min: number, max: number): boolean =>
  lo <= min && hi >= max && hi > lo;

void describe('metric vocabulary', () => {
  void it('names every metric as docs/metrics.md does', () => {
    const doc = readFileSync(join(__dirname, '../../../../docs/metrics.md'), 'utf8');
    for (const key of [
      'quantizationError',
      'deadWeightRatio',
      'starvedWeightRatio',
      'signBalance',
      'signEntropyBits',
      'flipRate',
      'frozenRatio',
      'absMean',
      'params',
    ] as const) {
      assert.equal(METRICS[key].key, key);
      assert.match(doc, new RegExp(`\`${key}\``), `${key} is in docs/metrics.md`);
    }
    for (const spec of Object.values(METRICS)) {
      assert.ok(spec.label && spec.short && spec.title, `${spec.key} has labels and a tooltip`);
    }
  });

  void it('gives a negative auxiliary loss a range that contains it', () => {
    const aux = METRICS.auxLoss;
    assert.equal(aux.kind, 'signed');
    const range = metricRange(aux, -3600, -880);
    assert.ok(contains(range, -3600, -880), `${range.join(', ')} contains [-3600, -880]`);
    assert.ok(range[1] < 0, 'not pulled up to 0');
    const flat = metricRange(METRICS.lnsAux, -67_000, -67_000);
    assert.ok(contains(flat, -67_000, -67_000), `flat series: ${flat.join(', ')}`);
    assert.ok(contains(metricRange(aux, -5, 12), -5, 12), 'a series crossing zero');
  });

  void it('keeps ratios inside [0, 1] and counts at or above 0', () => {
    const [lo, hi] = metricRange(METRICS.deadWeightRatio, 0.02, 0.04);
    assert.ok(lo >= 0 && lo < 0.02 && hi > 0.04 && hi <= 1);
    assert.deepEqual(metricRange(METRICS.frozenRatio, 0, 1), [0, 1]);
    const [clo] = metricRange(METRICS.params, 0, 500);
    assert.equal(clo, 0);
    // A loss near zero is not drawn below zero.
    assert.equal(metricRange(METRICS.loss, 0.01, 2.3)[0], 0);
    assert.deepEqual(metricRange(METRICS.auxLoss, NaN, 3), [0, 1], 'no data yet');
  });

  void it('formats each kind as users read it', () => {
    assert.equal(formatMetric(METRICS.quantizationError, 0.4213), '42.1%');
    assert.equal(formatMetric(METRICS.flipRate, 0.00123), '0.123%');
    assert.equal(formatMetric(METRICS.auxLoss, -67_012.4), '-67,012');
    assert.equal(formatMetric(METRICS.params, 18432), '18,432');
    assert.equal(formatMetric(METRICS.loss, 0.29314), '0.2931');
    assert.deepEqual(metricTicks(METRICS.deadWeightRatio, [0.02, 0.03]), ['2%', '3%']);
    assert.deepEqual(metricTicks(METRICS.auxLoss, [-3000, -2000]), ['-3,000', '-2,000']);
    assert.deepEqual(metricTicks(METRICS.params, [0, 12_300]), ['0', '12.3k']);
    assert.equal(axisTitle(METRICS.deadWeightRatio), 'Dead weights (%)');
    assert.equal(axisTitle(METRICS.auxLoss), 'Auxiliary loss');
  });

  void it('explains the method scalars, and names unknown ones after their key', () => {
    assert.match(metricSpec('lnsAux').title, /every binary weight/);
    assert.equal(metricSpec('tau').short, 'τ');
    const other = metricSpec('bonnKl');
    assert.equal(other.label, 'bonnKl');
    assert.equal(other.kind, 'signed');
  });
});

void describe('run messages', () => {
  void it('says a run was cancelled by the user once', () => {
    assert.equal(
      cancelledText(130, 'cancelled by the user'),
      'Run cancelled by the user at step 130.',
    );
    assert.equal(cancelledText(0, undefined), 'Run cancelled.');
    assert.equal(
      cancelledText(1500, 'worker stopped'),
      'Run cancelled at step 1,500. Worker stopped.',
    );
  });
});

void describe('contributed views', () => {
  void it('welcome texts show no Markdown code marks (VS Code renders them literally)', () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '../../../../package.json'), 'utf8')) as {
      contributes: { viewsWelcome: { view: string; contents: string }[] };
    };
    for (const w of pkg.contributes.viewsWelcome) {
      assert.doesNotMatch(w.contents, /`/, `${w.view} welcome text`);
    }
  });
});
