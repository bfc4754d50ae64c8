/** Every reader on the real fixtures of make_fixtures.py, against numpy's reference values. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openCheckpoint } from '../../../core/checkpoints/open';
import { inspectCheckpoint } from '../../../core/checkpoints/inspect';
import { EXPECTED, assertClose, fixture } from './helpers';

describe('checkpoint readers vs numpy (expected.json)', () => {
  for (const [file, expected] of Object.entries(EXPECTED.files)) {
    it(`${file}: format, tensors, binary marks, metrics and summary`, async () => {
      const report = await inspectCheckpoint(fixture(file), { deadTau: EXPECTED.tau });
      assert.equal(report.format, expected.format);
      assert.deepEqual(
        report.layers.map((l) => l.name).sort(),
        Object.keys(expected.layers).sort(),
        'tensor names',
      );
      for (const layer of report.layers) {
        const want = expected.layers[layer.name];
        const where = `${file} ${layer.name}`;
        assert.deepEqual(layer.shape, want.shape, `${where} shape`);
        assert.equal(layer.dtype, want.dtype, `${where} dtype`);
        assert.equal(layer.binary, want.binary, `${where} binary (${layer.binaryReason})`);
        assert.ok(layer.binaryReason.length > 0, `${where} has a reason`);
        if (!want.stats) {
          assert.equal(layer.stats, null, `${where} has no stats`);
          continue;
        }
        const got = layer.stats;
        assert.ok(got, `${where} has stats`);
        assert.equal(got.params, want.stats.params);
        for (const key of [
          'mean',
          'std',
          'min',
          'max',
          'absMean',
          'quantizationError',
          'deadWeightRatio',
          'signBalance',
          'signEntropyBits',
        ] as const) {
          assertClose(got[key], want.stats[key], `${where} ${key}`);
        }
        if (want.stats.starvedWeightRatio === null) assert.equal(got.starvedWeightRatio, null);
        else
          assertClose(
            got.starvedWeightRatio ?? NaN,
            want.stats.starvedWeightRatio,
            `${where} starved`,
          );
        assert.equal(got.alpha.length, want.stats.alpha.length, `${where} channels`);
        got.alpha.forEach((a, c) => assertClose(a, want.stats!.alpha[c], `${where} alpha[${c}]`));
        assert.equal(got.histogram.counts.length, 64);
        // Bin edges are computed in a different order than numpy: allow one value to move.
        const diff = Array.from(got.histogram.counts).reduce(
          (acc, n, i) => acc + Math.abs(n - want.stats!.histogramCounts[i]),
          0,
        );
        assert.ok(diff <= 2, `${where} histogram differs by ${diff}`);
      }
      const s = report.summary;
      assert.equal(s.params, expected.summary.params);
      assert.equal(s.binaryParams, expected.summary.binaryParams);
      assert.equal(s.bytesFloat32, expected.summary.bytesFloat32);
      assertClose(s.bytesPacked, expected.summary.bytesPacked, 'bytesPacked');
      assertClose(s.compression, expected.summary.compression, 'compression');
    });
  }

  it('finds the state dict nested under "state_dict" and under "model"', async () => {
    const nested = await openCheckpoint(fixture('torch_nested.pth'));
    try {
      assert.match(nested.note ?? '', /state_dict/);
    } finally {
      await nested.close();
    }
    const model = await openCheckpoint(fixture('torch_model_key.pt'));
    try {
      assert.match(model.note ?? '', /model/);
      assert.deepEqual(
        model.tensors.map((t) => t.name),
        ['fc.weight'],
      );
    } finally {
      await model.close();
    }
  });

  it('reads a strided (transposed) PyTorch view in row-major order', async () => {
    const model = await openCheckpoint(fixture('torch_state.pt'));
    try {
      const byName = new Map(model.tensors.map((t) => [t.name, t]));
      const nested = await openCheckpoint(fixture('torch_nested.pth'));
      try {
        // torch_nested stores fc.weight = base [16, 10]; torch_state stores its transpose.
        const base = await nested.tensors.find((t) => t.name === 'module.fc.weight')!.data();
        const transposed = await byName.get('classifier.weight')!.data();
        for (let i = 0; i < 10; i++) {
          for (let j = 0; j < 16; j++) assert.equal(transposed[i * 16 + j], base[j * 10 + i]);
        }
      } finally {
        await nested.close();
      }
      const big = await byName.get('shared.big')!.data();
      const offset = await byName.get('shared.offset')!.data();
      assert.deepEqual(Array.from(offset), Array.from(big.subarray(24)));
    } finally {
      await model.close();
    }
  });

  it('opens a TF.js checkpoint by its folder', async () => {
    const report = await inspectCheckpoint(fixture('tfjs'));
    assert.equal(report.format, 'tfjs');
    const conv = report.layers.find((l) => l.name === 'binary_conv/kernel');
    assert.equal(conv?.binary, true);
    assert.match(conv?.binaryReason ?? '', /bnnLab/);
  });

  it('user binaryPatterns replace the defaults', async () => {
    const report = await inspectCheckpoint(fixture('torch_state.pt'), {
      binaryPatterns: ['^shared\\.'],
    });
    const byName = new Map(report.layers.map((l) => [l.name, l]));
    assert.equal(byName.get('shared.big')?.binary, true);
    assert.match(byName.get('shared.big')?.binaryReason ?? '', /name matches/);
    assert.equal(byName.get('features.0.binary_conv.weight')?.binary, null);
  });
});
