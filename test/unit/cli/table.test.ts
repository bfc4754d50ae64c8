/**
 * The command line's text tables (core/cli/table.ts), as printed after a run, a fine-tune and by
 * `inspect`: names left-aligned, numbers right-aligned, a rule of dashes under the header.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { layerTable } from '../../../core/cli/train';
import { alignTable, nameTable } from '../../../core/cli/table';
import type { LayerTelemetry } from '../../../core/protocol';

// node:test schedules suites and tests itself; their returned promises are voided on purpose.

void describe('CLI tables', () => {
  void it('a name column, then numbers aligned on their right edge', () => {
    assert.deepEqual(
      nameTable(
        ['layer', 'QE'],
        [
          ['conv1', '0.1234'],
          ['dense_long_name', '12.5000'],
        ],
      ),
      [
        'layer                 QE',
        '---------------  -------',
        'conv1             0.1234',
        'dense_long_name  12.5000',
      ],
    );
  });

  void it('text columns padded to the left edge, with no trailing spaces', () => {
    const lines = alignTable(
      ['name', 'dtype', 'n'],
      [
        ['a', 'float32', '1'],
        ['bb', 'int8', '22'],
      ],
      [false, false, true],
    );
    assert.deepEqual(lines, [
      'name  dtype     n',
      '----  -------  --',
      'a     float32   1',
      'bb    int8     22',
    ]);
  });

  void it('the per-layer table after a run', () => {
    const layer = {
      name: 'bconv2',
      params: 18432,
      quantizationError: 0.25,
      deadWeightRatio: 0.25,
      starvedWeightRatio: null,
      flipRate: 0.00123,
      frozenRatio: 0.5,
      signBalance: 0.5,
    } as unknown as LayerTelemetry;
    const lines = layerTable([layer]).split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0], /^layer\s+params\s+QE\s+dead\s+starved\s+flipRate\s+frozen\s+sign\+$/);
    assert.match(
      lines[2],
      /^bconv2\s+18432\s+0\.2500\s+25\.00%\s+-\s+1\.23e-3\s+50\.00%\s+50\.00%$/,
    );
    // Every line is as wide as the rule: the columns line up.
    assert.ok(lines.every((l) => l.length === lines[1].length));
  });
});
