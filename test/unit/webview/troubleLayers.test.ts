import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LayerTelemetry } from '../../../core/protocol';
import { troubleLayers } from '../../../webview/dashboard/troubleLayers';
import { syntheticRun } from './syntheticRun';

// node:test schedules suites and tests itself; their returned promises are voided on purpose.

function lastLayers(): LayerTelemetry[] {
  const steps = syntheticRun().records.filter((r) => r.event === 'step');
  const last = steps.at(-1);
  assert.ok(last && last.event === 'step');
  return last.layers;
}

void describe('troubleLayers', () => {
  void it('names the most dead, most frozen and least flipping layer', () => {
    const layers = lastLayers();
    const byDead = [...layers].sort((a, b) => b.deadWeightRatio - a.deadWeightRatio)[0];
    const byFrozen = [...layers].sort((a, b) => b.frozenRatio - a.frozenRatio)[0];
    const byFlip = [...layers].sort((a, b) => a.flipRate - b.flipRate)[0];
    const entries = troubleLayers(layers);
    assert.deepEqual(
      entries.map((e) => [e.metric.key, e.layer]),
      [
        ['deadWeightRatio', byDead.name],
        ['frozenRatio', byFrozen.name],
        ['flipRate', byFlip.name],
      ],
    );
    assert.match(entries[0].text, new RegExp(`^most dead: ${byDead.name} \\d+\\.\\d+%$`));
  });

  void it('skips missing values and needs two layers to compare', () => {
    const [a, b] = lastLayers();
    assert.deepEqual(troubleLayers([a]), []);
    assert.deepEqual(troubleLayers([a, undefined]), []);
    const entries = troubleLayers([
      { ...a, flipRate: NaN },
      { ...b, flipRate: NaN },
    ]);
    assert.deepEqual(
      entries.map((e) => e.metric.key),
      ['deadWeightRatio', 'frozenRatio'],
    );
  });
});
