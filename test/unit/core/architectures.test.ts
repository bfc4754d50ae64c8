import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '../../../core/tf';
import {
  roundHalfEven,
  transitionChannels,
  validateArchitecture,
  weightLayers,
  type DenseNetSpec,
  type ResNetESpec,
} from '../../../core/bnn/architectureSpec';
import {
  buildBinaryDenseNet,
  buildResNetE,
  type BinaryOptions,
} from '../../../core/bnn/architectures';
import { isBinaryLayer } from '../../../core/bnn/layers';
import { getPreset, listPresets } from '../../../core/bnn/presets';
import { ConfigError } from '../../../core/errors';
import { resolveConfig } from '../../../core/training/config';

const OPTIONS: BinaryOptions = {
  inputQuantizer: { kind: 'ste_sign', clip: 1.25 },
  kernelQuantizer: { kind: 'ste_sign', clip: 1.25 },
  scaling: 'none',
  recu: false,
  bonn: false,
  precision: {},
};

test('transition channels follow round((C // r) / 32) · 32 with Python rounding', () => {
  // BDN-28 on the paper's widths: 64 + 6·64 = 448 → 448 // 2.7 = 165 → round(5.16) · 32 = 160.
  assert.equal(transitionChannels(448, 2.7, 32), 160);
  assert.equal(transitionChannels(160 + 6 * 64, 2.7, 32), 192);
  assert.equal(transitionChannels(192 + 6 * 64, 2.2, 32), 256);
  assert.equal(roundHalfEven(2.5), 2);
  assert.equal(roundHalfEven(3.5), 4);
  assert.equal(roundHalfEven(-0.5), -0);
  // 80 // 2.5 = 32 → 32/64 = 0.5 → round half to even = 0 channels.
  assert.equal(transitionChannels(80, 2.5, 64), 0);
});

test('ResNetE: one binary conv per block, FP stem/shortcuts/head, shapes for 28×28 and 32×32', async () => {
  await tf.setBackend('cpu');
  const spec: ResNetESpec = {
    kind: 'resnete',
    stemFilters: 4,
    stageFilters: [4, 8, 16],
    blocksPerStage: [2, 1, 1],
  };
  for (const side of [28, 32]) {
    const model = buildResNetE(spec, [side, side, 1], 10, 1, OPTIONS);
    const binary = model.layers.filter(isBinaryLayer);
    assert.deepEqual(
      binary.map((l) => l.name),
      ['s1b1_bconv', 's1b2_bconv', 's2b1_bconv', 's3b1_bconv'],
    );
    // Downsampling shortcut: AvgPool 2×2 → FP 1×1 conv → BN.
    for (const name of ['s2b1_sc_pool', 's2b1_sc_conv', 's2b1_sc_bn', 's3b1_sc_pool']) {
      assert.ok(model.getLayer(name), name);
    }
    assert.equal(model.getLayer('stem_conv').getClassName(), 'Conv2D');
    assert.equal(model.getLayer('logits').getClassName(), 'Dense');
    const last = model.getLayer('s3b1_add').outputShape as number[];
    assert.deepEqual(last, [null, Math.ceil(side / 4), Math.ceil(side / 4), 16]);
    const y = model.predict(tf.zeros([2, side, side, 1])) as tf.Tensor;
    assert.deepEqual(y.shape, [2, 10]);
    tf.dispose(y);
    model.dispose();
  }
});

test('BinaryDenseNet: growth k per binary conv, no bottleneck, transitions BN → MaxPool → ReLU → FP 1×1', async () => {
  await tf.setBackend('cpu');
  const spec: DenseNetSpec = {
    kind: 'densenet',
    initialFilters: 8,
    growthRate: 4,
    blocks: [2, 2],
    reductions: [1.5],
    channelRound: 4,
  };
  const model = buildBinaryDenseNet(spec, [28, 28, 1], 10, 1, OPTIONS);
  const binary = model.layers.filter(isBinaryLayer);
  assert.equal(binary.length, 4);
  for (const l of binary) assert.equal(l.latentKernel().shape[3], 4);
  // 8 + 2·4 = 16 → 16 // 1.5 = 10 → round(2.5) = 2 → 8 channels.
  assert.deepEqual(model.getLayer('t1_conv').outputShape, [null, 14, 14, 8]);
  assert.deepEqual(
    ['t1_bn', 't1_pool', 't1_relu', 't1_conv'].map((n) => model.getLayer(n).getClassName()),
    ['BatchNormalization', 'MaxPooling2D', 'ReLU', 'Conv2D'],
  );
  assert.deepEqual(model.getLayer('d2l2_concat').outputShape, [null, 14, 14, 16]);
  model.dispose();
});

test('architectures that round to zero channels or cannot take the image fail before training', () => {
  const densenet = (over: Record<string, unknown>) =>
    resolveConfig(
      { preset: 'fmnist-bdn', dataset: { name: 'idx', path: '/x' }, architecture: over },
      'run.bnn.json',
    );
  assert.throws(
    () => densenet({ growthRate: 1, initialFilters: 1, channelRound: 16 }),
    (e: Error) =>
      e instanceof ConfigError &&
      e.field === 'architecture.reductions[0]' &&
      /rounds transition 1 to 0 channels.*use a rate in \[1, /.test(e.message),
  );
  assert.throws(
    () => densenet({ reductions: [2] }),
    (e: Error) => e instanceof ConfigError && e.field === 'architecture.reductions',
  );
  assert.throws(
    () => densenet({ bottleneck: 4 }),
    (e: Error) => e instanceof ConfigError && e.field === 'architecture.bottleneck',
  );
  assert.throws(
    () =>
      validateArchitecture(
        {
          kind: 'resnete',
          stemFilters: 8,
          stageFilters: [8, 8, 8, 8, 8, 8],
          blocksPerStage: [1, 1, 1, 1, 1, 1],
        },
        [28, 28, 1],
        'run.bnn.json',
      ),
    (e: Error) =>
      e instanceof ConfigError &&
      e.field === 'architecture' &&
      /takes images from 32×32 to 1024×1024 \(5 downsamplings\), got 28×28/.test(e.message),
  );
  assert.throws(
    () =>
      resolveConfig(
        { preset: 'mnist-resnete', architecture: { stageFilters: [8, 0] } },
        'run.bnn.json',
      ),
    (e: Error) =>
      e instanceof ConfigError &&
      e.field === 'architecture.stageFilters[1]' &&
      /integer in \[1, 2048\], got 0/.test(e.message),
  );
  assert.throws(
    () => resolveConfig({ preset: 'mnist-cnn', architecture: { growthRate: 3 } }, 'f'),
    (e: Error) => e instanceof ConfigError && e.field === 'architecture',
  );
  const ok = resolveConfig(
    { preset: 'mnist-resnete', architecture: { stageFilters: [8, 16], blocksPerStage: [1, 1] } },
    'f',
  );
  assert.deepEqual(ok.architecture, {
    kind: 'resnete',
    stemFilters: 32,
    stemStrides: 2,
    stageFilters: [8, 16],
    blocksPerStage: [1, 1],
  });
});

test('every preset builds for its input shape and has binary layers', async () => {
  await tf.setBackend('cpu');
  const names = listPresets().map((p) => p.name);
  for (const required of [
    'mnist-cnn',
    'mnist-resnete',
    'fmnist-resnete',
    'fmnist-resnete-recu',
    'fmnist-resnete-bonn',
    'fmnist-bdn',
    'cifar10-resnete18',
    'cifar10-bdn28',
  ]) {
    assert.ok(names.includes(required), required);
  }
  // The big CIFAR models are checked through validation only (building them takes seconds).
  for (const name of names.filter((n) => !n.startsWith('cifar10'))) {
    const preset = getPreset(name);
    const model = preset.build(0);
    assert.ok(model.layers.some(isBinaryLayer), name);
    assert.deepEqual(model.outputs[0].shape, [null, preset.classes]);
    assert.ok(model.getLayer(preset.featureLayer), `${name} feature layer`);
    model.dispose();
  }
  for (const name of ['cifar10-resnete18', 'cifar10-bdn28']) {
    const info = getPreset(name);
    assert.ok(info.architecture);
    validateArchitecture(info.architecture, info.inputShape, name);
  }
});

test('weightLayers names every conv and dense of each preset, with its default precision', async () => {
  for (const info of listPresets()) {
    if (info.name.startsWith('cifar10')) continue; // same builders, only slower to build
    const config = resolveConfig({ preset: info.name }, 'test');
    const model = getPreset(info.name).build(1, config);
    const built = model.layers
      .filter((l) => /conv|dense|binary/i.test(l.getClassName()))
      .map((l) => ({ name: l.name, binary: isBinaryLayer(l) }));
    // model.layers is in topological order, weightLayers in build order: compare as sets.
    const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
    assert.deepEqual(built.sort(byName), weightLayers(config.architecture).sort(byName), info.name);
    model.dispose();
  }
});

test('layerPrecision makes any conv/dense binary or full precision; unknown names are refused', async () => {
  const config = resolveConfig(
    {
      preset: 'fmnist-resnete',
      layerPrecision: { stem_conv: 'binary', s1b1_bconv: 'full', logits: 'binary' },
    },
    'exp.bnn.json',
  );
  const model = getPreset('fmnist-resnete').build(1, config);
  const binary = (name: string) => isBinaryLayer(model.getLayer(name));
  assert.equal(binary('stem_conv'), true);
  assert.equal(binary('s1b1_bconv'), false);
  assert.equal(binary('s1b2_bconv'), true, 'others keep their default');
  assert.equal(binary('logits'), true);
  assert.equal(binary('s2b1_sc_conv'), false);
  // The binary stem and head train like any binary layer.
  const out = model.predict(tf.zeros([2, 28, 28, 1])) as tf.Tensor;
  assert.deepEqual(out.shape, [2, 10]);
  tf.dispose([out]);
  model.dispose();

  const mnist = getPreset('mnist-cnn').build(
    1,
    resolveConfig({ preset: 'mnist-cnn', layerPrecision: { bconv3: 'full' } }, 'test'),
  );
  assert.equal(isBinaryLayer(mnist.getLayer('bconv3')), false);
  assert.equal(isBinaryLayer(mnist.getLayer('bconv2')), true);
  mnist.dispose();

  assert.throws(
    () =>
      resolveConfig(
        { preset: 'fmnist-resnete', layerPrecision: { conv9: 'full' } },
        'exp.bnn.json',
      ),
    (e: unknown) =>
      e instanceof ConfigError &&
      /exp\.bnn\.json: "layerPrecision\.conv9" is not a conv or dense layer of this model \(its layers: stem_conv, s1b1_bconv/.test(
        e.message,
      ),
  );
  assert.throws(
    () => resolveConfig({ preset: 'mnist-cnn', layerPrecision: { conv1: 'half' } }, 'exp.bnn.json'),
    /"layerPrecision\.conv1" must be "binary" or "full", got "half"/,
  );
  assert.throws(
    () => resolveConfig({ preset: 'mnist-cnn', layerPrecision: ['conv1'] }, 'exp.bnn.json'),
    /"layerPrecision" must be an object/,
  );
});
