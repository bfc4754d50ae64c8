/** compare and series against numpy's flip rates and frozen ratios (expected.json). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkpointSeries,
  compareCheckpoints,
  findCheckpoints,
  inspectCheckpoint,
} from '../../../core/checkpoints/inspect';
import { EXPECTED, assertClose, fixture } from './helpers';

describe('compare and series', () => {
  it('compareCheckpoints gives numpy flip rates between two epochs', async () => {
    const report = await compareCheckpoints(
      fixture('series', 'epoch-1', 'model.json'),
      fixture('series', 'epoch-2'),
    );
    const want = EXPECTED.series.pairs[0].flipRate;
    assert.deepEqual(report.layers.map((l) => l.name).sort(), Object.keys(want).sort());
    for (const layer of report.layers) assertClose(layer.flipRate, want[layer.name], layer.name);
    assert.ok(
      report.layers.some((l) => l.flipRate > 0),
      'the fixture has flips',
    );
  });

  it('compare marks each tensor binary as the inspector does in the first file', async () => {
    for (const [a, b, patterns] of [
      [fixture('series', 'epoch-1', 'model.json'), fixture('series', 'epoch-2'), undefined],
      [fixture('torch_state.pt'), fixture('torch_state.pt'), undefined],
      [fixture('torch_state.pt'), fixture('torch_state.pt'), ['classifier']],
    ] as const) {
      const options = patterns ? { binaryPatterns: [...patterns] } : {};
      const compared = await compareCheckpoints(a, b, options);
      const inspected = await inspectCheckpoint(a, options);
      const binary = new Map(inspected.layers.map((l) => [l.name, l.binary]));
      assert.ok(compared.layers.length > 0);
      for (const layer of compared.layers) {
        assert.equal(layer.binary, binary.get(layer.name), `${a} ${layer.name}`);
      }
    }
  });

  it('compare of a file with itself is all zeros; tensors of other shapes are left out', async () => {
    const same = await compareCheckpoints(fixture('torch_state.pt'), fixture('torch_state.pt'));
    assert.ok(same.layers.length > 0);
    assert.ok(same.layers.every((l) => l.flipRate === 0));
    const other = await compareCheckpoints(fixture('torch_state.pt'), fixture('model.safetensors'));
    assert.deepEqual(other.layers, []);
  });

  it('orders epoch folders by the number in their name (epoch-2 before epoch-10)', async () => {
    const list = await findCheckpoints(fixture('series'));
    assert.deepEqual(
      list.map((c) => c.name),
      EXPECTED.series.checkpoints,
    );
  });

  it('finds checkpoint files of every format in a folder, skipping shards and other files', async () => {
    const names = (await findCheckpoints(fixture())).map((c) => c.name);
    assert.ok(names.includes('torch_state.pt'));
    assert.ok(names.includes('model.safetensors'));
    assert.ok(names.includes('larq_keras2.h5'));
    assert.ok(names.includes('keras3.keras'));
    assert.ok(names.includes('tfjs'));
    assert.ok(!names.includes('expected.json'));
    assert.ok(!names.includes('make_fixtures.py'));
  });

  it('checkpointSeries: flip rate per pair, frozenRatio, per-checkpoint stats', async () => {
    const series = await checkpointSeries(fixture('series'));
    assert.deepEqual(
      series.checkpoints.map((c) => c.name),
      EXPECTED.series.checkpoints,
    );
    assert.equal(series.pairs.length, EXPECTED.series.pairs.length);
    series.pairs.forEach((pair, i) => {
      const want = EXPECTED.series.pairs[i];
      assert.equal(pair.from, want.from);
      assert.equal(pair.to, want.to);
      for (const layer of pair.layers) {
        assertClose(layer.flipRate, want.flipRate[layer.name], `${pair.to} ${layer.name}`);
      }
      assert.equal(pair.layers.length, Object.keys(want.flipRate).length);
    });
    for (const { name, frozenRatio } of series.frozenRatio) {
      assertClose(frozenRatio, EXPECTED.series.frozenRatio[name], `frozen ${name}`);
    }
    assert.equal(series.frozenRatio.length, Object.keys(EXPECTED.series.frozenRatio).length);
    for (const checkpoint of series.checkpoints) {
      const conv = checkpoint.report.layers.find((l) => l.name === 'binary_conv/kernel');
      assert.equal(conv?.binary, true);
      assert.ok(conv?.stats && conv.stats.params === 72);
    }
  });
});
