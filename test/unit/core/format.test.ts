import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MISSING,
  formatCompact,
  formatDuration,
  formatInteger,
  formatLoss,
  formatNumberTicks,
  formatPercent,
  formatPercentTicks,
  formatShape,
  formatSignificant,
} from '../../../core/format';

// node:test schedules suites and tests itself; their returned promises are voided on purpose.

void describe('format', () => {
  void it('formats ratios as percentages', () => {
    assert.equal(formatPercent(0.97421), '97.42%');
    assert.equal(formatPercent(1), '100.00%');
    assert.equal(formatPercent(0), '0.00%');
    assert.equal(formatPercent(0.0012, 1), '0.1%');
    assert.equal(formatPercent(0.00002, 2), '0.002%');
    assert.equal(formatPercent(0.000031), '0.0031%');
  });

  void it('shows a dash for missing and non-finite values', () => {
    for (const v of [undefined, null, NaN, Infinity]) {
      assert.equal(formatPercent(v), MISSING);
      assert.equal(formatSignificant(v), MISSING);
      assert.equal(formatCompact(v), MISSING);
      assert.equal(formatInteger(v), MISSING);
      assert.equal(formatDuration(v), MISSING);
    }
  });

  void it('formats significant digits without trailing zeros', () => {
    assert.equal(formatSignificant(0.012345), '0.0123');
    assert.equal(formatSignificant(0.1), '0.1');
    assert.equal(formatSignificant(1.2345), '1.23');
    assert.equal(formatSignificant(12345), '12,345');
    assert.equal(formatSignificant(-0.5), '-0.5');
    assert.equal(formatSignificant(0), '0');
    assert.equal(formatSignificant(2.5e-6), '2.5e-6');
    assert.equal(formatSignificant(3e7), '3e7');
    assert.equal(formatLoss(0.29312), '0.2931');
    assert.equal(formatLoss(1.20449), '1.204');
  });

  void it('formats counts, durations and shapes', () => {
    assert.equal(formatInteger(1234567), '1,234,567');
    assert.equal(formatInteger(-1234.4), '-1,234');
    assert.equal(formatCompact(950), '950');
    assert.equal(formatCompact(12_300), '12.3k');
    assert.equal(formatCompact(1_250_000), '1.25M');
    assert.equal(formatCompact(401_408), '401k');
    assert.equal(formatDuration(850), '850 ms');
    assert.equal(formatDuration(4200), '4.2 s');
    assert.equal(formatDuration(23_000), '23 s');
    assert.equal(formatDuration(65_000), '1m 05s');
    assert.equal(formatDuration(3_725_000), '1h 02m');
    assert.equal(formatShape([3, 3, 32, 64]), '3×3×32×64');
    assert.equal(formatShape([]), MISSING);
  });

  void it('formats axis ticks with as many decimals as the spacing needs', () => {
    assert.deepEqual(formatPercentTicks([0, 0.25, 0.5]), ['0%', '25%', '50%']);
    assert.deepEqual(formatPercentTicks([0.001, 0.002]), ['0.1%', '0.2%']);
    assert.deepEqual(formatPercentTicks([0.0005, 0.001]), ['0.05%', '0.10%']);
    assert.deepEqual(formatNumberTicks([0.5, 1, 1.5]), ['0.5', '1', '1.5']);
    assert.deepEqual(formatNumberTicks([1000, 2000]), ['1,000', '2,000']);
  });
});
