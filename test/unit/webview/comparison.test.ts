import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatRunFacts } from '../../../core/format';
import type { MetricsRecord, TrainConfig } from '../../../core/protocol';
import { configDiff, layerMean, runColor } from '../../../webview/dashboard/comparison';
import { initialModel, reduce } from '../../../webview/dashboard/state';
import type { Palette } from '../../../webview/shared/theme';
import { syntheticRun } from './syntheticRun';

const PALETTE = {
  blue: 'b',
  orange: 'o',
  green: 'g',
  purple: 'p',
  red: 'r',
  yellow: 'y',
} as Palette;

function configOf(records: readonly MetricsRecord[]): TrainConfig {
  const start = records[0];
  assert.ok(start.event === 'start');
  return start.config;
}

void describe('run comparison (webview, pure)', () => {
  void it('gives each of N runs its own colour', () => {
    const colors = [0, 1, 2, 3, 4, 5].map((i) => runColor(PALETTE, i));
    assert.equal(new Set(colors).size, 6);
    assert.equal(runColor(PALETTE, 6), colors[0], 'cycles after six');
  });

  void it('names a run by preset, seed, learning rate and limit', () => {
    const config = configOf(syntheticRun().records);
    assert.equal(formatRunFacts(config), 'mnist-cnn · seed 42 · lr 0.001 · all examples');
    assert.equal(
      formatRunFacts({ ...config, seed: 7, learningRate: 0.0005, limit: 2000 }),
      'mnist-cnn · seed 7 · lr 0.0005 · limit 2,000',
    );
    assert.equal(formatRunFacts(undefined, 'resnet18'), 'resnet18');
  });

  void it('lists exactly the config fields in which the runs differ', () => {
    const base = configOf(syntheticRun().records);
    const diff = configDiff([
      base,
      { ...base, seed: 7 },
      { ...base, learningRate: 0.01, dataset: { name: 'fashion-mnist' } },
      undefined,
    ]);
    const fields = diff.map((d) => d.field);
    assert.deepEqual(fields.slice(0, 3), ['learningRate', 'seed', 'dataset.name']);
    const seed = diff.find((d) => d.field === 'seed');
    assert.deepEqual(seed?.values, ['42', '7', '42', ''], 'a run without config reads empty');
    assert.deepEqual(diff.find((d) => d.field === 'dataset.name')?.values, [
      '"mnist"',
      '"mnist"',
      '"fashion-mnist"',
      '',
    ]);
    assert.ok(!fields.includes('epochs'), 'equal everywhere: not listed');
    assert.deepEqual(configDiff([base, { ...base }]), [], 'same config, no difference');
  });

  void it('reduces a run to one line per layer metric: the parameter-weighted mean', () => {
    const model = reduce(initialModel(), {
      kind: 'snapshot',
      trusted: true,
      run: { runId: 'a', dir: '/a', status: 'completed', records: syntheticRun().records },
    });
    const run = model.run;
    assert.ok(run);
    const mean = layerMean(run, 'deadWeightRatio');
    assert.equal(mean.x.length, run.layers[0].metrics.x.length, 'one value per report');
    const c = 1; // deadWeightRatio's channel
    const i = 3;
    let sum = 0;
    let weight = 0;
    for (const l of run.layers) {
      sum += l.metrics.y[c][i] * l.info.params;
      weight += l.info.params;
    }
    assert.ok(Math.abs(mean.y[0][i] - sum / weight) < 1e-12);
  });
});
