import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LayerInfo, LayerTelemetry } from '../../../core/protocol';
import {
  TABLE_COLUMNS,
  nextSort,
  rowCells,
  sortRows,
  type LayerRow,
} from '../../../webview/dashboard/table';

// node:test schedules suites and tests itself; their returned promises are voided on purpose.

function info(name: string, params: number, shape: number[], binary = true): LayerInfo {
  return {
    name,
    kind: binary ? 'conv2d' : 'batchNormalization',
    shape,
    binary,
    quantizer: binary ? 'ste_sign(clip=1)' : '',
    params,
  };
}

function telemetry(quantizationError: number, flipRate: number): LayerTelemetry {
  return {
    name: '',
    params: 0,
    mean: 0,
    std: 0,
    min: 0,
    max: 0,
    absMean: 0.1,
    histogram: { min: 0, max: 0, counts: [] },
    quantizationError,
    deadWeightRatio: 0.02,
    starvedWeightRatio: null,
    signBalance: 0.5,
    signEntropyBits: 1,
    flipRate,
    frozenRatio: 0.4,
  };
}

const rows: LayerRow[] = [
  { order: 0, info: info('conv2d_2', 288, [3, 3, 1, 32]), latest: telemetry(0.3, 0.001) },
  { order: 1, info: info('bn', 64, [32], false), latest: undefined },
  { order: 2, info: info('conv2d_10', 18432, [3, 3, 32, 64]), latest: telemetry(0.4, 0.004) },
  { order: 3, info: info('dense', 1280, [128, 10]), latest: telemetry(0.3, Number.NaN) },
];
const names = (r: LayerRow[]) => r.map((x) => x.info.name);

void describe('layer table sorting', () => {
  void it('sorts numbers both ways, ties in model order', () => {
    assert.deepEqual(names(sortRows(rows, 'params', 'asc')), [
      'bn',
      'conv2d_2',
      'dense',
      'conv2d_10',
    ]);
    assert.deepEqual(names(sortRows(rows, 'params', 'desc')), [
      'conv2d_10',
      'dense',
      'conv2d_2',
      'bn',
    ]);
    // conv2d_2 and dense tie on QE: model order in both directions.
    assert.deepEqual(names(sortRows(rows, 'quantizationError', 'desc')), [
      'conv2d_10',
      'conv2d_2',
      'dense',
      'bn',
    ]);
  });

  void it('puts missing and non-finite values last in both directions', () => {
    for (const direction of ['asc', 'desc'] as const) {
      const sorted = names(sortRows(rows, 'flipRate', direction));
      assert.deepEqual(sorted.slice(-2), ['bn', 'dense'], direction);
    }
    assert.equal(names(sortRows(rows, 'quantizer', 'asc')).at(-1), 'bn');
  });

  void it('compares names naturally and shapes by element count', () => {
    assert.deepEqual(names(sortRows(rows, 'name', 'asc')), [
      'bn',
      'conv2d_2',
      'conv2d_10',
      'dense',
    ]);
    assert.deepEqual(names(sortRows(rows, 'shape', 'asc')), [
      'bn',
      'conv2d_2',
      'dense',
      'conv2d_10',
    ]);
    assert.deepEqual(names(sortRows(rows, 'binary', 'asc')), [
      'bn',
      'conv2d_2',
      'conv2d_10',
      'dense',
    ]);
  });

  void it('does not modify its input', () => {
    const before = names(rows);
    sortRows(rows, 'params', 'desc');
    assert.deepEqual(names(rows), before);
  });

  void it('a new column starts descending for metrics, ascending for text; again flips', () => {
    assert.deepEqual(nextSort(undefined, 'flipRate'), { column: 'flipRate', direction: 'desc' });
    assert.deepEqual(nextSort(undefined, 'name'), { column: 'name', direction: 'asc' });
    assert.deepEqual(nextSort({ column: 'name', direction: 'asc' }, 'name'), {
      column: 'name',
      direction: 'desc',
    });
  });

  void it('formats one cell per column', () => {
    const cells = rowCells(rows[2]);
    assert.equal(cells.length, TABLE_COLUMNS.length);
    assert.deepEqual(cells, [
      'conv2d_10',
      'conv2d',
      '3×3×32×64',
      '18,432',
      'yes',
      'ste_sign(clip=1)',
      '0.1',
      '40.0%',
      '2.0%',
      '0.400%',
      '40.0%',
      '50.0%',
    ]);
    assert.deepEqual(rowCells(rows[1]).slice(4, 8), ['no', '—', '—', '—']);
  });
});
