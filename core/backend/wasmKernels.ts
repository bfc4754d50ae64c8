/**
 * Training kernels for the tfjs wasm backend.
 *
 * `@tensorflow/tfjs-backend-wasm` 4.22 ships no `Conv2DBackpropFilter` (so no convolution can
 * train) and a `Conv2DBackpropInput` that is a plain loop, about 9x slower than its XNNPACK
 * forward convolution. The kernels here express both gradients as forward convolutions and run
 * them through the backend's own `Conv2D` kernel, plus `Transpose`, `PadV2`, `Reverse`, `Slice`
 * and `Reshape` for the data movement.
 *
 * Kernels call other kernels' `kernelFunc` directly instead of `tf.*` ops: an op would re-enter
 * the engine from inside a kernel, which records it on an active gradient tape and counts its
 * intermediates as user tensors. Every intermediate is released with `backend.disposeData`.
 */
import {
  backend_util,
  getKernel,
  registerKernel,
  unregisterKernel,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type TensorInfo,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

const BACKEND = 'wasm';

type Pair = [number, number];
type Padding = 'valid' | 'same' | number | backend_util.ExplicitPadding;

/** Runs a kernel already registered for the wasm backend, bypassing the engine. */
function runKernel(
  backend: BackendWasm,
  kernelName: string,
  inputs: NamedTensorInfoMap,
  attrs: NamedAttrMap,
): TensorInfo {
  const kernel = getKernel(kernelName, BACKEND);
  if (kernel === undefined) {
    throw new Error(`wasmKernels: the wasm backend has no '${kernelName}' kernel`);
  }
  return kernel.kernelFunc({ inputs, backend, attrs }) as TensorInfo;
}

function release(backend: BackendWasm, ...infos: TensorInfo[]): void {
  for (const info of infos) {
    backend.disposeData(info.dataId);
  }
}

function requireInput(kernelName: string, inputs: NamedTensorInfoMap, name: string): TensorInfo {
  const input = inputs[name];
  if (input === undefined) {
    throw new Error(`${kernelName} (wasm): missing input '${name}'`);
  }
  return input;
}

function pair(value: number | number[] | undefined): Pair {
  if (value === undefined) {
    return [1, 1];
  }
  return typeof value === 'number' ? [value, value] : [value[0], value[1]];
}

function assertChannelsLast(kernelName: string, dataFormat: unknown): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new Error(`${kernelName} (wasm): dataFormat must be 'NHWC', got '${String(dataFormat)}'`);
  }
}

function assertShape(kernelName: string, what: string, actual: number[], expected: number[]): void {
  if (actual.length !== expected.length || actual.some((size, i) => size !== expected[i])) {
    throw new Error(
      `${kernelName} (wasm): ${what} has shape [${actual.join(',')}], expected [${expected.join(',')}]`,
    );
  }
}

/**
 * Forward convolution through the wasm `Conv2D` kernel with per-side padding that may be
 * negative. XNNPACK takes only non-negative padding, so negative sides are run as zero and the
 * surplus rows or columns are sliced off afterwards.
 *
 * @param x `[batch, height, width, inChannels]`, float32, NHWC.
 * @param filter `[filterHeight, filterWidth, inChannels, outChannels]`.
 * @param pads `[top, bottom, left, right]`, any integers.
 * @param outSize the wanted `[outHeight, outWidth]`; the padding must produce at least this.
 */
function convWithPads(
  backend: BackendWasm,
  x: TensorInfo,
  filter: TensorInfo,
  strides: Pair,
  dilations: Pair,
  pads: [number, number, number, number],
  outSize: Pair,
): TensorInfo {
  const [top, bottom, left, right] = pads;
  const conv = runKernel(
    backend,
    'Conv2D',
    { x, filter },
    {
      strides,
      dilations,
      pad: [
        [0, 0],
        [Math.max(top, 0), Math.max(bottom, 0)],
        [Math.max(left, 0), Math.max(right, 0)],
        [0, 0],
      ],
      dataFormat: 'NHWC',
    },
  );
  // A negative leading pad shifts the window start by whole strides only when the stride is 1;
  // callers with stride > 1 never pass negative leading pads.
  const beginRow = Math.max(-top, 0) / strides[0];
  const beginCol = Math.max(-left, 0) / strides[1];
  const [n, rows, cols, channels] = conv.shape;
  if (beginRow === 0 && beginCol === 0 && rows === outSize[0] && cols === outSize[1]) {
    return conv;
  }
  if (
    !Number.isInteger(beginRow) ||
    !Number.isInteger(beginCol) ||
    rows < beginRow + outSize[0] ||
    cols < beginCol + outSize[1]
  ) {
    release(backend, conv);
    throw new Error(
      `wasmKernels: convolution gave [${rows},${cols}] rows/cols, cannot crop ` +
        `[${outSize.join(',')}] at [${beginRow},${beginCol}]`,
    );
  }
  const cropped = runKernel(
    backend,
    'Slice',
    { x: conv },
    { begin: [0, beginRow, beginCol, 0], size: [n, outSize[0], outSize[1], channels] },
  );
  release(backend, conv);
  return cropped;
}

/**
 * `Conv2DBackpropFilter` for wasm: the gradient of `conv2d(x, filter)` with respect to `filter`.
 *
 * Inputs `x: [batch, inHeight, inWidth, inChannels]` and `dy: [batch, outHeight, outWidth,
 * outChannels]`, float32, NHWC; output `[filterHeight, filterWidth, inChannels, outChannels]`.
 *
 * dW[kh, kw, ci, co] = sum over b, oh, ow of x[b, oh*s + kh*d - padTop, ...] * dy[b, oh, ow, co],
 * which is itself a convolution of x (batch and channel axes swapped, `[inChannels, H, W,
 * batch]`) with dy as the filter (`[outHeight, outWidth, batch, outChannels]`), using the
 * original dilation as stride and the original stride as dilation.
 */
function conv2dBackpropFilter(args: {
  inputs: NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: NamedAttrMap;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const kernelName = 'Conv2DBackpropFilter';
  const x = requireInput(kernelName, inputs, 'x');
  const dy = requireInput(kernelName, inputs, 'dy');
  assertChannelsLast(kernelName, attrs.dataFormat);
  const filterShape = attrs.filterShape as [number, number, number, number];
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    attrs.strides as number | Pair,
    pair(attrs.dilations as number | Pair | undefined),
    attrs.pad as Padding,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
  assertShape(kernelName, 'dy', dy.shape, info.outShape);
  const { strideHeight, strideWidth, dilationHeight, dilationWidth, padInfo } = info;
  const { inHeight, inWidth, outHeight, outWidth, filterHeight, filterWidth } = info;

  const xT = runKernel(backend, 'Transpose', { x }, { perm: [3, 1, 2, 0] });
  const dyT = runKernel(backend, 'Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
  // Pad the far side only as much as the last filter tap needs; the near side keeps the
  // forward pass's padding.
  const bottom =
    dilationHeight * (filterHeight - 1) +
    strideHeight * (outHeight - 1) +
    1 -
    inHeight -
    padInfo.top;
  const right =
    dilationWidth * (filterWidth - 1) + strideWidth * (outWidth - 1) + 1 - inWidth - padInfo.left;
  const grad = convWithPads(
    backend,
    xT,
    dyT,
    [dilationHeight, dilationWidth],
    [strideHeight, strideWidth],
    [padInfo.top, bottom, padInfo.left, right],
    [filterHeight, filterWidth],
  );
  release(backend, xT, dyT);
  const out = runKernel(backend, 'Transpose', { x: grad }, { perm: [1, 2, 0, 3] });
  release(backend, grad);
  return out;
}

/**
 * Inserts `stride - 1` zeros between neighbouring rows and columns of `dy` ("fractional
 * striding"), including after the last ones: `[b, h, w, c]` becomes `[b, h*sh, w*sw, c]`.
 */
function zeroInsert(backend: BackendWasm, dy: TensorInfo, strides: Pair): TensorInfo {
  const [b, h, w, c] = dy.shape;
  const [sh, sw] = strides;
  const spread = runKernel(backend, 'Reshape', { x: dy }, { shape: [b * h, 1, w, 1, c] });
  const padded = runKernel(
    backend,
    'PadV2',
    { x: spread },
    {
      paddings: [
        [0, 0],
        [0, sh - 1],
        [0, 0],
        [0, sw - 1],
        [0, 0],
      ],
      constantValue: 0,
    },
  );
  const out = runKernel(backend, 'Reshape', { x: padded }, { shape: [b, h * sh, w * sw, c] });
  release(backend, spread, padded);
  return out;
}

/**
 * `Conv2DBackpropInput` for wasm: the gradient of `conv2d(x, filter)` with respect to `x`.
 *
 * Inputs `dy: [batch, outHeight, outWidth, outChannels]` and `filter: [filterHeight,
 * filterWidth, inChannels, outChannels]`, float32, NHWC; output `attrs.inputShape`
 * (`[batch, inHeight, inWidth, inChannels]`).
 *
 * dx is a stride-1 convolution of dy (zero-inserted when the forward stride is > 1) with the
 * filter flipped in both spatial axes and its channel axes swapped.
 */
function conv2dBackpropInput(args: {
  inputs: NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: NamedAttrMap;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const kernelName = 'Conv2DBackpropInput';
  const dy = requireInput(kernelName, inputs, 'dy');
  const filter = requireInput(kernelName, inputs, 'filter');
  assertChannelsLast(kernelName, attrs.dataFormat);
  const inputShape = attrs.inputShape as [number, number, number, number];
  const info = backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides as number | Pair,
    pair(attrs.dilations as number | Pair | undefined),
    attrs.pad as Padding,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
  assertShape(kernelName, 'dy', dy.shape, info.outShape);
  const { strideHeight, strideWidth, dilationHeight, dilationWidth, padInfo } = info;
  const { inHeight, inWidth, outHeight, outWidth } = info;
  const { effectiveFilterHeight, effectiveFilterWidth } = info;

  const swapped = runKernel(backend, 'Transpose', { x: filter }, { perm: [0, 1, 3, 2] });
  const flipped = runKernel(backend, 'Reverse', { x: swapped }, { dims: [0, 1] });
  release(backend, swapped);

  const strided = strideHeight > 1 || strideWidth > 1;
  const source = strided ? zeroInsert(backend, dy, [strideHeight, strideWidth]) : dy;
  // Rows the source holds past the last dy row (zero-insertion leaves stride - 1 of them).
  const trailingRows = (strideHeight - 1) * (strided ? 1 : 0);
  const trailingCols = (strideWidth - 1) * (strided ? 1 : 0);
  const top = effectiveFilterHeight - 1 - padInfo.top;
  const left = effectiveFilterWidth - 1 - padInfo.left;
  const bottom = inHeight - ((outHeight - 1) * strideHeight + 1) + padInfo.top - trailingRows;
  const right = inWidth - ((outWidth - 1) * strideWidth + 1) + padInfo.left - trailingCols;
  const out = convWithPads(
    backend,
    source,
    flipped,
    [1, 1],
    [dilationHeight, dilationWidth],
    [top, bottom, left, right],
    [inHeight, inWidth],
  );
  release(backend, flipped);
  if (strided) {
    release(backend, source);
  }
  return out;
}

const trainingKernels: KernelConfig[] = [
  {
    kernelName: 'Conv2DBackpropFilter',
    backendName: BACKEND,
    kernelFunc: conv2dBackpropFilter as unknown as KernelFunc,
  },
  {
    kernelName: 'Conv2DBackpropInput',
    backendName: BACKEND,
    kernelFunc: conv2dBackpropInput as unknown as KernelFunc,
  },
];

/**
 * Registers BNN Lab's training kernels for the 'wasm' backend, replacing stock kernels of the
 * same name: `Conv2DBackpropFilter` (absent from tfjs-backend-wasm 4.22) and a faster
 * `Conv2DBackpropInput`. All take and return float32 NHWC tensors.
 *
 * Call it once after `await tf.setBackend('wasm')`; calling it again does nothing.
 *
 * @example
 * setWasmPaths(wasmDistFolder);
 * await tf.setBackend('wasm');
 * registerWasmTrainingKernels();
 */
export function registerWasmTrainingKernels(): void {
  for (const config of trainingKernels) {
    const current = getKernel(config.kernelName, BACKEND);
    if (current?.kernelFunc === config.kernelFunc) {
      continue;
    }
    if (current !== undefined) {
      unregisterKernel(config.kernelName, BACKEND);
    }
    registerKernel(config);
  }
}
