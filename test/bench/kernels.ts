/**
 * Benchmark of the wasm convolution kernels BNN Lab trains with (not a test: no thresholds).
 *
 *   npx tsc -p test && node out/test/bench/kernels.js [repeats]
 *   node out/test/bench/kernels.js --train-step [steps]
 *   node out/test/bench/kernels.js --xnor [repeats] [preset,preset,...]
 *   node out/test/bench/kernels.js --winograd [repeats] [preset,preset,...]
 *   node out/test/bench/kernels.js --winograd-chunks [repeats] [batch,batch,...]
 *
 * The first form times, for each layer shape of a small MNIST BNN and of mnist-cnn (batch 64,
 * 3x3 filters, 'same' padding), the forward convolution, the input gradient and the filter
 * gradient as training runs them: through XNNPACK without BNN Lab's C kernels (`Conv2D`, and the
 * gradients as XNNPACK convolutions), through the C kernels, and the stock
 * `Conv2DBackpropInput`; then `Tile`, `MaxPoolGrad`, `Sum` and `Mean` against the stock ones.
 * All are called as kernels on the wasm backend; it prints medians of the process's CPU time
 * (CPU time, because the machine is shared; the wasm backend computes on one thread).
 *
 * The second profiles whole training steps of a small binary CNN and prints the time per kernel
 * from tf.profile (wall time, as tfjs measures it), averaged over the steps.
 *
 * The third compares the bit-packed (XNOR-popcount) forward convolution with the float C kernel
 * on sign inputs and sign filters, per binary layer shape of cifar10-resnete18 (batch 32) and
 * mnist-cnn (batch 64); then whole evaluation passes (`model.predict`) and training steps of
 * the presets with the XNOR path on and off, called in turns. Medians of CPU time.
 *
 * The fourth compares the Winograd gradients, F(2x2, 3x3) and F(4x4, 3x3), with the direct C
 * kernels, per 3x3 stride-1 layer shape of the presets (the input gradient and the filter
 * gradient, and the largest difference of each tile size's result from the direct one relative to
 * the largest value), then whole training steps of the presets with Winograd off and on, and
 * with F(2x2, 3x3) only against the tile size BNN Lab picks, in turns. Medians of CPU time.
 *
 * The fifth times the Winograd gradients of ResNetE-18's 4x4x512->512 layers (the shape whose
 * gradients go a chunk of channels at a time) at each batch (default 16,32,64,128,256) with the
 * chunks BNN Lab picks, the chunks it picked before (input gradient: 8 input channels; filter
 * gradient: 4 input channels by all output channels) and unchunked, in turns. Medians of CPU time.
 */
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../core/tf';
import { setWasmPaths, type BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  registerBnnKernels,
  setWinogradChunk,
  setWinogradGradients,
  setWinogradStride2,
  setWinogradTile,
  setXnorForward,
  unregisterBnnKernels,
  winogradGradientCalls,
  xnorForwardCalls,
} from '../../core/backend/bnnKernels';
import { getPreset } from '../../core/bnn/presets';
import { fuseBatchNorm } from '../../core/parallel/syncBatchNorm';
import { createOptimizer } from '../../core/training/optimizers';
import { registerWasmTrainingKernels } from '../../core/backend/wasmKernels';

type Shape4 = [number, number, number, number];

interface LayerShape {
  label: string;
  xShape: Shape4;
  filterShape: Shape4;
  strides: number;
}

const layers: LayerShape[] = [
  { label: '28x28x16->32', xShape: [64, 28, 28, 16], filterShape: [3, 3, 16, 32], strides: 1 },
  { label: '14x14x32->64', xShape: [64, 14, 14, 32], filterShape: [3, 3, 32, 64], strides: 1 },
  { label: '7x7x64->64', xShape: [64, 7, 7, 64], filterShape: [3, 3, 64, 64], strides: 1 },
  { label: '28x28x16->32 s2', xShape: [64, 28, 28, 16], filterShape: [3, 3, 16, 32], strides: 2 },
  // mnist-cnn's binary convolutions ('valid' there; 'same' here like the rows above).
  { label: '13x13x32->64', xShape: [64, 13, 13, 32], filterShape: [3, 3, 32, 64], strides: 1 },
  { label: '5x5x64->64', xShape: [64, 5, 5, 64], filterShape: [3, 3, 64, 64], strides: 1 },
];

/**
 * CPU time of this process in ms. The machine is shared and the wasm backend runs on one
 * thread, so CPU time tracks the work done far better than wall time under load.
 */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * Median CPU time in ms of each function, called in turns (one call of each per round, after
 * two warm-up rounds) so that load from other processes skews them alike. Each function
 * returns what it allocated, which is disposed outside the timing.
 */
function timeInTurns(repeats: number, runs: (() => tf.TensorInfo)[]): number[] {
  const backend = tf.engine().backend;
  const durationsMs: number[][] = runs.map(() => []);
  for (let round = -2; round < repeats; round++) {
    runs.forEach((run, i) => {
      const start = cpuMs();
      const out = run();
      const durationMs = cpuMs() - start;
      backend.disposeData(out.dataId);
      if (round >= 0) {
        durationsMs[i].push(durationMs);
      }
    });
  }
  return durationsMs.map(median);
}

function printTable(rows: string[][]): void {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  for (const row of rows) {
    console.log(row.map((cell, column) => cell.padEnd(widths[column])).join('  '));
  }
}

const ms = (value: number) => `${value.toFixed(2)} ms`;

function kernel(name: string): tf.KernelConfig {
  const config = tf.getKernel(name, 'wasm');
  if (config === undefined) {
    throw new Error(`bench: no wasm kernel '${name}'`);
  }
  return config;
}

/**
 * Forward `Conv2D` with a fresh copy of the filter per call. A BNN binarizes its latent weights
 * every step, so the backend never reuses the packed weights it caches per filter tensor; with
 * one filter tensor throughout, the forward time would leave out that packing.
 */
function forwardWithNewWeights(
  backend: BackendWasm,
  x: tf.Tensor,
  filter: tf.Tensor,
  attrs: tf.NamedAttrMap,
): () => tf.TensorInfo {
  const conv2d = kernel('Conv2D').kernelFunc;
  return () => {
    const weights = backend.makeOutput(filter.shape, 'float32');
    backend.typedArrayFromHeap(weights).set(backend.typedArrayFromHeap(filter));
    const out = conv2d({ inputs: { x, filter: weights }, backend, attrs }) as tf.TensorInfo;
    backend.disposeData(weights.dataId);
    return out;
  };
}

async function benchKernels(repeats: number): Promise<void> {
  const replaced = ['Conv2D', 'Conv2DBackpropInput', 'Tile', 'MaxPoolGrad', 'Sum', 'Mean'];
  const stock = new Map(replaced.map((name) => [name, kernel(name).kernelFunc]));
  registerWasmTrainingKernels();
  const backend = tf.engine().backend;
  const call =
    (func: tf.KernelFunc | undefined, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap) =>
    () => {
      if (func === undefined) {
        throw new Error('bench: missing kernel');
      }
      return func({ inputs, backend, attrs }) as tf.TensorInfo;
    };

  console.log(
    `wasm backend, SIMD ${String(tf.env().getBool('WASM_HAS_SIMD_SUPPORT'))}, ` +
      `threads ${String(tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT'))}, median CPU time of ${repeats}, ` +
      `load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores`,
  );
  // Each convolution three ways: the stock kernel where there is one, BNN Lab's formulation on
  // XNNPACK (what runs without the C kernels), and BNN Lab's C kernel (what training runs).
  const withoutC =
    (run: () => tf.TensorInfo): (() => tf.TensorInfo) =>
    () => {
      unregisterBnnKernels();
      try {
        return run();
      } finally {
        registerBnnKernels();
      }
    };
  const convRows = [
    [
      'layer',
      'fwd XNNPACK',
      'fwd C',
      'dx stock',
      'dx XNNPACK',
      'dx C',
      'dW XNNPACK',
      'dW C',
      'C GFLOPS fwd/dx/dW',
    ],
  ];
  for (const layer of layers) {
    const x = tf.randomUniform(layer.xShape, -1, 1, 'float32', 1);
    const filter = tf.randomUniform(layer.filterShape, -1, 1, 'float32', 2);
    const dy = tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, layer.strides, 'same');
    const convAttrs = { strides: layer.strides, pad: 'same', dataFormat: 'NHWC', dilations: 1 };
    const inputAttrs = { ...convAttrs, inputShape: layer.xShape };
    const filterAttrs = { ...convAttrs, filterShape: layer.filterShape };
    const forward = forwardWithNewWeights(backend as BackendWasm, x, filter, convAttrs);
    const dxCall = call(kernel('Conv2DBackpropInput').kernelFunc, { dy, filter }, inputAttrs);
    const dwCall = call(kernel('Conv2DBackpropFilter').kernelFunc, { x, dy }, filterAttrs);
    const times = timeInTurns(repeats, [
      withoutC(forward),
      forward,
      call(stock.get('Conv2DBackpropInput'), { dy, filter }, inputAttrs),
      withoutC(dxCall),
      dxCall,
      withoutC(dwCall),
      dwCall,
    ]);
    const gflops = (t: number) =>
      (
        (2 * dy.size * layer.filterShape[0] * layer.filterShape[1] * layer.filterShape[2]) /
        t /
        1e6
      ).toFixed(1);
    convRows.push([
      layer.label,
      ...times.map(ms),
      `${gflops(times[1])} / ${gflops(times[4])} / ${gflops(times[6])}`,
    ]);
    tf.dispose([x, filter, dy]);
  }
  printTable(convRows);
  console.log('GFLOPS = 2 x multiply-adds / CPU time\n');

  // The other kernels a training step of the MNIST BNN spends time in (batch norm, max pool).
  const activation = tf.randomUniform([64, 28, 28, 32], -1, 1, 'float32', 3);
  const pooledGrad = tf.randomUniform([64, 14, 14, 32], -1, 1, 'float32', 4);
  const scale = tf.randomUniform([1, 1, 1, 32], -1, 1, 'float32', 5);
  const poolAttrs = { filterSize: 2, strides: 2, pad: 'valid' };
  const reduceAttrs = { axis: [0, 1, 2], keepDims: false };
  const others: [string, tf.NamedTensorInfoMap, tf.NamedAttrMap][] = [
    ['Tile', { x: scale }, { reps: [64, 28, 28, 1] }],
    ['MaxPoolGrad', { dy: pooledGrad, input: activation, output: pooledGrad }, poolAttrs],
    ['Sum', { x: activation }, reduceAttrs],
    ['Mean', { x: activation }, reduceAttrs],
  ];
  const otherRows = [['kernel (64x28x28x32)', 'stock', 'new', 'stock/new']];
  for (const [name, inputs, attrs] of others) {
    const [stockMs, newMs] = timeInTurns(repeats, [
      call(stock.get(name), inputs, attrs),
      call(kernel(name).kernelFunc, inputs, attrs),
    ]);
    otherRows.push([name, ms(stockMs), ms(newMs), `${(stockMs / newMs).toFixed(1)}x`]);
  }
  printTable(otherRows);
  tf.dispose([activation, pooledGrad, scale]);
}

/** `sgn` with zero mapped to +1 and the clipped straight-through gradient `dy * 1[|x| <= 1]`. */
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

/** 3x3 'same' convolution with binarized input and kernel, no bias (batch norm follows). */
class SignConv2D extends tf.layers.Layer {
  static readonly className = 'BenchSignConv2D';
  private latentKernel: tf.LayerVariable | undefined;

  constructor(private readonly filters: number) {
    super({});
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const inChannels = (inputShape as tf.Shape)[3] as number;
    this.latentKernel = this.addWeight(
      'kernel',
      [3, 3, inChannels, this.filters],
      'float32',
      tf.initializers.glorotUniform({ seed: 3 }),
    );
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const [batch, height, width] = inputShape as tf.Shape;
    return [batch, height, width, this.filters];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const binaryWeights = signSte(this.latentKernel!.read()) as tf.Tensor4D;
      return tf.conv2d(signSte(x) as tf.Tensor4D, binaryWeights, 1, 'same');
    });
  }
}

/** Conv 1->16 (float) / binary conv 16->32 / maxpool / binary conv 32->64 / maxpool / dense. */
function binaryCnn(): tf.LayersModel {
  const bn = () => tf.layers.batchNormalization({ momentum: 0.9 });
  return tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [28, 28, 1],
        filters: 16,
        kernelSize: 3,
        padding: 'same',
        useBias: false,
        kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      }),
      bn(),
      new SignConv2D(32),
      bn(),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      new SignConv2D(64),
      bn(),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 10, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
}

/** Kernels replaced for speed or correctness only, so a step can also run with the stock ones. */
const stockForBaseline = ['Tile', 'MaxPoolGrad', 'Sum', 'Mean'];

async function profileTrainStep(
  steps: number,
  stockConfigs: Map<string, tf.KernelConfig>,
): Promise<void> {
  const model = binaryCnn();
  const optimizer = tf.train.adam(1e-3);
  const images = tf.randomUniform([64, 28, 28, 1], 0, 1, 'float32', 4);
  const labels = tf.oneHot(tf.randomUniform([64], 0, 10, 'int32', 5), 10);
  const step = () =>
    tf.tidy(() => {
      optimizer.minimize(() => {
        const logits = model.apply(images, { training: true }) as tf.Tensor;
        return tf.losses.softmaxCrossEntropy(labels, logits);
      });
    });
  step();
  step();
  const perKernel = new Map<string, { durationMs: number; calls: number }>();
  let cpuTotalMs = 0;
  for (let i = 0; i < steps; i++) {
    const start = cpuMs();
    const profile = await tf.profile(step);
    cpuTotalMs += cpuMs() - start;
    for (const kernel of profile.kernels) {
      const entry = perKernel.get(kernel.name) ?? { durationMs: 0, calls: 0 };
      entry.durationMs += kernel.kernelTimeMs as number;
      entry.calls += 1;
      perKernel.set(kernel.name, entry);
    }
  }
  // Unprofiled steps (tf.profile adds bookkeeping per kernel), alternating with steps that use
  // the stock versions of the kernels BNN Lab replaces only for speed or correctness (the conv
  // gradients stay: the stock backend has no Conv2DBackpropFilter).
  const ours = new Map(stockForBaseline.map((name) => [name, kernel(name)]));
  const swap = (configs: Map<string, tf.KernelConfig>) => {
    for (const config of configs.values()) {
      tf.unregisterKernel(config.kernelName, 'wasm');
      tf.registerKernel(config);
    }
  };
  const plainMs: number[] = [];
  const baselineMs: number[] = [];
  for (let i = 0; i < steps; i++) {
    let start = cpuMs();
    step();
    plainMs.push(cpuMs() - start);
    swap(stockConfigs);
    start = cpuMs();
    step();
    baselineMs.push(cpuMs() - start);
    swap(ours);
  }
  const totalMs = [...perKernel.values()].reduce((sum, entry) => sum + entry.durationMs, 0);
  console.log(
    `binary CNN, batch 64, median CPU time of ${steps} steps: ${median(plainMs).toFixed(1)} ms/step, ` +
      `${median(baselineMs).toFixed(1)} ms/step with stock ${stockForBaseline.join('/')}; ` +
      `profiled: ${(cpuTotalMs / steps).toFixed(1)} ms/step, ${(totalMs / steps).toFixed(1)} ms (wall) in kernels`,
  );
  const sorted = [...perKernel.entries()].sort((a, b) => b[1].durationMs - a[1].durationMs);
  for (const [name, entry] of sorted.slice(0, 20)) {
    const ms = entry.durationMs / steps;
    console.log(
      `${name.padEnd(28)} ${ms.toFixed(2).padStart(8)} ms/step ` +
        `${((100 * entry.durationMs) / totalMs).toFixed(1).padStart(5)}%  ` +
        `${entry.calls / steps} calls/step`,
    );
  }
  tf.dispose([images, labels]);
  model.dispose();
  optimizer.dispose();
}

/** Signs (+1 / -1) with a fixed seed. */
function signs(shape: number[], seed: number): tf.Tensor {
  return tf.tidy(() =>
    tf.sign(tf.add(tf.sign(tf.randomUniform(shape, -1, 1, 'float32', seed)), 0.1)),
  );
}

/**
 * Median CPU ms of `run` with a path on and off (`set` switches it and returns the previous
 * setting), in turns after 2 warm-up rounds.
 */
function timeOnOff(
  set: (on: boolean) => boolean,
  repeats: number,
  run: () => void,
): { on: number; off: number } {
  const times: number[][] = [[], []];
  for (let round = -2; round < repeats; round++) {
    [true, false].forEach((on, i) => {
      const previous = set(on);
      const start = cpuMs();
      run();
      const duration = cpuMs() - start;
      set(previous);
      if (round >= 0) times[i].push(duration);
    });
  }
  return { on: median(times[0]), off: median(times[1]) };
}

function timeXnorOnOff(repeats: number, run: () => void): { on: number; off: number } {
  return timeOnOff(setXnorForward, repeats, run);
}

/** The 1-, 5- and 15-minute load averages, as the benches print them. */
function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
}

interface PresetBatch {
  model: tf.LayersModel;
  images: tf.Tensor;
  labels: tf.Tensor;
  batch: number;
}

/**
 * Runs `run` on preset `name`'s model (batch norms fused, as training runs them) and one fixed
 * synthetic batch (32 at CIFAR size, 64 below), then disposes them.
 */
function withPresetBatch<T>(name: string, run: (p: PresetBatch) => T): T {
  const preset = getPreset(name);
  const batch = preset.inputShape[0] > 28 ? 32 : 64;
  const model = preset.build(1);
  fuseBatchNorm(model);
  const images = tf.randomUniform([batch, ...preset.inputShape], 0, 1, 'float32', 4);
  const labels = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', 5), 10);
  try {
    return run({ model, images, labels, batch });
  } finally {
    tf.dispose([images, labels]);
    model.dispose();
  }
}

/** One Adam step of softmax cross-entropy on the batch, read back (a timed training step). */
function trainingStep(p: PresetBatch, optimizer: tf.Optimizer): void {
  const loss = optimizer.minimize(() => {
    const logits = p.model.apply(p.images, { training: true }) as tf.Tensor;
    return tf.losses.softmaxCrossEntropy(p.labels, logits) as tf.Scalar;
  }, true) as tf.Scalar;
  loss.dataSync();
  loss.dispose();
}

/** Median CPU ms of a training step of each preset with `set`'s path on and off, in turns. */
function trainStepsOnOff(
  set: (on: boolean) => boolean,
  repeats: number,
  models: string[],
): string[][] {
  return models.map((name) =>
    withPresetBatch(name, (p) => {
      const optimizer = createOptimizer({ learningRate: 0.002, optimizer: 'adam' });
      const t = timeOnOff(set, repeats, () => trainingStep(p, optimizer));
      optimizer.dispose();
      console.log(`${name}, ${p.batch}: training step: off ${ms(t.off)}, on ${ms(t.on)}`);
      return [`${name}, ${p.batch}`, ms(t.off), ms(t.on), `${(t.off / t.on).toFixed(2)}x`];
    }),
  );
}

/** Largest |a - b| over the largest |b| (at least 1). */
function relativeDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 1;
  let difference = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    difference = Math.max(difference, Math.abs(a[i] - b[i]));
  }
  return difference / scale;
}

/** A 3x3 convolution layer of the Winograd benchmarks. */
interface BenchLayer {
  xShape: Shape4;
  outChannels: number;
  strides: number;
  pad: 'same' | 'valid';
}

/**
 * Both gradients of `layer` (sign x and filter, uniform dy), each computed once every way in
 * `ways` (`reset` after each) and then timed in turns: its output per way and median CPU times.
 * Throws when `ran` (a kernel call counter) does not move while a gradient is timed.
 */
function timeGradientWays(
  backend: BackendWasm,
  layer: BenchLayer,
  ways: (() => unknown)[],
  reset: () => void,
  options: { repeats: number; ran: () => number },
): { gradient: 'input' | 'filter'; values: Float32Array[]; times: number[] }[] {
  const { xShape, outChannels, strides, pad } = layer;
  const filterShape: Shape4 = [3, 3, xShape[3], outChannels];
  const info = tf.backend_util.computeConv2DInfo(xShape, filterShape, strides, 1, pad);
  const x = signs(xShape, 1);
  const filter = signs(filterShape, 2);
  const dy = tf.randomUniform(info.outShape, -1, 1, 'float32', 3);
  const attrs = { strides, pad, dataFormat: 'NHWC', dilations: 1 };
  const results = (
    [
      ['input', 'Conv2DBackpropInput', { dy, filter }, { inputShape: xShape }],
      ['filter', 'Conv2DBackpropFilter', { x, dy }, { filterShape }],
    ] as const
  ).map(([gradient, name, inputs, extra]) => {
    const run = kernel(name).kernelFunc;
    const call = () => run({ inputs, backend, attrs: { ...attrs, ...extra } }) as tf.TensorInfo;
    const values = ways.map((way) => {
      way();
      const out = call();
      reset();
      const data = backend.readSync(out.dataId) as Float32Array;
      backend.disposeData(out.dataId);
      return data;
    });
    const before = options.ran();
    const times = timeInTurns(
      options.repeats,
      ways.map((way) => () => {
        way();
        const out = call();
        reset();
        return out;
      }),
    );
    if (options.ran() === before) throw new Error(`bench: the kernel under test did not run`);
    return { gradient, values, times };
  });
  tf.dispose([x, filter, dy]);
  return results;
}

async function benchWinograd(repeats: number, models: string[]): Promise<void> {
  registerWasmTrainingKernels();
  const backend = tf.engine().backend as BackendWasm;
  const layers: [string, Shape4, number, 'same' | 'valid'][] = [
    ['resnete18', [32, 32, 32, 64], 64, 'same'],
    ['resnete18', [32, 16, 16, 128], 128, 'same'],
    ['resnete18', [32, 8, 8, 256], 256, 'same'],
    ['resnete18', [32, 4, 4, 512], 512, 'same'],
    ['bdn28', [32, 32, 32, 384], 64, 'same'],
    ['bdn28', [32, 16, 16, 480], 64, 'same'],
    ['bdn28', [32, 8, 8, 512], 64, 'same'],
    ['mnist-cnn', [64, 13, 13, 32], 64, 'valid'],
    ['mnist-resnete', [64, 14, 14, 32], 32, 'same'],
  ];
  console.log(
    `Winograd F(2x2, 3x3) and F(4x4, 3x3) gradients vs the direct C kernels, median CPU time of ${repeats} calls in turns; load average ${loadAverage()}`,
  );
  const rows = [
    [
      'layer (batch x HxWxCin->Cout)',
      'gradient',
      'direct',
      'F(2x2)',
      'F(4x4)',
      'F(4x4) vs direct',
      'F(4x4) vs F(2x2)',
      'difference F(2x2), F(4x4)',
    ],
  ];
  // The three ways in turns: direct (Winograd off), then each tile size forced.
  const ways: (() => void)[] = [
    () => setWinogradGradients(false),
    () => setWinogradTile(2),
    () => setWinogradTile(4),
  ];
  const reset = () => {
    setWinogradGradients(true);
    setWinogradTile(undefined);
  };
  for (const [model, xShape, outChannels, pad] of layers) {
    const label = `${model} ${xShape.slice(1, 3).join('x')}x${xShape[3]}->${outChannels} (${xShape[0]})`;
    const layer = { xShape, outChannels, strides: 1, pad };
    for (const { gradient, values, times } of timeGradientWays(backend, layer, ways, reset, {
      repeats,
      ran: () => winogradGradientCalls(),
    })) {
      rows.push([
        label,
        gradient,
        ...times.map(ms),
        `${(times[0] / times[2]).toFixed(2)}x`,
        `${(times[1] / times[2]).toFixed(2)}x`,
        `${relativeDifference(values[1], values[0]).toExponential(1)}, ${relativeDifference(values[2], values[0]).toExponential(1)}`,
      ]);
    }
  }
  printTable(rows);
  benchWinogradStride2(repeats, backend);
  const stepRepeats = Math.max(3, Math.floor(repeats / 2));
  console.log('\nwhole training step, Winograd off / on, median CPU time');
  const modelRows = [['model, batch', 'direct', 'Winograd', 'speed-up']];
  modelRows.push(...trainStepsOnOff(setWinogradGradients, stepRepeats, models));
  printTable(modelRows);
  console.log('\nwhole training step, F(2x2, 3x3) only / the tile size picked, median CPU time');
  let picked = true;
  const setPicked = (on: boolean): boolean => {
    const previous = picked;
    picked = on;
    setWinogradTile(on ? undefined : 2);
    return previous;
  };
  const tileRows = [['model, batch', 'F(2x2) only', 'picked', 'speed-up']];
  tileRows.push(...trainStepsOnOff(setPicked, stepRepeats, models));
  printTable(tileRows);
  const strided = models.filter((m) => m === 'cifar10-resnete18' || m === 'mnist-resnete');
  if (strided.length > 0) {
    console.log('\nwhole training step, stride-2 gradients direct / Winograd, median CPU time');
    const stride2Rows = [['model, batch', 'direct', 'Winograd', 'speed-up']];
    stride2Rows.push(...trainStepsOnOff(setWinogradStride2, stepRepeats, strided));
    printTable(stride2Rows);
  }
  console.log(`load average after: ${loadAverage()}`);
}

/** The stride-2 3x3 gradients of ResNetE-18's stage transitions: direct and Winograd, in turns. */
function benchWinogradStride2(repeats: number, backend: BackendWasm): void {
  console.log(
    '\nstride-2 gradients: direct C kernels and Winograd (the phase split), median CPU ms',
  );
  const rows = [
    ['layer (batch x HxWxCin->Cout)', 'gradient', 'direct', 'Winograd', 'speed-up', 'difference'],
  ];
  const ways = [() => setWinogradStride2(false), () => setWinogradStride2(true)];
  for (const [size, cin, cout] of [
    [32, 64, 128],
    [16, 128, 256],
    [8, 256, 512],
  ] as const) {
    const layer: BenchLayer = {
      xShape: [32, size, size, cin],
      outChannels: cout,
      strides: 2,
      pad: 'same',
    };
    for (const { gradient, values, times } of timeGradientWays(
      backend,
      layer,
      ways,
      () => undefined,
      { repeats, ran: () => winogradGradientCalls('stride2') },
    )) {
      rows.push([
        `resnete18 ${size}x${size}x${cin}->${cout} s2 (32)`,
        gradient,
        ...times.map(ms),
        `${(times[0] / times[1]).toFixed(2)}x`,
        relativeDifference(values[1], values[0]).toExponential(1),
      ]);
    }
  }
  setWinogradStride2(true);
  printTable(rows);
}

async function benchXnor(repeats: number, models: string[]): Promise<void> {
  registerWasmTrainingKernels();
  const backend = tf.engine().backend as BackendWasm;
  const conv2d = kernel('Conv2D').kernelFunc;
  const shapes: (LayerShape & { pad: 'same' | 'valid' })[] = [
    ...(
      [
        [32, 64, 64, 1],
        [32, 64, 128, 2],
        [16, 128, 128, 1],
        [16, 128, 256, 2],
        [8, 256, 256, 1],
        [8, 256, 512, 2],
        [4, 512, 512, 1],
      ] as const
    ).map(([size, cin, cout, strides]) => ({
      label: `resnete18 ${size}x${size}x${cin}->${cout}${strides === 2 ? ' s2' : ''}`,
      xShape: [32, size, size, cin] as Shape4,
      filterShape: [3, 3, cin, cout] as Shape4,
      strides,
      pad: 'same' as const,
    })),
    {
      label: 'mnist-cnn 13x13x32->64 valid',
      xShape: [64, 13, 13, 32],
      filterShape: [3, 3, 32, 64],
      strides: 1,
      pad: 'valid',
    },
    {
      label: 'mnist-cnn 5x5x64->64 valid',
      xShape: [64, 5, 5, 64],
      filterShape: [3, 3, 64, 64],
      strides: 1,
      pad: 'valid',
    },
  ];
  console.log(
    `bit-packed forward convolution vs the float C kernel, sign inputs and filters, median CPU time of ${repeats} calls; load average ${loadAverage()}`,
  );
  const rows = [['layer (batch x HxWxCin->Cout)', 'float C', 'XNOR', 'speed-up', 'XNOR GMAC/s']];
  for (const layer of shapes) {
    const x = signs(layer.xShape, 1);
    const filter = signs(layer.filterShape, 2);
    const attrs = { strides: layer.strides, pad: layer.pad, dataFormat: 'NHWC', dilations: 1 };
    const calls = xnorForwardCalls();
    const times = timeXnorOnOff(repeats, () => {
      const out = conv2d({ inputs: { x, filter }, backend, attrs }) as tf.TensorInfo;
      backend.disposeData(out.dataId);
    });
    if (xnorForwardCalls() === calls) throw new Error('bench: the XNOR path did not run');
    const info = tf.backend_util.computeConv2DInfo(
      layer.xShape,
      layer.filterShape,
      layer.strides,
      1,
      layer.pad,
    );
    const macs =
      info.batchSize * info.outHeight * info.outWidth * info.outChannels * 9 * info.inChannels;
    rows.push([
      `${layer.label} (${layer.xShape[0]})`,
      ms(times.off),
      ms(times.on),
      `${(times.off / times.on).toFixed(2)}x`,
      (macs / (times.on * 1e6)).toFixed(1),
    ]);
    tf.dispose([x, filter]);
  }
  printTable(rows);

  console.log('\nwhole model, XNOR path on / off, median CPU time');
  const modelRows = [['model, batch', 'pass', 'XNOR off', 'XNOR on', 'speed-up']];
  for (const name of models) {
    withPresetBatch(name, (p) => {
      const repeatsPerPass = Math.max(3, Math.floor(repeats / 2));
      const evaluation = timeXnorOnOff(repeatsPerPass, () => {
        tf.tidy(() => (p.model.predict(p.images) as tf.Tensor).dataSync());
      });
      const optimizer = createOptimizer({ learningRate: 0.002, optimizer: 'adam' });
      const train = timeXnorOnOff(repeatsPerPass, () => trainingStep(p, optimizer));
      optimizer.dispose();
      for (const [pass, t] of [
        ['evaluation (predict)', evaluation],
        ['training step', train],
      ] as const) {
        console.log(
          `${name}, ${p.batch}: ${pass}: XNOR off ${ms(t.off)}, on ${ms(t.on)}: ${(t.off / t.on).toFixed(2)}x`,
        );
        modelRows.push([
          `${name}, ${p.batch}`,
          pass,
          ms(t.off),
          ms(t.on),
          `${(t.off / t.on).toFixed(2)}x`,
        ]);
      }
    });
  }
  printTable(modelRows);
  console.log(`load average after: ${loadAverage()}`);
}

/**
 * The 4x4x512->512 Winograd gradients (ResNetE-18's last stage) with three chunkings, in turns:
 * BNN Lab's, the earlier one, and none (see the file comment).
 */
function benchWinogradChunks(repeats: number, batches: number[]): void {
  registerWasmTrainingKernels();
  const backend = tf.engine().backend as BackendWasm;
  const rows = [['layer (batch)', 'gradient', 'chunks now', 'earlier chunks', 'unchunked']];
  for (const batch of batches) {
    const xShape: Shape4 = [batch, 4, 4, 512];
    const filterShape: Shape4 = [3, 3, 512, 512];
    const x = signs(xShape, 1);
    const filter = signs(filterShape, 2);
    const dy = tf.randomUniform(xShape, -1, 1, 'float32', 3);
    const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1 };
    for (const [gradient, name, inputs, extra, earlier] of [
      ['input', 'Conv2DBackpropInput', { dy, filter }, { inputShape: xShape }, [8]],
      ['filter', 'Conv2DBackpropFilter', { x, dy }, { filterShape }, [4, 512]],
    ] as const) {
      const run = kernel(name).kernelFunc;
      const chunked = (chunk: readonly number[] | undefined) => () => {
        setWinogradChunk(chunk?.[0], chunk?.[1]);
        try {
          return run({ inputs, backend, attrs: { ...attrs, ...extra } }) as tf.TensorInfo;
        } finally {
          setWinogradChunk(undefined);
        }
      };
      const times = timeInTurns(repeats, [
        chunked(undefined),
        chunked(earlier),
        chunked([512, 512]),
      ]);
      rows.push([`4x4x512->512 (${batch})`, gradient, ...times.map(ms)]);
    }
    tf.dispose([x, filter, dy]);
  }
  printTable(rows);
  console.log(`load average after: ${loadAverage()}`);
}

async function main(): Promise<void> {
  const wasmPackage = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  setWasmPaths(path.join(path.dirname(wasmPackage), 'dist') + path.sep);
  await tf.setBackend('wasm');
  if (process.argv[2] === '--xnor') {
    const models = process.argv[4] ?? 'mnist-cnn,mnist-resnete,cifar10-resnete18,cifar10-bdn28';
    await benchXnor(Number(process.argv[3] ?? 7), models.split(','));
  } else if (process.argv[2] === '--winograd') {
    const models = process.argv[4] ?? 'mnist-cnn,mnist-resnete,cifar10-resnete18,cifar10-bdn28';
    await benchWinograd(Number(process.argv[3] ?? 7), models.split(','));
  } else if (process.argv[2] === '--winograd-chunks') {
    const batches = (process.argv[4] ?? '16,32,64,128,256').split(',').map(Number);
    console.log(`load average before: ${loadAverage()}`);
    benchWinogradChunks(Number(process.argv[3] ?? 7), batches);
  } else if (process.argv[2] === '--train-step') {
    const stockConfigs = new Map(stockForBaseline.map((name) => [name, kernel(name)]));
    registerWasmTrainingKernels();
    await profileTrainStep(Number(process.argv[3] ?? 5), stockConfigs);
  } else {
    await benchKernels(Number(process.argv[2] ?? 9));
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
