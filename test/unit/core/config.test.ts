import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../../core/errors';
import { PRESET_NAMES } from '../../../core/bnn/presetCatalog';
import { parseConfigFile, resolveConfig } from '../../../core/training/config';

const file = '/ws/exp.bnn.json';
const rejects = (raw: unknown, field: string, pattern: RegExp) =>
  assert.throws(
    () => resolveConfig(raw, file),
    (e: Error) =>
      e instanceof ConfigError &&
      e.field === field &&
      e.message.startsWith(file) &&
      pattern.test(e.message),
  );

test('a preset alone gets its defaults', () => {
  const c = resolveConfig({ preset: 'mnist-cnn' }, file);
  assert.equal(c.preset, 'mnist-cnn');
  assert.ok(c.epochs >= 1 && c.batchSize >= 1 && c.learningRate > 0);
  assert.deepEqual(c.dataset, { name: 'mnist' });
  assert.equal(c.deadTau, 0.99);
  assert.equal(c.histogramBins, 64);
});

test('bad run configs name the file and the field', () => {
  rejects({ preset: 'resnet-9000' }, 'preset', /must be one of mnist-cnn/);
  rejects({ preset: 'mnist-cnn', epochs: -1 }, 'epochs', /integer in \[1, 10000\], got -1/);
  rejects({ preset: 'mnist-cnn', epochs: 2.5 }, 'epochs', /integer/);
  rejects({ preset: 'mnist-cnn', epoch: 3 }, 'epoch', /not a known key/);
  rejects({ preset: 'mnist-cnn', learningRate: 0 }, 'learningRate', /\(0, 10\]/);
  rejects({ preset: 'mnist-cnn', deadTau: 1 }, 'deadTau', /\(0.5, 1\)/);
  rejects({ preset: 'mnist-cnn', dataset: { name: 'cifar' } }, 'dataset.name', /one of mnist/);
  rejects({ preset: 'mnist-cnn', dataset: { name: 'idx' } }, 'dataset.path', /required/);
  rejects([], '(root)', /JSON object/);
  assert.throws(
    () => parseConfigFile('{ "preset": ', file),
    /exp.bnn.json: "\(root\)" is not valid JSON/,
  );
});

test("every preset's resolved config reads back from its config.json unchanged", () => {
  for (const preset of PRESET_NAMES) {
    const dataset = preset.startsWith('cifar10')
      ? { name: 'cifar10', path: '/data/cifar' }
      : undefined;
    const config = resolveConfig({ preset, ...(dataset ? { dataset } : {}) }, file);
    // What RunFolder.writeConfig writes, and what fine-tuning and `train --config` read back.
    const again = parseConfigFile(JSON.stringify(config, null, 2), 'config.json');
    assert.deepEqual(resolveConfig(again, 'config.json'), config, preset);
  }
});

test("architecture.kind is accepted when it names the preset's own architecture", () => {
  const c = resolveConfig({ preset: 'fmnist-resnete', architecture: { kind: 'resnete' } }, file);
  assert.equal(c.architecture?.kind, 'resnete');
  rejects(
    { preset: 'fmnist-resnete', architecture: { kind: 'densenet' } },
    'architecture.kind',
    /is "densenet" but the preset builds resnete/,
  );
});
