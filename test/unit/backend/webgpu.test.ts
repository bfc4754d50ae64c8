/**
 * The webgpu backend on a real adapter (in CI: Mesa's lavapipe, a software Vulkan driver that
 * Dawn accepts from Mesa 24 on): same-seed equivalence with the wasm path for the three model
 * families, checkpoint + resume, fine-tune, and the failures (lost device, broken shader).
 *
 * Skips, saying why, only where no adapter exists; `.ci/run` sets BNN_LAB_REQUIRE_WEBGPU=1 after
 * installing Mesa, so there the missing adapter is a failure instead.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '../../../core/tf';
import { initBackend } from '../../../core/backend/backends';
import { initWebGpu, webgpuFailure } from '../../../core/backend/webgpu';
import type { MetricsRecord } from '../../../core/protocol';
import { runFinetune } from '../../../core/run/finetune';
import { checkpointWeights, shortRun } from './webgpuHelpers';

let skip: string | false = false;

before(async () => {
  const probe = await initWebGpu(true);
  if ('reason' in probe) {
    if (process.env.BNN_LAB_REQUIRE_WEBGPU === '1') {
      throw new Error(`BNN_LAB_REQUIRE_WEBGPU=1 but no WebGPU adapter: ${probe.reason}`);
    }
    skip = `no WebGPU adapter on this machine: ${probe.reason}`;
  }
});

const stepLosses = (records: MetricsRecord[]) =>
  records.flatMap((r) => (r.event === 'step' ? [r.loss] : []));

/**
 * Compares two checkpoints' weights. Adam divides each gradient by its own running magnitude, so
 * an element whose gradient is at float-rounding level (|g| ≲ ε = 1e-7) can take a visibly
 * different step on two backends whose sums round differently; those are a handful in 10⁵.
 * Everything else agrees to 1e-4.
 */
function assertWeightsClose(
  a: Map<string, Float32Array>,
  b: Map<string, Float32Array>,
  learningRate: number,
) {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  let total = 0;
  let loose = 0;
  for (const [name, x] of a) {
    const y = b.get(name) as Float32Array;
    assert.equal(y.length, x.length, name);
    for (let i = 0; i < x.length; i++) {
      const d = Math.abs(x[i] - y[i]);
      total++;
      if (d > 1e-4 + 1e-4 * Math.abs(x[i])) loose++;
      assert.ok(d <= 2 * learningRate, `${name}[${i}]: ${x[i]} vs ${y[i]}`);
    }
  }
  assert.ok(loose <= Math.max(2, total * 1e-4), `${loose} of ${total} weights differ by > 1e-4`);
}

const PRESETS: [string, Record<string, unknown>][] = [
  ['mnist-cnn', { preset: 'mnist-cnn' }],
  ['ResNetE (fmnist-resnete-recu)', { preset: 'fmnist-resnete-recu' }],
  ['BinaryDenseNet (fmnist-bdn)', { preset: 'fmnist-bdn' }],
  ['ResNetE with BONN (fmnist-resnete-bonn)', { preset: 'fmnist-resnete-bonn' }],
];

for (const [label, raw] of PRESETS) {
  test(`${label}: webgpu and wasm train the same model from the same seed`, async (t) => {
    if (skip) return t.skip(skip);
    const wasm = await shortRun('wasm', raw);
    const gpu = await shortRun('webgpu', raw);
    assert.equal(wasm.result.status, 'completed', wasm.result.message);
    assert.equal(gpu.result.status, 'completed', gpu.result.message);
    const start = gpu.records[0];
    assert.ok(start.event === 'start');
    assert.equal(start.backend.name, 'webgpu');
    assert.equal(start.backend.tfBackend, 'webgpu');
    assert.equal(start.backend.threads, 1);
    assert.ok(start.backend.adapter, 'the start record names no adapter');
    assert.ok(start.backend.adapter.description.length > 0);
    // Every other backend is listed with its reason.
    assert.deepEqual(start.backend.skipped.map((s) => s.name).sort(), [
      'cpu',
      'tensorflow',
      'tensorflow-gpu',
      'wasm',
    ]);
    const a = stepLosses(wasm.records);
    const b = stepLosses(gpu.records);
    assert.equal(b.length, a.length);
    assert.ok(a.length >= 2);
    a.forEach((loss, i) =>
      assert.ok(
        Math.abs(loss - b[i]) <= 1e-5 * Math.max(1, loss),
        `step ${i + 1}: ${loss} vs ${b[i]}`,
      ),
    );
    // Telemetry: per-layer statistics of the latent weights, as on wasm.
    const steps = gpu.records.filter((r) => r.event === 'step');
    const wasmSteps = wasm.records.filter((r) => r.event === 'step');
    for (const [i, s] of steps.entries()) {
      const w = wasmSteps[i];
      assert.equal(s.layers.length, w.layers.length);
      s.layers.forEach((l, j) => {
        assert.equal(l.name, w.layers[j].name);
        assert.ok(Math.abs(l.mean - w.layers[j].mean) < 1e-5, l.name);
        assert.equal(l.params, w.layers[j].params);
      });
    }
    const learningRate = (start.config.learningRate as number) ?? 0.01;
    assertWeightsClose(
      await checkpointWeights(wasm.runDir, 1),
      await checkpointWeights(gpu.runDir, 1),
      learningRate,
    );
  });
}

test('webgpu: a run resumed from its epoch-1 checkpoint ends where the straight run ends', async (t) => {
  if (skip) return t.skip(skip);
  const raw = { preset: 'mnist-cnn', epochs: 2 };
  const straight = await shortRun('webgpu', raw);
  assert.equal(straight.result.status, 'completed', straight.result.message);
  // Resume from the straight run's epoch-1 checkpoint into a new folder.
  const resumed = await shortRun('webgpu', raw, {
    resumeFrom: join(straight.runDir, 'checkpoints', 'epoch-1'),
  });
  assert.equal(resumed.result.status, 'completed', resumed.result.message);
  assert.ok(resumed.logs.some((l) => /resuming from/.test(l)));
  const all = stepLosses(straight.records);
  const tail = all.slice(all.length / 2);
  const again = stepLosses(resumed.records);
  assert.equal(again.length, tail.length);
  tail.forEach((loss, i) =>
    assert.ok(Math.abs(loss - again[i]) <= 1e-6 * loss, `${loss} vs ${again[i]}`),
  );
  assertWeightsClose(
    await checkpointWeights(straight.runDir, 2),
    await checkpointWeights(resumed.runDir, 2),
    0.002,
  );
});

test('webgpu: LNS fine-tuning of a checkpoint runs on the GPU backend', async (t) => {
  if (skip) return t.skip(skip);
  const source = await shortRun('webgpu', { preset: 'mnist-cnn' });
  assert.equal(source.result.status, 'completed', source.result.message);
  const runDir = join(source.runDir, '..', 'finetune');
  const records: MetricsRecord[] = [];
  const result = await runFinetune(
    {
      checkpoint: join(source.runDir, 'checkpoints', 'epoch-1'),
      method: 'lns',
      // A short mapper warm-up: each step takes seconds on a software adapter.
      mapperWarmupSteps: 10,
      epochs: 1,
      limit: 32,
      testLimit: 16,
      runId: 'ft',
      runDir,
      backend: 'webgpu',
    },
    { onRecord: (r) => records.push(r), log: () => {}, isCancelled: () => false },
  );
  assert.equal(result.status, 'completed', result.message);
  const start = records.find((r) => r.event === 'start');
  assert.ok(start?.event === 'start' && start.backend.name === 'webgpu');
  assert.ok(result.checkpoint && existsSync(join(result.checkpoint, 'model.json')));
  const steps = records.filter((r) => r.event === 'step');
  assert.ok(steps.length > 0);
  for (const s of steps) for (const l of s.layers) assert.equal(typeof l.auxLoss, 'number');
});

for (const fault of ['lost', 'shader'] as const) {
  test(`webgpu: a ${fault === 'lost' ? 'lost device' : 'shader compile failure'} ends the run as failed, keeps epoch 1, and the next run works`, async (t) => {
    if (skip) return t.skip(skip);
    // Two steps per epoch: the fault comes after step 3, in epoch 2.
    process.env.BNN_LAB_WEBGPU_FAULT = `${fault}@3`;
    let failed;
    try {
      failed = await shortRun('webgpu', { preset: 'mnist-cnn', epochs: 2 });
    } finally {
      delete process.env.BNN_LAB_WEBGPU_FAULT;
    }
    assert.equal(failed.result.status, 'failed');
    const message = failed.result.message ?? '';
    assert.match(message, /^webgpu backend failed: /);
    assert.match(message, fault === 'lost' ? /device was lost/ : /WebGPU error/);
    assert.match(message, /bnnLab\.engine\.backend \(--backend\) to "wasm"/);
    const done = failed.records.at(-1);
    assert.ok(done?.event === 'done' && done.status === 'failed' && done.message === message);
    assert.ok(existsSync(join(failed.runDir, 'checkpoints', 'epoch-1', 'model.json')));
    assert.ok(!existsSync(join(failed.runDir, 'checkpoints', 'epoch-2')));
    const next = await shortRun('webgpu', { preset: 'mnist-cnn' });
    assert.equal(next.result.status, 'completed', next.result.message);
  });
}

test('webgpu: auto never takes a software adapter', async (t) => {
  if (skip) return t.skip(skip);
  const probe = await initWebGpu(true);
  assert.ok('adapter' in probe);
  const info = await initBackend('auto', () => {});
  if (probe.adapter.software) {
    assert.notEqual(info.name, 'webgpu');
    const reason = info.skipped.find((s) => s.name === 'webgpu')?.reason ?? '';
    assert.match(reason, /only a software adapter/);
    assert.match(reason, new RegExp(probe.adapter.device.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  } else {
    assert.equal(info.name === 'webgpu' || info.name === 'tensorflow-gpu', true);
  }
});

test('webgpu: MaxPoolGrad sends a tied window’s gradient to its first maximum, as cpu and wasm do', async (t) => {
  if (skip) return t.skip(skip);
  // Integer-valued inputs with ties, as a binary convolution produces; odd sizes and `same`.
  const cases: [[number, number, number, number], number, number, 'valid' | 'same'][] = [
    [[2, 11, 11, 3], 2, 2, 'valid'],
    [[1, 7, 7, 2], 3, 2, 'same'],
    [[1, 6, 6, 1], 2, 1, 'valid'],
  ];
  const grads = async (backend: 'cpu' | 'webgpu') => {
    await initBackend(backend, () => {});
    const out: Float32Array[] = [];
    for (const [shape, k, s, pad] of cases) {
      const size = shape.reduce((a, b) => a * b);
      const x = tf.tensor(
        Array.from({ length: size }, (_, i) => (i * 7) % 3),
        shape,
      ) as tf.Tensor4D;
      const g = tf.grad((v: tf.Tensor) => {
        const y = tf.maxPool(v as tf.Tensor4D, k, s, pad);
        return tf.sum(tf.mul(y, tf.reshape(tf.range(1, y.size + 1), y.shape)));
      })(x);
      out.push((await g.data()) as Float32Array);
      tf.dispose([x, g]);
    }
    return out;
  };
  const expected = await grads('cpu');
  const actual = await grads('webgpu');
  expected.forEach((e, i) => assert.deepEqual(Array.from(actual[i]), Array.from(e), `case ${i}`));
});

test('webgpu: transposes of int32, bool and bool-cast-to-float32 data match the cpu backend', async (t) => {
  if (skip) return t.skip(skip);
  // Large enough to run on the GPU (tfjs transposes small CPU-resident data on the CPU).
  const shape: [number, number, number, number] = [4, 7, 7, 32];
  const perms = [
    [3, 0, 1, 2],
    [1, 2, 3, 0],
    [0, 3, 1, 2],
  ];
  const run = async (backend: 'cpu' | 'webgpu') => {
    await initBackend(backend, () => {});
    const out: number[][] = [];
    for (const perm of perms) {
      const results = tf.tidy(() => {
        const x = tf.add(tf.reshape(tf.range(0, 4 * 7 * 7 * 32), shape), tf.scalar(-3000));
        const ints = tf.cast(x, 'int32');
        const bools = tf.greaterEqual(x, 0);
        return [
          tf.transpose(ints, perm),
          tf.transpose(bools, perm),
          tf.transpose(tf.cast(bools, 'float32'), perm),
        ];
      });
      for (const r of results) out.push(Array.from(await r.data()));
      tf.dispose(results);
    }
    return out;
  };
  const expected = await run('cpu');
  const actual = await run('webgpu');
  assert.equal(webgpuFailure(), undefined);
  expected.forEach((e, i) => assert.deepEqual(actual[i], e, `case ${i}`));
});
