/**
 * Training kernels for the tfjs wasm backend.
 *
 * `@tensorflow/tfjs-backend-wasm` 4.22 ships no `Conv2DBackpropFilter` (so no convolution can
 * train), no depthwise backprop kernels, and a `Conv2DBackpropInput` that is a plain loop,
 * about 10x slower than its XNNPACK forward convolution. With BNN Lab's C kernels
 * (bnn_kernels.c, through bnnKernels.ts) the forward convolution and both of its gradients run
 * as SIMD loops over the tensors in place. Without them (or for depthwise convolutions) the
 * kernels here express each gradient as forward convolutions and run them through the backend's
 * own `Conv2D` or `DepthwiseConv2dNative` kernel, with `Transpose`, `Reverse`, `Slice`,
 * `Reshape` and `Sum` for the data movement (small filter rearrangements and the interleaving of
 * strided input gradients are copies on the wasm heap). A few other kernels that dominated a
 * profiled training step (`Tile`, `MaxPoolGrad`, `Sum`, `Mean`, `Concat`, `SplitV`, transposed
 * `BatchMatMul`) are replaced by loops over the heap or routed to XNNPACK.
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
  util,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type TensorInfo,
} from '../tf';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  BNN_SIGN,
  cKernelsAvailable,
  conv2dInC,
  conv2dWinogradInC,
  conv2dXnorInC,
  avgPoolGradInC,
  heapOffset,
  maxPoolGradInC,
  registerBnnKernels,
  winogradApplies,
  type PaddedConvGeometry,
} from './bnnKernels';

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

/** Stock kernels that BNN Lab's replacements delegate to for cases they leave alone. */
const stockKernels = new Map<string, KernelFunc>();

function runStockKernel(
  kernelName: string,
  args: { inputs: NamedTensorInfoMap; backend: BackendWasm; attrs: NamedAttrMap },
): TensorInfo {
  const stock = stockKernels.get(kernelName);
  if (stock === undefined) {
    throw new Error(`wasmKernels: no stock '${kernelName}' kernel to fall back to`);
  }
  return stock(args) as TensorInfo;
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

/** tfjs' geometry of the convolution a kernel's `attrs` describe (`depthwise` for depthwise). */
function convInfo(
  xShape: number[],
  filterShape: number[],
  attrs: NamedAttrMap,
  depthwise = false,
): backend_util.Conv2DInfo {
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as number | Pair,
    pair(attrs.dilations as number | Pair | undefined),
    attrs.pad as Padding,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    depthwise,
  );
}

/**
 * Forward convolution through the wasm `Conv2D` or `DepthwiseConv2dNative` kernel with per-side
 * padding that may be negative. XNNPACK takes only non-negative padding, so negative sides are
 * run as zero and the surplus rows or columns are sliced off afterwards.
 *
 * @param x `[batch, height, width, inChannels]`, float32, NHWC.
 * @param filter `[filterHeight, filterWidth, inChannels, outChannels or channelMultiplier]`.
 * @param pads `[top, bottom, left, right]`, any integers.
 * @param outSize the wanted `[outHeight, outWidth]`; the padding must produce at least this.
 */
function convWithPads(
  backend: BackendWasm,
  convKernel: 'Conv2D' | 'DepthwiseConv2dNative',
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
    convKernel,
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
 * Padding `[top, bottom, left, right]` of the forward convolution that computes a filter
 * gradient (see `conv2dBackpropFilter`): the near sides keep the forward pass's padding, the far
 * sides get just what the last filter tap reaches, possibly negative.
 */
function backpropFilterPads(info: backend_util.Conv2DInfo): [number, number, number, number] {
  const { padInfo } = info;
  const bottom =
    info.dilationHeight * (info.filterHeight - 1) +
    info.strideHeight * (info.outHeight - 1) +
    1 -
    info.inHeight -
    padInfo.top;
  const right =
    info.dilationWidth * (info.filterWidth - 1) +
    info.strideWidth * (info.outWidth - 1) +
    1 -
    info.inWidth -
    padInfo.left;
  return [padInfo.top, bottom, padInfo.left, right];
}

/**
 * Padding `[top, bottom, left, right]` of the stride-1 convolution of dy with the flipped
 * filter that computes a stride-1 input gradient.
 */
function backpropInputPads(info: backend_util.Conv2DInfo): [number, number, number, number] {
  const { padInfo } = info;
  const top = info.effectiveFilterHeight - 1 - padInfo.top;
  const left = info.effectiveFilterWidth - 1 - padInfo.left;
  const bottom = info.inHeight - info.outHeight + padInfo.top;
  const right = info.inWidth - info.outWidth + padInfo.left;
  return [top, bottom, left, right];
}

/** Whether the C convolution kernels take these tensors: in use, and float32. */
function cConvolutions(...tensors: TensorInfo[]): boolean {
  return cKernelsAvailable() && tensors.every((t) => t.dtype === 'float32');
}

/** `x` with the convolution's padding added (the stock `PadV2`), or `x` itself without any. */
function paddedInput(
  backend: BackendWasm,
  x: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo {
  const { top, bottom, left, right } = info.padInfo;
  if (top <= 0 && bottom <= 0 && left <= 0 && right <= 0) return x;
  const paddings = [
    [0, 0],
    [Math.max(top, 0), Math.max(bottom, 0)],
    [Math.max(left, 0), Math.max(right, 0)],
    [0, 0],
  ];
  return runKernel(backend, 'PadV2', { x }, { paddings, constantValue: 0 });
}

/** Geometry of `info`'s convolution over its padded input `padded`, for the C kernels. */
function paddedGeometry(info: backend_util.Conv2DInfo, padded: TensorInfo): PaddedConvGeometry {
  return {
    batchSize: info.batchSize,
    inHeight: padded.shape[1],
    inWidth: padded.shape[2],
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    outChannels: info.outChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    dilationHeight: info.dilationHeight,
    dilationWidth: info.dilationWidth,
  };
}

/**
 * `Conv2D` for wasm: with BNN Lab's C kernels in use, a float32 NHWC convolution runs in C
 * (`bnn_conv2d_forward`) over a padded copy of x. XNNPACK packs the filter into its own layout
 * for every new filter tensor, and a binary layer's filter (sgn of the latent weights) is a new
 * tensor every step, so the packing is paid on every call; the C kernel reads the filter as it is.
 * Everything else (no C kernels, other dtypes or layouts) goes to the stock kernel.
 */
function conv2d(args: {
  inputs: NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: NamedAttrMap;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const x = requireInput('Conv2D', inputs, 'x');
  const filter = requireInput('Conv2D', inputs, 'filter');
  if (
    !cConvolutions(x, filter) ||
    (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC')
  ) {
    return runStockKernel('Conv2D', args);
  }
  const info = convInfo(x.shape, filter.shape, attrs);
  // A binary layer's convolution (sign input, sign filter) as XNOR-popcount, exactly equal.
  const xnor = conv2dXnorInC(backend, x, filter, info);
  if (xnor !== undefined) return xnor;
  const padded = paddedInput(backend, x, info);
  const out = backend.makeOutput(info.outShape, 'float32');
  conv2dInC(backend, 'bnn_conv2d_forward', padded, filter, out, paddedGeometry(info, padded));
  if (padded !== x) release(backend, padded);
  return out;
}

/** `conv2d(sgn(x), filter)`, a binary layer's input quantizer and convolution (core/bnn/signConv.ts). */
export const SIGN_CONV2D = 'BnnSignConv2D';

/**
 * `BnnSignConv2D` (`x`, `filter`, and `Conv2D`'s attrs): the convolution of sgn(x) (`BnnSign`:
 * -1 below 0, +1 otherwise) with the filter. Where the XNOR forward applies (a filter of signs),
 * x is packed by its signs straight away (`conv2dXnorInC` with `signOfX`): the float32 signs are
 * neither written nor read, two passes over the layer's input fewer than `BnnSign` then
 * `Conv2D`. Otherwise it is those two kernels, with the same values either way.
 */
function signConv2d(args: {
  inputs: NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: NamedAttrMap;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const x = requireInput(SIGN_CONV2D, inputs, 'x');
  const filter = requireInput(SIGN_CONV2D, inputs, 'filter');
  assertChannelsLast(SIGN_CONV2D, attrs.dataFormat);
  if (cConvolutions(x, filter)) {
    const info = convInfo(x.shape, filter.shape, attrs);
    const xnor = conv2dXnorInC(backend, x, filter, info, true);
    if (xnor !== undefined) return xnor;
  }
  const signs = runKernel(backend, BNN_SIGN, { x }, {});
  try {
    return conv2d({ inputs: { x: signs, filter }, backend, attrs });
  } finally {
    release(backend, signs);
  }
}

/**
 * `FusedConv2D` for wasm. tfjs-layers' `conv2d` layers run the fused op (a linear activation
 * fuses even while gradients are recorded), which the stock kernel hands to XNNPACK. Without a
 * bias, PReLU weights or an activation other than linear, as the presets' conv2d layers, it
 * is a plain convolution: `conv2d` above, on BNN Lab's C kernels (1.3-1.5x XNNPACK's speed on
 * the 1x1 shortcuts and transitions of ResNetE-18 and BinaryDenseNet-28, docs/performance.md).
 * Anything else runs the stock kernel.
 */
function fusedConv2d(args: {
  inputs: NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: NamedAttrMap;
}): TensorInfo {
  const { inputs, attrs } = args;
  const activation = attrs.activation as string | undefined;
  if (
    inputs.bias != null ||
    inputs.preluActivationWeights != null ||
    (activation !== undefined && activation !== 'linear')
  ) {
    return runStockKernel('FusedConv2D', args);
  }
  const x = requireInput('FusedConv2D', inputs, 'x');
  const filter = requireInput('FusedConv2D', inputs, 'filter');
  return conv2d({ ...args, inputs: { x, filter } });
}

/**
 * The filter gradient through BNN Lab's C kernel (`bnn_conv2d_filter_grad`): one pass over the
 * patches of x per block of filter taps and output channels, instead of transposing x and dy and
 * packing dy as the weights of an XNNPACK convolution for every call. The padding is applied to a
 * copy of x first (the stock `PadV2`), so the kernel needs no bounds checks. A 3x3 convolution
 * of stride 1 or 2 goes to the Winograd kernel instead where that multiplies less
 * (`winogradApplies`, `conv2dWinogradInC`). Undefined when the C
 * kernels do not take the tensors (not in use, or not float32).
 */
function filterGradientInC(
  backend: BackendWasm,
  x: TensorInfo,
  dy: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo | undefined {
  if (!cConvolutions(x, dy)) return undefined;
  // 3x3 stride 1 or 2: Winograd, fewer multiplies, padding read as zeros.
  if (winogradApplies(info, 'filter')) return conv2dWinogradInC(backend, 'filter', x, dy, info);
  const padded = paddedInput(backend, x, info);
  const out = backend.makeOutput(
    [info.filterHeight, info.filterWidth, info.inChannels, info.outChannels],
    'float32',
  );
  conv2dInC(backend, 'bnn_conv2d_filter_grad', padded, dy, out, paddedGeometry(info, padded));
  if (padded !== x) release(backend, padded);
  return out;
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
  const info = convInfo(x.shape, filterShape, attrs);
  assertShape(kernelName, 'dy', dy.shape, info.outShape);

  const inC = filterGradientInC(backend, x, dy, info);
  if (inC) return inC;
  const xT = runKernel(backend, 'Transpose', { x }, { perm: [3, 1, 2, 0] });
  const dyT = runKernel(backend, 'Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
  const grad = convWithPads(
    backend,
    'Conv2D',
    xT,
    dyT,
    [info.dilationHeight, info.dilationWidth],
    [info.strideHeight, info.strideWidth],
    backpropFilterPads(info),
    [info.filterHeight, info.filterWidth],
  );
  release(backend, xT, dyT);
  const out = runKernel(backend, 'Transpose', { x: grad }, { perm: [1, 2, 0, 3] });
  release(backend, grad);
  return out;
}

/**
 * The input gradient through BNN Lab's C kernel (`bnn_conv2d_input_grad`): dy times the filter,
 * scattered over every tap into a padded dx, for any stride and dilation, then the padding
 * cropped off (`Slice`). Replaces the flipped-filter convolution (and, for strides, its phases)
 * on XNNPACK, which packs a new weight tensor every call. A 3x3 convolution of stride 1 or 2
 * goes to the Winograd kernel instead where that multiplies less (`winogradApplies`,
 * `conv2dWinogradInC`). Undefined when the C kernels do not
 * take the tensors (not in use, or not float32).
 */
function inputGradientInC(
  backend: BackendWasm,
  dy: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo | undefined {
  if (!cConvolutions(dy, filter)) return undefined;
  if (winogradApplies(info, 'input')) return conv2dWinogradInC(backend, 'input', dy, filter, info);
  const { top, left } = info.padInfo;
  // Rows and columns of the padded dx that the taps reach, and that the input occupies.
  const reachHeight =
    (info.outHeight - 1) * info.strideHeight + (info.filterHeight - 1) * info.dilationHeight + 1;
  const reachWidth =
    (info.outWidth - 1) * info.strideWidth + (info.filterWidth - 1) * info.dilationWidth + 1;
  const height = Math.max(reachHeight, top + info.inHeight);
  const width = Math.max(reachWidth, left + info.inWidth);
  const filterT = runKernel(backend, 'Transpose', { x: filter }, { perm: [0, 1, 3, 2] });
  const padded = backend.makeOutput([info.batchSize, height, width, info.inChannels], 'float32');
  conv2dInC(backend, 'bnn_conv2d_input_grad', dy, filterT, padded, paddedGeometry(info, padded));
  release(backend, filterT);
  if (top === 0 && left === 0 && height === info.inHeight && width === info.inWidth) {
    return padded;
  }
  const dx = runKernel(
    backend,
    'Slice',
    { x: padded },
    {
      begin: [0, top, left, 0],
      size: [info.batchSize, info.inHeight, info.inWidth, info.inChannels],
    },
  );
  release(backend, padded);
  return dx;
}

/**
 * `Conv2DBackpropInput` for wasm: the gradient of `conv2d(x, filter)` with respect to `x`.
 *
 * Inputs `dy: [batch, outHeight, outWidth, outChannels]` and `filter: [filterHeight,
 * filterWidth, inChannels, outChannels]`, float32, NHWC; output `attrs.inputShape`
 * (`[batch, inHeight, inWidth, inChannels]`).
 *
 * With stride 1, dx is a convolution of dy with the filter flipped in both spatial axes and its
 * channel axes swapped. With larger strides see `byPhase`.
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
  const info = convInfo(inputShape, filter.shape, attrs);
  assertShape(kernelName, 'dy', dy.shape, info.outShape);
  const inC = inputGradientInC(backend, dy, filter, info);
  if (inC) return inC;
  if (info.strideHeight > 1 || info.strideWidth > 1) {
    return byPhase(backend, info, (rows, cols) => {
      const phaseWeights = phaseFilter(backend, filter, rows.taps, cols.taps);
      const part = convWithPads(
        backend,
        'Conv2D',
        dy,
        phaseWeights,
        [1, 1],
        [rows.dilation, cols.dilation],
        [rows.padBefore, rows.padAfter, cols.padBefore, cols.padAfter],
        [rows.count, cols.count],
      );
      release(backend, phaseWeights);
      return part;
    });
  }
  const swapped = runKernel(backend, 'Transpose', { x: filter }, { perm: [0, 1, 3, 2] });
  const flipped = runKernel(backend, 'Reverse', { x: swapped }, { dims: [0, 1] });
  release(backend, swapped);
  const out = convWithPads(
    backend,
    'Conv2D',
    dy,
    flipped,
    [1, 1],
    [info.dilationHeight, info.dilationWidth],
    backpropInputPads(info),
    [info.inHeight, info.inWidth],
  );
  release(backend, flipped);
  return out;
}

/**
 * One output phase of a strided input gradient along one spatial axis: the dx positions
 * `first, first + stride, ...` (`count` of them) receive dy only through the filter taps `taps`
 * (ascending), whose dy offsets are `dilation` apart, so they form a stride-1 convolution of dy
 * with those taps, flipped, and padding `padBefore` / `padAfter` (possibly negative).
 */
interface Phase {
  taps: number[];
  dilation: number;
  padBefore: number;
  padAfter: number;
  first: number;
  count: number;
}

/**
 * Splits one spatial axis of a strided input gradient into its `stride` phases; phases that no
 * filter tap reaches (possible with dilation) or that hold no dx position are left out, their dx
 * stays zero.
 *
 * dx[i] = sum over k, o with o*stride + k*dilation = i + padBefore of dy[o] * w[k]. For i in
 * the phase r = (i + padBefore) mod stride, only taps with k*dilation = r (mod stride) count.
 */
function phases(
  inSize: number,
  outSize: number,
  filterSize: number,
  stride: number,
  dilation: number,
  forwardPadBefore: number,
): Phase[] {
  const result: Phase[] = [];
  for (let r = 0; r < stride; r++) {
    const taps: number[] = [];
    for (let k = 0; k < filterSize; k++) {
      if ((k * dilation - r) % stride === 0) {
        taps.push(k);
      }
    }
    // dx index i = r + stride*u - forwardPadBefore, for u in [firstU, lastU].
    const firstU = Math.max(0, Math.ceil((forwardPadBefore - r) / stride));
    const lastU = Math.floor((inSize - 1 + forwardPadBefore - r) / stride);
    const count = lastU - firstU + 1;
    if (taps.length === 0 || count <= 0) {
      continue;
    }
    // dy offset of tap t is u - (taps[t]*dilation - r)/stride, so consecutive taps sit
    // phaseDilation apart in dy.
    const firstOffset = (taps[0] * dilation - r) / stride;
    const phaseDilation = taps.length > 1 ? ((taps[1] - taps[0]) * dilation) / stride : 1;
    const span = (taps.length - 1) * phaseDilation;
    const padBefore = firstOffset + span - firstU;
    result.push({
      taps,
      dilation: phaseDilation,
      padBefore,
      padAfter: count - outSize - padBefore + span,
      first: r + stride * firstU - forwardPadBefore,
      count,
    });
  }
  return result;
}

/**
 * `filter[tapsH, tapsW]`, flipped in both spatial axes and with its channel axes swapped:
 * `[tapsH.length, tapsW.length, outChannels, inChannels]`, the filter of one phase.
 */
function phaseFilter(
  backend: BackendWasm,
  filter: TensorInfo,
  tapsH: number[],
  tapsW: number[],
): TensorInfo {
  const [, filterWidth, inChannels, outChannels] = filter.shape;
  const out = backend.makeOutput([tapsH.length, tapsW.length, outChannels, inChannels], 'float32');
  const source = backend.typedArrayFromHeap(filter);
  const target = backend.typedArrayFromHeap(out);
  let index = 0;
  for (let th = tapsH.length - 1; th >= 0; th--) {
    for (let tw = tapsW.length - 1; tw >= 0; tw--) {
      const tapBase = (tapsH[th] * filterWidth + tapsW[tw]) * inChannels * outChannels;
      for (let co = 0; co < outChannels; co++) {
        for (let ci = 0; ci < inChannels; ci++) {
          target[index++] = source[tapBase + ci * outChannels + co];
        }
      }
    }
  }
  return out;
}

/**
 * Input gradient for strides > 1, split by output phase ("sub-pixel" decomposition): each of
 * the strideHeight*strideWidth interleaved grids of dx positions is a stride-1 convolution of
 * dy with the filter taps that reach it, computed by `phaseGradient` as `[batch, rows.count,
 * cols.count, inChannels]` and written back to its grid. Unlike convolving a zero-inserted dy,
 * no multiply-add is spent on inserted zeros (4x fewer for stride 2).
 */
function byPhase(
  backend: BackendWasm,
  info: backend_util.Conv2DInfo,
  phaseGradient: (rows: Phase, cols: Phase) => TensorInfo,
): TensorInfo {
  const { batchSize, inHeight, inWidth, inChannels, strideHeight, strideWidth } = info;
  const rowPhases = phases(
    inHeight,
    info.outHeight,
    info.filterHeight,
    strideHeight,
    info.dilationHeight,
    info.padInfo.top,
  );
  const colPhases = phases(
    inWidth,
    info.outWidth,
    info.filterWidth,
    strideWidth,
    info.dilationWidth,
    info.padInfo.left,
  );
  const dx = backend.makeOutput(info.inShape, 'float32');
  backend.typedArrayFromHeap(dx).fill(0);
  for (const rows of rowPhases) {
    for (const cols of colPhases) {
      const part = phaseGradient(rows, cols);
      // Views after the convolution: allocating can grow (and detach) the heap.
      const source = backend.typedArrayFromHeap(part);
      const target = backend.typedArrayFromHeap(dx);
      let index = 0;
      for (let b = 0; b < batchSize; b++) {
        for (let u = 0; u < rows.count; u++) {
          const row = rows.first + u * strideHeight;
          for (let v = 0; v < cols.count; v++) {
            const col = cols.first + v * strideWidth;
            let offset = ((b * inHeight + row) * inWidth + col) * inChannels;
            for (let c = 0; c < inChannels; c++) {
              target[offset++] = source[index++];
            }
          }
        }
      }
      release(backend, part);
    }
  }
  return dx;
}

/**
 * `DepthwiseConv2dNativeBackpropFilter` for wasm: the gradient of `depthwiseConv2d(x, filter)`
 * with respect to `filter`.
 *
 * Inputs `x: [batch, inHeight, inWidth, channels]` and `dy: [batch, outHeight, outWidth,
 * channels * multiplier]`, float32, NHWC; output `[filterHeight, filterWidth, channels,
 * multiplier]`.
 *
 * As in `conv2dBackpropFilter`, but the sum over the batch cannot be a channel contraction of
 * a depthwise convolution: the batch is folded into the channels (`[1, H, W, batch*channels]`
 * convolved with dy as a `[outHeight, outWidth, batch*channels, multiplier]` filter) and summed
 * out afterwards.
 */
function depthwiseConv2dBackpropFilter(args: {
  inputs: NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: NamedAttrMap;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const kernelName = 'DepthwiseConv2dNativeBackpropFilter';
  const x = requireInput(kernelName, inputs, 'x');
  const dy = requireInput(kernelName, inputs, 'dy');
  const filterShape = attrs.filterShape as [number, number, number, number];
  const info = convInfo(x.shape, filterShape, attrs, true);
  assertShape(kernelName, 'dy', dy.shape, info.outShape);
  const [batch, inHeight, inWidth, channels] = x.shape;
  const [filterHeight, filterWidth, , multiplier] = filterShape;

  const xT = runKernel(backend, 'Transpose', { x }, { perm: [1, 2, 0, 3] });
  const xFolded = runKernel(
    backend,
    'Reshape',
    { x: xT },
    { shape: [1, inHeight, inWidth, batch * channels] },
  );
  const dyT = runKernel(backend, 'Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
  const dyFolded = runKernel(
    backend,
    'Reshape',
    { x: dyT },
    { shape: [info.outHeight, info.outWidth, batch * channels, multiplier] },
  );
  release(backend, xT, dyT);
  const grad = convWithPads(
    backend,
    'DepthwiseConv2dNative',
    xFolded,
    dyFolded,
    [info.dilationHeight, info.dilationWidth],
    [info.strideHeight, info.strideWidth],
    backpropFilterPads(info),
    [filterHeight, filterWidth],
  );
  release(backend, xFolded, dyFolded);
  const perBatch = runKernel(
    backend,
    'Reshape',
    { x: grad },
    { shape: [filterHeight, filterWidth, batch, channels * multiplier] },
  );
  release(backend, grad);
  const summed = runKernel(backend, 'Sum', { x: perBatch }, { axis: [2], keepDims: false });
  release(backend, perBatch);
  const out = runKernel(backend, 'Reshape', { x: summed }, { shape: filterShape });
  release(backend, summed);
  return out;
}

/**
 * `DepthwiseConv2dNativeBackpropInput` for wasm: the gradient of `depthwiseConv2d(x, filter)`
 * with respect to `x`.
 *
 * Inputs `dy: [batch, outHeight, outWidth, channels * multiplier]` and `filter: [filterHeight,
 * filterWidth, channels, multiplier]`, float32, NHWC; output `attrs.inputShape`
 * (`[batch, inHeight, inWidth, channels]`).
 *
 * Each dy channel `c * multiplier + m` is convolved (stride 1) with the spatially flipped
 * `filter[:, :, c, m]` by one depthwise convolution of multiplier 1, then the `multiplier`
 * results of each input channel are summed. Strides > 1 go by output phase (`byPhase`).
 */
function depthwiseConv2dBackpropInput(args: {
  inputs: NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: NamedAttrMap;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const kernelName = 'DepthwiseConv2dNativeBackpropInput';
  const dy = requireInput(kernelName, inputs, 'dy');
  const filter = requireInput(kernelName, inputs, 'filter');
  const inputShape = attrs.inputShape as [number, number, number, number];
  const info = convInfo(inputShape, filter.shape, attrs, true);
  assertShape(kernelName, 'dy', dy.shape, info.outShape);
  const [, inHeight, inWidth, channels] = inputShape;
  const [filterHeight, filterWidth, , multiplier] = filter.shape;

  const sumMultiplier = (grad: TensorInfo): TensorInfo => {
    if (multiplier === 1) {
      return grad;
    }
    const [n, rows, cols] = grad.shape;
    const split = runKernel(
      backend,
      'Reshape',
      { x: grad },
      { shape: [n, rows, cols, channels, multiplier] },
    );
    release(backend, grad);
    const summed = runKernel(backend, 'Sum', { x: split }, { axis: [4], keepDims: false });
    release(backend, split);
    return summed;
  };
  if (info.strideHeight > 1 || info.strideWidth > 1) {
    return byPhase(backend, info, (rows, cols) => {
      const phaseWeights = depthwisePhaseFilter(backend, filter, rows.taps, cols.taps);
      const part = convWithPads(
        backend,
        'DepthwiseConv2dNative',
        dy,
        phaseWeights,
        [1, 1],
        [rows.dilation, cols.dilation],
        [rows.padBefore, rows.padAfter, cols.padBefore, cols.padAfter],
        [rows.count, cols.count],
      );
      release(backend, phaseWeights);
      return sumMultiplier(part);
    });
  }
  const flipped = runKernel(backend, 'Reverse', { x: filter }, { dims: [0, 1] });
  const perChannel = runKernel(
    backend,
    'Reshape',
    { x: flipped },
    { shape: [filterHeight, filterWidth, channels * multiplier, 1] },
  );
  release(backend, flipped);
  const grad = convWithPads(
    backend,
    'DepthwiseConv2dNative',
    dy,
    perChannel,
    [1, 1],
    [info.dilationHeight, info.dilationWidth],
    backpropInputPads(info),
    [inHeight, inWidth],
  );
  release(backend, perChannel);
  return sumMultiplier(grad);
}

/**
 * `filter[tapsH, tapsW]` of a depthwise filter, flipped in both spatial axes and reshaped to
 * multiplier 1: `[tapsH.length, tapsW.length, channels * multiplier, 1]`.
 */
function depthwisePhaseFilter(
  backend: BackendWasm,
  filter: TensorInfo,
  tapsH: number[],
  tapsW: number[],
): TensorInfo {
  const [, filterWidth, channels, multiplier] = filter.shape;
  const tapSize = channels * multiplier;
  const out = backend.makeOutput([tapsH.length, tapsW.length, tapSize, 1], 'float32');
  const source = backend.typedArrayFromHeap(filter);
  const target = backend.typedArrayFromHeap(out);
  let offset = 0;
  for (let th = tapsH.length - 1; th >= 0; th--) {
    for (let tw = tapsW.length - 1; tw >= 0; tw--) {
      const tapBase = (tapsH[th] * filterWidth + tapsW[tw]) * tapSize;
      target.set(source.subarray(tapBase, tapBase + tapSize), offset);
      offset += tapSize;
    }
  }
  return out;
}

/**
 * `Tile` for wasm: `out[i] = x[i mod x.shape]`, output shape `x.shape[k] * reps[k]`.
 *
 * The stock kernel maps every output element back to an input index; the batch norm gradient
 * tiles a `[1, 1, 1, C]` tensor to activation size each step, which made `Tile` the slowest
 * kernel of a training step. This copies each input row once and then doubles filled blocks
 * with `copyWithin`, directly on the wasm heap. Any numeric dtype; strings go to the stock kernel.
 */
function tile(args: {
  inputs: NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: NamedAttrMap;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const x = requireInput('Tile', inputs, 'x');
  if (x.dtype === 'string') {
    return runStockKernel('Tile', { inputs, backend, attrs });
  }
  const reps = attrs.reps as number[];
  const shape = x.shape;
  const rank = shape.length;
  const outShape = shape.map((size, i) => size * reps[i]);
  const out = backend.makeOutput(outShape, x.dtype);
  // Views after makeOutput: allocating can grow (and detach) the heap.
  const source = backend.typedArrayFromHeap(x);
  const target = backend.typedArrayFromHeap(out);
  if (target.length === 0) {
    return out;
  }
  // From dimension `contiguous` on, reps are 1, so a whole trailing block copies as is.
  let contiguous = rank;
  while (contiguous > 0 && reps[contiguous - 1] === 1) {
    contiguous--;
  }
  const sourceStrides = new Array<number>(rank + 1).fill(1);
  const targetStrides = new Array<number>(rank + 1).fill(1);
  for (let k = rank - 1; k >= 0; k--) {
    sourceStrides[k] = sourceStrides[k + 1] * shape[k];
    targetStrides[k] = targetStrides[k + 1] * outShape[k];
  }
  // sourceStrides[k] is the element count of dimensions k.. of x, so one index of dimension k
  // spans sourceStrides[k + 1] elements.
  const fill = (dim: number, sourceOffset: number, targetOffset: number): void => {
    if (dim === contiguous) {
      const length = sourceStrides[dim];
      target.set(source.subarray(sourceOffset, sourceOffset + length), targetOffset);
      return;
    }
    for (let i = 0; i < shape[dim]; i++) {
      fill(
        dim + 1,
        sourceOffset + i * sourceStrides[dim + 1],
        targetOffset + i * targetStrides[dim + 1],
      );
    }
    const block = shape[dim] * targetStrides[dim + 1];
    const total = targetStrides[dim];
    for (let filled = block; filled < total;) {
      const length = Math.min(filled, total - filled);
      target.copyWithin(targetOffset + filled, targetOffset, targetOffset + length);
      filled += length;
    }
  };
  fill(0, 0, 0);
  return out;
}

/** Bytes per element on the wasm heap of the dtypes `copyRuns` moves, else undefined. */
function heapElementBytes(dtype: string): number | undefined {
  return dtype === 'float32' || dtype === 'int32' ? 4 : dtype === 'bool' ? 1 : undefined;
}

/**
 * Copies `runs` runs of `runBytes` bytes on the wasm heap, the i-th from `from + i * fromStride`
 * to `to + i * toStride` (byte offsets), each with one `copyWithin` (a memmove) on the heap's
 * bytes; contiguous runs in one. Per-run `subarray` views and `set`, as the stock kernels copy,
 * cost half again as much on BinaryDenseNet's 32x32xC activations (a view object per pixel).
 */
function copyRuns(
  backend: BackendWasm,
  from: number,
  fromStride: number,
  to: number,
  toStride: number,
  runs: number,
  runBytes: number,
): void {
  if (runs === 0 || runBytes === 0) return;
  // Read after any makeOutput: allocating can grow (and replace) the heap's buffer.
  const heap = backend.wasm.HEAPU8;
  if (fromStride === runBytes && toStride === runBytes) {
    heap.copyWithin(to, from, from + runs * runBytes);
    return;
  }
  for (let i = 0; i < runs; i++, from += fromStride, to += toStride) {
    heap.copyWithin(to, from, from + runBytes);
  }
}

/**
 * `Concat` for wasm: each input is `outer` runs of its inner size, copied into the output's
 * rows with `copyRuns`. BinaryDenseNet concatenates in every dense layer (a 32x32x320
 * activation and 64 new channels at batch 32, 5% of a cifar10-bdn28 step); the stock kernel
 * copies each pixel's channels through a new view, ~10% slower on such a concatenation, whose
 * time is mostly memory traffic. Other dtypes, and fewer than two non-empty inputs (the stock
 * kernel returns the one input as is), go to the stock kernel.
 */
function concat(args: {
  inputs: NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: NamedAttrMap;
}): TensorInfo {
  const { backend, attrs } = args;
  const xs = args.inputs as unknown as TensorInfo[];
  const dtype = xs[0]?.dtype;
  const bytes = dtype === undefined ? undefined : heapElementBytes(dtype);
  const nonEmpty = xs.filter((x) => util.sizeFromShape(x.shape) > 0);
  if (bytes === undefined || xs.some((x) => x.dtype !== dtype) || nonEmpty.length < 2) {
    return runStockKernel('Concat', args);
  }
  const axis = util.parseAxisParam(attrs.axis as number, xs[0].shape)[0];
  const shapes = xs.map((x) => x.shape);
  backend_util.assertParamsConsistent(shapes, axis);
  const outShape = backend_util.computeOutShape(shapes, axis);
  const out = backend.makeOutput(outShape, dtype);
  const outer = util.sizeFromShape(outShape.slice(0, axis));
  const rowBytes = util.sizeFromShape(outShape.slice(axis)) * bytes;
  const base = heapOffset(backend, out);
  let column = 0;
  for (const x of nonEmpty) {
    const runBytes = util.sizeFromShape(x.shape.slice(axis)) * bytes;
    copyRuns(backend, heapOffset(backend, x), runBytes, base + column, rowBytes, outer, runBytes);
    column += runBytes;
  }
  return out;
}

/**
 * `SplitV` for wasm: each part is `outer` runs of `size * inner` contiguous values of x, copied
 * with `copyRuns`. It is the gradient of `concatenate`, which BinaryDenseNet runs in every dense
 * layer (a 32x32x384 activation split into its 320 and 64 channels); the stock kernel runs one
 * `Slice` per part, which for a slice inside the last axis walks every element in JavaScript
 * (about 30 ms per call at batch 32, 7.5% of a cifar10-bdn28 step). Other dtypes go to the
 * stock kernel.
 */
function splitV(args: {
  inputs: NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: NamedAttrMap;
}): TensorInfo[] {
  const { inputs, backend, attrs } = args;
  const x = requireInput('SplitV', inputs, 'x');
  const bytes = heapElementBytes(x.dtype);
  if (bytes === undefined) {
    return runStockKernel('SplitV', { inputs, backend, attrs }) as unknown as TensorInfo[];
  }
  const axis = util.parseAxisParam(attrs.axis as number, x.shape)[0];
  const sizes = backend_util.prepareSplitSize(x, attrs.numOrSizeSplits as number[] | number, axis);
  const outer = util.sizeFromShape(x.shape.slice(0, axis));
  const inner = util.sizeFromShape(x.shape.slice(axis + 1));
  const rowLength = x.shape[axis] * inner;
  const outs = sizes.map((size) => {
    const shape = [...x.shape];
    shape[axis] = size;
    return backend.makeOutput(shape, x.dtype);
  });
  // Byte offsets stay valid when makeOutput grows the heap; copyRuns takes the heap after it.
  const source = heapOffset(backend, x);
  let begin = 0;
  outs.forEach((out, i) => {
    const runBytes = sizes[i] * inner * bytes;
    copyRuns(
      backend,
      source + begin,
      rowLength * bytes,
      heapOffset(backend, out),
      runBytes,
      outer,
      runBytes,
    );
    begin += runBytes;
  });
  return outs;
}

/**
 * `AvgPoolGrad` for wasm: in C (bnn_kernels.c, one pass over the windows, four channels at a
 * time) while BNN Lab's C kernels are in use; the stock kernel otherwise, which searches the
 * windows of every input pixel (13 ms for ResNetE-18's 32x32x64 shortcut at batch 32, against
 * about 1 ms).
 */
function avgPoolGrad(args: {
  inputs: NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: NamedAttrMap;
}): TensorInfo {
  const { dy, input, info } = poolGradInputs('AvgPoolGrad', args.inputs, args.attrs);
  return avgPoolGradInC(args.backend, dy, input.shape, info) ?? runStockKernel('AvgPoolGrad', args);
}

/** A 2-D pool gradient's `dy`, forward `input` and geometry, `dy` checked against it. */
function poolGradInputs(
  kernelName: string,
  inputs: NamedTensorInfoMap,
  attrs: NamedAttrMap,
): { dy: TensorInfo; input: TensorInfo; info: backend_util.Conv2DInfo } {
  const dy = requireInput(kernelName, inputs, 'dy');
  const input = requireInput(kernelName, inputs, 'input');
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize as number | Pair,
    attrs.strides as number | Pair,
    1,
    attrs.pad as Padding,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
  assertShape(kernelName, 'dy', dy.shape, info.outShape);
  return { dy, input, info };
}

/**
 * `MaxPoolGrad` for wasm: routes each `dy[b, oh, ow, c]` to the first maximal element (in
 * row-major window order, as the cpu backend does) of its pooling window in `input`.
 *
 * Inputs `dy: [batch, outHeight, outWidth, channels]`, `input: [batch, inHeight, inWidth,
 * channels]` (the forward input), float32, NHWC; output like `input`. One pass over the
 * windows, O(output * window) instead of the stock kernel's per-input-pixel window search, in C
 * (bnn_kernels.c, four channels at a time) while BNN Lab's C kernels are in use, else in the
 * JavaScript loop below; both give the same result.
 */
function maxPoolGrad(args: {
  inputs: NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: NamedAttrMap;
}): TensorInfo {
  const { backend } = args;
  const { dy, input, info } = poolGradInputs('MaxPoolGrad', args.inputs, args.attrs);
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = info;
  const out = backend.makeOutput(input.shape, 'float32');
  if (maxPoolGradInC(backend, input, dy, out, info)) {
    return out;
  }
  const x = backend.typedArrayFromHeap(input);
  const dyValues = backend.typedArrayFromHeap(dy);
  const dx = backend.typedArrayFromHeap(out);
  dx.fill(0);
  const maxValues = new Float32Array(channels);
  const maxIndices = new Int32Array(channels);
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      const rowStart = oh * info.strideHeight - info.padInfo.top;
      const rowBegin = Math.max(rowStart, 0);
      const rowEnd = Math.min(rowStart + info.filterHeight, inHeight);
      for (let ow = 0; ow < outWidth; ow++) {
        const colStart = ow * info.strideWidth - info.padInfo.left;
        const colBegin = Math.max(colStart, 0);
        const colEnd = Math.min(colStart + info.filterWidth, inWidth);
        maxValues.fill(-Infinity);
        maxIndices.fill(-1);
        for (let row = rowBegin; row < rowEnd; row++) {
          for (let col = colBegin; col < colEnd; col++) {
            const base = ((b * inHeight + row) * inWidth + col) * channels;
            for (let c = 0; c < channels; c++) {
              const value = x[base + c];
              if (value > maxValues[c]) {
                maxValues[c] = value;
                maxIndices[c] = base + c;
              }
            }
          }
        }
        const dyBase = ((b * outHeight + oh) * outWidth + ow) * channels;
        for (let c = 0; c < channels; c++) {
          if (maxIndices[c] >= 0) {
            dx[maxIndices[c]] += dyValues[dyBase + c];
          }
        }
      }
    }
  }
  return out;
}

/**
 * Sums of a float32 `[..., channels]` tensor over every axis but the last, or undefined when
 * `axis` asks for another reduction. The stock `Sum` and `Mean` transpose such inputs so the
 * reduced axes come last, a full copy of an activation-sized tensor; batch norm and its
 * gradient run these reductions several times per layer and step. One pass with float64
 * accumulators instead.
 */
function sumLeadingAxes(
  backend: BackendWasm,
  x: TensorInfo,
  axis: unknown,
): Float64Array | undefined {
  const rank = x.shape.length;
  if (x.dtype !== 'float32' || rank < 2) {
    return undefined;
  }
  const axes = util.parseAxisParam(axis as number | number[], x.shape);
  const sorted = [...new Set(axes)].sort((a, b) => a - b);
  if (sorted.length !== rank - 1 || sorted.some((a, i) => a !== i)) {
    return undefined;
  }
  const channels = x.shape[rank - 1];
  const sums = new Float64Array(channels);
  const values = backend.typedArrayFromHeap(x);
  // Four rows per pass: a quarter of the accumulator loads and stores (2-4x faster in V8).
  const rowsOf4 = channels === 0 ? 0 : Math.floor(values.length / channels / 4) * 4;
  let offset = 0;
  for (; offset < rowsOf4 * channels; offset += 4 * channels) {
    for (let c = 0; c < channels; c++) {
      const i = offset + c;
      sums[c] +=
        values[i] + values[i + channels] + values[i + 2 * channels] + values[i + 3 * channels];
    }
  }
  for (; offset < values.length; offset += channels) {
    for (let c = 0; c < channels; c++) {
      sums[c] += values[offset + c];
    }
  }
  return sums;
}

function channelOutput(
  backend: BackendWasm,
  x: TensorInfo,
  keepDims: unknown,
  values: Float64Array,
): TensorInfo {
  const channels = values.length;
  const shape = keepDims === true ? [...x.shape.slice(0, -1).map(() => 1), channels] : [channels];
  const out = backend.makeOutput(shape, 'float32');
  backend.typedArrayFromHeap(out).set(values);
  return out;
}

/** `Sum` for wasm: the all-but-last-axis case of float32 in one pass, the rest by the stock kernel. */
function sum(args: {
  inputs: NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: NamedAttrMap;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const x = requireInput('Sum', inputs, 'x');
  const sums = sumLeadingAxes(backend, x, attrs.axis);
  if (sums === undefined) {
    return runStockKernel('Sum', args);
  }
  return channelOutput(backend, x, attrs.keepDims, sums);
}

/** `Mean` for wasm: the all-but-last-axis case of float32 in one pass, the rest by the stock kernel. */
function mean(args: {
  inputs: NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: NamedAttrMap;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const x = requireInput('Mean', inputs, 'x');
  const sums = sumLeadingAxes(backend, x, attrs.axis);
  if (sums === undefined) {
    return runStockKernel('Mean', args);
  }
  const count = util.sizeFromShape(x.shape) / x.shape[x.shape.length - 1];
  return channelOutput(
    backend,
    x,
    attrs.keepDims,
    sums.map((total) => total / count),
  );
}

/**
 * `UnsortedSegmentSum` for wasm (absent from tfjs-backend-wasm 4.22), the gradient of `gather`:
 * `out[segmentIds[i], ...] += x[i, ...]`.
 *
 * Inputs `x: [n, ...inner]` (float32 or int32) and `segmentIds: [n]` (int32); output
 * `[numSegments, ...inner]` of x's dtype. Rows whose id lies outside `[0, numSegments)` are
 * dropped, as on the cpu backend.
 */
function unsortedSegmentSum(args: {
  inputs: NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: NamedAttrMap;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const kernelName = 'UnsortedSegmentSum';
  const x = requireInput(kernelName, inputs, 'x');
  const segmentIds = requireInput(kernelName, inputs, 'segmentIds');
  const numSegments = attrs.numSegments as number;
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new Error(`${kernelName} (wasm): x must be float32 or int32, got ${x.dtype}`);
  }
  if (segmentIds.shape.length !== 1 || segmentIds.shape[0] !== x.shape[0]) {
    throw new Error(
      `${kernelName} (wasm): segmentIds must have shape [${x.shape[0]}], got [${segmentIds.shape.join(',')}]`,
    );
  }
  const rows = x.shape[0];
  const rowSize = rows === 0 ? 0 : util.sizeFromShape(x.shape) / rows;
  const out = backend.makeOutput([numSegments, ...x.shape.slice(1)], x.dtype);
  const values = backend.typedArrayFromHeap(x);
  const ids = backend.typedArrayFromHeap(segmentIds);
  const sums = backend.typedArrayFromHeap(out);
  sums.fill(0);
  for (let row = 0; row < rows; row++) {
    const id = ids[row];
    if (id < 0 || id >= numSegments) {
      continue;
    }
    const source = row * rowSize;
    const target = id * rowSize;
    for (let i = 0; i < rowSize; i++) {
      sums[target + i] += values[source + i];
    }
  }
  return out;
}

/**
 * `Identity` for wasm without a copy. tfjs' engine clones every tensor it keeps for a backward
 * pass through `Identity` (~110 times in an mnist-cnn step, activations included), and the stock
 * wasm kernel copies the whole buffer each time. Tensor data is immutable in tfjs (variables
 * `assign` a new buffer; no kernel writes into its inputs), so, as the cpu backend does, the
 * clone shares the buffer and counts one more reference to it. Strings go to the stock kernel.
 */
function identity(args: {
  inputs: NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: NamedAttrMap;
}): TensorInfo {
  const x = requireInput('Identity', args.inputs, 'x');
  if (x.dtype === 'string') return runStockKernel('Identity', args);
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

/**
 * `BatchMatMul` for wasm. A dense layer's products are single (no batch, or batch 1 on both
 * sides): `x · W` forward, `dy · Wᵀ` and `xᵀ · dy` backward. The stock kernel runs the first on
 * XNNPACK's fully-connected operator, which packs W again for every new W tensor (every training
 * step: the five products of an mnist-cnn step took 2.1 ms at batch 1), and the transposed ones
 * in a scalar loop (~2 GFLOPS). With BNN Lab's C kernels in use, single float32 products run as
 * 1×1 convolutions over one row of `M` pixels, which read the weights as they are:
 * - `A · B`: the convolution, `bnn_conv2d_forward` (x = A as `[1, 1, M, K]`, filter B);
 * - `A · Bᵀ`: the same after transposing B (the stock `Transpose`, one pass over it);
 * - `Aᵀ · B`: the filter gradient, `bnn_conv2d_filter_grad` (x = A as `[1, 1, K, M]` and
 *   dy = B as `[1, 1, K, N]`: dW[m, n] = Σₖ A[k, m] · B[k, n]), no transpose.
 * Without the C kernels a transposed single product is transposed first and run on XNNPACK.
 * `Aᵀ · Bᵀ` and batched products go to the stock kernel.
 */
function batchMatMul(args: {
  inputs: NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: NamedAttrMap;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const a = requireInput('BatchMatMul', inputs, 'a');
  const b = requireInput('BatchMatMul', inputs, 'b');
  const transposeA = Boolean(attrs.transposeA);
  const transposeB = Boolean(attrs.transposeB);
  const single = (t: TensorInfo) =>
    t.shape.length >= 2 && util.sizeFromShape(t.shape.slice(0, -2)) === 1;
  if (
    (transposeA && transposeB) ||
    a.dtype !== 'float32' ||
    b.dtype !== 'float32' ||
    !single(a) ||
    !single(b)
  ) {
    return runStockKernel('BatchMatMul', args);
  }
  if (cConvolutions(a, b)) return singleProductInC(backend, a, b, transposeA, transposeB);
  if (!transposeA && !transposeB) return runStockKernel('BatchMatMul', args);
  const aT = transposeA ? transposeLastAxes(backend, a) : a;
  const bT = transposeB ? transposeLastAxes(backend, b) : b;
  try {
    return runStockKernel('BatchMatMul', {
      inputs: { a: aT, b: bT },
      backend,
      attrs: { ...attrs, transposeA: false, transposeB: false },
    });
  } finally {
    if (aT !== a) release(backend, aT);
    if (bT !== b) release(backend, bT);
  }
}

/**
 * One product `op(A) · op(B)` of float32 matrices (leading axes of size 1, not both transposed)
 * as a 1×1 convolution in the C kernels; see `batchMatMul`. The output has the stock kernel's
 * shape: the longer operand's leading axes, then `[M, N]`.
 */
function singleProductInC(
  backend: BackendWasm,
  a: TensorInfo,
  b: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
): TensorInfo {
  const [aRows, aCols] = a.shape.slice(-2);
  const [bRows, bCols] = b.shape.slice(-2);
  const m = transposeA ? aCols : aRows;
  const k = transposeA ? aRows : aCols;
  const n = transposeB ? bRows : bCols;
  const kB = transposeB ? bCols : bRows;
  if (k !== kB) {
    throw new Error(
      `BatchMatMul (wasm): inner dimensions differ: [${a.shape.join(',')}]${transposeA ? 'ᵀ' : ''} · [${b.shape.join(',')}]${transposeB ? 'ᵀ' : ''}`,
    );
  }
  const lead = (a.shape.length >= b.shape.length ? a.shape : b.shape).slice(0, -2);
  const out = backend.makeOutput([...lead, m, n], 'float32');
  if (transposeA) {
    // dW[m, n] = Σₖ A[k, m] · B[k, n]: the filter gradient over k pixels.
    conv2dInC(backend, 'bnn_conv2d_filter_grad', a, b, out, rowGeometry(k, m, n));
    return out;
  }
  const filter = transposeB ? transposeLastAxes(backend, b) : b;
  conv2dInC(backend, 'bnn_conv2d_forward', a, filter, out, rowGeometry(m, k, n));
  if (filter !== b) release(backend, filter);
  return out;
}

/** `t` with its last two axes swapped (the stock `Transpose`); the caller releases it. */
function transposeLastAxes(backend: BackendWasm, t: TensorInfo): TensorInfo {
  const rank = t.shape.length;
  const perm = [...Array(rank).keys()];
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return runKernel(backend, 'Transpose', { x: t }, { perm });
}

/**
 * A 1×1 convolution of stride 1 over one image of one row of `pixels`, `inChannels` in and
 * `outChannels` out.
 */
function rowGeometry(pixels: number, inChannels: number, outChannels: number): PaddedConvGeometry {
  return {
    batchSize: 1,
    inHeight: 1,
    inWidth: pixels,
    inChannels,
    outHeight: 1,
    outWidth: pixels,
    outChannels,
    filterHeight: 1,
    filterWidth: 1,
    strideHeight: 1,
    strideWidth: 1,
    dilationHeight: 1,
    dilationWidth: 1,
  };
}

const trainingKernels: KernelConfig[] = [
  { kernelName: 'Identity', backendName: BACKEND, kernelFunc: identity as unknown as KernelFunc },
  { kernelName: 'Conv2D', backendName: BACKEND, kernelFunc: conv2d as unknown as KernelFunc },
  {
    kernelName: 'FusedConv2D',
    backendName: BACKEND,
    kernelFunc: fusedConv2d as unknown as KernelFunc,
  },
  {
    kernelName: 'BatchMatMul',
    backendName: BACKEND,
    kernelFunc: batchMatMul as unknown as KernelFunc,
  },
  {
    kernelName: SIGN_CONV2D,
    backendName: BACKEND,
    kernelFunc: signConv2d as unknown as KernelFunc,
  },
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
  {
    kernelName: 'DepthwiseConv2dNativeBackpropFilter',
    backendName: BACKEND,
    kernelFunc: depthwiseConv2dBackpropFilter as unknown as KernelFunc,
  },
  {
    kernelName: 'DepthwiseConv2dNativeBackpropInput',
    backendName: BACKEND,
    kernelFunc: depthwiseConv2dBackpropInput as unknown as KernelFunc,
  },
  { kernelName: 'Tile', backendName: BACKEND, kernelFunc: tile as unknown as KernelFunc },
  { kernelName: 'SplitV', backendName: BACKEND, kernelFunc: splitV as unknown as KernelFunc },
  { kernelName: 'Concat', backendName: BACKEND, kernelFunc: concat as unknown as KernelFunc },
  {
    kernelName: 'MaxPoolGrad',
    backendName: BACKEND,
    kernelFunc: maxPoolGrad as unknown as KernelFunc,
  },
  {
    kernelName: 'AvgPoolGrad',
    backendName: BACKEND,
    kernelFunc: avgPoolGrad as unknown as KernelFunc,
  },
  { kernelName: 'Sum', backendName: BACKEND, kernelFunc: sum as unknown as KernelFunc },
  { kernelName: 'Mean', backendName: BACKEND, kernelFunc: mean as unknown as KernelFunc },
  {
    kernelName: 'UnsortedSegmentSum',
    backendName: BACKEND,
    kernelFunc: unsortedSegmentSum as unknown as KernelFunc,
  },
];

/**
 * Registers BNN Lab's training kernels for the 'wasm' backend, replacing stock kernels of the
 * same name:
 * - `Conv2DBackpropFilter`, `DepthwiseConv2dNativeBackpropFilter`,
 *   `DepthwiseConv2dNativeBackpropInput` and `UnsortedSegmentSum` (the gradient of `gather`),
 *   absent from tfjs-backend-wasm 4.22;
 * - `Conv2DBackpropInput`, about 10x faster than the stock one;
 * - `Conv2D`, and both convolution gradients, in BNN Lab's C kernels (bnn_kernels.c) when they
 *   are in use (27-35 GFLOPS where XNNPACK, repacking a new binary filter every step, reaches
 *   13-29); without them the gradients are XNNPACK convolutions and `Conv2D` is the stock one;
 *   `FusedConv2D` without a bias or an activation (tfjs-layers' conv2d layers) as `Conv2D`;
 * - `MaxPoolGrad`, whose stock version drops the gradient of windows whose values are all
 *   negative; `AvgPoolGrad`, in C when the C kernels are in use;
 * - `Tile`, `Sum` and `Mean`, faster where batch norm and its gradient use them (other cases go
 *   to the stock kernels); `Concat` and `SplitV` (BinaryDenseNet's concatenations and their
 *   gradient) as one heap `copyWithin` per row;
 * - `BatchMatMul`: single float32 products (dense layers and their gradients) as 1×1
 *   convolutions in the C kernels when they are in use; otherwise transposed single products,
 *   which the stock kernel runs in a scalar loop, are transposed first and run on XNNPACK;
 * - BNN Lab's C SIMD kernels `BnnSign`, `BnnSteGrad` and `BnnApproxSignGrad` (bnnKernels.ts),
 *   when bnn-kernels.wasm is found beside the bundle or in core/kernels and
 *   `BNN_LAB_C_KERNELS` is not `0`; the quantizers use tfjs ops without them.
 *
 * The convolution kernels take and return float32 NHWC tensors and accept strides, dilations
 * and 'same' / 'valid' / explicit padding. See docs/performance.md for timings.
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
    if (current === undefined) {
      registerKernel(config);
      continue;
    }
    stockKernels.set(config.kernelName, current.kernelFunc);
    unregisterKernel(config.kernelName, BACKEND);
    // The stock setup (binding its wasm function) must still run if the backend initializes
    // after this call, since the replacement falls back to the stock kernel.
    registerKernel({ ...config, setupFunc: current.setupFunc });
  }
  registerBnnKernels();
}
