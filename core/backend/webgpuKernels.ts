/**
 * Kernels BNN Lab replaces in tfjs' WebGPU backend so that training there computes what the
 * wasm and cpu backends compute.
 *
 * - `MaxPoolGrad`: tfjs' WebGPU kernel sends a window's gradient to the LAST of several equal
 *   maxima; the cpu and wasm kernels (and TensorFlow) send it to the FIRST in row-major order.
 *   A binary convolution's outputs are small integers, so ties inside a 2×2 pooling window are
 *   the rule, not the exception, and the two choices train different models from the first step
 *   (test/unit/backend/webgpu.test.ts). This WGSL kernel takes the first maximum. Each thread
 *   owns one input element, visits the pooling windows that contain it, finds each window's
 *   first maximum and adds that window's `dy` when it is this element: no atomics, no second
 *   pass.
 * - transposing int32 and bool data: tfjs' general WebGPU transpose program copies the input
 *   buffer's element into the output without converting it, so an `i32` buffer (int32, bool,
 *   and a bool tensor cast to float32, which keeps its buffer) feeding a float32 output is a WGSL
 *   type error: the shader does not compile and the result is garbage (a BONN training step,
 *   through the gradient of `cast(kernel >= 0)`, hits it). BNN Lab substitutes a program that reads and writes
 *   `i32` wherever tfjs runs its transpose program on such a tensor; float32 tensors keep
 *   tfjs' program.
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
} from '../tf';
import { WebGPUBackend, webgpu_util } from '@tensorflow/tfjs-backend-webgpu';

const BACKEND = 'webgpu';

/** A program in the form `WebGPUBackend.runWebGPUProgram` takes (`WebGPUProgram`). */
interface Program {
  variableNames: string[];
  uniforms: string;
  workgroupSize: [number, number, number];
  size: boolean;
  outputShape: number[];
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  shaderKey: string;
  getUserCode(): string;
}

function maxPoolGradFirstProgram(inShape: number[]): Program {
  const workgroupSize: [number, number, number] = [64, 1, 1];
  const dispatchLayout = webgpu_util.flatDispatchLayout(inShape);
  return {
    variableNames: ['dy', 'x'],
    uniforms: 'strides : vec2<i32>, pads : vec2<i32>, filterDims : vec2<i32>, outDims : vec2<i32>',
    workgroupSize,
    size: true,
    outputShape: inShape,
    dispatchLayout,
    dispatch: webgpu_util.computeDispatch(dispatchLayout, inShape, workgroupSize),
    shaderKey: 'bnnLabMaxPoolGradFirst',
    getUserCode: () => `
      fn main(index : i32) {
        if (index < uniforms.size) {
          let coords = getCoordsFromIndex(index);
          let b = coords[0];
          let r = coords[1];
          let c = coords[2];
          let d = coords[3];
          let s = uniforms.strides;
          let p = uniforms.pads;
          let f = uniforms.filterDims;
          // Output rows/columns whose window covers (r, c): y*s - p <= r < y*s - p + f.
          let loR = r + p.x - f.x + 1;
          let loC = c + p.y - f.y + 1;
          let yR0 = select((loR + s.x - 1) / s.x, 0, loR <= 0);
          let yC0 = select((loC + s.y - 1) / s.y, 0, loC <= 0);
          let yR1 = min((r + p.x) / s.x, uniforms.outDims.x - 1);
          let yC1 = min((c + p.y) / s.y, uniforms.outDims.y - 1);
          var acc = 0.0;
          for (var yR = yR0; yR <= yR1; yR++) {
            for (var yC = yC0; yC <= yC1; yC++) {
              var found = false;
              var best = 0.0;
              var bestR = -1;
              var bestC = -1;
              for (var wR = 0; wR < f.x; wR++) {
                let xR = yR * s.x - p.x + wR;
                if (xR < 0 || xR >= uniforms.xShape[1]) {
                  continue;
                }
                for (var wC = 0; wC < f.y; wC++) {
                  let xC = yC * s.y - p.y + wC;
                  if (xC < 0 || xC >= uniforms.xShape[2]) {
                    continue;
                  }
                  let v = getX(b, xR, xC, d);
                  if (!found || v > best) {
                    found = true;
                    best = v;
                    bestR = xR;
                    bestC = xC;
                  }
                }
              }
              if (bestR == r && bestC == c) {
                acc = acc + getDy(b, yR, yC, d);
              }
            }
          }
          setOutputAtIndex(index, acc);
        }
      }
    `,
  };
}

function transposeI32Program(inShape: number[], perm: number[], floatOut: boolean): Program {
  const outShape = perm.map((p) => inShape[p]);
  const workgroupSize: [number, number, number] = [64, 1, 1];
  const dispatchLayout = webgpu_util.flatDispatchLayout(outShape);
  // Input axis j is output axis k where perm[k] = j.
  const args = inShape.map((_, j) => `coords[${perm.indexOf(j)}]`).join(', ');
  return {
    variableNames: ['A'],
    uniforms: '',
    workgroupSize,
    size: true,
    outputShape: outShape,
    dispatchLayout,
    dispatch: webgpu_util.computeDispatch(dispatchLayout, outShape, workgroupSize),
    shaderKey: `bnnLabTransposeI32_${perm.join('_')}_${floatOut ? 'f32' : 'i32'}`,
    getUserCode: () => `
      fn main(index : i32) {
        if (index < uniforms.size) {
          let coords = getCoordsFromIndex(index);
          ${floatOut ? `setOutputAtIndex(index, f32(getA(${args})));` : `setOutputAtIndexI32(index, i32(getA(${args})));`}
        }
      }
    `,
  };
}

type RunProgram = (
  program: Program,
  inputs: TensorInfo[],
  outputDtype: string,
  ...rest: unknown[]
) => TensorInfo;
let patchedRunProgram = false;
interface StoredDtypes {
  tensorMap: { get(dataId: object): { dtype: string } | undefined };
}

/**
 * Routes tfjs' general transpose program (`shaderKey` `transpose_<perm>`, used by its Transpose
 * kernel and internally by reductions, arg-max and others) to {@link transposeI32Program} for
 * int32 and bool inputs of rank 2 to 4; everything else runs as tfjs built it.
 */
function patchTransposeProgram(): void {
  if (patchedRunProgram) return;
  patchedRunProgram = true;
  const proto = WebGPUBackend.prototype as unknown as {
    runWebGPUProgram: (this: StoredDtypes, ...args: Parameters<RunProgram>) => TensorInfo;
  };
  const stock = proto.runWebGPUProgram;
  proto.runWebGPUProgram = function (this: StoredDtypes, program, inputs, outputDtype, ...rest) {
    const perm = (program as Program & { newDim?: number[] }).newDim;
    const x = inputs[0];
    // The stored dtype, not the tensor's: a bool cast to float32 keeps its i32 buffer.
    const stored = x && this.tensorMap.get(x.dataId)?.dtype;
    if (
      program.shaderKey.startsWith('transpose_') &&
      Array.isArray(perm) &&
      stored !== undefined &&
      stored !== 'float32' &&
      x.shape.length >= 2 &&
      x.shape.length <= 4
    ) {
      const replacement = transposeI32Program(x.shape, perm, outputDtype === 'float32');
      return stock.call(this, replacement, inputs, outputDtype, ...rest);
    }
    return stock.call(this, program, inputs, outputDtype, ...rest);
  };
}

function maxPoolGradFirst(args: {
  inputs: NamedTensorInfoMap;
  backend: unknown;
  attrs?: NamedAttrMap;
}): TensorInfo {
  const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
  const backend = args.backend as WebGPUBackend;
  const attrs = (args.attrs ?? {}) as unknown as {
    filterSize: [number, number] | number;
    strides: [number, number] | number;
    pad: 'valid' | 'same' | number;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const program = maxPoolGradFirstProgram(info.inShape);
  const uniforms = [
    { type: 'int32', data: [info.strideHeight, info.strideWidth] },
    { type: 'int32', data: [info.padInfo.top, info.padInfo.left] },
    { type: 'int32', data: [info.filterHeight, info.filterWidth] },
    { type: 'int32', data: [info.outHeight, info.outWidth] },
  ];
  return backend.runWebGPUProgram(program as never, [dy, input], 'float32', uniforms);
}

const KERNELS: KernelConfig[] = [
  {
    kernelName: 'MaxPoolGrad',
    backendName: BACKEND,
    kernelFunc: maxPoolGradFirst as unknown as KernelFunc,
  },
];

/** Puts BNN Lab's WebGPU kernels and programs in place of tfjs' (idempotent). */
export function registerWebGpuKernels(): void {
  patchTransposeProgram();
  for (const config of KERNELS) {
    if (getKernel(config.kernelName, BACKEND)?.kernelFunc === config.kernelFunc) continue;
    if (getKernel(config.kernelName, BACKEND) !== undefined) {
      unregisterKernel(config.kernelName, BACKEND);
    }
    registerKernel(config);
  }
}
