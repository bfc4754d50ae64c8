import assert from 'node:assert/strict';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '../../../core/tf';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { registerBnnKernels, unregisterBnnKernels } from '../../../core/backend/bnnKernels';
import { registerWasmTrainingKernels } from '../../../core/backend/wasmKernels';

type Shape4 = [number, number, number, number];
type Padding = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];

/** Deterministic values in [-1, 1) (mulberry32), so failures reproduce. */
function randomValues(size: number, seed: number): Float32Array {
  let state = seed >>> 0;
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    values[i] = ((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1;
  }
  return values;
}

/**
 * Asserts |actual - expected| <= tolerance * max(1, max |expected|) elementwise, i.e. an error
 * relative to the scale of the whole result, which is what float32 summation order changes.
 */
function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  label: string,
  tolerance = 1e-4,
): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  let scale = 1;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i] - expected[i]);
    if (!(error <= tolerance * scale)) {
      assert.fail(
        `${label}: element ${i} is ${actual[i]}, expected ${expected[i]} (scale ${scale})`,
      );
    }
  }
}

async function onBackend<T>(name: string, fn: () => T): Promise<T> {
  await tf.setBackend(name);
  return fn();
}

function pair(value: number | [number, number]): [number, number] {
  return typeof value === 'number' ? [value, value] : value;
}

/** Per-side padding and output size of a forward conv, from tfjs's own shape logic. */
function convGeometry(
  xShape: Shape4,
  filterShape: Shape4,
  strides: number,
  dilations: number,
  pad: Padding,
) {
  return tf.backend_util.computeConv2DInfo(xShape, filterShape, strides, dilations, pad);
}

/** Direct-loop reference gradients of conv2d (NHWC), used where cpu lacks dilation support. */
function referenceGrads(
  x: Float32Array,
  xShape: Shape4,
  filter: Float32Array,
  filterShape: Shape4,
  dy: Float32Array,
  strides: number,
  dilations: number,
  pad: Padding,
): { dx: Float64Array; dw: Float64Array } {
  const info = convGeometry(xShape, filterShape, strides, dilations, pad);
  const [batch, inHeight, inWidth, inChannels] = xShape;
  const [filterHeight, filterWidth, , outChannels] = filterShape;
  const [strideH, strideW] = pair(strides);
  const [dilationH, dilationW] = pair(dilations);
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(filter.length);
  for (let b = 0; b < batch; b++) {
    for (let oh = 0; oh < info.outHeight; oh++) {
      for (let ow = 0; ow < info.outWidth; ow++) {
        for (let kh = 0; kh < filterHeight; kh++) {
          const ih = oh * strideH + kh * dilationH - info.padInfo.top;
          if (ih < 0 || ih >= inHeight) continue;
          for (let kw = 0; kw < filterWidth; kw++) {
            const iw = ow * strideW + kw * dilationW - info.padInfo.left;
            if (iw < 0 || iw >= inWidth) continue;
            for (let ci = 0; ci < inChannels; ci++) {
              const xIndex = ((b * inHeight + ih) * inWidth + iw) * inChannels + ci;
              for (let co = 0; co < outChannels; co++) {
                const g = dy[((b * info.outHeight + oh) * info.outWidth + ow) * outChannels + co];
                const wIndex = ((kh * filterWidth + kw) * inChannels + ci) * outChannels + co;
                dx[xIndex] += g * filter[wIndex];
                dw[wIndex] += g * x[xIndex];
              }
            }
          }
        }
      }
    }
  }
  return { dx, dw };
}

/** Direct-loop reference gradients of depthwiseConv2d (NHWC, filter `[kh, kw, c, m]`). */
function referenceDepthwiseGrads(
  x: Float32Array,
  xShape: Shape4,
  filter: Float32Array,
  filterShape: Shape4,
  dy: Float32Array,
  strides: number,
  dilations: number,
  pad: Padding,
): { dx: Float64Array; dw: Float64Array } {
  const info = tf.backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    strides,
    dilations,
    pad,
    undefined,
    true,
  );
  const [batch, inHeight, inWidth, channels] = xShape;
  const [filterHeight, filterWidth, , multiplier] = filterShape;
  const [strideH, strideW] = pair(strides);
  const [dilationH, dilationW] = pair(dilations);
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(filter.length);
  for (let b = 0; b < batch; b++) {
    for (let oh = 0; oh < info.outHeight; oh++) {
      for (let ow = 0; ow < info.outWidth; ow++) {
        for (let kh = 0; kh < filterHeight; kh++) {
          const ih = oh * strideH + kh * dilationH - info.padInfo.top;
          if (ih < 0 || ih >= inHeight) continue;
          for (let kw = 0; kw < filterWidth; kw++) {
            const iw = ow * strideW + kw * dilationW - info.padInfo.left;
            if (iw < 0 || iw >= inWidth) continue;
            for (let c = 0; c < channels; c++) {
              const xIndex = ((b * inHeight + ih) * inWidth + iw) * channels + c;
              for (let m = 0; m < multiplier; m++) {
                const dyIndex =
                  ((b * info.outHeight + oh) * info.outWidth + ow) * channels * multiplier +
                  c * multiplier +
                  m;
                const wIndex = ((kh * filterWidth + kw) * channels + c) * multiplier + m;
                dx[xIndex] += dy[dyIndex] * filter[wIndex];
                dw[wIndex] += dy[dyIndex] * x[xIndex];
              }
            }
          }
        }
      }
    }
  }
  return { dx, dw };
}

/** `sgn` (zero to +1) with the clipped straight-through gradient, as BNN layers use it. */
const signSte = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const x = args[0] as tf.Tensor;
  const save = args[1] as tf.GradSaveFunc;
  save([x]);
  return {
    value: tf.sign(tf.add(tf.sign(x), 0.1)),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
      tf.mul(dy, tf.cast(tf.lessEqual(tf.abs(saved[0]), 1), 'float32')),
    ],
  };
});

/** 3x3 'same' convolution of binarized input and weights. */
class SignConv2D extends tf.layers.Layer {
  static readonly className = 'TestSignConv2D';
  private latentWeights: tf.LayerVariable | undefined;

  constructor(
    private readonly filters: number,
    private readonly seed: number,
  ) {
    super({});
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const inChannels = (inputShape as tf.Shape)[3] as number;
    this.latentWeights = this.addWeight(
      'kernel',
      [3, 3, inChannels, this.filters],
      'float32',
      tf.initializers.glorotUniform({ seed: this.seed }),
    );
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const [batch, height, width] = inputShape as tf.Shape;
    return [batch, height, width, this.filters];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (this.latentWeights === undefined) {
        throw new Error('SignConv2D: not built');
      }
      const binaryWeights = signSte(this.latentWeights.read()) as tf.Tensor4D;
      return tf.conv2d(signSte(x) as tf.Tensor4D, binaryWeights, 1, 'same');
    });
  }
}

interface ConvCase {
  xShape: Shape4;
  filterShape: Shape4;
  strides: number;
  pad: Padding;
}

/**
 * dx and dW of case `c` straight from the registered `Conv2DBackpropInput` and
 * `Conv2DBackpropFilter` kernels (no gradient tape, so any dilation works).
 */
function kernelGradients(
  c: ConvCase,
  dilations: number,
  x: Float32Array,
  filter: Float32Array,
  dy: Float32Array,
): [Float32Array, Float32Array] {
  return tf.tidy(() => {
    const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dilations };
    const outShape = convGeometry(c.xShape, c.filterShape, c.strides, dilations, c.pad).outShape;
    const dyTensor = tf.tensor4d(dy, outShape);
    const engine = tf.engine();
    const dx = engine.runKernel(
      'Conv2DBackpropInput',
      { dy: dyTensor, filter: tf.tensor4d(filter, c.filterShape) },
      { ...attrs, inputShape: c.xShape },
    ) as tf.Tensor;
    const dw = engine.runKernel(
      'Conv2DBackpropFilter',
      { x: tf.tensor4d(x, c.xShape), dy: dyTensor },
      { ...attrs, filterShape: c.filterShape },
    ) as tf.Tensor;
    return [dx.dataSync() as Float32Array, dw.dataSync() as Float32Array];
  });
}

function describeCase(c: ConvCase, dilations = 1): string {
  const pad = typeof c.pad === 'string' ? c.pad : JSON.stringify(c.pad.slice(1, 3));
  return `x[${c.xShape}] w[${c.filterShape}] s${c.strides} d${dilations} ${pad}`;
}

const explicitPads: Padding = [
  [0, 0],
  [1, 2],
  [0, 1],
  [0, 0],
];

/** Shapes x strides x paddings, with odd sizes, batch 1 and > 1, 1x1 and non-square filters. */
const grid: ConvCase[] = [];
for (const [xShape, filterShape] of [
  [
    [1, 5, 5, 1],
    [3, 3, 1, 2],
  ],
  [
    [2, 7, 6, 3],
    [3, 3, 3, 4],
  ],
  [
    [3, 8, 8, 2],
    [2, 3, 2, 5],
  ],
  [
    [2, 9, 7, 4],
    [1, 1, 4, 3],
  ],
  [
    [1, 6, 9, 5],
    [5, 4, 5, 2],
  ],
  // Output channels past 8 and 4 (the C filter gradient's SIMD blocks and tails), filter taps
  // not a multiple of 4.
  [
    [2, 6, 7, 3],
    [3, 3, 3, 13],
  ],
  [
    [1, 5, 6, 8],
    [2, 2, 8, 16],
  ],
] as [Shape4, Shape4][]) {
  for (const strides of [1, 2]) {
    for (const pad of ['same', 'valid', explicitPads] as Padding[]) {
      grid.push({ xShape, filterShape, strides, pad });
    }
  }
}

// node:test schedules and reports suites itself; the promises describe/it return only mirror that.
void describe('wasm training kernels', () => {
  before(async () => {
    const wasmPackage = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
    setWasmPaths(path.join(path.dirname(wasmPackage), 'dist') + path.sep);
    await tf.setBackend('wasm');
    registerWasmTrainingKernels();
    registerWasmTrainingKernels();
  });

  void it('match the cpu backend for conv2d gradients over strides, paddings and shapes', async () => {
    for (const [i, c] of grid.entries()) {
      const x = randomValues(tf.util.sizeFromShape(c.xShape), 3 * i + 1);
      const filter = randomValues(tf.util.sizeFromShape(c.filterShape), 3 * i + 2);
      const info = convGeometry(c.xShape, c.filterShape, c.strides, 1, c.pad);
      const dy = randomValues(tf.util.sizeFromShape(info.outShape), 3 * i + 3);
      const gradients = () =>
        tf.tidy(() => {
          const f = (a: tf.Tensor, w: tf.Tensor) =>
            tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, c.strides, c.pad);
          const inputs = [tf.tensor4d(x, c.xShape), tf.tensor4d(filter, c.filterShape)];
          const [dx, dw] = tf.grads(f)(inputs, tf.tensor4d(dy, info.outShape));
          return [f(inputs[0], inputs[1]).dataSync(), dx.dataSync(), dw.dataSync()];
        });
      const [cpuY, cpuDx, cpuDw] = await onBackend('cpu', gradients);
      const [wasmY, wasmDx, wasmDw] = await onBackend('wasm', gradients);
      assertClose(wasmY, cpuY, `y ${describeCase(c)}`);
      assertClose(wasmDx, cpuDx, `dx ${describeCase(c)}`);
      assertClose(wasmDw, cpuDw, `dW ${describeCase(c)}`);
    }
  });

  void it('compute both gradients without the C kernels too (XNNPACK path)', async () => {
    await tf.setBackend('wasm');
    unregisterBnnKernels();
    try {
      for (const [i, c] of grid.entries()) {
        const x = randomValues(tf.util.sizeFromShape(c.xShape), 3 * i + 1);
        const filter = randomValues(tf.util.sizeFromShape(c.filterShape), 3 * i + 2);
        const info = convGeometry(c.xShape, c.filterShape, c.strides, 1, c.pad);
        const dy = randomValues(tf.util.sizeFromShape(info.outShape), 3 * i + 3);
        const gradients = () => kernelGradients(c, 1, x, filter, dy);
        const withoutC = gradients();
        registerBnnKernels();
        const withC = gradients();
        unregisterBnnKernels();
        assertClose(withoutC[0], withC[0], `dx without C kernels ${describeCase(c)}`);
        assertClose(withoutC[1], withC[1], `dW without C kernels ${describeCase(c)}`);
      }
    } finally {
      registerBnnKernels();
    }
  });

  void it('match the cpu backend for strides 3 and unequal strides', async () => {
    const cases: [Shape4, Shape4, [number, number], Padding][] = [
      [[2, 10, 11, 3], [3, 3, 3, 4], [3, 3], 'same'],
      [[1, 9, 8, 2], [2, 2, 2, 3], [3, 3], 'valid'],
      [[2, 8, 9, 2], [3, 2, 2, 3], [2, 1], 'same'],
      [[1, 7, 10, 3], [2, 3, 3, 2], [1, 3], explicitPads],
      [[2, 9, 9, 2], [4, 4, 2, 2], [2, 3], 'valid'],
    ];
    for (const [i, [xShape, filterShape, strides, pad]] of cases.entries()) {
      const x = randomValues(tf.util.sizeFromShape(xShape), 1600 + i);
      const filter = randomValues(tf.util.sizeFromShape(filterShape), 1700 + i);
      const info = tf.backend_util.computeConv2DInfo(xShape, filterShape, strides, 1, pad);
      const dy = randomValues(tf.util.sizeFromShape(info.outShape), 1800 + i);
      const gradients = () =>
        tf.tidy(() => {
          const f = (a: tf.Tensor, w: tf.Tensor) =>
            tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, strides, pad);
          const inputs = [tf.tensor4d(x, xShape), tf.tensor4d(filter, filterShape)];
          const [dx, dw] = tf.grads(f)(inputs, tf.tensor4d(dy, info.outShape));
          return [f(inputs[0], inputs[1]).dataSync(), dx.dataSync(), dw.dataSync()];
        });
      const [cpuY, cpuDx, cpuDw] = await onBackend('cpu', gradients);
      const [wasmY, wasmDx, wasmDw] = await onBackend('wasm', gradients);
      const label = `x[${xShape}] w[${filterShape}] s[${strides}] ${JSON.stringify(pad)}`;
      assertClose(wasmY, cpuY, `y ${label}`);
      assertClose(wasmDx, cpuDx, `dx ${label}`);
      assertClose(wasmDw, cpuDw, `dW ${label}`);
    }
  });

  void it('handle dilation 2 in direct kernel calls, with and without the C kernels (checked against a loop reference)', async () => {
    await tf.setBackend('wasm');
    const cases: ConvCase[] = [
      { xShape: [2, 9, 8, 3], filterShape: [3, 3, 3, 4], strides: 1, pad: 'same' },
      { xShape: [1, 10, 9, 2], filterShape: [3, 2, 2, 3], strides: 1, pad: 'valid' },
      { xShape: [2, 11, 10, 2], filterShape: [3, 3, 2, 2], strides: 2, pad: 'same' },
      { xShape: [1, 9, 12, 3], filterShape: [2, 3, 3, 2], strides: 2, pad: explicitPads },
    ];
    for (const [i, c] of cases.entries()) {
      const dilations = 2;
      const x = randomValues(tf.util.sizeFromShape(c.xShape), 100 + i);
      const filter = randomValues(tf.util.sizeFromShape(c.filterShape), 200 + i);
      const info = convGeometry(c.xShape, c.filterShape, c.strides, dilations, c.pad);
      const dy = randomValues(tf.util.sizeFromShape(info.outShape), 300 + i);
      const reference = referenceGrads(
        x,
        c.xShape,
        filter,
        c.filterShape,
        dy,
        c.strides,
        dilations,
        c.pad,
      );
      for (const withC of [true, false]) {
        if (!withC) unregisterBnnKernels();
        const [dx, dw] = kernelGradients(c, dilations, x, filter, dy);
        registerBnnKernels();
        const path = withC ? 'C kernels' : 'XNNPACK';
        assertClose(dx, reference.dx, `dx ${describeCase(c, dilations)} (${path})`);
        assertClose(dw, reference.dw, `dW ${describeCase(c, dilations)} (${path})`);
      }
    }
  });

  void it('run dilated and strided forward convolutions like the cpu backend', async () => {
    const cases: [Shape4, Shape4, number, number, Padding][] = [
      [[2, 9, 8, 3], [3, 3, 3, 9], 1, 2, 'same'],
      [[1, 10, 9, 2], [3, 2, 2, 5], 1, 2, 'valid'],
      [[2, 11, 10, 6], [3, 3, 6, 12], 2, 1, 'same'],
      [[1, 9, 12, 3], [2, 3, 3, 8], 2, 1, explicitPads],
    ];
    for (const [i, [xShape, filterShape, strides, dilations, pad]] of cases.entries()) {
      const x = randomValues(tf.util.sizeFromShape(xShape), 1900 + i);
      const filter = randomValues(tf.util.sizeFromShape(filterShape), 2000 + i);
      const forward = () =>
        tf.tidy(() =>
          tf
            .conv2d(
              tf.tensor4d(x, xShape),
              tf.tensor4d(filter, filterShape),
              strides,
              pad,
              'NHWC',
              dilations,
            )
            .dataSync(),
        );
      const label = `x[${xShape}] w[${filterShape}] s${strides} d${dilations} ${JSON.stringify(pad)}`;
      assertClose(await onBackend('wasm', forward), await onBackend('cpu', forward), `y ${label}`);
    }
  });

  void it('run a fused conv2d without bias or activation as conv2d, and one with a bias on the stock kernel', async () => {
    // tfjs-layers' conv2d layers call the fused op; without a bias it must be the plain
    // convolution (the same C kernel, so the same bits), with one the stock kernel's result.
    const cases: [Shape4, Shape4, number, Padding][] = [
      [[2, 8, 8, 48], [1, 1, 48, 20], 1, 'valid'],
      [[3, 7, 6, 5], [3, 3, 5, 7], 2, 'same'],
      [[1, 5, 5, 64], [1, 1, 64, 96], 1, 'same'],
    ];
    for (const [i, [xShape, filterShape, strides, pad]] of cases.entries()) {
      const x = randomValues(tf.util.sizeFromShape(xShape), 700 + i);
      const filter = randomValues(tf.util.sizeFromShape(filterShape), 800 + i);
      const bias = randomValues(filterShape[3], 900 + i);
      const label = `x[${xShape}] w[${filterShape}] s${strides} ${JSON.stringify(pad)}`;
      const run = (withBias: boolean) =>
        tf.tidy(() =>
          tf.fused
            .conv2d({
              x: tf.tensor4d(x, xShape),
              filter: tf.tensor4d(filter, filterShape),
              strides,
              pad,
              ...(withBias ? { bias: tf.tensor1d(bias) } : {}),
            })
            .dataSync(),
        );
      const plain = () =>
        tf.tidy(() =>
          tf
            .conv2d(tf.tensor4d(x, xShape), tf.tensor4d(filter, filterShape), strides, pad)
            .dataSync(),
        );
      await tf.setBackend('wasm');
      assert.deepEqual(run(false), plain(), `fused without bias = conv2d, ${label}`);
      const withBias = run(true);
      const reference = await onBackend('cpu', () => run(true));
      assertClose(withBias, reference, `fused with bias, ${label}`);
      // The gradients go through the fused op's own gradient (the C gradient kernels).
      await tf.setBackend('wasm');
      const grads = () =>
        tf.tidy(() =>
          tf
            .grads((a: tf.Tensor, w: tf.Tensor) =>
              tf.fused.conv2d({ x: a as tf.Tensor4D, filter: w as tf.Tensor4D, strides, pad }),
            )([tf.tensor4d(x, xShape), tf.tensor4d(filter, filterShape)])
            .map((t) => t.dataSync()),
        );
      const [dx, dw] = grads();
      const [cpuDx, cpuDw] = await onBackend('cpu', grads);
      assertClose(dx, cpuDx, `dx ${label}`);
      assertClose(dw, cpuDw, `dW ${label}`);
    }
  });

  void it('agree with the loop reference used for dilation when dilation is 1', () => {
    const c: ConvCase = {
      xShape: [2, 7, 6, 3],
      filterShape: [3, 2, 3, 2],
      strides: 2,
      pad: 'same',
    };
    const x = randomValues(tf.util.sizeFromShape(c.xShape), 7);
    const filter = randomValues(tf.util.sizeFromShape(c.filterShape), 8);
    const info = convGeometry(c.xShape, c.filterShape, c.strides, 1, c.pad);
    const dy = randomValues(tf.util.sizeFromShape(info.outShape), 9);
    const reference = referenceGrads(x, c.xShape, filter, c.filterShape, dy, c.strides, 1, c.pad);
    const [dx, dw] = tf.tidy(() =>
      tf
        .grads((a: tf.Tensor, w: tf.Tensor) =>
          tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, c.strides, c.pad),
        )(
          [tf.tensor4d(x, c.xShape), tf.tensor4d(filter, c.filterShape)],
          tf.tensor4d(dy, info.outShape),
        )
        .map((t) => t.dataSync()),
    );
    assertClose(dx, reference.dx, 'dx');
    assertClose(dw, reference.dw, 'dW');
  });

  void it('match the cpu backend for depthwiseConv2d gradients', async () => {
    const shapes: [Shape4, Shape4][] = [
      [
        [1, 5, 5, 1],
        [3, 3, 1, 1],
      ],
      [
        [2, 7, 6, 3],
        [3, 3, 3, 1],
      ],
      [
        [3, 8, 7, 2],
        [2, 3, 2, 2],
      ],
      [
        [2, 9, 9, 4],
        [5, 5, 4, 3],
      ],
    ];
    let seed = 500;
    for (const [xShape, filterShape] of shapes) {
      for (const strides of [1, 2]) {
        for (const pad of ['same', 'valid', explicitPads] as Padding[]) {
          const c: ConvCase = { xShape, filterShape, strides, pad };
          const x = randomValues(tf.util.sizeFromShape(xShape), seed++);
          const filter = randomValues(tf.util.sizeFromShape(filterShape), seed++);
          const info = tf.backend_util.computeConv2DInfo(
            xShape,
            filterShape,
            strides,
            1,
            pad,
            undefined,
            true,
          );
          const dy = randomValues(tf.util.sizeFromShape(info.outShape), seed++);
          const gradients = () =>
            tf.tidy(() => {
              const f = (a: tf.Tensor, w: tf.Tensor) =>
                tf.depthwiseConv2d(a as tf.Tensor4D, w as tf.Tensor4D, strides, pad);
              const [dx, dw] = tf.grads(f)(
                [tf.tensor4d(x, xShape), tf.tensor4d(filter, filterShape)],
                tf.tensor4d(dy, info.outShape),
              );
              return [dx.dataSync(), dw.dataSync()];
            });
          const [cpuDx, cpuDw] = await onBackend('cpu', gradients);
          const [wasmDx, wasmDw] = await onBackend('wasm', gradients);
          assertClose(wasmDx, cpuDx, `depthwise dx ${describeCase(c)}`);
          assertClose(wasmDw, cpuDw, `depthwise dW ${describeCase(c)}`);
        }
      }
    }
  });

  void it('handle dilation 2 in direct depthwise kernel calls (checked against a loop reference)', async () => {
    await tf.setBackend('wasm');
    const cases: ConvCase[] = [
      { xShape: [2, 9, 8, 3], filterShape: [3, 3, 3, 1], strides: 1, pad: 'same' },
      { xShape: [1, 10, 9, 2], filterShape: [3, 2, 2, 2], strides: 1, pad: 'valid' },
      { xShape: [2, 11, 10, 2], filterShape: [3, 3, 2, 2], strides: 2, pad: 'same' },
      { xShape: [1, 9, 12, 3], filterShape: [2, 3, 3, 1], strides: 2, pad: explicitPads },
    ];
    for (const [i, c] of cases.entries()) {
      const dilations = 2;
      const x = randomValues(tf.util.sizeFromShape(c.xShape), 600 + i);
      const filter = randomValues(tf.util.sizeFromShape(c.filterShape), 700 + i);
      const info = tf.backend_util.computeConv2DInfo(
        c.xShape,
        c.filterShape,
        c.strides,
        dilations,
        c.pad,
        undefined,
        true,
      );
      const dy = randomValues(tf.util.sizeFromShape(info.outShape), 800 + i);
      const reference = referenceDepthwiseGrads(
        x,
        c.xShape,
        filter,
        c.filterShape,
        dy,
        c.strides,
        dilations,
        c.pad,
      );
      const [dx, dw] = tf.tidy(() => {
        const attrs = { strides: c.strides, pad: c.pad, dilations };
        const dyTensor = tf.tensor4d(dy, info.outShape);
        const dxTensor = tf
          .engine()
          .runKernel(
            'DepthwiseConv2dNativeBackpropInput',
            { dy: dyTensor, filter: tf.tensor4d(filter, c.filterShape) },
            { ...attrs, inputShape: c.xShape },
          ) as tf.Tensor;
        const dwTensor = tf
          .engine()
          .runKernel(
            'DepthwiseConv2dNativeBackpropFilter',
            { x: tf.tensor4d(x, c.xShape), dy: dyTensor },
            { ...attrs, filterShape: c.filterShape },
          ) as tf.Tensor;
        return [dxTensor.dataSync(), dwTensor.dataSync()];
      });
      assertClose(dx, reference.dx, `depthwise dx ${describeCase(c, dilations)}`);
      assertClose(dw, reference.dw, `depthwise dW ${describeCase(c, dilations)}`);
    }
  });

  void it('give a small binary CNN the same gradients as the cpu backend', async () => {
    await tf.setBackend('cpu');
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({
          inputShape: [12, 12, 1],
          filters: 4,
          kernelSize: 3,
          padding: 'same',
          kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
        }),
        tf.layers.batchNormalization(),
        new SignConv2D(8, 2),
        tf.layers.batchNormalization(),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        new SignConv2D(8, 3),
        tf.layers.batchNormalization(),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.flatten(),
        tf.layers.dense({
          units: 5,
          kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }),
        }),
      ],
    });
    const images = tf.tensor4d(randomValues(6 * 12 * 12, 1900), [6, 12, 12, 1]);
    const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 0], 'int32'), 5);
    const gradients = () =>
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() =>
          tf.losses.softmaxCrossEntropy(
            labels,
            model.apply(images, { training: true }) as tf.Tensor,
          ),
        );
        return Object.entries(grads).map(([name, grad]) => [name, grad.dataSync()] as const);
      });
    const expected = await onBackend('cpu', gradients);
    const actual = await onBackend('wasm', gradients);
    assert.deepEqual(
      actual.map(([name]) => name),
      expected.map(([name]) => name),
    );
    assert.equal(actual.length, 12);
    for (const [i, [name, values]] of actual.entries()) {
      assertClose(values, expected[i][1], `gradient of ${name}`, 1e-3);
    }
    tf.dispose([images, labels]);
    model.dispose();
  });

  void it('tile like the cpu backend for every rank, reps pattern and dtype', async () => {
    const cases: [number[], number[]][] = [
      [[5], [3]],
      [
        [1, 1, 1, 4],
        [3, 5, 2, 1],
      ],
      [
        [2, 3],
        [1, 1],
      ],
      [
        [2, 3],
        [2, 1],
      ],
      [
        [2, 3],
        [1, 3],
      ],
      [
        [3, 1, 2],
        [2, 4, 3],
      ],
      [
        [2, 3, 1, 2, 2],
        [1, 2, 3, 1, 2],
      ],
      [
        [2, 0, 3],
        [2, 2, 2],
      ],
    ];
    for (const [i, [shape, reps]] of cases.entries()) {
      const values = randomValues(tf.util.sizeFromShape(shape), 900 + i);
      for (const dtype of ['float32', 'int32', 'bool'] as const) {
        const run = () =>
          tf.tidy(() => {
            const scaled = Array.from(values, (v) => Math.round(v * 4));
            return tf.tile(tf.tensor(scaled, shape, dtype), reps).dataSync();
          });
        const expected = await onBackend('cpu', run);
        const actual = await onBackend('wasm', run);
        assert.deepEqual(
          Array.from(actual),
          Array.from(expected),
          `tile ${dtype} [${shape}] x [${reps}]`,
        );
      }
    }
  });

  void it('split like the cpu backend on every axis, and give concatenate its gradient', async () => {
    const cases: [number[], number[] | number, number][] = [
      [[2, 3, 4, 10], [7, 3], 3],
      [[2, 3, 4, 10], [2, 0, 5, 3], -1],
      [[2, 3, 4, 10], [1, 2], 1],
      [[2, 3, 4, 10], 2, 0],
      [[6, 5], [4, 1], 1],
      [[9], 3, 0],
    ];
    for (const [i, [shape, splits, axis]] of cases.entries()) {
      const values = randomValues(tf.util.sizeFromShape(shape), 950 + i);
      for (const dtype of ['float32', 'int32', 'bool'] as const) {
        const run = () =>
          tf.tidy(() => {
            const x = tf.tensor(
              Array.from(values, (v) => Math.round(v * 100)),
              shape,
              dtype,
            );
            return tf
              .split(x, splits, axis)
              .map((part) => [part.shape, Array.from(part.dataSync())]);
          });
        const expected = await onBackend('cpu', run);
        const actual = await onBackend('wasm', run);
        assert.deepEqual(
          actual,
          expected,
          `split ${dtype} [${shape}] by ${String(splits)} on ${axis}`,
        );
      }
    }
    // concatenate's gradient is SplitV of dy: a DenseNet layer's channels.
    const grads = () =>
      tf.tidy(() => {
        const a = tf.tensor4d(randomValues(2 * 3 * 3 * 5, 960), [2, 3, 3, 5]);
        const b = tf.tensor4d(randomValues(2 * 3 * 3 * 3, 961), [2, 3, 3, 3]);
        const weights = tf.tensor4d(randomValues(2 * 3 * 3 * 8, 962), [2, 3, 3, 8]);
        const g = tf.grads((p: tf.Tensor, q: tf.Tensor) =>
          tf.sum(tf.mul(tf.concat([p, q], 3), weights)),
        )([a, b]);
        return g.map((t) => Array.from(t.dataSync()));
      });
    assert.deepEqual(await onBackend('wasm', grads), await onBackend('cpu', grads));
  });

  void it('concatenate like the cpu backend on every axis, dtypes and empty inputs included', async () => {
    // [shapes], axis: a DenseNet layer's channels, inner and outer axes, an empty part, one
    // non-empty input (the stock kernel's identity), several parts, a 1-D concatenation.
    const cases: [number[][], number][] = [
      [
        [
          [2, 3, 3, 5],
          [2, 3, 3, 3],
        ],
        3,
      ],
      [
        [
          [2, 3, 4, 2],
          [2, 1, 4, 2],
          [2, 2, 4, 2],
        ],
        1,
      ],
      [
        [
          [1, 4],
          [3, 4],
        ],
        0,
      ],
      [
        [
          [2, 0, 3],
          [2, 4, 3],
        ],
        1,
      ],
      [
        [
          [2, 0, 3],
          [2, 5, 3],
          [2, 1, 3],
        ],
        -2,
      ],
      [[[7], [0], [2], [5]], 0],
      [
        [
          [3, 2],
          [3, 0],
        ],
        1,
      ],
    ];
    for (const [i, [shapes, axis]] of cases.entries()) {
      for (const dtype of ['float32', 'int32', 'bool'] as const) {
        const run = () =>
          tf.tidy(() => {
            const xs = shapes.map((shape, k) =>
              tf.tensor(
                Array.from(randomValues(tf.util.sizeFromShape(shape), 1200 + 10 * i + k), (v) =>
                  Math.round(v * 100),
                ),
                shape,
                dtype,
              ),
            );
            const out = tf.concat(xs, axis);
            return [out.shape, Array.from(out.dataSync())];
          });
        const expected = await onBackend('cpu', run);
        const actual = await onBackend('wasm', run);
        assert.deepEqual(actual, expected, `concat ${dtype} ${JSON.stringify(shapes)} on ${axis}`);
      }
    }
  });

  void it('route maxPool gradients like the cpu backend, ties included', async () => {
    const cases: [Shape4, number | [number, number], number, 'same' | 'valid'][] = [
      [[2, 8, 8, 3], 2, 2, 'valid'],
      [[1, 7, 9, 2], 2, 2, 'same'],
      [[2, 9, 7, 4], 3, 2, 'same'],
      [[1, 6, 6, 5], 3, 1, 'valid'],
      [[3, 5, 6, 2], [2, 3], 1, 'same'],
    ];
    for (const [i, [xShape, filterSize, strides, pad]] of cases.entries()) {
      for (const inputs of ['mixed', 'ties', 'negative'] as const) {
        const raw = randomValues(tf.util.sizeFromShape(xShape), 1000 + i);
        // Rounded inputs put several maxima in most windows, as after a sign activation.
        // All-negative windows are what the stock wasm MaxPoolGrad (4.22) gets wrong.
        const x =
          inputs === 'ties'
            ? raw.map((v) => Math.round(v))
            : inputs === 'negative'
              ? raw.map((v) => -1.5 - v)
              : raw;
        const run = () =>
          tf.tidy(() => {
            const f = (a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, filterSize, strides, pad);
            const input = tf.tensor4d(x, xShape);
            const outShape = f(input).shape;
            const dy = tf.tensor(randomValues(tf.util.sizeFromShape(outShape), 1100 + i), outShape);
            return tf.grad(f)(input, dy).dataSync();
          });
        const expected = await onBackend('cpu', run);
        const actual = await onBackend('wasm', run);
        assertClose(
          actual,
          expected,
          `maxPool grad [${xShape}] f${filterSize} s${strides} ${pad} ${inputs}`,
        );
      }
    }
  });

  void it('sum and mean like the cpu backend, fast path and fallbacks', async () => {
    const cases: [number[], number | number[], boolean][] = [
      [[6, 5, 4, 3], [0, 1, 2], false],
      [[6, 5, 4, 3], [2, 0, 1], true],
      [[6, 5, 4, 3], [-4, -3, -2], false],
      [[7, 9], 0, true],
      [[7, 9], -1, false],
      [[6, 5, 4, 3], [0, 2], false],
      [[6, 5, 4, 3], [1, 2, 3], true],
      [[6, 5, 4, 3], [0, 1, 2, 3], false],
      [[1, 1, 1, 8], [0, 1, 2], false],
    ];
    for (const [i, [shape, axis, keepDims]] of cases.entries()) {
      const values = randomValues(tf.util.sizeFromShape(shape), 1200 + i);
      for (const dtype of ['float32', 'int32'] as const) {
        const run = () =>
          tf.tidy(() => {
            const x = tf.tensor(
              Array.from(values, (v) => (dtype === 'int32' ? Math.round(v * 9) : v)),
              shape,
              dtype,
            );
            const summed = tf.sum(x, axis, keepDims);
            const averaged = tf.mean(x, axis, keepDims);
            return [summed.shape, summed.dataSync(), averaged.shape, averaged.dataSync()] as const;
          });
        const expected = await onBackend('cpu', run);
        const actual = await onBackend('wasm', run);
        const label = `${dtype} [${shape}] axis ${JSON.stringify(axis)} keepDims ${keepDims}`;
        assert.deepEqual(actual[0], expected[0], `sum shape ${label}`);
        assertClose(actual[1], expected[1], `sum ${label}`, 1e-5);
        assert.deepEqual(actual[2], expected[2], `mean shape ${label}`);
        assertClose(actual[3], expected[3], `mean ${label}`, 1e-5);
      }
    }
  });

  void it('clone without copying, and free the buffer with its last tensor', async () => {
    await tf.setBackend('wasm');
    const before = tf.memory();
    const x = tf.tensor2d([
      [1, -2],
      [3, 4.5],
    ]);
    const y = tf.clone(x);
    // One buffer for both (the stock wasm kernel made a second one).
    assert.equal(tf.memory().numDataBuffers - before.numDataBuffers, 1);
    x.dispose();
    assert.deepEqual(Array.from(y.dataSync()), [1, -2, 3, 4.5]);
    y.dispose();
    assert.equal(tf.memory().numBytes, before.numBytes);
    assert.equal(tf.memory().numTensors, before.numTensors);
    assert.equal(tf.memory().numDataBuffers, before.numDataBuffers);
    // A variable assigned from a clone keeps its value when the clone's source changes hands.
    const v = tf.variable(tf.zeros([2]));
    const source = tf.tensor1d([7, 8]);
    v.assign(tf.clone(source));
    source.dispose();
    assert.deepEqual(Array.from(v.dataSync()), [7, 8]);
    v.dispose();
    const strings = tf.clone(tf.tensor1d(['a', 'b'], 'string'));
    assert.deepEqual(strings.arraySync(), ['a', 'b']);
    strings.dispose();
  });

  void it('matrix products like the cpu backend, with every transpose and with a batch', async () => {
    // [a shape, b shape, transposeA, transposeB]: the dense layer's forward product and its two
    // gradients (at batch 64 and 1), rank-3 singles, odd and empty sizes (SIMD tails, no inner
    // dimension), and batched products (stock kernel).
    const cases: [number[], number[], boolean, boolean][] = [
      [[64, 576], [576, 128], false, false],
      [[1, 576], [576, 128], false, false],
      [[64, 128], [576, 128], false, true],
      [[1, 128], [576, 128], false, true],
      [[1, 576], [1, 128], true, false],
      [[7, 1], [1, 9], false, false],
      [[2, 0], [0, 3], false, false],
      [[0, 5], [5, 3], false, false],
      [[4, 5], [4, 0], true, false],
      [[64, 576], [64, 128], true, false],
      [[13, 7], [5, 13], true, true],
      [[1, 9, 6], [1, 6, 11], false, false],
      [[1, 9, 6], [1, 11, 6], false, true],
      [[1, 6, 9], [1, 6, 11], true, false],
      [[3, 5, 4], [3, 5, 2], true, false],
      [[3, 5, 4], [1, 2, 4], false, true],
      [[1, 1], [1, 1], true, true],
    ];
    for (const [i, [aShape, bShape, transposeA, transposeB]] of cases.entries()) {
      const aValues = randomValues(tf.util.sizeFromShape(aShape), 1300 + i);
      const bValues = randomValues(tf.util.sizeFromShape(bShape), 1400 + i);
      const run = () =>
        tf.tidy(() => {
          const product = tf.matMul(
            tf.tensor(aValues, aShape),
            tf.tensor(bValues, bShape),
            transposeA,
            transposeB,
          );
          return [product.shape, product.dataSync()] as const;
        });
      const expected = await onBackend('cpu', run);
      const actual = await onBackend('wasm', run);
      const label = `[${aShape}]${transposeA ? 'ᵀ' : ''} · [${bShape}]${transposeB ? 'ᵀ' : ''}`;
      assert.deepEqual(actual[0], expected[0], `shape of ${label}`);
      assertClose(actual[1], expected[1], label, 1e-5);
    }
  });

  void it('sum segments like the cpu backend, and give gather a gradient', async () => {
    const cases: [number[], number[], number][] = [
      [[6], [0, 2, 2, 1, 0, 2], 3],
      [[5, 3], [1, 1, 0, 3, 1], 4],
      [[4, 2, 3], [2, -1, 0, 5], 3],
    ];
    for (const [i, [shape, ids, numSegments]] of cases.entries()) {
      const values = randomValues(tf.util.sizeFromShape(shape), 1500 + i);
      const run = () =>
        tf.tidy(() => {
          const segments = tf.unsortedSegmentSum(
            tf.tensor(values, shape),
            tf.tensor1d(ids, 'int32'),
            numSegments,
          );
          return [segments.shape, segments.dataSync()] as const;
        });
      const expected = await onBackend('cpu', run);
      const actual = await onBackend('wasm', run);
      assert.deepEqual(actual[0], expected[0], `shape [${shape}] ids [${ids}]`);
      assertClose(actual[1], expected[1], `segments [${shape}] ids [${ids}]`);
    }
    await tf.setBackend('wasm');
    const table = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]);
    const grad = tf.grad((t: tf.Tensor) => tf.sum(tf.gather(t, tf.tensor1d([2, 0, 2], 'int32'))))(
      table,
    );
    assert.deepEqual(Array.from(grad.dataSync()), [1, 1, 0, 0, 2, 2]);
    const counts = tf.unsortedSegmentSum(
      tf.tensor1d([1, 2, 3], 'int32'),
      tf.tensor1d([1, 1, 0], 'int32'),
      2,
    );
    assert.equal(counts.dtype, 'int32');
    assert.deepEqual(Array.from(counts.dataSync()), [3, 3]);
    tf.dispose([table, grad, counts]);
  });

  void it('reject NCHW and mismatched dy shapes with a message naming the kernel', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([1, 5, 5, 2]);
    const dy = tf.zeros([1, 4, 4, 3]);
    assert.throws(
      () =>
        tf
          .engine()
          .runKernel(
            'Conv2DBackpropFilter',
            { x, dy },
            { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 2, 3] },
          ),
      /Conv2DBackpropFilter \(wasm\): dy has shape \[1,4,4,3\], expected \[1,5,5,3\]/,
    );
    assert.throws(
      () =>
        tf
          .engine()
          .runKernel(
            'Conv2DBackpropInput',
            { dy, filter: tf.zeros([2, 2, 2, 3]) },
            { strides: 1, pad: 'valid', dataFormat: 'NCHW', inputShape: [1, 5, 5, 2] },
          ),
      /Conv2DBackpropInput \(wasm\): dataFormat must be 'NHWC'/,
    );
    tf.dispose([x, dy]);
  });

  void it('do not leak tensors or backend buffers across repeated gradient steps', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor4d(randomValues(2 * 9 * 9 * 3, 11), [2, 9, 9, 3]);
    const filter = tf.tensor4d(randomValues(3 * 3 * 3 * 4, 12), [3, 3, 3, 4]);
    const depthwiseFilter = tf.tensor4d(randomValues(3 * 3 * 3 * 2, 13), [3, 3, 3, 2]);
    const step = (strides: number, pad: Padding) =>
      tf.tidy(() => {
        const [dx, dw] = tf.grads((a: tf.Tensor, w: tf.Tensor) =>
          tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, strides, pad))),
        )([x, filter]);
        const [dxDepthwise, dwDepthwise] = tf.grads((a: tf.Tensor, w: tf.Tensor) =>
          tf.sum(tf.square(tf.depthwiseConv2d(a as tf.Tensor4D, w as tf.Tensor4D, strides, pad))),
        )([x, depthwiseFilter]);
        const pooled = tf.grad((a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, 2, 2, 'same'))(x);
        const tiled = tf.tile(tf.sum(dw, [0, 1], true), [2, 3, 1, 1]);
        const parts = [dx, dw, dxDepthwise, dwDepthwise, pooled, tiled].map((t) => tf.sum(t));
        return tf.addN(parts).dataSync()[0];
      });
    const cases: [number, Padding][] = [
      [1, 'same'],
      [2, 'valid'],
      [2, explicitPads],
    ];
    for (const [strides, pad] of cases) {
      step(strides, pad);
    }
    const tensorsBefore = tf.memory().numTensors;
    const dataIdsBefore = tf.engine().backend.numDataIds();
    for (let i = 0; i < 5; i++) {
      for (const [strides, pad] of cases) {
        step(strides, pad);
      }
    }
    assert.equal(tf.memory().numTensors, tensorsBefore);
    assert.equal(tf.engine().backend.numDataIds(), dataIdsBefore);
    tf.dispose([x, filter, depthwiseFilter]);
  });
});
