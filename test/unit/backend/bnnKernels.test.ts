import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '../../../core/tf';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import {
  BNN_APPROX_SIGN_GRAD,
  BNN_SCALE_CONCAT,
  BNN_SCALE_SPLIT_GRAD,
  BNN_SIGN,
  BNN_STE_GRAD,
  bnnKernelsRegistered,
  registerBnnKernels,
  unregisterBnnKernels,
} from '../../../core/backend/bnnKernels';
import { registerWasmTrainingKernels } from '../../../core/backend/wasmKernels';
import { initBackend } from '../../../core/backend/backends';
import { quantize, signForward, type QuantizerConfig } from '../../../core/bnn/quantizers';
import {
  createOptimizer,
  FusedAdam,
  optimizerState,
  setLearningRate,
} from '../../../core/training/optimizers';

/** Deterministic values in [-scale, scale) (mulberry32), so failures reproduce. */
function randomValues(size: number, seed: number, scale = 2): Float32Array {
  let state = seed >>> 0;
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    values[i] = (((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1) * scale;
  }
  return values;
}

const CLIPS = [1, 1.25, 1.3];
/** The compiled core/backend/bnnKernels.js beside this test's build. */
const KERNELS_MODULE = path.join(__dirname, '../../../core/backend/bnnKernels.js');

/** The float32 neighbours of v. */
function neighbours(v: number): number[] {
  const f = new Float32Array([v]);
  const bits = new Int32Array(f.buffer);
  const up = new Float32Array(new Int32Array([bits[0] + 1]).buffer)[0];
  const down = new Float32Array(new Int32Array([bits[0] - 1]).buffer)[0];
  return [down, up];
}

/**
 * The edge cases: zeros of both signs, ±clip exactly and the float32 values either side of them,
 * ±1 and ±0.5 (ApproxSign's kink), NaN, ±Infinity, the smallest subnormal.
 */
function specialValues(): number[] {
  const values = [0, -0, NaN, Infinity, -Infinity, 1e-45, -1e-45, 0.5, -0.5, 1, -1, 2, -2];
  for (const clip of CLIPS) {
    for (const c of [clip, -clip]) values.push(c, ...neighbours(c));
  }
  return values;
}

/** Sizes that cover the 4-wide SIMD loop with and without a scalar tail, and a larger one. */
const SIZES = [1, 3, 4, 5, 7, 8, 9, 31, 1000, 64 * 13 * 13 * 32 + 3];

function inputs(size: number, seed: number): Float32Array {
  const values = randomValues(size, seed);
  const specials = specialValues();
  for (let i = 0; i < Math.min(size, specials.length); i++) {
    // Scatter the special values over the array so they hit SIMD lanes and the tail alike.
    values[(i * 7919) % size] = specials[i];
  }
  return values;
}

/** Element-wise identity including NaN and the sign of zero. */
function assertSameBits(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string) {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) {
      assert.fail(`${label}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

/** The tfjs op chains the kernels replace, run on the cpu backend. */
function cpuReference(
  kind: 'sign' | 'ste' | 'approx',
  x: Float32Array,
  dy: Float32Array,
  clip = 1,
) {
  const previous = tf.getBackend();
  void tf.setBackend('cpu'); // synchronous for an initialized backend
  try {
    return tf.tidy(() => {
      const xt = tf.tensor1d(x);
      const dyt = tf.tensor1d(dy);
      switch (kind) {
        case 'sign':
          return tf.sign(tf.add(tf.sign(xt), 0.1)).dataSync() as Float32Array;
        case 'ste':
          return tf.mul(dyt, tf.cast(tf.lessEqual(tf.abs(xt), clip), 'float32')).dataSync();
        case 'approx':
          return tf.mul(dyt, tf.relu(tf.sub(2, tf.mul(tf.abs(xt), 2)))).dataSync();
      }
    }) as Float32Array;
  } finally {
    void tf.setBackend(previous);
  }
}

function onWasm(kernel: string, x: Float32Array, dy: Float32Array, attrs: tf.NamedAttrMap = {}) {
  return tf.tidy(() => {
    const xt = tf.tensor1d(x);
    const dyt = tf.tensor1d(dy);
    const ins: tf.NamedTensorMap = kernel === BNN_SIGN ? { x: xt } : { dy: dyt, x: xt };
    return (tf.engine().runKernel(kernel, ins, attrs) as tf.Tensor).dataSync() as Float32Array;
  });
}

before(async () => {
  const wasmPackage = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  setWasmPaths(path.join(path.dirname(wasmPackage), 'dist') + path.sep);
  // Initialize cpu first: switching between initialized backends is synchronous.
  assert.equal(await tf.setBackend('cpu'), true);
  assert.equal(await tf.setBackend('wasm'), true);
  registerWasmTrainingKernels();
});

/** A 2-D pooling's shape, window, stride and padding, as the pool-gradient tests run them. */
interface PoolCase {
  shape: [number, number, number, number];
  size: number;
  stride: number;
  pad: 'valid' | 'same';
}

/** The gradient of `pool` at `values` for a random dy (seed `dySeed`), computed on `backend`. */
function poolGradient(
  backend: string,
  pool: typeof tf.maxPool,
  values: Float32Array,
  { shape, size, stride, pad }: PoolCase,
  dySeed: number,
): Float32Array {
  const previous = tf.getBackend();
  void tf.setBackend(backend);
  try {
    return tf.tidy(() => {
      const x = tf.tensor4d(values, shape);
      const pooled = pool(x, size, stride, pad);
      const dy = tf.tensor4d(randomValues(pooled.size, dySeed), pooled.shape);
      return tf
        .grad((t: tf.Tensor) => pool(t as tf.Tensor4D, size, stride, pad))(x, dy)
        .dataSync()
        .slice() as Float32Array;
    });
  } finally {
    void tf.setBackend(previous);
  }
}

void describe('BNN Lab C kernels on the wasm backend', () => {
  void it('load the relaxed-SIMD build in Node, and the SIMD128 build with BNN_LAB_RELAXED_SIMD=0', () => {
    // A fresh process each: the build is chosen once per process, on first use.
    const variantIn = (env: NodeJS.ProcessEnv): string =>
      execFileSync(
        process.execPath,
        [
          '-e',
          `process.stdout.write(String(require(${JSON.stringify(KERNELS_MODULE)}).bnnKernelVariant()))`,
        ],
        { env: { ...process.env, ...env }, encoding: 'utf8' },
      );
    assert.equal(variantIn({ BNN_LAB_RELAXED_SIMD: undefined }), 'relaxed-simd');
    assert.equal(variantIn({ BNN_LAB_RELAXED_SIMD: '0' }), 'simd128');
    assert.equal(variantIn({ BNN_LAB_RELAXED_SIMD: 'off' }), 'simd128');
  });

  void it("are named in the engine's backend log line, with their build", async () => {
    const lines: string[] = [];
    await initBackend('wasm', (_level, message) => lines.push(message));
    assert.ok(
      lines.some((line) => line.startsWith('backend: wasm (C kernels: relaxed-simd)')),
      lines.join('\n'),
    );
  });

  void it('are registered by registerWasmTrainingKernels', () => {
    assert.equal(bnnKernelsRegistered(), true);
  });

  void it('BnnSign matches sign(sign(x) + 0.1) on the cpu backend bit for bit (NaN -> +1, -0 -> +1)', () => {
    for (const size of SIZES) {
      const x = inputs(size, size);
      const dy = randomValues(size, size + 1);
      assertSameBits(onWasm(BNN_SIGN, x, dy), cpuReference('sign', x, dy), `sign n=${size}`);
    }
    // A negative subnormal is negative: -1, as on the cpu backend. (The stock wasm Sign
    // returns 0 for subnormals, so the op chain on stock wasm gives +1 there.)
    assertSameBits(
      onWasm(BNN_SIGN, new Float32Array([NaN, -0, 0, -1e-45, 1e-45]), new Float32Array(5)),
      [1, 1, 1, -1, 1],
      'sign specials',
    );
  });

  void it('BnnSteGrad matches dy * (|x| <= clip) bit for bit, at ±clip exactly, NaN and inf dy', () => {
    for (const clip of CLIPS) {
      for (const size of SIZES) {
        const x = inputs(size, size + 2);
        const dy = inputs(size, size + 3);
        assertSameBits(
          onWasm(BNN_STE_GRAD, x, dy, { clip }),
          cpuReference('ste', x, dy, clip),
          `ste clip=${clip} n=${size}`,
        );
      }
    }
    // |x| = clip passes; NaN x passes nothing; inf dy outside the clip gives NaN (inf * 0).
    assertSameBits(
      onWasm(
        BNN_STE_GRAD,
        new Float32Array([1.25, -1.25, NaN, 3, 0, -2]),
        new Float32Array([2, 3, 4, Infinity, -5, -1]),
        { clip: 1.25 },
      ),
      [2, 3, 0, NaN, -5, -0],
      'ste specials',
    );
  });

  void it('BnnApproxSignGrad matches dy * relu(2 - 2|x|) bit for bit (NaN x -> NaN)', () => {
    for (const size of SIZES) {
      const x = inputs(size, size + 4);
      const dy = inputs(size, size + 5);
      assertSameBits(
        onWasm(BNN_APPROX_SIGN_GRAD, x, dy),
        cpuReference('approx', x, dy),
        `approx n=${size}`,
      );
    }
    assertSameBits(
      onWasm(
        BNN_APPROX_SIGN_GRAD,
        new Float32Array([0, 0.5, -1, NaN]),
        new Float32Array([1, 1, 1, 1]),
      ),
      [2, 1, 0, NaN],
      'approx specials',
    );
  });

  void it('reject mismatched shapes, non-float inputs and a missing clip', () => {
    const x = tf.zeros([4]);
    const dy = tf.zeros([5]);
    assert.throws(() => tf.engine().runKernel(BNN_STE_GRAD, { dy, x }, { clip: 1 }), /shape/);
    assert.throws(() => tf.engine().runKernel(BNN_STE_GRAD, { dy: x, x }, {}), /clip/);
    const ints = tf.zeros([4], 'int32');
    assert.throws(() => tf.engine().runKernel(BNN_SIGN, { x: ints }, {}), /float32/);
    tf.dispose([x, dy, ints]);
  });

  void it('handle empty tensors', () => {
    const x = tf.zeros([0, 3]);
    const out = tf.engine().runKernel(BNN_SIGN, { x }, {}) as tf.Tensor;
    assert.deepEqual(out.shape, [0, 3]);
    tf.dispose([x, out]);
  });

  void it('quantize() gives the same values and gradients with and without the kernels', () => {
    const quantizers: QuantizerConfig[] = [
      { kind: 'ste_sign', clip: 1 },
      { kind: 'ste_sign', clip: 1.25 },
      { kind: 'ste_sign', clip: null },
      { kind: 'approx_sign', clip: 1 },
      { kind: 'magnitude_aware_sign', clip: 1 },
      { kind: 'swish_sign', clip: null },
    ];
    const size = 3 * 3 * 8 * 16;
    // Without subnormals: the stock wasm Sign flushes them to 0 (so sgn gives +1 for a negative
    // subnormal), where the C kernel and the cpu backend give -1 (see the BnnSign test).
    const values = inputs(size, 11).map((v) => (v !== 0 && Math.abs(v) < 1.2e-38 ? 0.25 : v));
    const x = tf.tensor4d(values, [3, 3, 8, 16]);
    const dy = tf.tensor4d(randomValues(size, 12), [3, 3, 8, 16]);
    const run = (q: QuantizerConfig) =>
      tf.tidy(() => {
        const value = quantize(x, q).dataSync().slice() as Float32Array;
        const grad = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(quantize(t, q), dy)))(x);
        return { value, grad: grad.dataSync().slice() as Float32Array };
      });
    try {
      for (const q of quantizers) {
        const fused = run(q);
        unregisterBnnKernels();
        const plain = run(q);
        assert.equal(registerBnnKernels(), undefined);
        assertSameBits(fused.value, plain.value, `${q.kind} value`);
        assertSameBits(fused.grad, plain.grad, `${q.kind} gradient`);
      }
    } finally {
      registerBnnKernels();
      tf.dispose([x, dy]);
    }
  });

  void it('BnnSign has a zero gradient, as sign(sign(x) + 0.1) does', () => {
    const x = tf.tensor1d([-2, -0.5, 0, 0.5, 2]);
    const fused = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(signForward(t), 3)))(x);
    assert.deepEqual(Array.from(fused.dataSync()), [0, 0, 0, 0, 0]);
    tf.dispose([x, fused]);
  });

  void it('signForward uses the kernel on wasm and the ops without it', () => {
    const x = tf.tensor1d([-2, -0, 0, NaN, 3]);
    const fused = signForward(x);
    unregisterBnnKernels();
    const plain = signForward(x);
    registerBnnKernels();
    assertSameBits(fused.dataSync(), plain.dataSync(), 'signForward');
    tf.dispose([x, fused, plain]);
  });

  void it('MaxPoolGrad in C matches the JavaScript loop and the cpu backend (ties, NaN, -inf, padding, overlap)', () => {
    const cases: PoolCase[] = [
      { shape: [2, 8, 8, 4], size: 2, stride: 2, pad: 'valid' },
      { shape: [3, 7, 9, 5], size: 2, stride: 2, pad: 'same' },
      { shape: [2, 9, 7, 6], size: 3, stride: 2, pad: 'same' },
      { shape: [1, 6, 6, 3], size: 3, stride: 1, pad: 'same' },
      { shape: [2, 5, 5, 9], size: 3, stride: 1, pad: 'valid' },
      { shape: [1, 4, 4, 1], size: 2, stride: 2, pad: 'valid' },
    ];
    for (const [n, { shape, size, stride, pad }] of cases.entries()) {
      const count = shape.reduce((a, b) => a * b, 1);
      // Values on a coarse grid so windows have ties; some NaN and -inf; negative windows.
      const values = randomValues(count, 100 + n).map((v) => Math.round(v * 2) / 2 - 0.75);
      for (let i = 0; i < count; i += 11) values[i] = NaN;
      for (let i = 5; i < count; i += 13) values[i] = -Infinity;
      const grad = (on: string) => poolGradient(on, tf.maxPool, values, cases[n], 200 + n);
      const inC = grad('wasm');
      unregisterBnnKernels();
      const inJs = grad('wasm');
      registerBnnKernels();
      const label = `maxPoolGrad ${shape.join('x')} ${size}/${stride} ${pad}`;
      assertSameBits(inC, inJs, `${label}: C vs JavaScript`);
      const onCpu = grad('cpu');
      for (let i = 0; i < onCpu.length; i++) {
        // The cpu backend sums in a different order where windows overlap.
        if (!(Math.abs(inC[i] - onCpu[i]) <= 1e-5 * Math.max(1, Math.abs(onCpu[i])))) {
          assert.fail(`${label}: element ${i} is ${inC[i]}, cpu backend ${onCpu[i]}`);
        }
      }
    }
  });

  void it('AvgPoolGrad in C matches the stock wasm kernel and the cpu backend (padding, overlap)', () => {
    const cases: PoolCase[] = [
      // ResNetE's shortcut: 2x2/2 on an even image, channels a multiple of 4.
      { shape: [2, 8, 8, 16], size: 2, stride: 2, pad: 'valid' },
      { shape: [3, 7, 9, 5], size: 2, stride: 2, pad: 'same' },
      { shape: [2, 9, 7, 6], size: 3, stride: 2, pad: 'same' },
      { shape: [1, 6, 6, 3], size: 3, stride: 1, pad: 'same' },
      { shape: [2, 5, 5, 9], size: 3, stride: 1, pad: 'valid' },
      { shape: [1, 7, 7, 2], size: 2, stride: 2, pad: 'valid' },
    ];
    for (const [n, { shape, size, stride, pad }] of cases.entries()) {
      const values = randomValues(
        shape.reduce((a, b) => a * b, 1),
        300 + n,
      );
      const grad = (on: string) => poolGradient(on, tf.avgPool, values, cases[n], 400 + n);
      const label = `avgPoolGrad ${shape.join('x')} ${size}/${stride} ${pad}`;
      const inC = grad('wasm');
      unregisterBnnKernels();
      const stock = grad('wasm');
      registerBnnKernels();
      const onCpu = grad('cpu');
      for (const [other, name] of [
        [stock, 'stock wasm kernel'],
        [onCpu, 'cpu backend'],
      ] as const) {
        assert.equal(inC.length, other.length);
        for (let i = 0; i < other.length; i++) {
          // Windows that overlap sum in another order; apart, the values are the same bits.
          const bound = stride >= size ? 0 : 1e-6 * Math.max(1, Math.abs(other[i]));
          if (!(Math.abs(inC[i] - other[i]) <= bound)) {
            assert.fail(`${label}: element ${i} is ${inC[i]}, ${name} ${other[i]}`);
          }
        }
      }
      assert.ok(
        inC.some((v) => v !== 0),
        `${label}: a gradient with nonzero values`,
      );
    }
  });

  void it("BnnScaleConcat and BnnScaleSplitGrad match a DenseNet batch norm's concat · γ + β and its gradient on the cpu backend, bit for bit", () => {
    // [leading shape, part widths]: DenseNet's 64-channel growth, odd widths (SIMD tails), an
    // empty part, a single part, and no rows.
    const cases: [number[], number[]][] = [
      [
        [2, 3, 3],
        [64, 64, 16],
      ],
      [[5], [3, 4, 5, 1]],
      [
        [7, 2],
        [0, 9],
      ],
      [[4], [6]],
      [
        [0, 3],
        [4, 4],
      ],
    ];
    for (const [i, [lead, widths]] of cases.entries()) {
      const channels = widths.reduce((a, b) => a + b, 0);
      const rows = lead.reduce((a, b) => a * b, 1);
      const parts = widths.map((w, j) => randomValues(rows * w, 2000 + 10 * i + j));
      const gamma = randomValues(channels, 2100 + i);
      const beta = randomValues(channels, 2200 + i);
      const dy = randomValues(rows * channels, 2300 + i);
      const label = `[${lead}] × [${widths}]`;
      // The tfjs ops that scaleParts ran before: concat, mul, add; split, mul, and the sums.
      const reference = () =>
        tf.tidy(() => {
          const xs = parts.map((v, j) => tf.tensor(v, [...lead, widths[j]]));
          const g = tf.tensor1d(gamma);
          const y = tf.add(tf.mul(tf.concat(xs, -1), g), tf.tensor1d(beta));
          const dyt = tf.tensor(dy, [...lead, channels]);
          const dys = tf.split(dyt, widths, -1);
          const gammas = tf.split(g, widths, 0);
          const flat = (t: tf.Tensor) =>
            tf.reshape(t, [rows, t.shape[t.shape.length - 1] as number]);
          return {
            y: y.dataSync() as Float32Array,
            dxs: dys.map((d, j) => tf.mul(d, gammas[j]).dataSync() as Float32Array),
            dGamma: tf.sum(tf.mul(flat(dyt), flat(tf.concat(xs, -1))), 0).dataSync(),
            dBeta: tf.sum(flat(dyt), 0).dataSync(),
          };
        });
      void tf.setBackend('cpu');
      const expected = reference();
      void tf.setBackend('wasm');
      const actual = tf.tidy(() => {
        const named = Object.fromEntries(
          parts.map((v, j) => [`x${j}`, tf.tensor(v, [...lead, widths[j]])]),
        );
        const g = tf.tensor1d(gamma);
        const y = tf.engine().runKernel(BNN_SCALE_CONCAT, {
          ...named,
          gamma: g,
          beta: tf.tensor1d(beta),
        }) as tf.Tensor;
        assert.deepEqual(y.shape, [...lead, channels], `${label}: shape of y`);
        const grads = tf.engine().runKernel(BNN_SCALE_SPLIT_GRAD, {
          dy: tf.tensor(dy, [...lead, channels]),
          ...named,
          gamma: g,
        }) as tf.Tensor[];
        grads
          .slice(0, -2)
          .forEach((d, j) =>
            assert.deepEqual(d.shape, [...lead, widths[j]], `${label}: shape of dx${j}`),
          );
        const data = grads.map((t) => t.dataSync() as Float32Array);
        return {
          y: y.dataSync() as Float32Array,
          dxs: data.slice(0, -2),
          dGamma: data[data.length - 2],
          dBeta: data[data.length - 1],
        };
      });
      assertSameBits(actual.y, expected.y, `${label}: y`);
      actual.dxs.forEach((d, j) => assertSameBits(d, expected.dxs[j], `${label}: dx${j}`));
      assertSameBits(actual.dGamma, expected.dGamma, `${label}: dγ`);
      assertSameBits(actual.dBeta, expected.dBeta, `${label}: dβ`);
    }
    // Parts that do not line up, and a γ of the wrong width, are refused by name.
    tf.tidy(() => {
      const x0 = tf.zeros([2, 3]);
      assert.throws(
        () =>
          tf.engine().runKernel(BNN_SCALE_CONCAT, {
            x0,
            x1: tf.zeros([3, 3]),
            gamma: tf.zeros([6]),
            beta: tf.zeros([6]),
          }),
        /'x1' has shape \[3,3\], 'x0' has \[2,3\]/,
      );
      assert.throws(
        () =>
          tf
            .engine()
            .runKernel(BNN_SCALE_CONCAT, { x0, gamma: tf.zeros([4]), beta: tf.zeros([3]) }),
        /'gamma' has shape \[4\], expected \[3\]/,
      );
    });
  });

  void it('keep the tensor count and the wasm heap use flat over repeated gradient steps', () => {
    const w = tf.variable(tf.randomUniform([3, 3, 16, 32], -1.5, 1.5, 'float32', 7));
    const a = tf.randomUniform([8, 12, 12, 16], -2, 2, 'float32', 8);
    const q: QuantizerConfig = { kind: 'ste_sign', clip: 1.25 };
    const optimizer = tf.train.sgd(0.01);
    const step = () =>
      optimizer.minimize(() => {
        const y = tf.conv2d(
          quantize(a, { kind: 'approx_sign', clip: 1 }) as tf.Tensor4D,
          quantize(w, q) as tf.Tensor4D,
          1,
          'same',
        );
        return tf.mean(tf.square(y));
      });
    step();
    const before = tf.memory();
    for (let i = 0; i < 20; i++) step();
    const after = tf.memory();
    assert.equal(after.numTensors, before.numTensors);
    assert.equal(after.numBytes, before.numBytes);
    tf.dispose([w, a]);
    optimizer.dispose();
  });
  void it('FusedAdam updates weights, moments and state as tf.train.adam does, bit for bit', async () => {
    // Variables of several sizes (SIMD loop and scalar tail), gradients over many magnitudes,
    // a learning-rate change mid-way (the trainer's schedules), one variable without a gradient.
    const shapes = [[3, 3, 5, 7], [13], [1], [64, 10]];
    const make = () =>
      shapes.map((shape, i) =>
        tf.variable(tf.tensor(randomValues(tf.util.sizeFromShape(shape), 40 + i), shape)),
      );
    const stock = tf.train.adam(0.01);
    const fused = createOptimizer({ learningRate: 0.01, optimizer: 'adam' });
    assert.ok(fused instanceof FusedAdam);
    const [a, b] = [make(), make()];
    for (let step = 0; step < 12; step++) {
      if (step === 6) {
        setLearningRate(stock, 0.003);
        setLearningRate(fused, 0.003);
      }
      const scale = 10 ** ((step % 5) - 3);
      const grads = (vars: tf.Variable[]) =>
        vars.map((v, i) =>
          i === 2 && step % 3 === 0
            ? null
            : tf.tensor(randomValues(v.size, 100 * step + i, scale), v.shape),
        );
      const apply = (opt: tf.Optimizer, vars: tf.Variable[]) => {
        const g = grads(vars);
        // A missing gradient keeps its place in the list (as minimize passes it), as null.
        const named = vars.map((v, i) => ({ name: v.name, tensor: g[i] as tf.Tensor }));
        opt.applyGradients(named);
        tf.dispose(g.filter((t): t is tf.Tensor => t !== null));
      };
      apply(stock, a);
      apply(fused, b);
    }
    for (const [i, v] of a.entries()) {
      assert.deepEqual(Array.from(b[i].dataSync()), Array.from(v.dataSync()), `variable ${i}`);
    }
    const [ws, wf] = [await stock.getWeights(), await fused.getWeights()];
    assert.equal(wf.length, ws.length);
    for (const [i, nt] of ws.entries()) {
      // The slots are named after the variables (auto-numbered here): compare what follows.
      assert.equal(wf[i].name.replace(/^.*\//, ''), nt.name.replace(/^.*\//, ''));
      assert.deepEqual(Array.from(wf[i].tensor.dataSync()), Array.from(nt.tensor.dataSync()));
    }
    const [ss, sf] = [await optimizerState(stock), await optimizerState(fused)];
    assert.deepEqual(
      sf.filter((e) => e.name.startsWith('optimizer-internal/')),
      ss.filter((e) => e.name.startsWith('optimizer-internal/')),
    );
    assert.equal(fused.getClassName(), 'Adam');
    tf.dispose([...a, ...b]);
    stock.dispose();
    fused.dispose();
  });

  void it("FusedAdam runs tfjs' own update without the C kernels", () => {
    unregisterBnnKernels();
    try {
      const v = tf.variable(tf.tensor1d([0.5, -1, 2]));
      const optimizer = new FusedAdam(0.1, 0.9, 0.999);
      const before = tf.memory().numTensors;
      optimizer.applyGradients([{ name: v.name, tensor: tf.tensor1d([1, -1, 0]) }]);
      // tfjs' first Adam step moves every weight with a nonzero gradient by the learning rate.
      const moved = Array.from(v.dataSync());
      assert.ok(Math.abs(moved[0] - 0.4) < 1e-6 && Math.abs(moved[1] + 0.9) < 1e-6, `${moved}`);
      assert.equal(moved[2], 2);
      assert.ok(tf.memory().numTensors >= before);
      v.dispose();
      optimizer.dispose();
    } finally {
      registerBnnKernels();
    }
  });
});
