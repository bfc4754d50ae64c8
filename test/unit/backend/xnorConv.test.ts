/**
 * The bit-packed (XNOR-popcount) forward convolution of core/kernels/bnn_kernels.c: when input
 * and filter are both signs, `Conv2D` on wasm packs them into bits; its integer results must
 * equal the float path exactly, padding (a zero, not a sign) included.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '../../../core/tf';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import {
  bnnKernelsRegistered,
  setXnorForward,
  xnorForwardCalls,
} from '../../../core/backend/bnnKernels';
import { registerWasmTrainingKernels, SIGN_CONV2D } from '../../../core/backend/wasmKernels';
import { randomSigns, randomUniform } from './testValues';

type Shape4 = [number, number, number, number];
type Padding = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];

/** `tf.conv2d` on wasm with the XNOR path on or off; asserts whether the XNOR path ran. */
function convWith(
  xnor: boolean,
  x: Float32Array,
  xShape: Shape4,
  w: Float32Array,
  wShape: Shape4,
  strides: number | [number, number],
  pad: Padding,
  dilations: number,
): Float32Array {
  const previous = setXnorForward(xnor);
  const calls = xnorForwardCalls();
  try {
    const y = tf
      .tidy(() =>
        tf.conv2d(tf.tensor4d(x, xShape), tf.tensor4d(w, wShape), strides, pad, 'NHWC', dilations),
      )
      .dataSync() as Float32Array;
    const signs = [...x, ...w].every((v) => v === 1 || v === -1);
    assert.equal(xnorForwardCalls() - calls, xnor && signs ? 1 : 0, 'XNOR path taken');
    return y;
  } finally {
    setXnorForward(previous);
  }
}

/** Direct-loop reference: the sum over taps inside the input (padding contributes 0). */
function reference(
  x: Float32Array,
  xShape: Shape4,
  w: Float32Array,
  wShape: Shape4,
  strides: number | [number, number],
  pad: Padding,
  dilations: number,
): Float32Array {
  const info = tf.backend_util.computeConv2DInfo(xShape, wShape, strides, dilations, pad);
  const [n, h, wd, cin] = xShape;
  const [fh, fw, , cout] = wShape;
  const y = new Float32Array(n * info.outHeight * info.outWidth * cout);
  for (let b = 0; b < n; b++) {
    for (let oh = 0; oh < info.outHeight; oh++) {
      for (let ow = 0; ow < info.outWidth; ow++) {
        for (let co = 0; co < cout; co++) {
          let sum = 0;
          for (let kh = 0; kh < fh; kh++) {
            const ih = oh * info.strideHeight - info.padInfo.top + kh * info.dilationHeight;
            if (ih < 0 || ih >= h) continue;
            for (let kw = 0; kw < fw; kw++) {
              const iw = ow * info.strideWidth - info.padInfo.left + kw * info.dilationWidth;
              if (iw < 0 || iw >= wd) continue;
              for (let ci = 0; ci < cin; ci++) {
                sum +=
                  x[((b * h + ih) * wd + iw) * cin + ci] *
                  w[((kh * fw + kw) * cin + ci) * cout + co];
              }
            }
          }
          y[((b * info.outHeight + oh) * info.outWidth + ow) * cout + co] = sum;
        }
      }
    }
  }
  return y;
}

function firstDifference(a: Float32Array, b: Float32Array): string | undefined {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) return `element ${i}: ${a[i]} vs ${b[i]}`;
  }
  return undefined;
}

void describe('bit-packed binary forward convolution', () => {
  before(async () => {
    const wasmPackage = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
    setWasmPaths(path.join(path.dirname(wasmPackage), 'dist') + path.sep);
    await tf.setBackend('wasm');
    registerWasmTrainingKernels();
    assert.ok(bnnKernelsRegistered(), 'the C kernels must be registered for this test');
  });

  void it('equals the float path exactly over channels, paddings, strides and dilations', () => {
    const explicit: Padding = [
      [0, 0],
      [2, 0],
      [1, 3],
    ] as unknown as Padding;
    let cases = 0;
    // in channels: 1, odd, one word, across a word boundary, several words; out channels:
    // below, at and past the kernel's block of 4.
    for (const [cin, cout] of [
      [1, 3],
      [3, 4],
      [33, 5],
      [64, 8],
      [65, 7],
      [130, 9],
    ]) {
      for (const [fh, fw] of [
        [3, 3],
        [1, 1],
        [2, 3],
      ]) {
        for (const strides of [1, 2, [2, 1]] as (number | [number, number])[]) {
          for (const pad of [
            'same',
            'valid',
            [
              [0, 0],
              [1, 1],
              [2, 0],
              [0, 0],
            ],
            explicit,
          ]) {
            for (const dilations of [1, 2]) {
              if (dilations > 1 && strides !== 1) continue; // tfjs: one of the two must be 1
              const xShape: Shape4 = [2, 7, 6, cin];
              const wShape: Shape4 = [fh, fw, cin, cout];
              const x = randomSigns(2 * 7 * 6 * cin, 11 + cases);
              const w = randomSigns(fh * fw * cin * cout, 97 + cases);
              const label = `x ${xShape.join('x')}, w ${wShape.join('x')}, strides ${String(strides)}, pad ${JSON.stringify(pad)}, dilation ${dilations}`;
              const packed = convWith(
                true,
                x,
                xShape,
                w,
                wShape,
                strides,
                pad as Padding,
                dilations,
              );
              const float = convWith(
                false,
                x,
                xShape,
                w,
                wShape,
                strides,
                pad as Padding,
                dilations,
              );
              const loop = reference(x, xShape, w, wShape, strides, pad as Padding, dilations);
              assert.equal(firstDifference(packed, float), undefined, `${label}: XNOR vs float`);
              assert.equal(firstDifference(packed, loop), undefined, `${label}: XNOR vs loop`);
              cases++;
            }
          }
        }
      }
    }
    assert.ok(cases > 200, `${cases} cases`);
  });

  void it('falls back to the float path when the input or the filter is not all signs', () => {
    const xShape: Shape4 = [1, 5, 5, 8];
    const wShape: Shape4 = [3, 3, 8, 4];
    const x = randomSigns(200, 1);
    const w = randomSigns(288, 2);
    // One value of 0.5 in x (last element: the packing stops late), then in w, then a zero
    // (what a padded sign tensor would hold) and -0.
    for (const [target, index, value] of [
      ['x', 199, 0.5],
      ['w', 0, 0.5],
      ['x', 17, 0],
      ['w', 287, -0],
    ] as ['x' | 'w', number, number][]) {
      const xs = Float32Array.from(x);
      const ws = Float32Array.from(w);
      (target === 'x' ? xs : ws)[index] = value;
      const packed = convWith(true, xs, xShape, ws, wShape, 1, 'same', 1);
      const loop = reference(xs, xShape, ws, wShape, 1, 'same', 1);
      for (let i = 0; i < loop.length; i++) {
        assert.ok(
          Math.abs(packed[i] - loop[i]) < 1e-4,
          `${target}[${index}] = ${value}: element ${i}`,
        );
      }
    }
  });

  void it('packs any input by its signs in BnnSignConv2D: conv2d(sgn(x), w) exactly', () => {
    let cases = 0;
    for (const [cin, cout] of [
      [1, 3],
      [33, 5],
      [65, 7],
      [130, 9],
    ]) {
      for (const [strides, pad, dilations] of [
        [1, 'same', 1],
        [2, 'valid', 1],
        [
          1,
          [
            [0, 0],
            [2, 0],
            [1, 3],
            [0, 0],
          ],
          2,
        ],
      ] as [number, Padding, number][]) {
        const xShape: Shape4 = [2, 7, 6, cin];
        const n = 2 * 7 * 6 * cin;
        // Real values, with the ones whose sign is a convention: 0 and -0 (+1), NaN (+1), and a
        // negative subnormal (-1).
        const values = randomUniform(n, 5 + cases);
        values[0] = 0;
        values[Math.floor(n / 3)] = -0;
        values[Math.floor(n / 2)] = Number.NaN;
        values[n - 1] = -1e-40;
        for (const signFilter of [true, false]) {
          const wShape: Shape4 = [3, 3, cin, cout];
          const w = randomSigns(9 * cin * cout, 41 + cases);
          if (!signFilter) w[0] = 0.5; // not a binary layer's filter: the float path
          const attrs = { strides, pad, dataFormat: 'NHWC', dilations };
          const label = `x ${xShape.join('x')}, ${signFilter ? 'sign' : 'real'} filter, strides ${strides}, pad ${JSON.stringify(pad)}, dilation ${dilations}`;
          const calls = xnorForwardCalls();
          const fused = tf.tidy(
            () =>
              tf
                .engine()
                .runKernel(
                  SIGN_CONV2D,
                  { x: tf.tensor4d(values, xShape), filter: tf.tensor4d(w, wShape) },
                  attrs,
                ) as tf.Tensor,
          );
          assert.equal(xnorForwardCalls() - calls, signFilter ? 1 : 0, `${label}: XNOR path`);
          const twoOps = tf.tidy(() =>
            tf.conv2d(
              tf
                .engine()
                .runKernel('BnnSign', { x: tf.tensor4d(values, xShape) }, {}) as tf.Tensor4D,
              tf.tensor4d(w, wShape),
              strides,
              pad,
              'NHWC',
              dilations,
            ),
          );
          const signs = values.map((v) => (v < 0 ? -1 : 1));
          const loop = reference(signs, xShape, w, wShape, strides, pad, dilations);
          const got = fused.dataSync() as Float32Array;
          assert.equal(firstDifference(got, twoOps.dataSync() as Float32Array), undefined, label);
          if (signFilter) assert.equal(firstDifference(got, loop), undefined, `${label}: loop`);
          tf.dispose([fused, twoOps]);
          cases++;
        }
      }
    }
    assert.equal(cases, 24);
  });

  void it('trains a binary layer to the same values with and without packing', () => {
    // A binary conv as the layers use it: sgn of input and latent weights inside a tape.
    const x = tf.tensor4d(randomSigns(2 * 6 * 6 * 5, 3), [2, 6, 6, 5]);
    const latent = tf.variable(
      tf.mul(tf.tensor4d(randomSigns(3 * 3 * 5 * 6, 4), [3, 3, 5, 6]), 0.3),
    );
    const run = (xnor: boolean) => {
      const previous = setXnorForward(xnor);
      try {
        const { value, grads } = tf.variableGrads(() =>
          tf.sum(tf.square(tf.conv2d(x, tf.sign(latent) as tf.Tensor4D, 1, 'same'))),
        );
        const out = {
          loss: value.dataSync()[0],
          grad: grads[latent.name].dataSync() as Float32Array,
        };
        tf.dispose([value, ...Object.values(grads)]);
        return out;
      } finally {
        setXnorForward(previous);
      }
    };
    const calls = xnorForwardCalls();
    const a = run(true);
    assert.equal(xnorForwardCalls() - calls, 1, 'the XNOR path ran the forward pass');
    const b = run(false);
    assert.equal(a.loss, b.loss);
    assert.equal(firstDifference(a.grad, b.grad), undefined);
    tf.dispose([x, latent]);
  });
});
