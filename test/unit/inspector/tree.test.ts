/** The inspector's layer tree: module groups, the filter, buffers hidden by default. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InspectLayer } from '../../../core/protocol';
import {
  isBuffer,
  layerTree,
  matchesFilter,
  type TreeOptions,
} from '../../../webview/inspector/tree';

function layer(
  name: string,
  shape: number[] = [4, 4, 3, 3],
  binary: boolean | null = null,
): InspectLayer {
  return { name, shape, dtype: 'float32', binary, binaryReason: '', stats: null };
}

/** A ResNet-18-like state dict: stem, two blocks of layer1, a downsample, the classifier. */
const RESNET: InspectLayer[] = [
  layer('conv1.weight', [64, 3, 7, 7], false),
  layer('bn1.weight', [64], false),
  layer('bn1.bias', [64], false),
  layer('bn1.running_mean', [64], false),
  layer('bn1.running_var', [64], false),
  layer('bn1.num_batches_tracked', [], false),
  layer('layer1.0.conv1.weight', [64, 64, 3, 3], true),
  layer('layer1.0.bn1.weight', [64], false),
  layer('layer1.0.bn1.running_mean', [64], false),
  layer('layer1.0.conv2.weight', [64, 64, 3, 3], true),
  layer('layer1.1.conv1.weight', [64, 64, 3, 3], true),
  layer('layer2.0.downsample.0.weight', [128, 64, 1, 1], false),
  layer('layer2.0.downsample.1.weight', [128], false),
  layer('fc.weight', [10, 512], false),
  layer('fc.bias', [10], false),
];

function options(partial: Partial<TreeOptions> = {}): TreeOptions {
  return {
    order: RESNET.map((_, i) => i),
    filter: '',
    showBuffers: false,
    group: true,
    collapsed: new Set(),
    ...partial,
  };
}

/** Rows as `  label` lines (two spaces a level; groups end with `/`). */
function outline(rows: ReturnType<typeof layerTree>['rows']): string[] {
  return rows.map((r) =>
    r.kind === 'group'
      ? `${'  '.repeat(r.depth)}${r.label}/ (${r.tensors})`
      : `${'  '.repeat(r.depth)}${r.label}`,
  );
}

test('buffers: batch-norm running statistics and counters, PyTorch and Keras names', () => {
  for (const name of [
    'bn1.running_mean',
    'layer1.0.bn1.running_var',
    'bn1.num_batches_tracked',
    'batch_normalization/moving_mean:0',
    'bn/moving_variance',
  ]) {
    assert.ok(isBuffer(name), name);
  }
  for (const name of ['bn1.weight', 'bn1.bias', 'conv1.weight', 'running_meaning.weight']) {
    assert.ok(!isBuffer(name), name);
  }
});

test('the filter matches every term, case-insensitive', () => {
  assert.ok(matchesFilter('layer1.0.conv1.weight', 'LAYER1 conv'));
  assert.ok(!matchesFilter('layer1.0.bn1.weight', 'layer1 conv'));
  assert.ok(matchesFilter('anything', '   '));
});

test('groups follow module paths; one-tensor modules stand alone; buffers hidden by default', () => {
  const tree = layerTree(RESNET, options());
  assert.deepEqual(outline(tree.rows), [
    'conv1.weight',
    'bn1/ (2)',
    '  weight',
    '  bias',
    'layer1/ (4)',
    '  0/ (3)',
    '    conv1.weight',
    '    bn1.weight',
    '    conv2.weight',
    '  1.conv1.weight',
    'layer2.0.downsample/ (2)',
    '  0.weight',
    '  1.weight',
    'fc/ (2)',
    '  weight',
    '  bias',
  ]);
  assert.equal(tree.hiddenBuffers, 4);
  assert.equal(tree.shown, RESNET.length - 4);
  const layer1 = tree.rows.find((r) => r.kind === 'group' && r.path === 'layer1');
  assert.deepEqual(
    layer1 && layer1.kind === 'group' && [layer1.tensors, layer1.binary, layer1.params],
    [4, 3, 3 * 64 * 64 * 9 + 64],
  );
  // Tensor rows point at the report's layers.
  const first = tree.rows[0];
  assert.equal(first.kind === 'tensor' && RESNET[first.index].name, 'conv1.weight');
});

test('the buffer toggle shows them, in their module', () => {
  const tree = layerTree(RESNET, options({ showBuffers: true }));
  assert.equal(tree.hiddenBuffers, 0);
  assert.equal(tree.shown, RESNET.length);
  assert.deepEqual(outline(tree.rows).slice(1, 7), [
    'bn1/ (5)',
    '  weight',
    '  bias',
    '  running_mean',
    '  running_var',
    '  num_batches_tracked',
  ]);
});

test('a collapsed group hides its rows; a filter opens every group it matches in', () => {
  const collapsed = layerTree(RESNET, options({ collapsed: new Set(['layer1', 'fc']) }));
  assert.deepEqual(
    outline(collapsed.rows).filter((l) => /layer1|fc/.test(l)),
    ['layer1/ (4)', 'fc/ (2)'],
  );
  const row = collapsed.rows.find((r) => r.kind === 'group' && r.path === 'layer1');
  assert.equal(row?.kind === 'group' && row.collapsed, true);
  assert.deepEqual(collapsed.groups, ['bn1', 'layer1', 'layer1.0', 'layer2.0.downsample', 'fc']);

  const filtered = layerTree(
    RESNET,
    options({ filter: 'conv', collapsed: new Set(['layer1', 'layer1.0']) }),
  );
  assert.deepEqual(outline(filtered.rows), [
    'conv1.weight',
    'layer1/ (3)',
    '  0/ (2)',
    '    conv1.weight',
    '    conv2.weight',
    '  1.conv1.weight',
  ]);
  assert.equal(filtered.shown, 4);
  assert.equal(layerTree(RESNET, options({ filter: 'nothing-like-this' })).rows.length, 0);
});

test('sorted: groups take the place of their best member; flat lists every tensor by full name', () => {
  // Order as a sort would give it: fc first, then layer1.1, then the rest in file order.
  const order = [13, 10, ...RESNET.map((_, i) => i).filter((i) => i !== 13 && i !== 10)];
  const tree = layerTree(RESNET, options({ order }));
  assert.deepEqual(
    outline(tree.rows).filter((l) => !l.startsWith(' ')),
    ['fc/ (2)', 'layer1/ (4)', 'conv1.weight', 'bn1/ (2)', 'layer2.0.downsample/ (2)'],
  );
  const flat = layerTree(RESNET, options({ group: false, order }));
  assert.deepEqual(outline(flat.rows).slice(0, 2), ['fc.weight', 'layer1.1.conv1.weight']);
  assert.equal(flat.rows.length, RESNET.length - 4);
  assert.deepEqual(flat.groups, []);
});

test('Keras names group on "/"', () => {
  const keras = [
    layer('quant_conv2d/kernel:0', [3, 3, 1, 8], true),
    layer('quant_conv2d/bias:0', [8]),
    layer('batch_normalization/gamma:0', [8]),
    layer('batch_normalization/moving_mean:0', [8]),
  ];
  const tree = layerTree(keras, { ...options(), order: [0, 1, 2, 3] });
  assert.deepEqual(outline(tree.rows), [
    'quant_conv2d/ (2)',
    '  kernel:0',
    '  bias:0',
    'batch_normalization/gamma:0',
  ]);
});
