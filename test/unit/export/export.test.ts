/**
 * Export (core/export, `bnn-lab export`): every format is checked by an independent reader —
 * onnx's checker and onnxruntime-node, h5py, numpy, protoc + python3-protobuf — against a
 * checkpoint BNN Lab trained for real here (mnist-cnn, a short run) and against the presets'
 * other architectures (ResNetE, BinaryDenseNet) with every binary-layer option.
 */
import * as tf from '../../../core/tf';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { initBackend } from '../../../core/backend/backends';
import { getPreset } from '../../../core/bnn/presets';
import { inspectCheckpoint } from '../../../core/checkpoints/inspect';
import { main } from '../../../core/cli/main';
import { loadDataset } from '../../../core/data/datasets';
import { runCsvFromRecords } from '../../../core/export/csv';
import { exportCheckpoint, exportRun } from '../../../core/export/index';
import { crc32c } from '../../../core/export/tensorboard';
import { readMetrics } from '../../../core/io/runFolder';
import type { MetricsRecord } from '../../../core/protocol';
import {
  binaryLayerMeta,
  loadCheckpointModel,
  serializeCheckpoint,
} from '../../../core/training/checkpoint';
import { resolveConfig } from '../../../core/training/config';
import { evaluate, runTraining } from '../../../core/run/train';
import { initialModel, reduce } from '../../../webview/dashboard/state';
import { runCsv } from '../../../webview/dashboard/export';

// node:test schedules suites and tests itself; their returned promises are voided on purpose.

const PYTHON = '/usr/bin/python3';
const SCRIPTS = resolve(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 'export');
/** The part of onnxruntime-node's API the tests use (1.17.0 ships no type declarations). */
interface OrtTensor {
  data: ArrayLike<number>;
}
interface OrtApi {
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => OrtTensor;
  InferenceSession: {
    create(
      path: string,
    ): Promise<{ run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> }>;
  };
}
/** Loaded in `before` (a non-literal specifier: the package has no type declarations). */
let ort: OrtApi;
const ORT_PACKAGE = 'onnxruntime-node';

function python(script: string, ...args: string[]): unknown {
  const out = execFileSync(PYTHON, [join(SCRIPTS, script), ...args], {
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
  });
  return JSON.parse(out);
}

const temp = mkdtempSync(join(tmpdir(), 'bnn-export-'));
let runDir = '';
let checkpoint = '';

/** Logits of BNN Lab's model (inference mode) and of the ONNX export on the same images. */
async function bothLogits(
  dir: string,
  onnxPath: string,
  images: Float32Array,
  shape: [number, number, number, number],
): Promise<{ ours: Float32Array; theirs: Float32Array }> {
  const { model } = await loadCheckpointModel(dir);
  const x = tf.tensor4d(images, shape);
  const y = model.predict(x) as tf.Tensor;
  const ours = (await y.data()) as Float32Array;
  tf.dispose([x, y]);
  model.dispose();
  const session = await ort.InferenceSession.create(onnxPath);
  const result = await session.run({ image: new ort.Tensor('float32', images, shape) });
  return { ours, theirs: result.logits.data as Float32Array };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** Writes a checkpoint folder of a freshly built preset model with perturbed batch-norm stats. */
async function presetCheckpoint(
  name: string,
  preset: string,
  config: Record<string, unknown>,
): Promise<string> {
  const resolved = resolveConfig({ preset, ...config }, 'test');
  const model = getPreset(preset).build(7, resolved);
  let seed = 1;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    layer.setWeights(
      layer.getWeights().map((w, i) => {
        const v = Float32Array.from({ length: w.size }, () =>
          i === 3 ? 0.5 + Math.abs(random()) : random() * 0.5,
        );
        return tf.tensor(v, w.shape);
      }),
    );
  }
  const files = await serializeCheckpoint(
    model,
    {
      version: 1,
      preset,
      epoch: 1,
      step: 1,
      binaryLayers: binaryLayerMeta(model),
      testAccuracy: null,
      ...(resolved.recu ? { tau: 0.9 } : {}),
    },
    {},
    [],
  );
  model.dispose();
  const dir = join(temp, name, 'checkpoints', 'epoch-1');
  mkdirSync(dir, { recursive: true });
  for (const [file, data] of Object.entries(files)) writeFileSync(join(dir, file), data);
  return dir;
}

before(async () => {
  ort = (await import(ORT_PACKAGE)) as OrtApi;
  await initBackend('wasm', () => {});
  runDir = join(temp, 'run');
  const result = await runTraining(
    {
      runId: 'export',
      config: resolveConfig(
        {
          preset: 'mnist-cnn',
          epochs: 1,
          limit: 2048,
          testLimit: 500,
          batchSize: 64,
          seed: 5,
          telemetryEverySteps: 4,
        },
        'test',
      ),
      runDir,
      backend: 'wasm',
      threads: 1,
    },
    { onRecord: () => {}, log: () => {}, isCancelled: () => false },
  );
  assert.equal(result.status, 'completed', result.message);
  checkpoint = join(runDir, 'checkpoints', 'epoch-1');
});

after(() => rmSync(temp, { recursive: true, force: true }));

void describe('onnx export', () => {
  void it('passes onnx.checker, binarizes without Sign, and matches BNN Lab on the MNIST test set', async () => {
    const out = join(temp, 'mnist.onnx');
    await exportCheckpoint('onnx', checkpoint, out);
    const checked = python('check_onnx.py', out) as {
      opset: number;
      ops: string[];
      inputs: { name: string; dims: (number | string)[] }[];
      outputs: { name: string; dims: (number | string)[] }[];
    };
    assert.ok(checked.opset >= 13);
    assert.ok(!checked.ops.includes('Sign'), `bare Sign used: ${checked.ops.join(', ')}`);
    assert.ok(checked.ops.includes('Where') && checked.ops.includes('GreaterOrEqual'));
    assert.ok(checked.ops.includes('BatchNormalization'));
    assert.deepEqual(checked.inputs, [{ name: 'image', dims: ['N', 28, 28, 1] }]);
    assert.deepEqual(checked.outputs, [{ name: 'logits', dims: ['N', 10] }]);

    const dataset = loadDataset({ name: 'mnist' }, { limit: 1, testLimit: 0 });
    const test = dataset.test;
    assert.equal(test.count, 10000);
    // Logits on a batch of test images.
    const batch = 64;
    const { ours, theirs } = await bothLogits(checkpoint, out, test.images.slice(0, batch * 784), [
      batch,
      28,
      28,
      1,
    ]);
    const diff = maxAbsDiff(ours, theirs);
    console.log(`max |logit difference| on ${batch} MNIST test images: ${diff}`);
    assert.ok(diff <= 1e-4, `max |logit difference| ${diff}`);

    // Accuracy on the whole test set: BNN Lab's evaluation vs onnxruntime.
    const { model } = await loadCheckpointModel(checkpoint);
    const bnnLab = await evaluate(model, dataset, test);
    model.dispose();
    const session = await ort.InferenceSession.create(out);
    let correct = 0;
    for (let start = 0; start < test.count; start += 1000) {
      const n = Math.min(1000, test.count - start);
      const images = test.images.slice(start * 784, (start + n) * 784);
      const { logits } = await session.run({
        image: new ort.Tensor('float32', images, [n, 28, 28, 1]),
      });
      const values = logits.data as Float32Array;
      for (let i = 0; i < n; i++) {
        let best = 0;
        for (let k = 1; k < 10; k++) if (values[i * 10 + k] > values[i * 10 + best]) best = k;
        if (best === test.labels[start + i]) correct++;
      }
    }
    const onnxAccuracy = correct / test.count;
    console.log(`MNIST test accuracy: BNN Lab ${bnnLab.accuracy}, ONNX ${onnxAccuracy}`);
    assert.ok(bnnLab.accuracy > 0.5, `the trained checkpoint learned (${bnnLab.accuracy})`);
    assert.equal(onnxAccuracy, bnnLab.accuracy);
  });

  const variants: [string, string, Record<string, unknown>][] = [
    [
      'resnete, magnitude_aware_sign kernels, approx_sign inputs, channel_mean scale',
      'mnist-resnete',
      {
        kernelQuantizer: { kind: 'magnitude_aware_sign', clip: 1 },
        inputQuantizer: { kind: 'approx_sign' },
        scaling: 'channel_mean',
      },
    ],
    ['resnete with ReCU and a learnable scale', 'fmnist-resnete-recu', { scaling: 'learnable' }],
    ['resnete with BONN modulation', 'fmnist-resnete-bonn', {}],
    [
      'binary densenet, swish_sign, magnitude_aware_sign inputs',
      'fmnist-bdn',
      {
        kernelQuantizer: { kind: 'swish_sign', clip: null, beta: 5 },
        inputQuantizer: { kind: 'magnitude_aware_sign', clip: 1 },
      },
    ],
  ];
  for (const [title, preset, config] of variants) {
    void it(`${title}: logits equal BNN Lab's`, async () => {
      const dir = await presetCheckpoint(preset + Object.keys(config).join('-'), preset, config);
      const out = join(dir, '..', '..', 'model.onnx');
      await exportCheckpoint('onnx', dir, out);
      python('check_onnx.py', out);
      const n = 6;
      let seed = 3;
      const images = Float32Array.from(
        { length: n * 784 },
        () => ((seed = (seed * 48271) % 2147483647) / 2147483647) * 4 - 1,
      );
      const { ours, theirs } = await bothLogits(dir, out, images, [n, 28, 28, 1]);
      const diff = maxAbsDiff(ours, theirs);
      // Untrained deep models with random batch-norm statistics reach logits in the thousands;
      // s·sgn inputs (magnitude_aware_sign) make the sums inexact, so compare relative to them.
      const scale = Math.max(1, ...Array.from(ours, Math.abs));
      assert.ok(diff <= 1e-4 * scale, `max |logit difference| ${diff} (largest |logit| ${scale})`);
    });
  }
});

interface KerasCheck {
  backend: string;
  keras_version: string;
  model_config: {
    class_name: string;
    config: { layers: { class_name: string; name: string; config: Record<string, unknown> }[] };
  };
  layer_names: string[];
  weights: Record<string, { name: string; shape: number[]; dtype: string; values: number[] }[]>;
}

void describe('keras export', () => {
  void it('writes Larq layers, Keras group layout and every weight as h5py reads them', async () => {
    const out = join(temp, 'mnist.h5');
    await exportCheckpoint('keras', checkpoint, out);
    const h5 = python('check_keras.py', out) as KerasCheck;
    assert.equal(h5.backend, 'tensorflow');
    assert.equal(h5.model_config.class_name, 'Functional');
    const byName = new Map(h5.model_config.config.layers.map((l) => [l.name, l]));
    for (const name of ['bconv2', 'bconv3']) {
      const layer = byName.get(name);
      assert.equal(layer?.class_name, 'QuantConv2D');
      assert.deepEqual(layer?.config.kernel_quantizer, {
        class_name: 'SteSign',
        config: { name: 'ste_sign', trainable: true, dtype: 'float32', clip_value: 1 },
      });
      assert.deepEqual(layer?.config.input_quantizer, layer?.config.kernel_quantizer);
      assert.deepEqual(layer?.config.kernel_size, [3, 3]);
      assert.equal(layer?.config.use_bias, false);
      assert.equal(layer?.config.padding, 'valid');
    }
    assert.equal(byName.get('bdense4')?.class_name, 'QuantDense');
    assert.equal(byName.get('conv1')?.class_name, 'Conv2D');
    assert.equal(byName.get('bn1')?.class_name, 'BatchNormalization');

    const { model } = await loadCheckpointModel(checkpoint);
    assert.deepEqual(
      h5.layer_names,
      model.layers.map((l) => l.name),
    );
    for (const layer of model.layers) {
      const saved = h5.weights[layer.name];
      const values = layer.getWeights();
      assert.equal(saved.length, values.length, layer.name);
      layer.weights.forEach((w, i) => {
        assert.equal(saved[i].name, `${w.originalName}:0`);
        assert.deepEqual(saved[i].shape, values[i].shape);
        assert.equal(saved[i].dtype, 'float32');
        assert.deepEqual(saved[i].values, Array.from(values[i].dataSync()));
      });
    }
    model.dispose();
  });

  void it("round-trips through BNN Lab's .h5 reader with identical per-layer statistics", async () => {
    const out = join(temp, 'roundtrip.h5');
    await exportCheckpoint('keras', checkpoint, out);
    const original = await inspectCheckpoint(checkpoint);
    const exported = await inspectCheckpoint(out);
    assert.equal(exported.format, 'keras-h5');
    assert.equal(exported.layers.length, original.layers.length);
    for (const layer of original.layers) {
      const twin = exported.layers.find((l) => l.name === `${layer.name}:0`);
      assert.ok(twin, `${layer.name} in the .h5`);
      assert.equal(twin.binary, layer.binary, layer.name);
      assert.deepEqual(twin.shape, layer.shape);
      assert.deepEqual(twin.stats, layer.stats, layer.name);
    }
    assert.equal(original.layers.filter((l) => l.binary).length, 3);
  });

  void it("maps approx_sign, magnitude_aware_sign and swish_sign to Larq's quantizers", async () => {
    const dir = await presetCheckpoint('larq-quantizers', 'mnist-resnete', {
      kernelQuantizer: { kind: 'magnitude_aware_sign', clip: 0.5 },
      inputQuantizer: { kind: 'approx_sign' },
    });
    const out = join(temp, 'resnete.h5');
    await exportCheckpoint('keras', dir, out);
    const h5 = python('check_keras.py', out) as KerasCheck;
    const block = h5.model_config.config.layers.find((l) => l.name === 's1b1_bconv');
    assert.equal(block?.class_name, 'QuantConv2D');
    assert.deepEqual(block?.config.kernel_quantizer, {
      class_name: 'MagnitudeAwareSign',
      config: { name: 'magnitude_aware_sign', trainable: true, dtype: 'float32', clip_value: 0.5 },
    });
    assert.deepEqual(block?.config.input_quantizer, {
      class_name: 'ApproxSign',
      config: { name: 'approx_sign', trainable: true, dtype: 'float32' },
    });
    const classes = new Set(h5.model_config.config.layers.map((l) => l.class_name));
    for (const c of ['Add', 'AveragePooling2D', 'GlobalAveragePooling2D', 'ReLU']) {
      assert.ok(classes.has(c), c);
    }
    const original = await inspectCheckpoint(dir);
    const exported = await inspectCheckpoint(out);
    for (const layer of original.layers) {
      const twin = exported.layers.find((l) => l.name === `${layer.name}:0`);
      assert.equal(twin?.binary, layer.binary, layer.name);
      assert.deepEqual(twin?.stats, layer.stats, layer.name);
    }
    const swish = await presetCheckpoint('larq-swish', 'fmnist-bdn', {
      kernelQuantizer: { kind: 'swish_sign', clip: null, beta: 3 },
      inputQuantizer: { kind: 'ste_sign', clip: null },
    });
    await exportCheckpoint('keras', swish, join(temp, 'bdn.h5'));
    const bdn = python('check_keras.py', join(temp, 'bdn.h5')) as KerasCheck;
    const conv = bdn.model_config.config.layers.find((l) => l.class_name === 'QuantConv2D');
    assert.deepEqual(conv?.config.kernel_quantizer, {
      class_name: 'SwishSign',
      config: { name: 'swish_sign', trainable: true, dtype: 'float32', beta: 3 },
    });
    assert.deepEqual(conv?.config.input_quantizer, {
      class_name: 'SteSign',
      config: { name: 'ste_sign', trainable: true, dtype: 'float32', clip_value: null },
    });
  });

  void it('refuses what Larq cannot express, naming the layer and the format, and writes nothing', async () => {
    const dir = await presetCheckpoint('recu-keras', 'fmnist-resnete-recu', {});
    const out = join(temp, 'recu.h5');
    await assert.rejects(exportCheckpoint('keras', dir, out), (e: Error) => {
      assert.match(e.message, /layer "s1b1_bconv" to Keras\/Larq \(\.h5\)/);
      assert.match(e.message, /ReCU/);
      return true;
    });
    assert.equal(existsSync(out), false);
    const scaled = await presetCheckpoint('scaled-keras', 'mnist-cnn', { scaling: 'learnable' });
    await assert.rejects(
      exportCheckpoint('keras', scaled, out),
      /layer "bconv2".*scaling "learnable"/,
    );
    assert.deepEqual(
      readdirSync(temp).filter((f) => f.startsWith('recu.h5')),
      [],
    );
  });
});

void describe('safetensors export', () => {
  void it('holds the PyTorch layout and packed signs as numpy rebuilds them', async () => {
    const out = join(temp, 'mnist.safetensors');
    await exportCheckpoint('safetensors', checkpoint, out, { packedSigns: true });
    const checked = python('check_safetensors.py', out, checkpoint) as {
      checked: string[];
      max_diff: number;
      names: string[];
      metadata: Record<string, string>;
    };
    assert.equal(checked.max_diff, 0);
    for (const name of [
      'conv1.weight',
      'bconv2.weight',
      'bconv2.weight_sign_bits',
      'bdense4.weight',
      'bdense4.weight_sign_bits',
      'bn4.running_var',
      'dense5.bias',
    ]) {
      assert.ok(checked.checked.includes(name), name);
    }
    assert.ok(checked.names.includes('bconv2.weight_scale'));
    assert.equal(checked.metadata.format, 'pt');
    assert.deepEqual(Object.keys(JSON.parse(checked.metadata.binary_layers)), [
      'bconv2',
      'bconv3',
      'bdense4',
    ]);
    // BNN Lab's own reader opens it too.
    const inspected = await inspectCheckpoint(out);
    assert.deepEqual(
      inspected.layers.find((l) => l.name === 'bconv2.weight')?.shape,
      [64, 32, 3, 3],
    );
  });
});

void describe('tensorboard export', () => {
  void it('writes TFRecord frames with valid CRCs and every scalar and histogram of the run', async () => {
    assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
    const logDir = join(temp, 'tb');
    const result = await exportRun('tensorboard', runDir, logDir);
    const decoded = python(
      'check_tensorboard.py',
      result.files[0],
      mkdtempSync(join(temp, 'pb-')),
    ) as {
      frames: number;
      events: {
        step: number;
        wall_time: number;
        file_version?: string;
        values?: {
          tag: string;
          simple_value?: number;
          histo?: {
            min: number;
            max: number;
            num: number;
            bucket_limit: number[];
            bucket: number[];
          };
        }[];
      }[];
    };
    assert.equal(decoded.events[0].file_version, 'brain.Event:2');
    const { records } = readMetrics(join(runDir, 'metrics.jsonl'));
    const steps = records.filter(
      (r): r is Extract<MetricsRecord, { event: 'step' }> => r.event === 'step',
    );
    const epochs = records.filter((r) => r.event === 'epoch');
    assert.equal(decoded.frames, 1 + steps.length + epochs.length);
    const f32 = Math.fround;
    for (const step of steps) {
      const event = decoded.events.find(
        (e) => e.step === step.step && e.values?.some((v) => v.tag === 'train/loss'),
      );
      assert.ok(event, `step ${step.step}`);
      assert.equal(event.wall_time, step.time / 1000);
      const value = (tag: string) => event.values?.find((v) => v.tag === tag);
      assert.equal(value('train/loss')?.simple_value, f32(step.loss));
      assert.equal(value('train/accuracy')?.simple_value, f32(step.accuracy));
      assert.equal(value('train/learning_rate')?.simple_value, f32(step.learningRate));
      for (const layer of step.layers) {
        for (const metric of [
          'quantizationError',
          'deadWeightRatio',
          'flipRate',
          'frozenRatio',
          'signBalance',
        ] as const) {
          assert.equal(
            value(`layers/${layer.name}/${metric}`)?.simple_value,
            f32(layer[metric]),
            `${layer.name}/${metric}`,
          );
        }
        const histo = value(`weights/${layer.name}`)?.histo;
        assert.ok(histo, `histogram of ${layer.name}`);
        assert.deepEqual(histo.bucket, Array.from(layer.histogram.counts));
        assert.equal(histo.num, layer.params);
        assert.equal(histo.min, layer.histogram.min);
        assert.equal(histo.bucket_limit[histo.bucket_limit.length - 1], layer.histogram.max);
      }
    }
    const epoch = epochs[0] as Extract<MetricsRecord, { event: 'epoch' }>;
    const epochEvent = decoded.events.find((e) =>
      e.values?.some((v) => v.tag === 'epoch/test_accuracy'),
    );
    assert.equal(epochEvent?.step, epoch.step);
    assert.equal(
      epochEvent?.values?.find((v) => v.tag === 'epoch/test_accuracy')?.simple_value,
      f32(epoch.testAccuracy),
    );
    // A second export next to it never replaces the first.
    const again = await exportRun('tensorboard', runDir, logDir);
    assert.notEqual(again.files[0], result.files[0]);
    assert.equal(readdirSync(logDir).length, 2);
  });
});

void describe('csv export', () => {
  void it("has the dashboard's columns and rows for the same run", async () => {
    const { records } = readMetrics(join(runDir, 'metrics.jsonl'));
    const model = reduce(initialModel(), {
      kind: 'snapshot',
      trusted: true,
      run: { runId: 'export', dir: runDir, status: 'completed', records },
    });
    assert.ok(model.run);
    const dashboard = runCsv(model.run);
    assert.equal(runCsvFromRecords(records), dashboard);
    const out = join(temp, 'metrics.csv');
    await exportRun('csv', runDir, out);
    const { readFileSync } = await import('node:fs');
    assert.equal(readFileSync(out, 'utf8'), dashboard);
    assert.match(
      dashboard.split('\n')[0],
      /^step,reports,loss,accuracy,learningRate,.*bconv2\/quantizationError/,
    );
  });
});

void describe('bnn-lab export', () => {
  const cli = async (...args: string[]) => {
    let stdout = '';
    let stderr = '';
    const code = await main(
      ['export', ...args],
      (t) => (stdout += t),
      (t) => (stderr += t),
    );
    return { code, stdout, stderr };
  };

  void it('exports, never replaces an existing file without --force, and explains bad input', async () => {
    const out = join(temp, 'cli.onnx');
    const first = await cli('onnx', checkpoint, out);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /exported .* to .*cli\.onnx/);
    const second = await cli('onnx', checkpoint, out);
    assert.equal(second.code, 2);
    assert.match(second.stderr, /cli\.onnx already exists; .* --force/);
    assert.equal((await cli('onnx', checkpoint, out, '--force')).code, 0);
    const bad = await cli('pdf', checkpoint, out);
    assert.equal(bad.code, 2);
    assert.match(
      bad.stderr,
      /unknown format "pdf"; use one of keras, onnx, safetensors, tensorboard, csv/,
    );
    const notRun = await cli('csv', checkpoint, join(temp, 'x.csv'));
    assert.equal(notRun.code, 2);
    assert.match(notRun.stderr, /is not a BNN Lab run folder: it has no metrics\.jsonl/);
    const notCheckpoint = await cli('keras', runDir, join(temp, 'x.h5'));
    assert.equal(notCheckpoint.code, 2);
    assert.match(notCheckpoint.stderr, /is not a BNN Lab checkpoint/);
    const usage = await cli('onnx', checkpoint);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /export needs OUT; see bnn-lab export --help/);
  });
});
