/** The inspector page's pure parts: layer table sorting and cell text, summary, compare, series. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type {
  InspectLayer,
  InspectorContent,
  InspectStats,
  SeriesReport,
} from '../../../core/protocol';
import { layerItems } from '../../../extension/inspector/layerItems';
import {
  INSPECTOR_COLUMNS,
  alphaSummary,
  binaryViewOf,
  COMPARE_METRIC,
  compareRows,
  compareSections,
  deadThreshold,
  formatBytes,
  layerCells,
  meanFlipRate,
  nextSort,
  seriesMetricLabel,
  seriesTable,
  seriesValues,
  sortLayers,
  summaryItems,
} from '../../../webview/inspector/model';

function stats(partial: Partial<InspectStats>): InspectStats {
  return {
    params: 4,
    mean: 0,
    std: 1,
    min: -1,
    max: 1,
    absMean: 0.5,
    histogram: { min: -1, max: 1, counts: [1, 1, 1, 1] },
    quantizationError: 0.3,
    deadWeightRatio: 0.02,
    starvedWeightRatio: null,
    signBalance: 0.5,
    signEntropyBits: 1,
    alpha: [0.5, 0.25],
    ...partial,
  };
}

function layer(name: string, partial: Partial<InspectLayer> = {}): InspectLayer {
  return {
    name,
    shape: [2, 2],
    dtype: 'float32',
    binary: null,
    binaryReason: 'format does not record binarization',
    stats: stats({}),
    ...partial,
  };
}

const LAYERS: InspectLayer[] = [
  layer('conv10.weight', { binary: true, stats: stats({ quantizationError: 0.5 }) }),
  layer('bn.bias', { shape: [2], binary: false, stats: null }),
  layer('conv2.weight', { binary: false, stats: stats({ quantizationError: 0.1 }) }),
  layer('fc.weight', { shape: [10, 20], stats: stats({ quantizationError: 0.5 }) }),
];

test('without a sort the table keeps file order', () => {
  assert.deepEqual(sortLayers(LAYERS, undefined), [0, 1, 2, 3]);
});

test('names sort naturally; metrics put missing values last in both directions; ties keep file order', () => {
  assert.deepEqual(sortLayers(LAYERS, { column: 'name', direction: 'asc' }), [1, 2, 0, 3]);
  assert.deepEqual(
    sortLayers(LAYERS, { column: 'quantizationError', direction: 'desc' }),
    [0, 3, 2, 1],
  );
  assert.deepEqual(
    sortLayers(LAYERS, { column: 'quantizationError', direction: 'asc' }),
    [2, 0, 3, 1],
  );
  // binary: yes > unknown > no
  assert.deepEqual(sortLayers(LAYERS, { column: 'binary', direction: 'desc' }), [0, 3, 1, 2]);
  assert.deepEqual(sortLayers(LAYERS, { column: 'params', direction: 'desc' }), [3, 0, 2, 1]);
});

test('a click on a metric sorts descending first, a second click flips', () => {
  assert.deepEqual(nextSort(undefined, 'deadWeightRatio'), {
    column: 'deadWeightRatio',
    direction: 'desc',
  });
  assert.deepEqual(nextSort(undefined, 'name'), { column: 'name', direction: 'asc' });
  assert.deepEqual(nextSort({ column: 'name', direction: 'asc' }, 'name'), {
    column: 'name',
    direction: 'desc',
  });
});

test('cells follow the column order with the metrics.md formatting', () => {
  const cells = layerCells(
    layer('features.0.binary_conv.weight', {
      shape: [64, 3, 3, 3],
      binary: true,
      stats: stats({
        absMean: 0.0960123,
        quantizationError: 0.4512,
        deadWeightRatio: 0.0193,
        starvedWeightRatio: 0.125,
        signBalance: 0.486,
        signEntropyBits: 0.99942,
      }),
    }),
  );
  assert.equal(cells.length, INSPECTOR_COLUMNS.length);
  assert.deepEqual(cells, [
    'features.0.binary_conv.weight',
    '64×3×3×3',
    'float32',
    'yes',
    '1,728',
    '0.096',
    '45.1%',
    '1.9%',
    '12.5%',
    '48.6%',
    '0.999',
  ]);
  const noStats = layerCells(
    layer('num_batches_tracked', { shape: [], dtype: 'int64', binary: false, stats: null }),
  );
  assert.deepEqual(noStats.slice(1, 5), ['—', 'int64', 'no', '1']);
  assert.deepEqual(noStats.slice(5), ['—', '—', '—', '—', '—', '—']);
  assert.equal(layerCells(layer('big', { shape: [512, 512, 3, 3] }))[4], '2.36M');
});

test('summary: params, binary share, sizes in KiB/MiB and compression', () => {
  const items = summaryItems({
    params: 1234,
    binaryParams: 216,
    bytesFloat32: 4936,
    bytesPacked: 4099,
    compression: 4936 / 4099,
  });
  assert.deepEqual(
    items.map((i) => [i.label, i.value]),
    [
      ['Params', '1,234'],
      ['Binary params', '216 (17.5%)'],
      ['Float32 size', '4.82 KiB'],
      ['Packed size', '4 KiB'],
      ['Compression', '1.2×'],
    ],
  );
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(46_834_825), '44.7 MiB');
  assert.equal(formatBytes(Number.NaN), '—');
});

test('dead threshold, binary view and α caption', () => {
  assert.ok(Math.abs(deadThreshold({ absMean: 2 }, 0.99) - -2 * Math.log(0.02)) < 1e-12);
  const view = binaryViewOf(LAYERS[0]);
  assert.equal(view?.name, 'conv10.weight');
  assert.deepEqual(view?.alpha, [0.5, 0.25]);
  assert.equal(binaryViewOf(LAYERS[1]), undefined);
  assert.equal(alphaSummary([0.5, 0.25]), '2 channels, α from 0.25 to 0.5 (mean 0.375)');
  assert.equal(alphaSummary([]), '—');
});

test('compare rows: highest flip rate first, ties by name', () => {
  assert.deepEqual(
    compareRows({
      layers: [
        { name: 'b', flipRate: 0.1, binary: true },
        { name: 'a', flipRate: 0.1 },
        { name: 'c', flipRate: 0.25, binary: false },
      ],
    }).map((r) => [r.name, r.text, r.binary]),
    [
      ['c', '25.00%', false],
      ['a', '10.00%', null],
      ['b', '10.00%', true],
    ],
  );
});

test('compare sections: binary tensors first, then full precision, then unmarked; empty ones left out', () => {
  const sections = compareSections({
    layers: [
      { name: 'fc.weight', flipRate: 0.01, binary: false },
      { name: 'layer1.0.conv1.weight', flipRate: 0.2, binary: true },
      { name: 'layer1.0.conv2.weight', flipRate: 0.4, binary: true },
      { name: 'conv1.weight', flipRate: 0.03, binary: false },
    ],
  });
  assert.deepEqual(
    sections.map((s) => [s.id, s.title, s.rows.map((r) => r.name)]),
    [
      ['binary', 'Binary tensors', ['layer1.0.conv2.weight', 'layer1.0.conv1.weight']],
      ['full', 'Full-precision tensors', ['conv1.weight', 'fc.weight']],
    ],
  );
  assert.ok(Math.abs((meanFlipRate(sections[0].rows) ?? NaN) - 0.3) < 1e-12);
  assert.equal(meanFlipRate([]), undefined);
  // The page names the metric in words, not by its JSON name.
  assert.equal(COMPARE_METRIC.label, 'Signs flipped');
  assert.doesNotMatch(COMPARE_METRIC.label, /flipRate/);
});

test('series metrics are named as in the metric vocabulary', () => {
  assert.equal(seriesMetricLabel('quantizationError'), 'Quantization error');
  assert.equal(seriesMetricLabel('deadWeightRatio'), 'Dead weights');
  assert.equal(seriesMetricLabel('absMean'), 'Mean |w|');
});

const SERIES: SeriesReport = {
  checkpoints: [1, 2, 3].map((e) => ({
    name: `epoch-${e}`,
    path: `/run/epoch-${e}/model.json`,
    report: {
      format: 'tfjs',
      layers:
        e === 3
          ? [layer('a', { stats: stats({ quantizationError: 0.1 * e }) })]
          : [
              layer('a', { stats: stats({ quantizationError: 0.1 * e }) }),
              layer('b', { stats: stats({}) }),
              layer('bias', { shape: [2], stats: null }),
            ],
      summary: { params: 1, binaryParams: 0, bytesFloat32: 4, bytesPacked: 4, compression: 1 },
    },
  })),
  pairs: [
    {
      from: 'epoch-1',
      to: 'epoch-2',
      layers: [
        { name: 'a', flipRate: 0.5 },
        { name: 'b', flipRate: 0 },
      ],
    },
    { from: 'epoch-2', to: 'epoch-3', layers: [{ name: 'a', flipRate: 0.25 }] },
  ],
  frozenRatio: [{ name: 'a', frozenRatio: 0.4 }],
};

test('series table: one row per weight tensor, a flip column per pair, frozen where known', () => {
  const table = seriesTable(SERIES);
  assert.deepEqual(table.pairs, ['epoch-1 → epoch-2', 'epoch-2 → epoch-3']);
  assert.deepEqual(table.rows, [
    { name: 'a', flips: ['50.00%', '25.00%'], frozen: '40.0%' },
    { name: 'b', flips: ['0.00%', '—'], frozen: '—' },
  ]);
  const qe = seriesValues(SERIES, 'a', 'quantizationError');
  assert.equal(qe.length, 3);
  assert.ok(Math.abs((qe[2] ?? 0) - 0.3) < 1e-12);
  assert.deepEqual(seriesValues(SERIES, 'b', 'deadWeightRatio'), [0.02, 0.02, undefined]);
});

test('Layers view rows: tensors with shape, binary flag and QE; series rows with frozenRatio', () => {
  const content: InspectorContent = {
    mode: 'checkpoint',
    file: '/x.pt',
    deadTau: 0.99,
    report: {
      format: 'pytorch',
      layers: LAYERS,
      summary: { params: 1, binaryParams: 0, bytesFloat32: 4, bytesPacked: 4, compression: 1 },
    },
  };
  const items = layerItems(content);
  assert.deepEqual(
    items.map((i) => [i.name, i.description, i.kind]),
    [
      ['conv10.weight', '2×2 · binary · QE 50.0%', 'binary'],
      ['bn.bias', '2', 'other'],
      ['conv2.weight', '2×2 · QE 10.0%', 'float'],
      ['fc.weight', '10×20 · binary? · QE 50.0%', 'unknown'],
    ],
  );
  assert.match(items[0].tooltip, /binary: yes/);
  const series = layerItems({
    mode: 'series',
    folder: '/run',
    report: SERIES,
    deadTau: 0.99,
    watching: true,
  });
  assert.deepEqual(
    series.map((i) => [i.name, i.description]),
    [['a', 'frozen 40.0%']],
  );
  assert.deepEqual(layerItems(undefined), []);
});
