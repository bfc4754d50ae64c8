/**
 * BNN Lab's C SIMD kernels (core/kernels/bnn_kernels.c, built to bnn-kernels.wasm) as kernels
 * of the tfjs wasm backend:
 *
 * - `BnnSign` (`x` → `sgn(x)`): +1 for x ≥ 0 (and −0, and NaN), −1 for x < 0, exactly what
 *   `sign(sign(x) + 0.1)` gives, in one pass instead of three kernels;
 * - `BnnSteGrad` (`dy`, `x`, attr `clip` → `dy · 1[|x| ≤ clip]`): the clipped straight-through
 *   gradient, in one pass instead of Abs, LessEqual, Cast and Multiply;
 * - `BnnApproxSignGrad` (`dy`, `x` → `dy · max(0, 2 − 2|x|)`): ApproxSign's gradient;
 * - `BnnPackSte` (`x`, attr `clip` → int32 `[⌈n/16⌉]`), `BnnUnpackSigns` (`bits`, attr `shape`
 *   → `sgn(x)`) and `BnnSteGradPacked` (`dy`, `bits` → `dy · 1[|x| ≤ clip]`): a binary
 *   convolution's input kept for the backward pass as 2 bits per value (its sign and whether the
 *   clipped straight-through gradient passes), and the two things the backward pass needs from
 *   it, equal to `BnnSign` and `BnnSteGrad` on `x` (signConv.ts);
 * - `BnnAdam`: one Adam step of one variable (optimizers.ts' `FusedAdam` calls it);
 * - `BnnChannelSums`, `BnnChannelSqDev`, `BnnBatchNormForward`, `BnnBatchNormGradSums` and
 *   `BnnBatchNormBackward`: the synchronized batch norm's statistics, normalization and
 *   gradient, each one pass over the data (syncBatchNorm.ts);
 * - and, not as kernels of their own, the loop of wasmKernels.ts' `MaxPoolGrad`
 *   (`maxPoolGradInC`), 4 channels at a time, and the three convolutions of training, the
 *   forward pass, the input gradient and the filter gradient (`conv2dInC`), which
 *   wasmKernels.ts' `Conv2D`, `Conv2DBackpropInput` and `Conv2DBackpropFilter` call when the C
 *   kernels are in use.
 *
 * The element-wise kernels take and return float32 tensors of one shape (no broadcasting). The module imports the
 * tfjs module's `WebAssembly.Memory` and is called with heap offsets, so it reads and writes the
 * tensor buffers in place; it owns no memory (no stack, no data: build.sh checks it), so nothing
 * of it can collide with the tfjs heap. The .wasm is compiled synchronously when the kernels are
 * registered and instantiated on first use against the backend's memory.
 *
 * quantizers.ts calls these through `tf.engine().runKernel` when they are registered for the
 * current backend and falls back to tfjs ops otherwise (cpu backend, missing .wasm, or
 * `BNN_LAB_C_KERNELS=0` in the environment).
 */
import { readFileSync, existsSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import {
  getGradient,
  getKernel,
  registerGradient,
  registerKernel,
  unregisterKernel,
  util,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type Tensor,
  type TensorInfo,
  zerosLike,
} from '../tf';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { kernelFileCandidates } from '../io/shipped';

const BACKEND = 'wasm';
export const BNN_KERNELS_FILE = 'bnn-kernels.wasm';
/**
 * The two builds of the kernels: `relaxed-simd` (the convolutions' multiply-adds fused where the
 * CPU can), preferred wherever it validates, and `simd128` (a multiply then an add).
 */
export type KernelVariant = 'relaxed-simd' | 'simd128';
export const BNN_KERNEL_FILES: Readonly<Record<KernelVariant, string>> = {
  'relaxed-simd': 'bnn-kernels-relaxed.wasm',
  simd128: BNN_KERNELS_FILE,
};
/** Custom kernel names, for `tf.engine().runKernel`. */
export const BNN_SIGN = 'BnnSign';
export const BNN_STE_GRAD = 'BnnSteGrad';
export const BNN_APPROX_SIGN_GRAD = 'BnnApproxSignGrad';
export const BNN_ADAM = 'BnnAdam';
/** Batch norm over the last axis (syncBatchNorm.ts): statistics, forward, gradient. */
export const BNN_CHANNEL_SUMS = 'BnnChannelSums';
export const BNN_CHANNEL_SQ_DEV = 'BnnChannelSqDev';
export const BNN_BN_FORWARD = 'BnnBatchNormForward';
export const BNN_BN_GRAD_SUMS = 'BnnBatchNormGradSums';
export const BNN_BN_BACKWARD = 'BnnBatchNormBackward';
export const BNN_PACK_STE = 'BnnPackSte';
export const BNN_UNPACK_SIGNS = 'BnnUnpackSigns';
export const BNN_STE_GRAD_PACKED = 'BnnSteGradPacked';
/**
 * A DenseNet batch norm's scale and shift over the parts of a concatenation, and its gradient
 * (syncBatchNorm.ts, `scaleParts`): inputs `x0`, `x1`, … are the parts, side by side along the
 * last axis.
 */
export const BNN_SCALE_CONCAT = 'BnnScaleConcat';
export const BNN_SCALE_SPLIT_GRAD = 'BnnScaleSplitGrad';
export const BNN_KERNEL_NAMES = [
  BNN_SIGN,
  BNN_STE_GRAD,
  BNN_APPROX_SIGN_GRAD,
  BNN_PACK_STE,
  BNN_UNPACK_SIGNS,
  BNN_STE_GRAD_PACKED,
  BNN_ADAM,
  BNN_CHANNEL_SUMS,
  BNN_CHANNEL_SQ_DEV,
  BNN_BN_FORWARD,
  BNN_BN_GRAD_SUMS,
  BNN_BN_BACKWARD,
  BNN_SCALE_CONCAT,
  BNN_SCALE_SPLIT_GRAD,
] as const;

/**
 * A pooling gradient's geometry, in the C kernels' order: batch, input height, width, channels,
 * output height, width, filter height, width, stride height, width, padding top, left.
 */
type PoolGradArgs = [
  batch: number,
  inHeight: number,
  inWidth: number,
  channels: number,
  outHeight: number,
  outWidth: number,
  filterHeight: number,
  filterWidth: number,
  strideHeight: number,
  strideWidth: number,
  padTop: number,
  padLeft: number,
];

/** `bnn_pack_signs` and `bnn_pack_sgn`: x into xp [batch, padHeight, padWidth, words] of bits. */
type PackInputArgs = [
  x: number,
  xp: number,
  batch: number,
  inHeight: number,
  inWidth: number,
  inChannels: number,
  padHeight: number,
  padWidth: number,
  padTop: number,
  padLeft: number,
  words: number,
];

type ConvolutionExport = (a: number, b: number, out: number, ...geometry: number[]) => void;
type WinogradExport = (
  a: number,
  b: number,
  out: number,
  scratch0: number,
  scratch1: number,
  scratch2: number,
  batch: number,
  inHeight: number,
  inWidth: number,
  inChannels: number,
  outHeight: number,
  outWidth: number,
  outChannels: number,
  padTop: number,
  padLeft: number,
  block: number,
  /** Input channels a transform covers at a time (all of them: unchunked). */
  chunk: number,
  /** Filter gradient: output channels the summed points cover at a time (a multiple of 8). */
  outChunk?: number,
) => void;

interface BnnExports {
  bnn_sign(x: number, out: number, n: number): void;
  bnn_ste_grad(dy: number, x: number, out: number, n: number, clip: number): void;
  bnn_approx_sign_grad(dy: number, x: number, out: number, n: number): void;
  bnn_pack_ste(x: number, bits: number, n: number, clip: number): void;
  bnn_unpack_signs(bits: number, out: number, n: number): void;
  bnn_ste_grad_packed(dy: number, bits: number, out: number, n: number): void;
  bnn_channel_sums(x: number, rows: number, channels: number, acc: number, out: number): void;
  bnn_channel_sq_dev(
    x: number,
    mean: number,
    rows: number,
    channels: number,
    acc: number,
    out: number,
  ): void;
  bnn_bn_grad_sums(
    dy: number,
    xHat: number,
    rows: number,
    channels: number,
    acc: number,
    outDy: number,
    outDot: number,
  ): void;
  bnn_bn_forward(
    x: number,
    mean: number,
    invStd: number,
    gamma: number,
    beta: number,
    rows: number,
    channels: number,
    normed: number,
    y: number,
  ): void;
  bnn_bn_backward(
    dy: number,
    xHat: number,
    meanDy: number,
    meanDyXHat: number,
    scale: number,
    rows: number,
    channels: number,
    dx: number,
  ): void;
  bnn_scale_into(
    x: number,
    gamma: number,
    beta: number,
    rows: number,
    width: number,
    y: number,
    yStride: number,
  ): void;
  bnn_scale_grad_part(
    dy: number,
    dyStride: number,
    x: number,
    gamma: number,
    rows: number,
    width: number,
    acc: number,
    dx: number,
    outDbeta: number,
    outDgamma: number,
  ): void;
  bnn_adam(
    w: number,
    g: number,
    m: number,
    v: number,
    wOut: number,
    mOut: number,
    vOut: number,
    n: number,
    beta1: number,
    oneMinusBeta1: number,
    beta2: number,
    oneMinusBeta2: number,
    accBeta1: number,
    accBeta2: number,
    negLearningRate: number,
    epsilon: number,
  ): void;
  /** (dy, dx, then the 12 numbers of `PoolGradArgs`). */
  bnn_avg_pool_grad(dy: number, dx: number, ...geometry: PoolGradArgs): void;
  /** (x, dy, dx, then the 12 numbers of `PoolGradArgs`). */
  bnn_max_pool_grad(x: number, dy: number, dx: number, ...geometry: PoolGradArgs): void;
  /** (a, b, out, then the 13 numbers of `PaddedConvGeometry` in its order): see `conv2dInC`. */
  bnn_conv2d_forward: ConvolutionExport;
  bnn_conv2d_input_grad: ConvolutionExport;
  bnn_conv2d_filter_grad: ConvolutionExport;
  /** (dy, filter, dx, u, v, m, then the 10 numbers of `WinogradGeometry`): see `conv2dWinogradInC`. */
  bnn_winograd_input_grad: WinogradExport;
  /** (x, dy, dw, xHat, dyHat, m, then the 10 numbers of `WinogradGeometry`, block, chunk, outChunk). */
  bnn_winograd_filter_grad: WinogradExport;
  /** The same over 4x4 tiles, F(4x4, 3x3): 36 points for 16. */
  bnn_winograd4_input_grad: WinogradExport;
  bnn_winograd4_filter_grad: WinogradExport;
  /** 3x3 stride-2 convolutions by their phases: 25 points per 4x4 block of the input. */
  bnn_winograd_s2_input_grad: WinogradExport;
  bnn_winograd_s2_filter_grad: WinogradExport;
  /** Returns 1, or 0 when a value of x is not exactly +1 or -1. */
  bnn_pack_signs(...args: PackInputArgs): number;
  /** The same layout, packing sgn(x) of any x (as `bnn_sign`). */
  bnn_pack_sgn(...args: PackInputArgs): void;
  bnn_pack_filter_signs(
    w: number,
    wp: number,
    filterHeight: number,
    filterWidth: number,
    inChannels: number,
    outChannels: number,
    words: number,
  ): number;
  bnn_conv2d_forward_xnor(
    xp: number,
    wp: number,
    y: number,
    batch: number,
    padHeight: number,
    padWidth: number,
    inChannels: number,
    outHeight: number,
    outWidth: number,
    outChannels: number,
    filterHeight: number,
    filterWidth: number,
    strideHeight: number,
    strideWidth: number,
    dilationHeight: number,
    dilationWidth: number,
    inHeight: number,
    inWidth: number,
    padTop: number,
    padLeft: number,
  ): void;
}

/** Where the .wasm may be: beside the bundle (dist/wasm), or in the source tree (tests, bench). */
export function bnnKernelCandidates(): string[] {
  return kernelFileCandidates(BNN_KERNELS_FILE);
}

/** The parts of the WebAssembly API used here (core compiles without the DOM typings). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
type WasmModule = object;
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { exports: unknown };
  Memory: new (descriptor: { initial: number }) => WasmMemory;
  validate: (bytes: Uint8Array) => boolean;
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** The compiled build; null when none is found or compiles, undefined before the first try. */
let compiled: { module: WasmModule; variant: KernelVariant } | null | undefined;
/** Set by registerBnnKernels, cleared by unregisterBnnKernels; MaxPoolGrad follows it. */
let cKernelsInUse = false;
/** Why the kernels are not registered, when they are not. */
let unavailableReason: string | undefined;
/** One instance per tfjs memory (a new backend instance has a new memory). */
let instances = new WeakMap<WasmMemory, BnnExports>();
/** The build setKernelVariant asks for (tests, benchmarks); undefined: the fastest that runs. */
let forcedVariant: KernelVariant | undefined;

/**
 * Whether this runtime accepts relaxed SIMD. Chromium-based hosts (VS Code's extension host,
 * Node 22 and later) have it on; Node 20's V8 has it behind `--experimental-wasm-relaxed-simd`,
 * which we turn on for this process when a module does not validate without it. The flag only
 * adds instructions to what WebAssembly accepts; nothing else changes.
 */
function validatesRelaxed(bytes: Uint8Array): boolean {
  if (wasmApi.validate(bytes)) return true;
  setFlagsFromString('--experimental-wasm-relaxed-simd');
  return wasmApi.validate(bytes);
}

/** False when the environment variable `name` is `0`, `false`, `off` or `no`; true unset. */
function onInEnvironment(name: string): boolean {
  return !/^(0|false|off|no)$/i.test((process.env[name] ?? '').trim());
}

function compileModule(): WasmModule | null {
  if (compiled !== undefined) return compiled?.module ?? null;
  const find = (name: string): string | undefined =>
    kernelFileCandidates(name).find((candidate) => existsSync(candidate));
  const wantRelaxed =
    forcedVariant === undefined
      ? onInEnvironment('BNN_LAB_RELAXED_SIMD')
      : forcedVariant === 'relaxed-simd';
  const relaxed = wantRelaxed ? find(BNN_KERNEL_FILES['relaxed-simd']) : undefined;
  if (relaxed !== undefined) {
    const bytes = readFileSync(relaxed);
    if (validatesRelaxed(bytes)) {
      try {
        compiled = { module: new wasmApi.Module(bytes), variant: 'relaxed-simd' };
        return compiled.module;
      } catch {
        // Fall through to the SIMD128 build, which every runtime with wasm SIMD runs.
      }
    }
  }
  const file = find(BNN_KERNELS_FILE);
  if (file === undefined) {
    unavailableReason = `${BNN_KERNELS_FILE} not found (looked in ${bnnKernelCandidates().join(', ')})`;
    compiled = null;
    return null;
  }
  try {
    compiled = { module: new wasmApi.Module(readFileSync(file)), variant: 'simd128' };
    return compiled.module;
  } catch (e) {
    unavailableReason = `${file} does not compile: ${e instanceof Error ? e.message : String(e)}`;
    compiled = null;
    return null;
  }
}

/** The build of the C kernels in use (compiling it if needed), for benchmarks and logs. */
export function bnnKernelVariant(): KernelVariant | undefined {
  compileModule();
  return compiled?.variant;
}

/**
 * For tests and benchmarks: use `variant`'s build of the kernels from the next kernel call on
 * (undefined: the fastest this runtime runs, as by default). Returns the build in use before.
 */
export function setKernelVariant(variant: KernelVariant | undefined): KernelVariant | undefined {
  const previous = bnnKernelVariant();
  forcedVariant = variant;
  compiled = undefined;
  instances = new WeakMap();
  compileModule();
  return previous;
}

function wasmMemory(backend: BackendWasm): WasmMemory {
  const memory = (backend.wasm as unknown as { asm?: { memory?: unknown } }).asm?.memory;
  if (!(memory instanceof wasmApi.Memory)) {
    throw new Error('bnnKernels: the tfjs wasm module exports no memory (asm.memory)');
  }
  return memory;
}

function kernelsFor(backend: BackendWasm): BnnExports {
  const memory = wasmMemory(backend);
  let exports = instances.get(memory);
  if (exports === undefined) {
    const module = compileModule();
    if (module === null) throw new Error(`bnnKernels: ${unavailableReason}`);
    const instance = new wasmApi.Instance(module, { env: { memory } });
    exports = instance.exports as unknown as BnnExports;
    instances.set(memory, exports);
  }
  return exports;
}

/** Byte offset of a tensor's buffer in the wasm heap. */
export function heapOffset(backend: BackendWasm, info: TensorInfo): number {
  const data = backend.dataIdMap.get(info.dataId);
  if (data === undefined) throw new Error('bnnKernels: tensor data is not on the wasm backend');
  return data.memoryOffset;
}

function floatInput(kernelName: string, inputs: NamedTensorInfoMap, name: string): TensorInfo {
  const input = inputs[name];
  if (input === undefined) throw new Error(`${kernelName} (wasm): missing input '${name}'`);
  if (input.dtype !== 'float32') {
    throw new Error(`${kernelName} (wasm): '${name}' must be float32, got ${input.dtype}`);
  }
  return input;
}

function sameShape(kernelName: string, a: TensorInfo, b: TensorInfo): void {
  if (!util.arraysEqual(a.shape, b.shape)) {
    throw new Error(
      `${kernelName} (wasm): dy has shape [${a.shape.join(',')}], x has [${b.shape.join(',')}]`,
    );
  }
}

interface Args {
  inputs: NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: NamedAttrMap;
}

function bnnSign({ inputs, backend }: Args): TensorInfo {
  const x = floatInput(BNN_SIGN, inputs, 'x');
  const out = backend.makeOutput(x.shape, 'float32');
  const n = util.sizeFromShape(x.shape);
  if (n > 0) kernelsFor(backend).bnn_sign(heapOffset(backend, x), heapOffset(backend, out), n);
  return out;
}

function bnnSteGrad({ inputs, backend, attrs }: Args): TensorInfo {
  const dy = floatInput(BNN_STE_GRAD, inputs, 'dy');
  const x = floatInput(BNN_STE_GRAD, inputs, 'x');
  sameShape(BNN_STE_GRAD, dy, x);
  const clip = attrs.clip;
  if (typeof clip !== 'number') {
    throw new Error(`${BNN_STE_GRAD} (wasm): attr 'clip' must be a number, got ${String(clip)}`);
  }
  const out = backend.makeOutput(x.shape, 'float32');
  const n = util.sizeFromShape(x.shape);
  if (n > 0) {
    kernelsFor(backend).bnn_ste_grad(
      heapOffset(backend, dy),
      heapOffset(backend, x),
      heapOffset(backend, out),
      n,
      // The C side compares in float32, as tfjs does with the clip as a float32 scalar.
      Math.fround(clip),
    );
  }
  return out;
}

/** Words of `BnnPackSte`'s output for `n` values: 16 values (2 bits each) per int32. */
const packedSteWords = (n: number) => Math.ceil(n / 16);

function bnnPackSte({ inputs, backend, attrs }: Args): TensorInfo {
  const x = floatInput(BNN_PACK_STE, inputs, 'x');
  const clip = attrs.clip;
  if (typeof clip !== 'number') {
    throw new Error(`${BNN_PACK_STE} (wasm): attr 'clip' must be a number, got ${String(clip)}`);
  }
  const n = util.sizeFromShape(x.shape);
  const bits = backend.makeOutput([packedSteWords(n)], 'int32');
  if (n > 0) {
    // Compared in float32, as BnnSteGrad does.
    const [xAt, bitsAt] = [heapOffset(backend, x), heapOffset(backend, bits)];
    kernelsFor(backend).bnn_pack_ste(xAt, bitsAt, n, Math.fround(clip));
  }
  return bits;
}

function packedInput(kernelName: string, inputs: NamedTensorInfoMap, n: number): TensorInfo {
  const bits = inputs.bits;
  if (bits === undefined) throw new Error(`${kernelName} (wasm): missing input 'bits'`);
  if (bits.dtype !== 'int32' || util.sizeFromShape(bits.shape) !== packedSteWords(n)) {
    throw new Error(
      `${kernelName} (wasm): 'bits' must be ${packedSteWords(n)} int32 words for ${n} values`,
    );
  }
  return bits;
}

function bnnUnpackSigns({ inputs, backend, attrs }: Args): TensorInfo {
  const shape = attrs.shape as number[];
  const n = util.sizeFromShape(shape);
  const bits = packedInput(BNN_UNPACK_SIGNS, inputs, n);
  const out = backend.makeOutput(shape, 'float32');
  if (n > 0) {
    kernelsFor(backend).bnn_unpack_signs(heapOffset(backend, bits), heapOffset(backend, out), n);
  }
  return out;
}

function bnnSteGradPacked({ inputs, backend }: Args): TensorInfo {
  const dy = floatInput(BNN_STE_GRAD_PACKED, inputs, 'dy');
  const n = util.sizeFromShape(dy.shape);
  const bits = packedInput(BNN_STE_GRAD_PACKED, inputs, n);
  const out = backend.makeOutput(dy.shape, 'float32');
  if (n > 0) {
    kernelsFor(backend).bnn_ste_grad_packed(
      heapOffset(backend, dy),
      heapOffset(backend, bits),
      heapOffset(backend, out),
      n,
    );
  }
  return out;
}

function bnnApproxSignGrad({ inputs, backend }: Args): TensorInfo {
  const dy = floatInput(BNN_APPROX_SIGN_GRAD, inputs, 'dy');
  const x = floatInput(BNN_APPROX_SIGN_GRAD, inputs, 'x');
  sameShape(BNN_APPROX_SIGN_GRAD, dy, x);
  const out = backend.makeOutput(x.shape, 'float32');
  const n = util.sizeFromShape(x.shape);
  if (n > 0) {
    kernelsFor(backend).bnn_approx_sign_grad(
      heapOffset(backend, dy),
      heapOffset(backend, x),
      heapOffset(backend, out),
      n,
    );
  }
  return out;
}

function numberAttr(attrs: NamedAttrMap, name: string): number {
  const value = attrs[name];
  if (typeof value !== 'number') {
    throw new Error(`${BNN_ADAM} (wasm): attr '${name}' must be a number, got ${String(value)}`);
  }
  return value;
}

/**
 * `BnnAdam` (`x` the variable, `g` its gradient, `m` and `v` Adam's moments; attrs `beta1`,
 * `beta2`, `epsilon`, `learningRate`, and `accBeta1`/`accBeta2` = β^t before the step) →
 * `[x', m', v']`: one Adam step in one pass instead of tfjs' ~12 kernels per variable, with the
 * same float32 operations in the same order (see bnn_adam in bnn_kernels.c). The scalars are
 * rounded to float32 as tfjs rounds them when it makes them scalar tensors.
 */
function bnnAdam({ inputs, backend, attrs }: Args): TensorInfo[] {
  const x = floatInput(BNN_ADAM, inputs, 'x');
  const parts = ['g', 'm', 'v'].map((name) => {
    const t = floatInput(BNN_ADAM, inputs, name);
    if (!util.arraysEqual(t.shape, x.shape)) {
      throw new Error(
        `${BNN_ADAM} (wasm): '${name}' has shape [${t.shape.join(',')}], x has [${x.shape.join(',')}]`,
      );
    }
    return t;
  });
  const outs = [0, 1, 2].map(() => backend.makeOutput(x.shape, 'float32'));
  const n = util.sizeFromShape(x.shape);
  const beta1 = numberAttr(attrs, 'beta1');
  const beta2 = numberAttr(attrs, 'beta2');
  if (n > 0) {
    kernelsFor(backend).bnn_adam(
      heapOffset(backend, x),
      ...(parts.map((t) => heapOffset(backend, t)) as [number, number, number]),
      ...(outs.map((t) => heapOffset(backend, t)) as [number, number, number]),
      n,
      Math.fround(beta1),
      Math.fround(1 - beta1),
      Math.fround(beta2),
      Math.fround(1 - beta2),
      Math.fround(numberAttr(attrs, 'accBeta1')),
      Math.fround(numberAttr(attrs, 'accBeta2')),
      Math.fround(-numberAttr(attrs, 'learningRate')),
      Math.fround(numberAttr(attrs, 'epsilon')),
    );
  }
  return outs;
}

/**
 * The inputs of a batch-norm kernel: `names[0]` is the [..., channels] tensor whose shape the
 * others of rank > 1 share; rank-1 inputs are per-channel vectors of length `channels`.
 */
function batchNormInputs(
  kernelName: string,
  inputs: NamedTensorInfoMap,
  names: string[],
): { tensors: TensorInfo[]; rows: number; channels: number } {
  const tensors = names.map((name) => floatInput(kernelName, inputs, name));
  const shape = tensors[0].shape;
  const channels = shape[shape.length - 1] ?? 1;
  for (const [i, t] of tensors.entries()) {
    const ok =
      t.shape.length === 1 && i > 0 ? t.shape[0] === channels : util.arraysEqual(t.shape, shape);
    if (!ok) {
      throw new Error(
        `${kernelName} (wasm): '${names[i]}' has shape [${t.shape.join(',')}], '${names[0]}' has [${shape.join(',')}]`,
      );
    }
  }
  const size = util.sizeFromShape(shape);
  return { tensors, rows: channels === 0 ? 0 : size / channels, channels };
}

/** Runs a channel-sum C function with a zeroed float64 accumulator of `width` values. */
function withAccumulator(backend: BackendWasm, width: number, run: (acc: number) => void): void {
  // Two float32s per double; tfjs' allocator aligns buffers to at least 8 bytes.
  const acc = backend.makeOutput([Math.max(1, 2 * width)], 'float32');
  backend.typedArrayFromHeap(acc).fill(0);
  try {
    run(heapOffset(backend, acc));
  } finally {
    backend.disposeData(acc.dataId);
  }
}

function bnnChannelSums({ inputs, backend }: Args): TensorInfo {
  const { tensors, rows, channels } = batchNormInputs(BNN_CHANNEL_SUMS, inputs, ['x']);
  const out = backend.makeOutput([channels], 'float32');
  withAccumulator(backend, channels, (acc) =>
    kernelsFor(backend).bnn_channel_sums(
      heapOffset(backend, tensors[0]),
      rows,
      channels,
      acc,
      heapOffset(backend, out),
    ),
  );
  return out;
}

function bnnChannelSqDev({ inputs, backend }: Args): TensorInfo {
  const { tensors, rows, channels } = batchNormInputs(BNN_CHANNEL_SQ_DEV, inputs, ['x', 'mean']);
  const out = backend.makeOutput([channels], 'float32');
  withAccumulator(backend, channels, (acc) =>
    kernelsFor(backend).bnn_channel_sq_dev(
      heapOffset(backend, tensors[0]),
      heapOffset(backend, tensors[1]),
      rows,
      channels,
      acc,
      heapOffset(backend, out),
    ),
  );
  return out;
}

/** → `[sum of dy, sum of dy · xHat]` per channel (dBeta and dGamma). */
function bnnBatchNormGradSums({ inputs, backend }: Args): TensorInfo[] {
  const { tensors, rows, channels } = batchNormInputs(BNN_BN_GRAD_SUMS, inputs, ['dy', 'xHat']);
  const outs = [0, 1].map(() => backend.makeOutput([channels], 'float32'));
  withAccumulator(backend, 2 * channels, (acc) =>
    kernelsFor(backend).bnn_bn_grad_sums(
      heapOffset(backend, tensors[0]),
      heapOffset(backend, tensors[1]),
      rows,
      channels,
      acc,
      heapOffset(backend, outs[0]),
      heapOffset(backend, outs[1]),
    ),
  );
  return outs;
}

/** → `[normed, y]`: x̂ = (x − mean)·invStd and y = x̂·gamma + beta. */
function bnnBatchNormForward({ inputs, backend }: Args): TensorInfo[] {
  const names = ['x', 'mean', 'invStd', 'gamma', 'beta'];
  const { tensors, rows, channels } = batchNormInputs(BNN_BN_FORWARD, inputs, names);
  const normed = backend.makeOutput(tensors[0].shape, 'float32');
  const y = backend.makeOutput(tensors[0].shape, 'float32');
  if (rows > 0 && channels > 0) {
    const [x, mean, invStd, gamma, beta] = tensors.map((t) => heapOffset(backend, t));
    kernelsFor(backend).bnn_bn_forward(
      x,
      mean,
      invStd,
      gamma,
      beta,
      rows,
      channels,
      heapOffset(backend, normed),
      heapOffset(backend, y),
    );
  }
  return [normed, y];
}

/** → dx = ((dy − meanDy) − xHat·meanDyXHat)·scale. */
function bnnBatchNormBackward({ inputs, backend }: Args): TensorInfo {
  const names = ['dy', 'xHat', 'meanDy', 'meanDyXHat', 'scale'];
  const { tensors, rows, channels } = batchNormInputs(BNN_BN_BACKWARD, inputs, names);
  const dx = backend.makeOutput(tensors[0].shape, 'float32');
  if (rows > 0 && channels > 0) {
    const [dy, xHat, meanDy, meanDyXHat, scale] = tensors.map((t) => heapOffset(backend, t));
    kernelsFor(backend).bnn_bn_backward(
      dy,
      xHat,
      meanDy,
      meanDyXHat,
      scale,
      rows,
      channels,
      heapOffset(backend, dx),
    );
  }
  return dx;
}

/**
 * The parts `x0`, `x1`, … of a concatenation along the last axis (at least one; same leading
 * axes), and the per-channel vectors `names` of the concatenation's width.
 */
function partsInputs(
  kernelName: string,
  inputs: NamedTensorInfoMap,
  names: string[],
): { parts: TensorInfo[]; vectors: TensorInfo[]; rows: number; channels: number } {
  const parts: TensorInfo[] = [];
  while (inputs[`x${parts.length}`] !== undefined) {
    parts.push(floatInput(kernelName, inputs, `x${parts.length}`));
  }
  if (parts.length === 0) throw new Error(`${kernelName} (wasm): missing input 'x0'`);
  const lead = parts[0].shape.slice(0, -1);
  for (const [i, part] of parts.entries()) {
    if (part.shape.length !== lead.length + 1 || !util.arraysEqual(part.shape.slice(0, -1), lead)) {
      throw new Error(
        `${kernelName} (wasm): 'x${i}' has shape [${part.shape.join(',')}], 'x0' has [${parts[0].shape.join(',')}]`,
      );
    }
  }
  const channels = parts.reduce((n, part) => n + widthOf(part), 0);
  const vectors = names.map((name) => floatInput(kernelName, inputs, name));
  for (const [i, v] of vectors.entries()) {
    if (v.shape.length !== 1 || v.shape[0] !== channels) {
      throw new Error(
        `${kernelName} (wasm): '${names[i]}' has shape [${v.shape.join(',')}], expected [${channels}]`,
      );
    }
  }
  return { parts, vectors, rows: util.sizeFromShape(lead), channels };
}

/** Channels of a part: the size of its last axis. */
function widthOf(t: TensorInfo): number {
  return t.shape[t.shape.length - 1] ?? 0;
}

/** → y = concat(x0, x1, …) · gamma + beta, each part written into its columns of y. */
function bnnScaleConcat({ inputs, backend }: Args): TensorInfo {
  const { parts, vectors, rows, channels } = partsInputs(BNN_SCALE_CONCAT, inputs, [
    'gamma',
    'beta',
  ]);
  const y = backend.makeOutput([...parts[0].shape.slice(0, -1), channels], 'float32');
  if (rows === 0 || channels === 0) return y;
  const [gamma, beta] = vectors.map((v) => heapOffset(backend, v));
  const out = heapOffset(backend, y);
  let at = 0;
  for (const part of parts) {
    const width = widthOf(part);
    if (width > 0) {
      const shift = 4 * at;
      kernelsFor(backend).bnn_scale_into(
        heapOffset(backend, part),
        gamma + shift,
        beta + shift,
        rows,
        width,
        out + shift,
        channels,
      );
    }
    at += width;
  }
  return y;
}

/**
 * The gradient of `BnnScaleConcat`: → `[dx0, dx1, …, dGamma, dBeta]`, dxᵢ = dy's columns of
 * part i · gamma, dGamma = Σ dy · xᵢ and dBeta = Σ dy over the rows (float64 sums, rounded once).
 */
function bnnScaleSplitGrad({ inputs, backend }: Args): TensorInfo[] {
  const { parts, vectors, rows, channels } = partsInputs(BNN_SCALE_SPLIT_GRAD, inputs, ['gamma']);
  const dy = floatInput(BNN_SCALE_SPLIT_GRAD, inputs, 'dy');
  const expected = [...parts[0].shape.slice(0, -1), channels];
  if (!util.arraysEqual(dy.shape, expected)) {
    throw new Error(
      `${BNN_SCALE_SPLIT_GRAD} (wasm): 'dy' has shape [${dy.shape.join(',')}], expected [${expected.join(',')}]`,
    );
  }
  const dxs = parts.map((part) => backend.makeOutput(part.shape, 'float32'));
  const [dGamma, dBeta] = [0, 1].map(() => backend.makeOutput([channels], 'float32'));
  if (rows === 0) {
    backend.typedArrayFromHeap(dGamma).fill(0);
    backend.typedArrayFromHeap(dBeta).fill(0);
    return [...dxs, dGamma, dBeta];
  }
  const gamma = heapOffset(backend, vectors[0]);
  const dyAt = heapOffset(backend, dy);
  let at = 0;
  for (const [i, part] of parts.entries()) {
    const width = widthOf(part);
    if (width > 0) {
      const shift = 4 * at;
      withAccumulator(backend, 2 * width, (acc) =>
        kernelsFor(backend).bnn_scale_grad_part(
          dyAt + shift,
          channels,
          heapOffset(backend, part),
          gamma + shift,
          rows,
          width,
          acc,
          heapOffset(backend, dxs[i]),
          heapOffset(backend, dBeta) + shift,
          heapOffset(backend, dGamma) + shift,
        ),
      );
    }
    at += width;
  }
  return [...dxs, dGamma, dBeta];
}

const bnnKernelConfigs: KernelConfig[] = [
  ...(
    [
      [BNN_CHANNEL_SUMS, bnnChannelSums],
      [BNN_CHANNEL_SQ_DEV, bnnChannelSqDev],
      [BNN_BN_GRAD_SUMS, bnnBatchNormGradSums],
      [BNN_BN_FORWARD, bnnBatchNormForward],
      [BNN_BN_BACKWARD, bnnBatchNormBackward],
      [BNN_SCALE_CONCAT, bnnScaleConcat],
      [BNN_SCALE_SPLIT_GRAD, bnnScaleSplitGrad],
    ] as const
  ).map(([kernelName, fn]) => ({
    kernelName,
    backendName: BACKEND,
    kernelFunc: fn as unknown as KernelFunc,
  })),
  { kernelName: BNN_ADAM, backendName: BACKEND, kernelFunc: bnnAdam as unknown as KernelFunc },
  { kernelName: BNN_SIGN, backendName: BACKEND, kernelFunc: bnnSign as unknown as KernelFunc },
  {
    kernelName: BNN_STE_GRAD,
    backendName: BACKEND,
    kernelFunc: bnnSteGrad as unknown as KernelFunc,
  },
  {
    kernelName: BNN_APPROX_SIGN_GRAD,
    backendName: BACKEND,
    kernelFunc: bnnApproxSignGrad as unknown as KernelFunc,
  },
  ...(
    [
      [BNN_PACK_STE, bnnPackSte],
      [BNN_UNPACK_SIGNS, bnnUnpackSigns],
      [BNN_STE_GRAD_PACKED, bnnSteGradPacked],
    ] as const
  ).map(([kernelName, fn]) => ({
    kernelName,
    backendName: BACKEND,
    kernelFunc: fn as unknown as KernelFunc,
  })),
];

/**
 * Registers `BnnSign`, `BnnSteGrad` and `BnnApproxSignGrad` for the wasm backend when
 * bnn-kernels.wasm is found and compiles (synchronously), unless `BNN_LAB_C_KERNELS=0`.
 * Safe to call before or after the backend initializes, and more than once.
 * @returns undefined when registered, else the reason they are not.
 */
export function registerBnnKernels(): string | undefined {
  // BNN_LAB_C_KERNELS=0 (or false/off/no): the quantizers use tfjs ops.
  if (!onInEnvironment('BNN_LAB_C_KERNELS')) return 'disabled by BNN_LAB_C_KERNELS';
  if (compileModule() === null) return unavailableReason;
  cKernelsInUse = true;
  if (getGradient(BNN_SIGN) === undefined) {
    // As for tf.sign (and so `sign(sign(x) + 0.1)`): a zero gradient, so callers that take
    // `sgn` on a gradient tape without a custom gradient of their own still differentiate.
    registerGradient({
      kernelName: BNN_SIGN,
      gradFunc: (dy: Tensor | Tensor[]) => ({ x: () => zerosLike(dy as Tensor) }),
    });
  }
  for (const config of bnnKernelConfigs) {
    if (getKernel(config.kernelName, BACKEND)?.kernelFunc === config.kernelFunc) continue;
    if (getKernel(config.kernelName, BACKEND) !== undefined) {
      unregisterKernel(config.kernelName, BACKEND);
    }
    registerKernel(config);
  }
  return undefined;
}

/**
 * `AvgPoolGrad` in C for wasmKernels.ts (2-D, no dilation): returns `dx` (shape `xShape`), or
 * undefined when the C kernels are not in use (the caller then runs the stock kernel). As tfjs
 * defines it: every input pixel of a window gets the window's dy over the whole window's size.
 */
export function avgPoolGradInC(
  backend: BackendWasm,
  dy: TensorInfo,
  xShape: number[],
  info: PoolGeometry,
): TensorInfo | undefined {
  if (!cKernelsInUse || dy.dtype !== 'float32') return undefined;
  if (info.padInfo.top < 0 || info.padInfo.left < 0) return undefined;
  const dx = backend.makeOutput(xShape, 'float32');
  kernelsFor(backend).bnn_avg_pool_grad(
    heapOffset(backend, dy),
    heapOffset(backend, dx),
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    info.padInfo.top,
    info.padInfo.left,
  );
  return dx;
}

/** The geometry of a 2-D pool, as tfjs' `computePool2DInfo` gives it. */
export interface PoolGeometry {
  batchSize: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  padInfo: { top: number; left: number };
}

/**
 * `MaxPoolGrad` in C for wasmKernels.ts: fills `dx` (already allocated, shape of `x`) and
 * returns true, or returns false when the C kernels are not in use (the caller then runs its
 * JavaScript loop). Same result as that loop: the first maximum of each window gets dy.
 */
export function maxPoolGradInC(
  backend: BackendWasm,
  x: TensorInfo,
  dy: TensorInfo,
  dx: TensorInfo,
  info: PoolGeometry,
): boolean {
  if (!cKernelsInUse || x.dtype !== 'float32' || dy.dtype !== 'float32') return false;
  if (info.padInfo.top < 0 || info.padInfo.left < 0) return false;
  backend.typedArrayFromHeap(dx).fill(0);
  if (util.sizeFromShape(dy.shape) === 0) return true;
  kernelsFor(backend).bnn_max_pool_grad(
    heapOffset(backend, x),
    heapOffset(backend, dy),
    heapOffset(backend, dx),
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    info.padInfo.top,
    info.padInfo.left,
  );
  return true;
}

/** The sizes of a 2-D convolution, named as in tfjs' Conv2DInfo (which has them all). */
export interface ConvGeometry {
  batchSize: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  outChannels: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  dilationHeight: number;
  dilationWidth: number;
}

/**
 * Geometry of a convolution whose input is already padded (every filter tap lands inside):
 * `inHeight` and `inWidth` are those of the padded input.
 */
export type PaddedConvGeometry = ConvGeometry;

/** True when wasmKernels.ts may hand work to the C module (same switch as the C kernels). */
export function cKernelsAvailable(): boolean {
  return cKernelsInUse;
}

/** The C convolutions, each called as (a, b, out, geometry). */
export type CConvolution =
  'bnn_conv2d_forward' | 'bnn_conv2d_input_grad' | 'bnn_conv2d_filter_grad';

/**
 * Runs one of the C convolutions on float32 tensors; the caller checks `cKernelsAvailable()`.
 * The geometry's in* sizes are those of the padded input (or padded dx).
 * - `bnn_conv2d_forward` (x, filter → y): `y` `[batch, outHeight, outWidth, outChannels]` is
 *   written from `x`, already padded, and `filter` `[filterHeight, filterWidth, inChannels,
 *   outChannels]`;
 * - `bnn_conv2d_input_grad` (dy, filterT → dxPadded): `dxPadded` becomes `dy` times the filter
 *   scattered over every tap; `filterT` has the filter's channel axes swapped
 *   (`[filterHeight, filterWidth, outChannels, inChannels]`); the caller crops the padding off;
 * - `bnn_conv2d_filter_grad` (x, dy → dw): `dw` becomes the sum over the batch and output pixels
 *   of the patches of `x`, already padded, times `dy`.
 */
export function conv2dInC(
  backend: BackendWasm,
  kernel: CConvolution,
  a: TensorInfo,
  b: TensorInfo,
  out: TensorInfo,
  g: PaddedConvGeometry,
): void {
  if (util.sizeFromShape(out.shape) === 0) return;
  if (kernel !== 'bnn_conv2d_forward') {
    // The gradients accumulate into their output; with an empty input they are zero.
    backend.typedArrayFromHeap(out).fill(0);
    if (util.sizeFromShape(a.shape) === 0 || util.sizeFromShape(b.shape) === 0) return;
  }
  kernelsFor(backend)[kernel](
    heapOffset(backend, a),
    heapOffset(backend, b),
    heapOffset(backend, out),
    g.batchSize,
    g.inHeight,
    g.inWidth,
    g.inChannels,
    g.outHeight,
    g.outWidth,
    g.outChannels,
    g.filterHeight,
    g.filterWidth,
    g.strideHeight,
    g.strideWidth,
    g.dilationHeight,
    g.dilationWidth,
  );
}

/**
 * The Winograd gradients of 3x3 convolutions of stride 1 and 2: on unless `BNN_LAB_WINOGRAD=0`;
 * `BNN_LAB_WINOGRAD=2` keeps stride 1 to F(2x2, 3x3) tiles, which round less than F(4x4, 3x3)'s;
 * `setWinogradGradients`, `setWinogradTile` and `setWinogradStride2` for tests and benchmarks.
 */
const winogradSetting = (process.env.BNN_LAB_WINOGRAD ?? '').trim();
let winogradGradients = !/^(0|false|off|no)$/i.test(winogradSetting);
let winogradCalls = 0;
let winogradStride2 = true;

/**
 * Turns the stride-2 Winograd gradients on or off (off: the direct kernels, as before they
 * existed); returns the previous setting.
 */
export function setWinogradStride2(on: boolean): boolean {
  const previous = winogradStride2;
  winogradStride2 = on;
  return previous;
}

/** Turns the Winograd gradients on or off; returns the previous setting. */
export function setWinogradGradients(on: boolean): boolean {
  const previous = winogradGradients;
  winogradGradients = on;
  return previous;
}

let winogradBlockOverride: number | undefined;
/** Floats of a block of the input gradient's transformed tiles, all points together: 1 MB. */
const INPUT_BLOCK_FLOATS = 262144;
/** Floats of a block of the filter gradient's transformed tiles, all points together: 4 MB. */
const FILTER_BLOCK_FLOATS = 1048576;
/** Most tiles in a block of the filter gradient. */
const FILTER_BLOCK_TILES = 64;
/** Floats of a chunk of the summed points (filter gradient), all points together: 512 kB. */
const CHUNK_FLOATS = 131072;
/**
 * Most floats of a chunk of the filter's transform (input gradient), all points together: 4 MB.
 * Each chunk reads all of dy's transformed tiles again, so a chunk is as large as those tiles
 * (at least CHUNK_FLOATS, at most this): with 512 kB chunks (8 input channels of 512) that reading
 * cost more than the transform's trip through memory it saved once the tiles outgrew the caches
 * (ResNetE-18's 4x4x512 input gradient: 63-70 ms at batch 64 and 133-141 ms at 128, against 57-58
 * and 103-106 now; docs/performance.md).
 */
const INPUT_CHUNK_FLOATS = 1048576;
let chunkOverride: number | undefined;
let outChunkOverride: number | undefined;
/**
 * Tests: input channels per chunk (a multiple of 8 for the input gradient, 4 for the filter
 * gradient; the filter gradient chunks only when all tiles fit one block), and for the filter
 * gradient output channels per chunk (a multiple of 8), or undefined for the choice by size.
 */
export function setWinogradChunk(channels: number | undefined, outChannels?: number): void {
  chunkOverride = channels;
  outChunkOverride = outChannels;
}
/**
 * Tiles per block of the Winograd kernels (undefined: by size, see `conv2dWinogradInC`); tests
 * set a small block to run several blocks and a partial last one.
 */
export function setWinogradBlock(tiles: number | undefined): void {
  winogradBlockOverride = tiles;
}

/** Winograd tile sizes: F(2x2, 3x3) and F(4x4, 3x3). */
export type WinogradTile = 2 | 4;
let winogradTileOverride: WinogradTile | undefined = winogradSetting === '2' ? 2 : undefined;
/**
 * Forces one tile size (undefined: `winogradTile` picks the one that multiplies least; tests
 * check both on every shape, benchmarks time both).
 */
export function setWinogradTile(tile: WinogradTile | undefined): void {
  winogradTileOverride = tile;
}
/** The Winograd kernels: stride 1 by tile size, and stride 2. */
export type WinogradKernel = WinogradTile | 'stride2';
const winogradKernelCalls: Record<WinogradKernel, number> = { 2: 0, 4: 0, stride2: 0 };

/** How many gradients the Winograd kernels computed so far, in all or of one kernel. */
export function winogradGradientCalls(kernel?: WinogradKernel): number {
  return kernel === undefined ? winogradCalls : winogradKernelCalls[kernel];
}

/**
 * The tile size whose products take fewer multiplies over an h x w gradient: 16 per 2x2 tile or
 * 36 per 4x4 tile (a partial tile at the edge costs a whole one). F(4x4, 3x3) from 3 pixels a
 * side (e.g. 32x32: 2,304 against 4,096 per channel pair); F(2x2, 3x3) for 1 or 2, and on a tie
 * (5 or 6), where its transforms are cheaper and round less.
 */
export function winogradTile(h: number, w: number): WinogradTile {
  if (winogradTileOverride !== undefined) return winogradTileOverride;
  const f2 = 16 * Math.ceil(h / 2) * Math.ceil(w / 2);
  const f4 = 36 * Math.ceil(h / 4) * Math.ceil(w / 4);
  return f4 < f2 ? 4 : 2;
}

/** The geometry the Winograd kernels take: tfjs' Conv2DInfo (unpadded input) and its padding. */
export interface WinogradGeometry extends ConvGeometry {
  padInfo: { top: number; left: number };
}

/**
 * Channels from which the Winograd kernels are used: below, the transforms cost more than the
 * 2.25x fewer multiplies save (see docs/performance.md, "Winograd gradients").
 */
export const WINOGRAD_MIN_CHANNELS = 16;

let winogradAlways = false;
/**
 * Tests: take the Winograd kernels wherever they apply, even where the direct kernel multiplies
 * less (see `winogradApplies`); returns the previous setting.
 */
export function setWinogradAlways(on: boolean): boolean {
  const previous = winogradAlways;
  winogradAlways = on;
  return previous;
}

/**
 * Multiplies per image and channel pair of one gradient: the direct kernels' (9 per output
 * pixel) and the Winograd kernel's (its points per tile, a partial tile at the edge counted
 * whole). With 'valid' padding the input gradient's tiles cover the whole input, which can be
 * far larger than dy (mnist-cnn's 5x5 input from a 3x3 dy: 144 against 81).
 */
export function gradientMultiplies(
  g: WinogradGeometry,
  gradient: 'input' | 'filter',
): { direct: number; winograd: number } {
  const direct = 9 * g.outHeight * g.outWidth;
  const [h, w] = gradient === 'input' ? [g.inHeight, g.inWidth] : [g.outHeight, g.outWidth];
  const tiles = (size: number, pad: number, tile: number) => Math.ceil((size + pad) / tile);
  if (g.strideHeight === 2) {
    const winograd =
      gradient === 'input'
        ? 25 * tiles(h, g.padInfo.top, 4) * tiles(w, g.padInfo.left, 4)
        : 25 * tiles(h, 0, 2) * tiles(w, 0, 2);
    return { direct, winograd };
  }
  const tile = winogradTile(h, w);
  return { direct, winograd: (tile + 2) ** 2 * tiles(h, 0, tile) * tiles(w, 0, tile) };
}

/**
 * True when `conv2dWinogradInC` takes this gradient: 3x3, stride 1 or 2 (the same along both
 * axes), no dilation, and fewer multiplies than the direct kernel.
 */
export function winogradApplies(g: WinogradGeometry, gradient: 'input' | 'filter'): boolean {
  const stride = g.strideHeight;
  const pays = () => {
    if (winogradAlways) return true;
    const m = gradientMultiplies(g, gradient);
    return m.winograd < m.direct;
  };
  return (
    winogradGradients &&
    cKernelsInUse &&
    g.filterHeight === 3 &&
    g.filterWidth === 3 &&
    g.strideWidth === stride &&
    (stride === 1 || (stride === 2 && winogradStride2)) &&
    g.dilationHeight === 1 &&
    g.dilationWidth === 1 &&
    g.padInfo.top >= 0 &&
    g.padInfo.top <= 2 &&
    g.padInfo.left >= 0 &&
    g.padInfo.left <= 2 &&
    Math.min(g.inChannels, g.outChannels) >= WINOGRAD_MIN_CHANNELS &&
    g.batchSize * g.inHeight * g.inWidth * g.outHeight * g.outWidth > 0 &&
    pays()
  );
}

/**
 * A gradient of a 3x3 convolution by Winograd: stride 1 by F(2x2, 3x3) or F(4x4, 3x3)
 * (`bnn_winograd_*`, `bnn_winograd4_*` in bnn_kernels.c, tile size by `winogradTile`), 16
 * multiplies per 2x2 block of outputs and channel pair, or 36 per 4x4 block, instead of 36 or
 * 144; stride 2 by its phases (`bnn_winograd_s2_*`), 25 multiplies per 4x4 block of the input
 * instead of 36. Equal to the direct kernels up to float rounding. The caller checks
 * `winogradApplies(g, gradient)` first.
 * - `input` (dy, filter → dx `[batch, inHeight, inWidth, inChannels]`);
 * - `filter` (x, dy → dw `[3, 3, inChannels, outChannels]`).
 * Both take the unpadded tensors; the padding is read as zeros. Scratch buffers (the transformed
 * tiles, `block` tiles at a time so that one point's share stays in L2; the filter's transform or
 * the summed points `chunk` input channels at a time when they would be larger) are freed before
 * return.
 */
export function conv2dWinogradInC(
  backend: BackendWasm,
  gradient: 'input' | 'filter',
  a: TensorInfo,
  b: TensorInfo,
  g: WinogradGeometry,
): TensorInfo {
  const round = (n: number, k: number) => Math.ceil(n / k) * k;
  const [ci4, co4, ci8, co8] = [
    round(g.inChannels, 4),
    round(g.outChannels, 4),
    round(g.inChannels, 8),
    round(g.outChannels, 8),
  ];
  // Tiles of dx (input gradient) or of dy (filter gradient). Stride 2: 4x4 tiles of the padded
  // input (the input gradient) or 2x2 tiles of dy (the filter gradient), 25 points.
  const [h, w] = gradient === 'input' ? [g.inHeight, g.inWidth] : [g.outHeight, g.outWidth];
  const kernel: WinogradKernel = g.strideHeight === 2 ? 'stride2' : winogradTile(h, w);
  const points = kernel === 'stride2' ? 25 : (kernel + 2) ** 2;
  const tiles =
    kernel !== 'stride2'
      ? g.batchSize * Math.ceil(h / kernel) * Math.ceil(w / kernel)
      : gradient === 'input'
        ? g.batchSize * Math.ceil((h + g.padInfo.top) / 4) * Math.ceil((w + g.padInfo.left) / 4)
        : g.batchSize * Math.ceil(h / 2) * Math.ceil(w / 2);
  // Tiles per block. Input gradient: about 1 MB of transformed tiles per channel axis, all points
  // together (64 kB a point for F(2x2, 3x3), 41 kB for stride 2, 28 kB for F(4x4, 3x3)), at least
  // 8: each tile of dx reads its 16-36 points' sums back from all the block's panels, which at
  // that size take about an eighth of the 8 MB L3 that two cores share (4 MB took half). Filter
  // gradient: as many as fit about 4 MB, at most 64: each block adds its products into the summed
  // points (all of them, 36 x 384 x 64 floats at 32x32x384->64), so larger blocks read those less
  // often; more than 64 was no faster (112-452 tiles slower) and fewer was slower. Against 4 MB for both
  // (docs/performance.md, batch 16-128 on one thread): the input gradients at 32x32 and 16x16
  // with 64-384 channels 3-10% faster, the filter gradients up to 15% (a few shapes within +-5%,
  // 8x8x256->256's input gradient 2-5% slower). But where all tiles' transforms take no more
  // than the filter's transform (input gradient) or the summed points (filter gradient), which
  // the kernel would otherwise hold whole (256-512 channels on small images), all tiles go in
  // one block, so that those can go in chunks (below).
  const perPointWhole = gradient === 'input' ? g.outChannels * ci8 : ci4 * co8;
  const perPointTiles = tiles * (gradient === 'input' ? co4 + ci8 : ci4 + co8);
  const bySize = (floats: number) => Math.floor(floats / points / Math.max(ci8, co8) / 4) * 4;
  const block =
    winogradBlockOverride ??
    (perPointTiles <= perPointWhole
      ? tiles
      : gradient === 'input'
        ? Math.max(8, Math.min(tiles, bySize(INPUT_BLOCK_FLOATS)))
        : Math.max(4, Math.min(tiles, FILTER_BLOCK_TILES, bySize(FILTER_BLOCK_FLOATS))));
  // When all tiles fit one block, the filter's transform (input gradient) or the summed points
  // (filter gradient) go a chunk of channels at a time, ~512 kB of all points together, so that
  // they stay in L2: at 256-512 channels the whole of them (ResNetE-18's 4x4x512: 36 x 512 x 512
  // floats, 38 MB) went through memory once written and once read, in every replica. The input
  // gradient's chunk is `chunk` input channels by all output channels. The filter gradient's is
  // about square, `chunk` input by `outChunk` output channels: each chunk reads the transformed
  // tiles of its channels, and with all output channels a chunk had 4 input channels, so that
  // dy's transformed tiles (36 x 128 x 512 floats at batch 128, 9.4 MB) were read 128 times, from
  // memory once they outgrew the L3 cache (batch 128, or two replicas at 64 each).
  const filterSide =
    gradient === 'filter'
      ? Math.min(co8, Math.max(8, Math.floor(Math.sqrt(CHUNK_FLOATS / points) / 8) * 8))
      : 0;
  const outChunk =
    gradient === 'filter' ? (outChunkOverride ?? (tiles > block ? co8 : filterSide)) : 0;
  const inputChunkFloats = Math.min(
    INPUT_CHUNK_FLOATS,
    Math.max(CHUNK_FLOATS, points * tiles * co4),
  );
  const lanes = gradient === 'input' ? 8 : 4;
  const all = gradient === 'input' ? ci8 : ci4;
  const chunk =
    chunkOverride ??
    (tiles > block
      ? all
      : Math.min(
          all,
          Math.max(
            lanes,
            Math.floor(
              (gradient === 'input'
                ? inputChunkFloats / points / g.outChannels
                : CHUNK_FLOATS / points / outChunk) / lanes,
            ) * lanes,
          ),
        ));
  // Each point's panel and WG_SKEW (16) floats, as bnn_kernels.c lays them out.
  const panels =
    gradient === 'input'
      ? [g.outChannels * chunk, block * co4, block * ci8]
      : [block * ci4, block * co8, chunk * Math.min(outChunk, co8)];
  const scratch = panels.map((panel) => points * (panel + 16));
  const buffers = scratch.map((size) => backend.makeOutput([size], 'float32'));
  const out = backend.makeOutput(
    gradient === 'input'
      ? [g.batchSize, g.inHeight, g.inWidth, g.inChannels]
      : [3, 3, g.inChannels, g.outChannels],
    'float32',
  );
  const kernels = kernelsFor(backend);
  const run = {
    input: {
      2: kernels.bnn_winograd_input_grad,
      4: kernels.bnn_winograd4_input_grad,
      stride2: kernels.bnn_winograd_s2_input_grad,
    },
    filter: {
      2: kernels.bnn_winograd_filter_grad,
      4: kernels.bnn_winograd4_filter_grad,
      stride2: kernels.bnn_winograd_s2_filter_grad,
    },
  }[gradient][kernel];
  run(
    heapOffset(backend, a),
    heapOffset(backend, b),
    heapOffset(backend, out),
    heapOffset(backend, buffers[0]),
    heapOffset(backend, buffers[1]),
    heapOffset(backend, buffers[2]),
    g.batchSize,
    g.inHeight,
    g.inWidth,
    g.inChannels,
    g.outHeight,
    g.outWidth,
    g.outChannels,
    g.padInfo.top,
    g.padInfo.left,
    block,
    chunk,
    outChunk,
  );
  for (const buffer of buffers) backend.disposeData(buffer.dataId);
  winogradCalls++;
  winogradKernelCalls[kernel]++;
  return out;
}

/** The XNOR-popcount forward path: on unless `BNN_LAB_XNOR=0`; `setXnorForward` for tests. */
let xnorForward = onInEnvironment('BNN_LAB_XNOR');

/**
 * Turns the bit-packed forward convolution on or off (tests and benchmarks compare the two);
 * returns the previous setting.
 */
let xnorCalls = 0;
/** How many convolutions the XNOR path computed so far (tests check that it was taken). */
export function xnorForwardCalls(): number {
  return xnorCalls;
}

export function setXnorForward(on: boolean): boolean {
  const previous = xnorForward;
  xnorForward = on;
  return previous;
}

/** The geometry `conv2dXnorInC` needs, a subset of tfjs' Conv2DInfo. */
export interface XnorConvGeometry extends ConvGeometry {
  padInfo: { top: number; bottom: number; left: number; right: number };
  outShape: number[];
}

/**
 * A float32 NHWC convolution as XNOR-popcount when its filter and its input are both signs
 * (every value exactly +1 or -1), as a binary layer's are: the filter, then x, are packed into
 * bits (1 per sign, padding pixels as zero bits, corrected for in the kernel: padding is a zero,
 * not a sign), and `bnn_conv2d_forward_xnor` computes each output as n - 2 * popcount(x XOR w).
 * The result equals the float convolution exactly (both are the same small integers). Returns
 * undefined, having written nothing, when the XNOR path is off, the C kernels are not in use,
 * or a value of the filter or x is not a sign: the caller then runs the float kernel. Packing
 * stops at the first value that is not a sign, so a real-valued layer pays for a few reads.
 * With `signOfX` the convolution is of sgn(x) (as `BnnSign` gives it) for any x: x is packed by
 * its signs, without the float32 signs written and read again.
 */
export function conv2dXnorInC(
  backend: BackendWasm,
  x: TensorInfo,
  filter: TensorInfo,
  g: XnorConvGeometry,
  signOfX = false,
): TensorInfo | undefined {
  if (!xnorForward || !cKernelsInUse || x.dtype !== 'float32' || filter.dtype !== 'float32') {
    return undefined;
  }
  if (util.sizeFromShape(x.shape) === 0 || util.sizeFromShape(g.outShape) === 0) return undefined;
  const words = Math.ceil(g.inChannels / 64);
  const top = Math.max(g.padInfo.top, 0);
  const left = Math.max(g.padInfo.left, 0);
  const padHeight = g.inHeight + top + Math.max(g.padInfo.bottom, 0);
  const padWidth = g.inWidth + left + Math.max(g.padInfo.right, 0);
  const kernels = kernelsFor(backend);
  // u64 words as pairs of int32 (tfjs' heap allocations are 8-byte aligned).
  const wp = backend.makeOutput(
    [2 * g.outChannels * g.filterHeight * g.filterWidth * words],
    'int32',
  );
  const packedFilter = kernels.bnn_pack_filter_signs(
    heapOffset(backend, filter),
    heapOffset(backend, wp),
    g.filterHeight,
    g.filterWidth,
    g.inChannels,
    g.outChannels,
    words,
  );
  if (!packedFilter) {
    backend.disposeData(wp.dataId);
    return undefined;
  }
  const xp = backend.makeOutput([2 * g.batchSize * padHeight * padWidth * words], 'int32');
  const packArgs: PackInputArgs = [
    heapOffset(backend, x),
    heapOffset(backend, xp),
    g.batchSize,
    g.inHeight,
    g.inWidth,
    g.inChannels,
    padHeight,
    padWidth,
    top,
    left,
    words,
  ];
  if (signOfX) {
    kernels.bnn_pack_sgn(...packArgs);
  } else if (!kernels.bnn_pack_signs(...packArgs)) {
    backend.disposeData(wp.dataId);
    backend.disposeData(xp.dataId);
    return undefined;
  }
  const out = backend.makeOutput(g.outShape, 'float32');
  kernels.bnn_conv2d_forward_xnor(
    heapOffset(backend, xp),
    heapOffset(backend, wp),
    heapOffset(backend, out),
    g.batchSize,
    padHeight,
    padWidth,
    g.inChannels,
    g.outHeight,
    g.outWidth,
    g.outChannels,
    g.filterHeight,
    g.filterWidth,
    g.strideHeight,
    g.strideWidth,
    g.dilationHeight,
    g.dilationWidth,
    g.inHeight,
    g.inWidth,
    top,
    left,
  );
  backend.disposeData(wp.dataId);
  backend.disposeData(xp.dataId);
  xnorCalls++;
  return out;
}

/** Removes the C kernels again (benchmarks compare steps with and without them). */
export function unregisterBnnKernels(): void {
  cKernelsInUse = false;
  for (const config of bnnKernelConfigs) {
    if (getKernel(config.kernelName, BACKEND) !== undefined) {
      unregisterKernel(config.kernelName, BACKEND);
    }
  }
}

/** True when the C kernels are registered for the wasm backend. */
export function bnnKernelsRegistered(): boolean {
  return BNN_KERNEL_NAMES.every((name) => getKernel(name, BACKEND) !== undefined);
}
