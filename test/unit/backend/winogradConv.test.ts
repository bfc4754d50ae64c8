/**
 * The Winograd gradients of core/kernels/bnn_kernels.c: `Conv2DBackpropInput` and
 * `Conv2DBackpropFilter` of a 3x3 convolution on wasm take them from 16 channels on, F(2x2, 3x3)
 * or F(4x4, 3x3) at stride 1 and the phase split at stride 2. Each must give the gradients of the
 * cpu backend and of the direct C kernels up to float rounding, over odd image sizes (partial
 * tiles), channel counts that are not a multiple of 4, every padding a 3x3 filter allows, one
 * block of tiles or several with a partial last one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '../../../core/tf';
import {
  bnnKernelsRegistered,
  bnnKernelVariant,
  gradientMultiplies,
  setWinogradAlways,
  setWinogradBlock,
  setWinogradChunk,
  setWinogradGradients,
  setWinogradStride2,
  setWinogradTile,
  setKernelVariant,
  type KernelVariant,
  WINOGRAD_MIN_CHANNELS,
  winogradGradientCalls,
  winogradTile,
} from '../../../core/backend/bnnKernels';
import { initBackend } from '../../../core/backend/backends';
import { randomSigns, randomUniform } from './testValues';

type Shape4 = [number, number, number, number];
type Padding = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];

/** Largest |actual - expected| over the largest |expected| (at least 1). */
function relativeError(actual: Float32Array, expected: Float32Array): number {
  assert.equal(actual.length, expected.length);
  let scale = 1;
  let error = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
    const e = Math.abs(actual[i] - expected[i]);
    error = Number.isNaN(e) ? Infinity : Math.max(error, e);
  }
  return error / scale;
}

interface Case {
  x: Shape4;
  outChannels: number;
  pad: Padding;
  block?: number;
}

/** dx and dW from the registered gradient kernels of the current backend. */
function kernelGradients(
  xShape: Shape4,
  filterShape: Shape4,
  pad: Padding,
  x: Float32Array,
  w: Float32Array,
  dy: Float32Array,
  strides = 1,
  dilations = 1,
): Float32Array[] {
  return tf.tidy(() => {
    const info = tf.backend_util.computeConv2DInfo(xShape, filterShape, strides, dilations, pad);
    const attrs = { strides, pad, dataFormat: 'NHWC', dilations };
    const dyTensor = tf.tensor4d(dy, info.outShape as Shape4);
    const engine = tf.engine();
    const dx = engine.runKernel(
      'Conv2DBackpropInput',
      { dy: dyTensor, filter: tf.tensor4d(w, filterShape) },
      { ...attrs, inputShape: xShape },
    ) as tf.Tensor;
    const dw = engine.runKernel(
      'Conv2DBackpropFilter',
      { x: tf.tensor4d(x, xShape), dy: dyTensor },
      { ...attrs, filterShape },
    ) as tf.Tensor;
    return [dx.dataSync() as Float32Array, dw.dataSync() as Float32Array];
  });
}

function gradients(
  c: Case,
  x: Float32Array,
  w: Float32Array,
  dy: Float32Array,
  strides = 1,
): Float32Array[] {
  return kernelGradients(c.x, [3, 3, c.x[3], c.outChannels], c.pad, x, w, dy, strides);
}

const explicit = (top: number, bottom: number, left: number, right: number): Padding => [
  [0, 0],
  [top, bottom],
  [left, right],
  [0, 0],
];

const cases: Case[] = [
  { x: [2, 8, 8, 16], outChannels: 16, pad: 'same' },
  // Odd height and width (partial tiles), channels past a multiple of 4 on both axes.
  { x: [1, 7, 9, 17], outChannels: 19, pad: 'same' },
  { x: [2, 6, 5, 21], outChannels: 33, pad: 'valid' },
  { x: [1, 9, 8, 16], outChannels: 24, pad: explicit(1, 2, 0, 1) },
  { x: [1, 5, 6, 18], outChannels: 16, pad: explicit(2, 0, 2, 2) },
  { x: [3, 4, 4, 64], outChannels: 64, pad: 'same' },
  { x: [2, 1, 1, 16], outChannels: 20, pad: 'same' },
  // Several blocks of tiles, the last one partial and not a multiple of the 4-tile micro-block.
  { x: [2, 7, 9, 20], outChannels: 24, pad: 'same', block: 6 },
  { x: [3, 8, 8, 16], outChannels: 17, pad: 'valid', block: 5 },
  // A CIFAR stage's size: whole 4x4 tiles, several blocks.
  { x: [2, 16, 16, 32], outChannels: 32, pad: 'same', block: 12 },
  { x: [1, 11, 10, 16], outChannels: 16, pad: explicit(0, 2, 2, 0), block: 3 },
];

/**
 * How far each tile size may round from the direct sums, relative to the largest value. F(4x4,
 * 3x3)'s transforms scale values by up to 100 (B' d B) and 1/576 (G g G'), so it rounds about ten
 * times more than F(2x2, 3x3): up to 6e-6 on these cases (1e-6 for F(2x2)), 1.5e-5 at
 * ResNetE-18's 4x4x512 (docs/performance.md). A wrong transform is off by far more than either.
 */
const ROUNDING = { 2: 1e-5, 4: 3e-5, stride2: 1e-5 };

/**
 * Stride 2: even sizes ('same' pads 0 before, 1 after), odd sizes (1 and 1), 'valid', explicit
 * paddings up to 2, single pixels, partial tiles at every edge, several blocks.
 */
const stride2Cases: Case[] = [
  { x: [2, 8, 8, 16], outChannels: 32, pad: 'same' },
  { x: [1, 7, 9, 17], outChannels: 19, pad: 'same' },
  { x: [2, 6, 5, 21], outChannels: 33, pad: 'valid' },
  { x: [1, 9, 8, 16], outChannels: 24, pad: explicit(1, 2, 0, 1) },
  { x: [1, 5, 6, 18], outChannels: 16, pad: explicit(2, 0, 2, 2) },
  { x: [3, 4, 4, 64], outChannels: 128, pad: 'same' },
  { x: [2, 1, 1, 16], outChannels: 20, pad: 'same' },
  { x: [2, 3, 4, 16], outChannels: 16, pad: 'valid' },
  { x: [2, 7, 9, 20], outChannels: 24, pad: 'same', block: 6 },
  { x: [2, 16, 16, 32], outChannels: 64, pad: 'same', block: 7 },
  { x: [1, 11, 10, 16], outChannels: 16, pad: explicit(0, 2, 2, 0), block: 3 },
];

/**
 * dx and dW (`winograd`, in that order) within `bound` of the cpu backend's and of the direct C
 * kernels', relative to the largest value; and the comparison not vacuous (a nonzero gradient).
 */
function assertGradientsClose(
  where: string,
  winograd: Float32Array[],
  cpu: Float32Array[],
  direct: Float32Array[],
  bound: number,
): void {
  for (const [k, what] of ['dx', 'dW'].entries()) {
    const toCpu = relativeError(winograd[k], cpu[k]);
    const toDirect = relativeError(winograd[k], direct[k]);
    assert.ok(toCpu < bound, `${where} ${what}: ${toCpu} from the cpu backend`);
    assert.ok(toDirect < bound, `${where} ${what}: ${toDirect} from the direct C kernel`);
    assert.ok(
      cpu[k].some((v) => v !== 0),
      `${where} ${what}: a gradient with nonzero values`,
    );
  }
}

/**
 * Each case with each build of the kernels (bnn-kernels-relaxed.wasm's fused multiply-adds and
 * bnn-kernels.wasm's multiply-then-add), the build switched in as the loop reaches it; the
 * default build again after the last.
 */
function* inEachBuild(list: Case[]): Generator<[KernelVariant, number, Case]> {
  try {
    for (const variant of ['relaxed-simd', 'simd128'] as const) {
      setKernelVariant(variant);
      assert.equal(bnnKernelVariant(), variant, `the ${variant} build of the kernels loads`);
      for (const [i, c] of list.entries()) yield [variant, i, c];
    }
  } finally {
    setKernelVariant(undefined);
  }
}

/**
 * Chunks of channels (`setWinogradChunk`): input channels, and the filter gradient's output
 * channels (unset: all of them; 8 and 16 split the cases' 16-64 channels into several chunks,
 * the last one partial where the count is not a multiple of the chunk).
 */
const CHUNKS: [number, number?][] = [[8], [8, 8], [8, 16]];

function label(c: Case): string {
  const pad = typeof c.pad === 'string' ? c.pad : JSON.stringify(c.pad.slice(1, 3));
  return `x[${c.x}] -> ${c.outChannels} ${pad}${c.block ? ` block ${c.block}` : ''}`;
}

void describe('Winograd gradients of 3x3 convolutions (wasm, C kernels)', () => {
  before(async () => {
    await initBackend('wasm', () => {});
    assert.ok(bnnKernelsRegistered(), 'the C kernels are registered');
    // Every case by Winograd, also where the direct kernel would multiply less (small 'valid').
    setWinogradAlways(true);
  });
  after(() => setWinogradAlways(false));

  void it('equal the cpu backend and the direct C kernels up to rounding', async () => {
    for (const [variant, i, c] of inEachBuild(cases)) {
      const filterShape: Shape4 = [3, 3, c.x[3], c.outChannels];
      const info = tf.backend_util.computeConv2DInfo(c.x, filterShape, 1, 1, c.pad);
      // Real-valued x and filter, and the binary layer's case: sign input, sign filter.
      for (const binary of [false, true]) {
        const make = binary ? randomSigns : randomUniform;
        const x = make(tf.util.sizeFromShape(c.x), 10 * i + 1);
        const w = make(tf.util.sizeFromShape(filterShape), 10 * i + 2);
        const dy = randomUniform(tf.util.sizeFromShape(info.outShape), 10 * i + 3);
        const name = `${variant}: ${label(c)}${binary ? ' signs' : ''}`;

        await tf.setBackend('cpu');
        const cpu = gradients(c, x, w, dy);
        await tf.setBackend('wasm');
        const previous = setWinogradGradients(false);
        const direct = gradients(c, x, w, dy);
        setWinogradGradients(previous);
        // Each tile size, whole and (one block of tiles) in chunks of channels: 8 input channels
        // at a time, and for the filter gradient also 8 input by 8 or 16 output channels.
        for (const [tile, chunk] of [2, 4].flatMap((t) =>
          (c.block ? [undefined] : [undefined, ...CHUNKS]).map((k) => [t as 2 | 4, k] as const),
        )) {
          setWinogradBlock(c.block);
          setWinogradTile(tile);
          setWinogradChunk(chunk?.[0], chunk?.[1]);
          const before = winogradGradientCalls(tile);
          const winograd = gradients(c, x, w, dy);
          setWinogradTile(undefined);
          setWinogradBlock(undefined);
          setWinogradChunk(undefined);
          const ran = winogradGradientCalls(tile) - before;
          assert.equal(ran, 2, `${name}: both gradients by F(${tile}x${tile}, 3x3)`);
          const where = `${name} F(${tile}x${tile})${chunk ? ` chunk ${chunk.join('x')}` : ''}`;
          assertGradientsClose(where, winograd, cpu, direct, ROUNDING[tile]);
        }
      }
    }
  });

  void it('equal them at stride 2 too (the phase split, 25 points)', async () => {
    for (const [variant, i, c] of inEachBuild(stride2Cases)) {
      const filterShape: Shape4 = [3, 3, c.x[3], c.outChannels];
      const info = tf.backend_util.computeConv2DInfo(c.x, filterShape, 2, 1, c.pad);
      for (const binary of [false, true]) {
        const make = binary ? randomSigns : randomUniform;
        const x = make(tf.util.sizeFromShape(c.x), 10 * i + 4);
        const w = make(tf.util.sizeFromShape(filterShape), 10 * i + 5);
        const dy = randomUniform(tf.util.sizeFromShape(info.outShape), 10 * i + 6);
        const name = `${variant}: stride 2 ${label(c)}${binary ? ' signs' : ''}`;

        await tf.setBackend('cpu');
        const cpu = gradients(c, x, w, dy, 2);
        await tf.setBackend('wasm');
        const previous = setWinogradStride2(false);
        const before = winogradGradientCalls('stride2');
        const direct = gradients(c, x, w, dy, 2);
        assert.equal(winogradGradientCalls('stride2'), before, `${name}: direct when turned off`);
        setWinogradStride2(previous);
        for (const chunk of c.block ? [undefined] : [undefined, ...CHUNKS]) {
          setWinogradBlock(c.block);
          setWinogradChunk(chunk?.[0], chunk?.[1]);
          const calls = winogradGradientCalls('stride2');
          const winograd = gradients(c, x, w, dy, 2);
          setWinogradBlock(undefined);
          setWinogradChunk(undefined);
          const where = `${name}${chunk ? ` chunk ${chunk.join('x')}` : ''}`;
          assert.equal(winogradGradientCalls('stride2') - calls, 2, `${where}: both by Winograd`);
          assertGradientsClose(where, winograd, cpu, direct, ROUNDING.stride2);
        }
      }
    }
  });

  void it('leave a gradient to the direct kernel where it multiplies less', async () => {
    await tf.setBackend('wasm');
    setWinogradAlways(false);
    try {
      // mnist-cnn's last convolution: 5x5x64 -> 3x3x64 'valid'. The input gradient's tiles cover
      // the 5x5 input (9 of F(2x2): 144 multiplies) where dy has 9 pixels (81); the filter
      // gradient's cover dy (one F(4x4) tile: 36).
      const xShape: Shape4 = [2, 5, 5, 64];
      const filterShape: Shape4 = [3, 3, 64, 64];
      const info = tf.backend_util.computeConv2DInfo(xShape, filterShape, 1, 1, 'valid');
      assert.deepEqual(gradientMultiplies(info, 'input'), { direct: 81, winograd: 144 });
      assert.deepEqual(gradientMultiplies(info, 'filter'), { direct: 81, winograd: 36 });
      const x = randomUniform(tf.util.sizeFromShape(xShape), 11);
      const w = randomUniform(tf.util.sizeFromShape(filterShape), 12);
      const dy = randomUniform(tf.util.sizeFromShape(info.outShape), 13);
      const before = winogradGradientCalls();
      const [dx, dw] = kernelGradients(xShape, filterShape, 'valid', x, w, dy);
      assert.equal(winogradGradientCalls() - before, 1, 'only the filter gradient by Winograd');
      await tf.setBackend('cpu');
      const cpu = kernelGradients(xShape, filterShape, 'valid', x, w, dy);
      await tf.setBackend('wasm');
      assert.ok(relativeError(dx, cpu[0]) < 1e-5 && relativeError(dw, cpu[1]) < 1e-5);
      // A 32x32 'same' layer and a stride-2 one multiply less by Winograd.
      const same = tf.backend_util.computeConv2DInfo([1, 32, 32, 64], filterShape, 1, 1, 'same');
      assert.deepEqual(gradientMultiplies(same, 'input'), { direct: 9216, winograd: 2304 });
      const s2 = tf.backend_util.computeConv2DInfo([1, 32, 32, 64], filterShape, 2, 1, 'same');
      assert.deepEqual(gradientMultiplies(s2, 'input'), { direct: 2304, winograd: 1600 });
      assert.deepEqual(gradientMultiplies(s2, 'filter'), { direct: 2304, winograd: 1600 });
    } finally {
      setWinogradAlways(true);
    }
  });

  void it('take the tile size that multiplies least: 4x4 from 3 pixels a side', () => {
    assert.equal(winogradTile(32, 32), 4);
    assert.equal(winogradTile(4, 4), 4);
    assert.equal(winogradTile(7, 7), 4);
    assert.equal(winogradTile(3, 3), 4);
    assert.equal(winogradTile(2, 2), 2);
    assert.equal(winogradTile(1, 1), 2);
    assert.equal(winogradTile(6, 6), 2); // 9 tiles of 16 against 4 of 36: a tie
    assert.equal(winogradTile(32, 2), 2);
  });

  void it('are not used below 16 channels, for stride 3, dilations or other filter sizes', async () => {
    await tf.setBackend('wasm');
    const notTaken: [Shape4, Shape4, number, number][] = [
      [[1, 6, 6, WINOGRAD_MIN_CHANNELS - 1], [3, 3, WINOGRAD_MIN_CHANNELS - 1, 32], 1, 1],
      [[1, 6, 6, 32], [3, 3, 32, WINOGRAD_MIN_CHANNELS - 1], 1, 1],
      [[1, 8, 8, 16], [3, 3, 16, 16], 3, 1],
      [[1, 8, 8, 16], [3, 3, 16, 16], 1, 2],
      [[1, 8, 8, 16], [1, 1, 16, 16], 1, 1],
      [[1, 8, 8, 16], [5, 5, 16, 16], 1, 1],
    ];
    for (const [xShape, filterShape, strides, dilations] of notTaken) {
      const before = winogradGradientCalls();
      const info = tf.backend_util.computeConv2DInfo(
        xShape,
        filterShape,
        strides,
        dilations,
        'same',
      );
      const [dx, dw] = kernelGradients(
        xShape,
        filterShape,
        'same',
        randomUniform(tf.util.sizeFromShape(xShape), 7),
        randomUniform(tf.util.sizeFromShape(filterShape), 8),
        randomUniform(tf.util.sizeFromShape(info.outShape), 9),
        strides,
        dilations,
      );
      assert.ok(dx.length > 0 && dw.length > 0);
      assert.equal(winogradGradientCalls(), before, `x[${xShape}] w[${filterShape}]`);
    }
  });
});
