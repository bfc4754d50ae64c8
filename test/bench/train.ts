/**
 * Training-step benchmark (issues #4 and #11; not a test: no thresholds).
 *
 *   npm run bench:train -- [options]
 *   (= tsc -p test && node out/test/bench/train.js [options])
 *
 * The matrix (default): every preset family at its real input shape (mnist-cnn, mnist-resnete
 * 28x28x1; cifar10-resnete18, cifar10-bdn28 32x32x3), at batch 32 and 128, on 1 thread and on
 * every core, BNN Lab against PyTorch (test/bench/train_torch.py under /usr/bin/python3: the same
 * architecture, sgn with a clipped straight-through gradient, batch norm, Adam, latent clip) in
 * the same run, on one fixed synthetic batch. BNN Lab's 1-thread row is the engine's own thread
 * (`bnn-lab train --threads 1`), the others data-parallel replicas (core/parallel), as the trainer
 * runs them. Every row has `ratio` = its median step time over PyTorch's at the same preset,
 * batch and threads; `speedups` gives the most-thread speed-up over 1 thread per preset and
 * batch. A batch over the wasm memory estimate (core/training/batchLimit.ts) is a skipped row.
 *
 * With --engines, also the per-engine comparison of issue #4 at batch 64: BNN Lab's wasm path
 * with and without its C kernels (alternating steps in one process), data-parallel on 1 and all
 * threads, webgpu (a correctness run on a software adapter), tfjs-node when it loads, tfjs' cpu
 * backend (a few steps: it is very slow), PyTorch; and the binarization kernels alone.
 *
 * Every configuration runs in its own child process, so its peak RSS
 * (`process.resourceUsage().maxRSS`, `getrusage` in Python) is its own. Step times are wall
 * time; the CPU time of the process (all threads) per step is shown too.
 *
 * Options:
 *   --json                 one JSON document on stdout instead of the table
 *   --json-file PATH       also write that JSON document to PATH
 *   --presets a,b          presets (default all four; --models is the same)
 *   --batches 32,128       batch sizes of the matrix
 *   --threads 1,2          thread counts of the matrix ("all" = every core; default 1,all)
 *   --steps N              timed steps per configuration, after --warmup N; defaults 20 and 50
 *                          for the MNIST presets (V8 optimizes tfjs' JavaScript over the first
 *                          tens of steps, in every replica thread separately), 5 and 3 for the
 *                          CIFAR presets (a step takes seconds)
 *   --rounds N             run each preset and batch of the matrix N times, the thread counts in
 *                          turns (1, 2 / 2, 1 / ...), so that a machine that slows down or
 *                          speeds up during the run weighs on every thread count alike: each row
 *                          is the median of its rounds, and the speed-up table gives the range of
 *                          the rounds' speed-ups too (default 1)
 *   --no-matrix            skip the matrix (e.g. with --engines or --profile alone)
 *   --engines              the per-engine comparison above
 *   --cpu-steps N          timed steps on the stock cpu backend (default 1, no warm-up; 0 skips)
 *   --steps-memory N       also run N steps of mnist-cnn on wasm and report tf.memory().numTensors
 *                          before and after (and its range): it must stay constant
 *   --profile N            per-kernel CPU-time profile of N wasm steps of each preset at the
 *                          first batch of --batches (convolutions split by layer shape), with the
 *                          FLOP rate of the convolutions and matrix products against the
 *                          measured SIMD128 peak
 *   --replica-profile N    wall-time profile of the data-parallel replicas over N steps of each
 *                          preset at the first batch of --batches: the most threads of --threads
 *                          against one replica with the same share of the batch, per phase of
 *                          the step (gradients, barrier waits, optimizer step, weight copies)
 *                          and per kernel (convolutions by layer shape), to see what the
 *                          replicas lose beside each other (core/parallel/replicaProfile.ts);
 *                          needs 2 or more threads dividing the batch; after the preset's
 *                          warm-up steps (--warmup); synthetic data even with --real-data
 *   --real-data            data-parallel rows read the preset's dataset instead of synthetic
 *   --no-torch, --no-cpu   skip those runs
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../core/tf';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import {
  BNN_KERNEL_FILES,
  bnnKernelsRegistered,
  bnnKernelVariant,
  registerBnnKernels,
  unregisterBnnKernels,
} from '../../core/backend/bnnKernels';
import { installEarlyFreeGradients } from '../../core/backend/earlyFreeGradients';
import { registerWasmTrainingKernels } from '../../core/backend/wasmKernels';
import { getPreset } from '../../core/bnn/presets';
import { applyForTraining } from '../../core/bnn/trainingForward';
import { initBackend } from '../../core/backend/backends';
import { DataParallel } from '../../core/parallel/dataParallel';
import { kernelProfileKey, type ReplicaStepProfile } from '../../core/parallel/replicaProfile';
import { fuseBatchNorm } from '../../core/parallel/syncBatchNorm';
import { loadDataset } from '../../core/data/datasets';
import { resolveConfig } from '../../core/training/config';
import { clipLatentWeights, createOptimizer } from '../../core/training/optimizers';
import { isBinaryLayer } from '../../core/bnn/layers';
import { maxWasmBatchSize } from '../../core/training/batchLimit';
import type { Dataset } from '../../core/data/datasets';
import { createStepSetup } from '../../core/training/stepSetup';
import { timeBackend, type BackendTiming } from './backendSteps';

const BATCH = 64;
const LEARNING_RATE = 0.002;

/**
 * The practical single-core peak of wasm SIMD here: `bnn_peak_probe` of the build of the C
 * kernels in use (12 independent f32x4 multiply-add chains, no memory traffic), in GFLOPS of
 * CPU time, the median of 5 runs. Convolution rates in the profile are set against it.
 */
function measurePeakGflops(): number {
  const build = BNN_KERNEL_FILES[bnnKernelVariant() ?? 'simd128'];
  const file = path.join(__dirname, '..', '..', '..', 'core', 'kernels', build);
  const wasm = (
    globalThis as unknown as {
      WebAssembly: {
        Module: new (bytes: Uint8Array) => object;
        Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
        Memory: new (descriptor: { initial: number }) => object;
      };
    }
  ).WebAssembly;
  const instance = new wasm.Instance(new wasm.Module(readFileSync(file)), {
    env: { memory: new wasm.Memory({ initial: 16 }) },
  });
  const probe = instance.exports.bnn_peak_probe as (n: number, m: number, c: number) => number;
  const iterations = 1e7;
  const rates: number[] = [];
  for (let run = 0; run < 6; run++) {
    const start = cpuMs();
    probe(iterations, 0.999, 0.001);
    if (run > 0) rates.push((96 * iterations) / ((cpuMs() - start) * 1e6));
  }
  return median(rates);
}

interface Options {
  json: boolean;
  jsonFile?: string;
  models: string[];
  steps: number;
  warmup: number;
  cpuSteps: number;
  stepsMemory: number;
  profile: number;
  /** Steps of the replica profile (0: none). */
  replicaProfile: number;
  torch: boolean;
  cpu: boolean;
  /** Replica threads of a `parallel` child; in the parent the first of `threadCounts`. */
  threads: number;
  /** The matrix: batch sizes and thread counts per preset. */
  batches: number[];
  threadCounts: number[];
  /** Also run the per-engine comparison at batch 64 (C kernels / tfjs ops / cpu / webgpu). */
  engines: boolean;
  /** Rows of each profile table printed (all are in the JSON). */
  profileRows: number;
  /** Run the matrix (off with --no-matrix, e.g. for --engines alone). */
  matrix: boolean;
  /** Batch of a child (the matrix's, or 64 for the engine comparison). */
  batch: number;
  /** The data-parallel child reads the preset's real dataset instead of synthetic images. */
  realData: boolean;
  /** The wasm child times only the C-kernel path (the matrix's 1-thread rows). */
  onlyC: boolean;
  /** Rounds of the matrix per preset and batch, the thread counts in turns (see the header). */
  rounds: number;
  /** Whether --steps / --warmup were given (else each preset gets its own default). */
  stepsGiven: boolean;
  warmupGiven: boolean;
}

/** What one configuration (one child process) reports. */
interface RunResult {
  model: string;
  /** e.g. 'bnn-lab wasm', 'tfjs cpu', 'pytorch'. */
  engine: string;
  /** Variant within the engine, e.g. 'C kernels' / 'tfjs ops'. */
  variant?: string;
  threads: number;
  /** Batch size (the engine comparison's rows: 64). */
  batch?: number;
  steps: number;
  medianMs: number;
  medianCpuMs: number;
  maxRssMb: number;
  params?: number;
  skipped?: string;
  /** Matrix rows: this step time over PyTorch's at the same preset, batch and threads. */
  ratio?: number;
  /**
   * Matrix rows with `--rounds` above 1: the median step of each round, in round order (the row's
   * `medianMs` is their median).
   */
  roundsMs?: number[];
  /** Matrix rows: PyTorch's row it is compared with (median ms). */
  torchMs?: number;
  /**
   * Matrix rows: the same ratio in CPU time of the process (all threads). On a loaded machine the
   * 1-thread CPU ratio is the one that holds; wall time counts the waits for a core.
   */
  cpuRatio?: number;
  /** Data-parallel children with --replica-profile: the replicas' profile. */
  replicaProfile?: ReplicaProfileSummary;
}

/** The mean replica step of a data-parallel child (every replica, the timed steps). */
interface ReplicaProfileSummary extends ReplicaStepProfile {
  threads: number;
  batch: number;
  steps: number;
}

/** One preset's replica profile: one replica against `threads`, same share of the batch each. */
interface ReplicaProfileComparison {
  model: string;
  batch: number;
  threads: number;
  one: ReplicaProfileSummary;
  many: ReplicaProfileSummary;
}

interface MemoryCheck {
  model: string;
  steps: number;
  numTensorsBefore: number;
  numTensorsAfter: number;
  numTensorsMin: number;
  numTensorsMax: number;
  numBytesBefore: number;
  numBytesAfter: number;
  constant: boolean;
}

interface KernelProfile {
  model: string;
  steps: number;
  stepMs: number;
  kernels: { name: string; msPerStep: number; share: number; calls: number; gflops?: number }[];
}

function parseOptions(argv: string[]): Options {
  const options: Options = {
    json: false,
    models: ['mnist-cnn', 'mnist-resnete', 'cifar10-resnete18', 'cifar10-bdn28'],
    steps: 20,
    warmup: 50,
    cpuSteps: 1,
    stepsMemory: 0,
    profile: 0,
    replicaProfile: 0,
    torch: true,
    cpu: true,
    threads: 1,
    batches: [32, 128],
    threadCounts: [1, os.availableParallelism()],
    engines: false,
    matrix: true,
    profileRows: 40,
    batch: BATCH,
    realData: false,
    onlyC: false,
    rounds: 1,
    stepsGiven: false,
    warmupGiven: false,
  };
  const list = (i: number, name: string) => {
    const values = (argv[i + 1] ?? '')
      .split(',')
      .map((v) => (v === 'all' ? os.availableParallelism() : Number(v)));
    if (values.length === 0 || values.some((v) => !Number.isInteger(v) || v < 1)) {
      throw new Error(`${name} needs a comma-separated list of positive integers`);
    }
    return values;
  };
  const number = (i: number, name: string) => {
    const value = Number(argv[i + 1]);
    if (!Number.isInteger(value) || value < 0) throw new Error(`${name} needs a count`);
    return value;
  };
  for (let i = 0; i < argv.length; i++) {
    switch (argv[i]) {
      case '--json':
        options.json = true;
        break;
      case '--json-file':
        options.jsonFile = argv[++i];
        break;
      case '--models':
      case '--presets':
        options.models = (argv[++i] ?? '').split(',').filter(Boolean);
        break;
      case '--steps':
        options.steps = Math.max(1, number(i++, '--steps'));
        options.stepsGiven = true;
        break;
      case '--warmup':
        options.warmup = number(i++, '--warmup');
        options.warmupGiven = true;
        break;
      case '--batches':
        options.batches = list(i++, '--batches');
        break;
      case '--batch':
        options.batch = Math.max(1, number(i++, '--batch'));
        break;
      case '--engines':
        options.engines = true;
        break;
      case '--no-matrix':
        options.matrix = false;
        break;
      case '--real-data':
        options.realData = true;
        break;
      case '--only-c':
        options.onlyC = true;
        break;
      case '--cpu-steps':
        options.cpuSteps = number(i++, '--cpu-steps');
        break;
      case '--steps-memory':
        options.stepsMemory = number(i++, '--steps-memory');
        break;
      case '--profile':
        options.profile = number(i++, '--profile');
        break;
      case '--replica-profile':
        options.replicaProfile = number(i++, '--replica-profile');
        break;
      case '--threads':
        options.threadCounts = list(i++, '--threads');
        options.threads = options.threadCounts[0];
        break;
      case '--rounds':
        options.rounds = Math.max(1, number(i++, '--rounds'));
        break;
      case '--no-torch':
        options.torch = false;
        break;
      case '--no-cpu':
        options.cpu = false;
        break;
      default:
        throw new Error(`unknown option ${argv[i]}`);
    }
  }
  return options;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

const maxRssMb = () => process.resourceUsage().maxRSS / 1024;

// ---------------------------------------------------------------------------------------------
// Child side: one engine, one model.

async function useWasm(): Promise<void> {
  const wasmPackage = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  setWasmPaths(path.join(path.dirname(wasmPackage), 'dist') + path.sep);
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend did not initialize');
  registerWasmTrainingKernels();
  // As initBackend does for the engine.
  installEarlyFreeGradients();
}

/** The latent (real-valued) kernels of a model's binary layers, which latentClip clips. */
function latentKernelsOf(model: tf.LayersModel): tf.Variable[] {
  return model.layers.filter(isBinaryLayer).map((l) => l.latentKernel().read() as tf.Variable);
}

/**
 * A synthetic training split of the preset's input shape (uniform noise, random labels): the
 * work of a step does not depend on the values, and no dataset has to be on disk.
 */
function syntheticDataset(modelName: string, count: number): Dataset {
  const preset = getPreset(modelName);
  const [h, w, c] = preset.inputShape;
  const images = new Float32Array(count * h * w * c);
  let seed = 12345;
  const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  for (let i = 0; i < images.length; i++) images[i] = random();
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) labels[i] = Math.floor(((random() + 1) / 2) * preset.classes);
  return {
    name: 'synthetic',
    source: 'random',
    shape: [h, w, c],
    classes: preset.classes,
    train: { images, labels, count },
    test: { images: new Float32Array(0), labels: new Uint8Array(0), count: 0 },
  };
}

/** A model, an optimizer and a fixed batch; `step()` is one training step as in trainer.ts. */
function makeTrainer(modelName: string, batch = BATCH) {
  const preset = getPreset(modelName);
  const model = preset.build(1);
  // As trainer.ts does in the engine's thread: batch norm through the C kernels (the "tfjs ops"
  // variant, with the C kernels unregistered, runs the same batch norm as tfjs ops).
  fuseBatchNorm(model);
  // The trainer's optimizer: Adam, fused into one C kernel per variable while the C kernels are
  // registered (the "tfjs ops" variant unregisters them, so it runs tfjs' own Adam).
  const optimizer = createOptimizer({ learningRate: LEARNING_RATE, optimizer: 'adam' });
  const images = tf.randomUniform([batch, ...preset.inputShape], 0, 1, 'float32', 4);
  const labels = tf.tidy(() =>
    tf.oneHot(tf.randomUniform([batch], 0, preset.classes, 'int32', 5), preset.classes),
  );
  // As trainer.ts does after every step in the engine's thread.
  const latentClip = preset.defaults.latentClip ?? 0;
  const step = () => {
    const loss = optimizer.minimize(() => {
      // The trainer's forward pass (core/training/stepSetup.ts), which frees layer outputs early.
      const logits = applyForTraining(model, images) as tf.Tensor;
      return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
    }, true) as tf.Scalar;
    const value = loss.dataSync()[0];
    loss.dispose();
    if (latentClip > 0) clipLatentWeights(latentKernelsOf(model), latentClip);
    return value;
  };
  const params = model.trainableWeights.reduce(
    (n, w) => n + (w.shape as number[]).reduce((a, b) => a * b, 1),
    0,
  );
  const dispose = () => {
    tf.dispose([images, labels]);
    optimizer.dispose();
    model.dispose();
  };
  return { step, params, dispose };
}

/** Times `steps` steps after `warmup`, alternating between the given variants. */
function timeVariants(
  step: () => number,
  variants: { name: string; enter: () => void }[],
  warmup: number,
  steps: number,
): { wall: number[]; cpu: number[] }[] {
  const times = variants.map(() => ({ wall: [] as number[], cpu: [] as number[] }));
  for (let round = -warmup; round < steps; round++) {
    variants.forEach((variant, i) => {
      variant.enter();
      const wall0 = performance.now();
      const cpu0 = cpuMs();
      step();
      if (round >= 0) {
        times[i].cpu.push(cpuMs() - cpu0);
        times[i].wall.push(performance.now() - wall0);
      }
    });
  }
  return times;
}

async function childWasm(modelName: string, options: Options): Promise<RunResult[]> {
  await useWasm();
  const cKernels = bnnKernelsRegistered();
  const trainer = makeTrainer(modelName, options.batch);
  const variants = [
    {
      name: 'C kernels',
      enter: () => {
        registerBnnKernels();
      },
    },
  ];
  if (cKernels && !options.onlyC) {
    variants.push({ name: 'tfjs ops', enter: () => unregisterBnnKernels() });
  }
  const times = timeVariants(trainer.step, variants, options.warmup, options.steps);
  registerBnnKernels();
  trainer.dispose();
  return variants.map((variant, i) => ({
    model: modelName,
    engine: 'bnn-lab wasm',
    variant: cKernels ? variant.name : 'tfjs ops; C kernels not registered',
    threads: 1,
    batch: options.batch,
    steps: options.steps,
    medianMs: median(times[i].wall),
    medianCpuMs: median(times[i].cpu),
    maxRssMb: maxRssMb(),
    params: trainer.params,
  }));
}

/** The mean of replica step profiles (every replica's timed steps). */
function meanProfile(
  all: ReplicaStepProfile[],
  threads: number,
  batch: number,
  steps: number,
): ReplicaProfileSummary {
  const sum = (pick: (p: ReplicaStepProfile) => Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const p of all) {
      for (const [k, v] of Object.entries(pick(p))) out[k] = (out[k] ?? 0) + v / all.length;
    }
    return out;
  };
  return {
    threads,
    batch,
    steps,
    phases: sum((p) => p.phases),
    kernels: sum((p) => p.kernels),
    barrierWaitMs: all.reduce((n, p) => n + p.barrierWaitMs, 0) / all.length,
    barriers: all.reduce((n, p) => n + p.barriers, 0) / all.length,
  };
}

/**
 * The data-parallel path as the trainer runs it (core/parallel): `threads` replica threads, each
 * with its own wasm instance, on MNIST batches of the preset's run config at batch 64 and Adam
 * 0.002 (as the other rows; the data differ from their fixed random batch, the work does not).
 * CPU time is the whole process's, i.e. all replica threads.
 */
async function childParallel(
  modelName: string,
  threads: number,
  options: Options,
): Promise<RunResult> {
  await initBackend('wasm', () => undefined);
  const config = resolveConfig(
    {
      preset: modelName,
      batchSize: options.batch,
      learningRate: LEARNING_RATE,
      optimizer: 'adam',
      epochs: 1,
      // The PyTorch reference does not augment; the CIFAR presets would crop and flip.
      augment: false,
      // A CIFAR config must name a folder; the replicas get the synthetic split below instead.
      ...(getPreset(modelName).dataset.name === 'cifar10' && !options.realData
        ? { dataset: { name: 'cifar10', path: '(synthetic)' } }
        : {}),
    },
    'bench',
  );
  const setup = createStepSetup(config, getPreset(modelName));
  // MNIST when --mnist-data is given (what the rows measured before the CIFAR presets came),
  // else synthetic images of the preset's input shape: 4 batches' worth.
  const dataset = options.realData
    ? loadDataset(config.dataset, { limit: 0, testLimit: 1 })
    : syntheticDataset(modelName, 4 * options.batch);
  // --replica-profile: each replica's profile of each step, in step order.
  const profiles: ReplicaStepProfile[][] = Array.from({ length: threads }, () => []);
  const pool = await DataParallel.start({
    dataset,
    config,
    world: threads,
    backend: 'wasm',
    setup,
    sendState: false,
    log: () => undefined,
    ...(options.replicaProfile > 0
      ? { profile: (rank: number, p: ReplicaStepProfile) => profiles[rank].push(p) }
      : {}),
  });
  const wall: number[] = [];
  const cpu: number[] = [];
  try {
    for (let round = -options.warmup; round < options.steps; round++) {
      const wall0 = performance.now();
      const cpu0 = cpuMs();
      await pool.step({
        epoch: 1,
        batchIndex: round + options.warmup,
        learningRate: LEARNING_RATE,
      });
      if (round >= 0) {
        wall.push(performance.now() - wall0);
        cpu.push(cpuMs() - cpu0);
      }
    }
    // The last step's profiles are posted before it ends but may not have been read yet.
    const total = options.warmup + options.steps;
    const deadline = performance.now() + 10_000;
    while (options.replicaProfile > 0 && profiles.some((p) => p.length < total)) {
      if (performance.now() > deadline) throw new Error('replica profiles did not arrive');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    await pool.close();
  }
  const params = setup.variables.reduce((n, v) => n + v.size, 0);
  setup.dispose();
  const replicaProfile =
    options.replicaProfile > 0
      ? meanProfile(
          profiles.flatMap((p) => p.slice(options.warmup)),
          threads,
          options.batch,
          options.steps,
        )
      : undefined;
  return {
    model: modelName,
    engine: 'bnn-lab wasm',
    variant: 'data-parallel',
    threads,
    batch: options.batch,
    steps: options.steps,
    medianMs: median(wall),
    medianCpuMs: median(cpu),
    maxRssMb: maxRssMb(),
    params,
    ...(replicaProfile ? { replicaProfile } : {}),
  };
}

async function childTfjs(
  modelName: string,
  backend: 'cpu' | 'tensorflow',
  options: Options,
): Promise<RunResult[]> {
  const engine = backend === 'cpu' ? 'tfjs cpu' : 'tfjs-node';
  if (backend === 'tensorflow') {
    try {
      // A computed name keeps TypeScript and bundlers from resolving the optional package.
      const load = require as (id: string) => unknown;
      load('@tensorflow/tfjs-node');
    } catch (e) {
      const message = e instanceof Error ? e.message.split('\n')[0] : String(e);
      return [skippedRun(modelName, engine, `not installed (${message})`)];
    }
  }
  if (!(await tf.setBackend(backend))) {
    return [skippedRun(modelName, engine, `the ${backend} backend did not initialize`)];
  }
  const trainer = makeTrainer(modelName);
  const steps = backend === 'cpu' ? options.cpuSteps : options.steps;
  // No warm-up on the cpu backend: a step takes tens of seconds, JIT warm-up is lost in it.
  const warmup = backend === 'cpu' ? 0 : options.warmup;
  const [times] = timeVariants(trainer.step, [{ name: '', enter: () => {} }], warmup, steps);
  trainer.dispose();
  return [
    {
      model: modelName,
      engine,
      threads: backend === 'cpu' ? 1 : os.cpus().length,
      steps,
      medianMs: median(times.wall),
      medianCpuMs: median(times.cpu),
      maxRssMb: maxRssMb(),
      params: trainer.params,
    },
  ];
}

async function childMemory(modelName: string, steps: number): Promise<MemoryCheck> {
  await useWasm();
  const trainer = makeTrainer(modelName);
  trainer.step();
  const before = tf.memory();
  let min = before.numTensors;
  let max = before.numTensors;
  for (let i = 0; i < steps; i++) {
    trainer.step();
    const n = tf.memory().numTensors;
    min = Math.min(min, n);
    max = Math.max(max, n);
  }
  const after = tf.memory();
  trainer.dispose();
  return {
    model: modelName,
    steps,
    numTensorsBefore: before.numTensors,
    numTensorsAfter: after.numTensors,
    numTensorsMin: min,
    numTensorsMax: max,
    numBytesBefore: before.numBytes,
    numBytesAfter: after.numBytes,
    constant: min === max && before.numBytes === after.numBytes,
  };
}

interface BinarizeTiming {
  shape: number[];
  /** Why the C kernels were not timed (not registered), if they were not. */
  skipped?: string;
  rows: { op: string; opsMs: number; kernelMs: number }[];
}

/**
 * The binarization ops alone on a 64x28x28x32 activation: median CPU time of 21 calls of the tfjs
 * op chain and of BNN Lab's C kernel, called in turns.
 */
async function childBinarize(): Promise<BinarizeTiming> {
  await useWasm();
  const shape = [64, 28, 28, 32];
  if (!bnnKernelsRegistered()) {
    return { shape, rows: [], skipped: 'the C kernels are not registered' };
  }
  const x = tf.randomUniform(shape, -2, 2, 'float32', 1);
  const dy = tf.randomUniform(shape, -1, 1, 'float32', 2);
  const pairs: [string, () => tf.Tensor, () => tf.Tensor][] = [
    [
      'sgn forward',
      () => tf.sign(tf.add(tf.sign(x), 0.1)),
      () => tf.engine().runKernel('BnnSign', { x }, {}) as tf.Tensor,
    ],
    [
      'STE backward (clip 1)',
      () => tf.mul(dy, tf.cast(tf.lessEqual(tf.abs(x), 1), 'float32')),
      () => tf.engine().runKernel('BnnSteGrad', { dy, x }, { clip: 1 }) as tf.Tensor,
    ],
    [
      'ApproxSign backward',
      () => tf.mul(dy, tf.relu(tf.sub(2, tf.mul(tf.abs(x), 2)))),
      () => tf.engine().runKernel('BnnApproxSignGrad', { dy, x }, {}) as tf.Tensor,
    ],
  ];
  const rows = pairs.map(([op, ops, kernel]) => {
    const times: number[][] = [[], []];
    for (let round = -2; round < 21; round++) {
      [ops, kernel].forEach((run, i) => {
        const start = cpuMs();
        const out = tf.tidy(run);
        if (round >= 0) times[i].push(cpuMs() - start);
        out.dispose();
      });
    }
    return { op, opsMs: median(times[0]), kernelMs: median(times[1]) };
  });
  tf.dispose([x, dy]);
  return { shape, rows };
}

/**
 * 2 x multiply-adds of the kernels whose work is a convolution or a matrix product (the same
 * count for a gradient as for its forward convolution), from input and output shapes.
 */
function kernelFlops(name: string, shapes: number[][], out: number[][]): number | undefined {
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  switch (name) {
    case 'Conv2D':
    case 'FusedConv2D':
    case 'BnnSignConv2D': {
      // x, filter [kh, kw, cin, cout] -> y
      const [kh, kw, cin] = shapes[1];
      return 2 * size(out[0]) * kh * kw * cin;
    }
    case 'Conv2DBackpropInput': {
      // dy, filter [kh, kw, cin, cout] -> dx: the multiply-adds of the forward convolution
      const [kh, kw, cin] = shapes[1];
      return 2 * size(shapes[0]) * kh * kw * cin;
    }
    case 'Conv2DBackpropFilter': {
      // x, dy [n, oh, ow, cout] -> dW [kh, kw, cin, cout]
      const dy = shapes[1];
      return 2 * size(out[0]) * dy[0] * dy[1] * dy[2];
    }
    case 'BatchMatMul':
    case '_FusedMatMul': {
      // a [B, m, k] (or transposed) times b [B, k, n] gives [B, m, n]: k from the three sizes.
      const batch = out[0].length > 2 ? size(out[0].slice(0, -2)) : 1;
      const inner = Math.sqrt((size(shapes[0]) * size(shapes[1])) / size(out[0]) / batch);
      return 2 * size(out[0]) * inner;
    }
    default:
      return undefined;
  }
}

/**
 * Per-kernel CPU time of training steps on wasm. Every registered wasm kernel is wrapped to
 * read the process's CPU time before and after it (kernels that BNN Lab's kernels call
 * internally count towards the outer kernel), so the numbers hold on a loaded machine, unlike
 * tf.profile's wall time. What the step spends outside kernels is the engine's and tfjs-layers'
 * own work (gradient tape, tidy scopes, shape checks, dispatch) in JavaScript.
 */
async function childProfile(
  modelName: string,
  steps: number,
  warmup: number,
  batch: number,
): Promise<KernelProfile> {
  await useWasm();
  const trainer = makeTrainer(modelName, batch);
  // Warm up before wrapping the kernels, as the timed runs do (V8 optimizes the step's code).
  for (let i = 0; i < Math.max(1, warmup); i++) trainer.step();
  const perKernel = new Map<string, { ms: number; calls: number; flops: number }>();
  let depth = 0;
  let recording = false;
  for (const config of tf.getKernelsForBackend('wasm')) {
    const inner = config.kernelFunc;
    const kernelFunc: tf.KernelFunc = (args) => {
      if (depth > 0 || !recording) return inner(args);
      depth++;
      const start = cpuMs();
      let out: tf.TensorInfo | tf.TensorInfo[];
      try {
        out = inner(args);
      } finally {
        depth--;
      }
      const ms = cpuMs() - start;
      const outs = Array.isArray(out) ? out : [out];
      const shapes = Object.values(args.inputs)
        .filter((t): t is tf.TensorInfo => t !== undefined)
        .map((t) => t.shape);
      const key = kernelProfileKey(config.kernelName, args);
      const entry = perKernel.get(key) ?? { ms: 0, calls: 0, flops: 0 };
      entry.ms += ms;
      entry.calls += 1;
      entry.flops +=
        kernelFlops(
          config.kernelName,
          shapes,
          outs.map((t) => t.shape),
        ) ?? 0;
      perKernel.set(key, entry);
      return out;
    };
    tf.unregisterKernel(config.kernelName, 'wasm');
    tf.registerKernel({ ...config, kernelFunc });
  }
  trainer.step();
  recording = true;
  const stepCpu: number[] = [];
  for (let i = 0; i < steps; i++) {
    const start = cpuMs();
    trainer.step();
    stepCpu.push(cpuMs() - start);
  }
  recording = false;
  trainer.dispose();
  const stepMs = stepCpu.reduce((a, b) => a + b, 0) / steps;
  const kernels = [...perKernel.entries()].map(([name, e]) => ({
    name,
    msPerStep: e.ms / steps,
    share: e.ms / steps / stepMs,
    calls: e.calls / steps,
    gflops: e.flops > 0 ? e.flops / (e.ms * 1e6) : undefined,
  }));
  const inKernels = kernels.reduce((sum, k) => sum + k.msPerStep, 0);
  kernels.push({
    name: '(outside kernels: engine, tape, layers)',
    msPerStep: stepMs - inKernels,
    share: (stepMs - inKernels) / stepMs,
    calls: 0,
    gflops: undefined,
  });
  return {
    model: modelName,
    steps,
    stepMs,
    kernels: kernels.sort((a, b) => b.msPerStep - a.msPerStep),
  };
}

function skippedRun(model: string, engine: string, reason: string): RunResult {
  return {
    model,
    engine,
    threads: 0,
    steps: 0,
    medianMs: NaN,
    medianCpuMs: NaN,
    maxRssMb: NaN,
    skipped: reason,
  };
}

// ---------------------------------------------------------------------------------------------
// Parent side: spawns the children and prints the table.

/** A webgpu timing as a table row; a software adapter's row says it is a correctness run. */
function webgpuRow(t: BackendTiming): RunResult {
  if (t.skipped) return skippedRun(t.model, 'webgpu', t.skipped);
  const losses = `first-step loss ${t.firstLoss.toFixed(6)} (wasm ${t.wasmFirstLoss?.toFixed(6) ?? '-'})`;
  return {
    model: t.model,
    engine: 'webgpu',
    variant: t.software
      ? `SOFTWARE adapter, a correctness run, not a speed figure: ${losses}; ${t.detail}`
      : `${t.detail}; ${losses}`,
    threads: 1,
    steps: t.steps,
    medianMs: t.medianMs,
    medianCpuMs: NaN,
    maxRssMb: NaN,
  };
}

function runChild(args: string[]): unknown {
  const result = spawnSync(process.execPath, [__filename, '--child', ...args], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const line = result.stdout.split('\n').find((l) => l.startsWith('{') || l.startsWith('['));
  if (result.status !== 0 || line === undefined) {
    throw new Error(`bench child ${args.join(' ')} failed: ${result.stderr.slice(-2000)}`);
  }
  return JSON.parse(line);
}

const PYTHON = '/usr/bin/python3';

function torchProbe(): string | undefined {
  try {
    execFileSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return `${PYTHON} -c 'import torch' failed (apt-get install python3-torch)`;
  }
}

function runTorch(model: string, threads: string, options: Options, batch = BATCH): RunResult {
  const script = path.join(__dirname, '..', '..', '..', 'test', 'bench', 'train_torch.py');
  const stdout = execFileSync(
    PYTHON,
    [
      script,
      '--model',
      model,
      '--threads',
      threads,
      '--batch',
      String(batch),
      '--steps',
      String(options.steps),
      '--warmup',
      String(options.warmup),
      '--lr',
      String(LEARNING_RATE),
    ],
    { encoding: 'utf8' },
  );
  const r = JSON.parse(stdout.trim().split('\n').pop() as string) as {
    threads: number;
    median_ms: number;
    median_cpu_ms: number;
    max_rss_kb: number;
    params: number;
    version: string;
  };
  return {
    model,
    engine: 'pytorch',
    variant: r.version,
    threads: r.threads,
    batch,
    steps: options.steps,
    medianMs: r.median_ms,
    medianCpuMs: r.median_cpu_ms,
    maxRssMb: r.max_rss_kb / 1024,
    params: r.params,
  };
}

function printTable(rows: string[][]): void {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  for (const row of rows) {
    console.log(row.map((cell, column) => cell.padEnd(widths[column])).join('  '));
  }
}

const fixed = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : '-');

/** Timed and warm-up steps of a preset: --steps/--warmup, else 20/50 (MNIST) or 5/3 (CIFAR). */
function stepsFor(model: string, options: Options): { steps: number; warmup: number } {
  const large = getPreset(model).inputShape[0] > 28;
  return {
    steps: options.stepsGiven ? options.steps : large ? 5 : options.steps,
    warmup: options.warmupGiven ? options.warmup : large ? 3 : options.warmup,
  };
}

/** One BNN Lab row of the matrix: the engine thread on 1 thread, data-parallel replicas on more. */
function runBnn(
  model: string,
  batch: number,
  threads: number,
  perThread: number,
  args: string[],
  label: string,
  log: (message: string) => void,
): RunResult {
  if (batch > perThread * threads) {
    return skippedRun(
      model,
      'bnn-lab wasm',
      `batch ${batch} over the wasm memory estimate (${perThread} per thread)`,
    );
  }
  log(`${label}: BNN Lab`);
  const batchArgs = ['--batch', String(batch), ...args];
  try {
    return threads === 1
      ? (runChild(['wasm', model, '--only-c', ...batchArgs]) as RunResult[])[0]
      : (runChild(['parallel', model, '--threads', String(threads), ...batchArgs]) as RunResult);
  } catch (e) {
    // The child's first error line (its stack is left out of the table).
    const lines = (e instanceof Error ? e.message : String(e)).split('\n');
    const first = lines.find((l) => /error/i.test(l) && !/bench child/.test(l));
    return skippedRun(model, 'bnn-lab wasm', `failed: ${(first ?? lines[0]).trim()}`);
  }
}

/**
 * One row from the rounds of one configuration: the median of the rounds' medians (and of their
 * CPU times), the largest peak RSS, and each round's median in `roundsMs` when there were
 * several. A configuration skipped or failed in any round is reported as that round's row.
 */
function overRounds(rounds: RunResult[]): RunResult {
  const skipped = rounds.find((r) => r.skipped);
  if (skipped || rounds.length === 1) return { ...(skipped ?? rounds[0]) };
  return {
    ...rounds[0],
    medianMs: median(rounds.map((r) => r.medianMs)),
    medianCpuMs: median(rounds.map((r) => r.medianCpuMs)),
    maxRssMb: Math.max(...rounds.map((r) => r.maxRssMb)),
    roundsMs: rounds.map((r) => r.medianMs),
  };
}

/**
 * The matrix of issue 11: every preset at every batch on every thread count, BNN Lab (the
 * engine's own thread on 1 thread, as `bnn-lab train --threads 1` runs; data-parallel replicas
 * on more) and PyTorch in the same run, each row with its ratio to PyTorch's at the same
 * preset, batch and threads. A batch over the wasm memory estimate (core/training/batchLimit.ts)
 * is reported as skipped rather than run into an out-of-memory trap.
 */
async function runMatrix(
  options: Options,
  torchMissing: string | undefined,
  log: (message: string) => void,
): Promise<RunResult[]> {
  // The parent builds each model once, on the cpu backend, for the memory estimate only.
  await tf.setBackend('cpu');
  const rows: RunResult[] = [];
  for (const model of options.models) {
    const { steps, warmup } = stepsFor(model, options);
    const built = getPreset(model).build(1);
    const perThread = maxWasmBatchSize(built, 1);
    built.dispose();
    const args = ['--steps', String(steps), '--warmup', String(warmup)];
    if (options.realData) args.push('--real-data');
    for (const batch of options.batches) {
      // Every round runs each thread count once, in turns: forwards, then backwards.
      const byThreads = new Map<number, { bnn: RunResult[]; torch: RunResult[] }>(
        options.threadCounts.map((t) => [t, { bnn: [], torch: [] }]),
      );
      for (let round = 0; round < options.rounds; round++) {
        const order = round % 2 === 0 ? options.threadCounts : [...options.threadCounts].reverse();
        for (const threads of order) {
          const rounds = options.rounds > 1 ? `, round ${round + 1} of ${options.rounds}` : '';
          const label = `${model}, batch ${batch}, ${threads} thread(s)${rounds} (${warmup} warm-up, ${steps} timed steps)`;
          const runs = byThreads.get(threads)!;
          runs.bnn.push(runBnn(model, batch, threads, perThread, args, label, log));
          if (torchMissing !== undefined) {
            runs.torch.push(skippedRun(model, 'pytorch', torchMissing));
          } else {
            log(`${label}: PyTorch`);
            runs.torch.push(runTorch(model, String(threads), { ...options, steps, warmup }, batch));
          }
        }
      }
      for (const threads of options.threadCounts) {
        const runs = byThreads.get(threads)!;
        const bnn = overRounds(runs.bnn);
        bnn.threads = threads;
        bnn.batch = batch;
        bnn.variant = threads === 1 ? 'engine thread' : 'data-parallel';
        rows.push(bnn);
        const torch = overRounds(runs.torch);
        torch.threads = threads;
        torch.batch = batch;
        rows.push(torch);
        if (!bnn.skipped && !torch.skipped) {
          bnn.torchMs = torch.medianMs;
          bnn.ratio = bnn.medianMs / torch.medianMs;
          bnn.cpuRatio = bnn.medianCpuMs / torch.medianCpuMs;
        }
      }
    }
  }
  return rows;
}

/** A speed-up for the table, with the range of its rounds' speed-ups when there were several. */
function speedupText(speedup: number | undefined, rounds: number[] | undefined): string {
  if (speedup === undefined) return '-';
  if (!rounds || rounds.length < 2) return `${speedup.toFixed(2)}x`;
  const [low, high] = [Math.min(...rounds), Math.max(...rounds)];
  return `${speedup.toFixed(2)}x (rounds ${low.toFixed(2)}-${high.toFixed(2)}x)`;
}

/** 2-thread (or most-thread) speed-up over 1 thread per preset and batch, both engines. */
function speedups(rows: RunResult[]): {
  model: string;
  batch: number;
  threads: number;
  bnnLab?: number;
  pytorch?: number;
  /** With `--rounds`: each round's speed-up (1 thread over the most, that round's medians). */
  bnnLabRounds?: number[];
  pytorchRounds?: number[];
}[] {
  const out: ReturnType<typeof speedups> = [];
  const keys = new Set(rows.map((r) => `${r.model}|${r.batch}`));
  for (const key of keys) {
    const [model, batchText] = key.split('|');
    const batch = Number(batchText);
    const at = (engine: string, threads: number) =>
      rows.find(
        (r) =>
          r.model === model &&
          r.batch === batch &&
          r.engine === engine &&
          r.threads === threads &&
          !r.skipped,
      );
    const most = Math.max(...rows.filter((r) => r.model === model).map((r) => r.threads));
    if (most <= 1) continue;
    const ratio = (engine: string) => {
      const one = at(engine, 1);
      const many = at(engine, most);
      return one && many ? one.medianMs / many.medianMs : undefined;
    };
    const perRound = (engine: string) => {
      const one = at(engine, 1)?.roundsMs;
      const many = at(engine, most)?.roundsMs;
      return one && many && one.length === many.length
        ? one.map((ms, i) => ms / many[i])
        : undefined;
    };
    const [bnnLabRounds, pytorchRounds] = [perRound('bnn-lab wasm'), perRound('pytorch')];
    out.push({
      model,
      batch,
      threads: most,
      bnnLab: ratio('bnn-lab wasm'),
      pytorch: ratio('pytorch'),
      ...(bnnLabRounds ? { bnnLabRounds } : {}),
      ...(pytorchRounds ? { pytorchRounds } : {}),
    });
  }
  return out;
}

async function parent(options: Options): Promise<void> {
  const started = new Date();
  const loadBefore = os.loadavg();
  const optionArgs = ['--steps', String(options.steps), '--warmup', String(options.warmup)];
  optionArgs.push('--cpu-steps', String(options.cpuSteps));
  const runs: RunResult[] = [];
  const log = (message: string) => {
    if (!options.json) process.stderr.write(`${message}\n`);
  };
  const torchMissing = options.torch ? torchProbe() : '--no-torch';
  const matrix = options.matrix ? await runMatrix(options, torchMissing, log) : [];
  for (const model of options.engines ? options.models : []) {
    log(`${model}: BNN Lab wasm`);
    runs.push(...(runChild(['wasm', model, ...optionArgs]) as RunResult[]));
    const cores = os.availableParallelism();
    for (const threads of cores > 1 ? [1, cores] : [1]) {
      log(`${model}: BNN Lab wasm, data-parallel on ${threads} thread(s)`);
      runs.push(
        runChild(['parallel', model, '--threads', String(threads), ...optionArgs]) as RunResult,
      );
    }
    log(`${model}: webgpu`);
    runs.push(webgpuRow(runChild(['webgpu', model, ...optionArgs]) as BackendTiming));
    log(`${model}: tfjs-node`);
    runs.push(...(runChild(['tensorflow', model, ...optionArgs]) as RunResult[]));
    if (torchMissing === undefined) {
      for (const threads of ['1', 'all']) {
        log(`${model}: PyTorch, ${threads} thread(s)`);
        runs.push(runTorch(model, threads, options));
      }
    } else {
      runs.push(skippedRun(model, 'pytorch', torchMissing));
    }
    if (options.cpu && options.cpuSteps > 0) {
      log(`${model}: tfjs cpu (${options.cpuSteps} step(s))`);
      runs.push(...(runChild(['cpu', model, ...optionArgs]) as RunResult[]));
    }
  }
  let binarize: BinarizeTiming | undefined;
  if (options.engines) {
    log('binarization kernels');
    binarize = runChild(['binarize', '-']) as BinarizeTiming;
  }
  let memory: MemoryCheck | undefined;
  if (options.stepsMemory > 0) {
    log(`memory: ${options.stepsMemory} steps of mnist-cnn`);
    memory = runChild(['memory', 'mnist-cnn', '--steps-memory', String(options.stepsMemory)]) as
      MemoryCheck | undefined;
  }
  const profiles: KernelProfile[] = [];
  if (options.profile > 0) {
    for (const model of options.models) {
      const batch = options.batches[0];
      const { warmup } = stepsFor(model, options);
      log(`${model}: profile of ${options.profile} steps at batch ${batch}`);
      profiles.push(
        runChild([
          'profile',
          model,
          '--profile',
          String(options.profile),
          '--warmup',
          String(warmup),
          '--batch',
          String(batch),
        ]) as KernelProfile,
      );
    }
  }
  const replicaProfiles: ReplicaProfileComparison[] = [];
  if (options.replicaProfile > 0) {
    const threads = Math.max(...options.threadCounts);
    const batch = options.batches[0];
    for (const model of options.models) {
      if (threads < 2 || batch % threads !== 0) {
        log(`${model}: no replica profile (needs 2 or more --threads dividing batch ${batch})`);
        continue;
      }
      const { warmup } = stepsFor(model, options);
      const run = (t: number, b: number) => {
        log(
          `${model}: replica profile of ${options.replicaProfile} steps, ${t} replica(s), batch ${b}`,
        );
        const result = runChild([
          'parallel',
          model,
          '--threads',
          String(t),
          '--batch',
          String(b),
          '--steps',
          String(options.replicaProfile),
          '--warmup',
          String(warmup),
          '--replica-profile',
          String(options.replicaProfile),
        ]) as RunResult;
        return result.replicaProfile as ReplicaProfileSummary;
      };
      const one = run(1, batch / threads);
      replicaProfiles.push({ model, batch, threads, one, many: run(threads, batch) });
    }
  }
  const peakGflops = measurePeakGflops();
  const report = {
    started: started.toISOString(),
    finished: new Date().toISOString(),
    command:
      `node ${path.relative(process.cwd(), __filename)} ${process.argv.slice(2).join(' ')}`.trim(),
    machine: {
      cores: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      node: process.version,
      kernels: bnnKernelVariant(),
    },
    loadAverageBefore: loadBefore,
    loadAverageAfter: os.loadavg(),
    batch: BATCH,
    peakGflops,
    matrix,
    speedups: speedups(matrix),
    runs,
    binarize,
    memory,
    profiles,
    replicaProfiles,
  };
  if (options.jsonFile) writeFileSync(options.jsonFile, `${JSON.stringify(report, null, 2)}\n`);
  if (options.json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  console.log(
    `Adam, softmax cross-entropy, one fixed synthetic batch; ${report.machine.cores} cores (${report.machine.cpu}); ` +
      `C kernels: ${report.machine.kernels ?? 'none'} (BNN_LAB_RELAXED_SIMD=0: simd128); ` +
      `load average ${loadBefore.map((l) => l.toFixed(1)).join(' ')} before, ` +
      `${report.loadAverageAfter.map((l) => l.toFixed(1)).join(' ')} after`,
  );
  if (matrix.length > 0) {
    console.log(
      '\nstep time (wall, median after warm-up) against PyTorch at the same batch and threads' +
        (options.rounds > 1 ? `; each row the median of ${options.rounds} rounds` : ''),
    );
    const table = [
      [
        'preset',
        'batch',
        'threads',
        'engine',
        'steps',
        'step ms',
        'CPU ms/step',
        'x torch',
        'x torch (CPU)',
        'peak RSS MB',
      ],
    ];
    for (const r of matrix) {
      const name = r.variant ? `${r.engine} (${r.variant})` : r.engine;
      if (r.skipped) {
        table.push([
          r.model,
          String(r.batch),
          String(r.threads),
          name,
          '-',
          `skipped: ${r.skipped}`,
          '',
          '',
          '',
          '',
        ]);
        continue;
      }
      table.push([
        r.model,
        String(r.batch),
        String(r.threads),
        name,
        String(r.steps),
        fixed(r.medianMs),
        fixed(r.medianCpuMs),
        r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x`,
        r.cpuRatio === undefined ? '' : `${r.cpuRatio.toFixed(2)}x`,
        fixed(r.maxRssMb, 0),
      ]);
    }
    printTable(table);
    console.log('\nspeed-up of the most threads over 1 thread');
    printTable([
      ['preset', 'batch', 'threads', 'BNN Lab', 'PyTorch'],
      ...report.speedups.map((u) => [
        u.model,
        String(u.batch),
        String(u.threads),
        speedupText(u.bnnLab, u.bnnLabRounds),
        speedupText(u.pytorch, u.pytorchRounds),
      ]),
    ]);
  }
  if (options.engines) {
    console.log(
      `\nengines, batch ${BATCH}, median of ${options.steps} steps after ${options.warmup} warm-up ` +
        `(tfjs cpu: ${options.cpuSteps}, no warm-up)`,
    );
  }
  for (const model of options.engines ? options.models : []) {
    const rows = runs.filter((r) => r.model === model);
    const torch1 = rows.find((r) => r.engine === 'pytorch' && r.threads === 1 && !r.skipped);
    const table = [
      [
        'engine',
        'threads',
        'step ms',
        'CPU ms/step',
        'x torch (wall)',
        'x torch (CPU)',
        'peak RSS MB',
        'params',
      ],
    ];
    for (const r of rows) {
      const name = r.variant ? `${r.engine} (${r.variant})` : r.engine;
      if (r.skipped) {
        table.push([name, '-', `skipped: ${r.skipped}`, '', '', '', '', '']);
        continue;
      }
      const ratio = (a: number, b: number | undefined) =>
        b === undefined ? '-' : `${(a / b).toFixed(2)}x`;
      table.push([
        name,
        String(r.threads),
        fixed(r.medianMs),
        fixed(r.medianCpuMs),
        ratio(r.medianMs, torch1?.medianMs),
        ratio(r.medianCpuMs, torch1?.medianCpuMs),
        fixed(r.maxRssMb, 0),
        String(r.params ?? '-'),
      ]);
    }
    console.log(`\n${model}`);
    printTable(table);
  }
  if (binarize) {
    console.log(
      `\nbinarization on ${binarize.shape.join('x')}, median CPU time of 21 calls (wasm, one thread)` +
        (binarize.skipped ? `: skipped, ${binarize.skipped}` : ''),
    );
    if (!binarize.skipped) {
      printTable([
        ['op', 'tfjs ops', 'C kernel', 'ops / kernel'],
        ...binarize.rows.map((r) => [
          r.op,
          `${fixed(r.opsMs, 2)} ms`,
          `${fixed(r.kernelMs, 2)} ms`,
          `${fixed(r.opsMs / r.kernelMs)}x`,
        ]),
      ]);
    }
  }
  if (memory) {
    console.log(
      `\nmemory, ${memory.steps} steps of ${memory.model} on wasm: tf.memory().numTensors ` +
        `${memory.numTensorsBefore} -> ${memory.numTensorsAfter} (range ${memory.numTensorsMin}..${memory.numTensorsMax}), ` +
        `numBytes ${memory.numBytesBefore} -> ${memory.numBytesAfter}: ${memory.constant ? 'constant' : 'NOT CONSTANT'}`,
    );
  }
  for (const profile of profiles) {
    console.log(
      `\nprofile, ${profile.model}, ${profile.steps} steps, ${fixed(profile.stepMs)} ms CPU time/step (with the C kernels); ` +
        `GFLOPS = 2 x multiply-adds / kernel time; wasm SIMD peak (${bnnKernelVariant() ?? 'simd128'}) measured ${fixed(peakGflops)} GFLOPS on one core`,
    );
    const table = [['kernel', 'CPU ms/step', 'share', 'calls/step', 'GFLOPS', '% of peak']];
    for (const k of profile.kernels.slice(0, options.profileRows)) {
      table.push([
        k.name,
        fixed(k.msPerStep, 2),
        `${fixed(100 * k.share)}%`,
        k.calls === 0 ? '' : fixed(k.calls, 0),
        k.gflops === undefined ? '' : fixed(k.gflops, 2),
        k.gflops === undefined ? '' : `${fixed((100 * k.gflops) / peakGflops, 0)}%`,
      ]);
    }
    printTable(table);
  }
  for (const c of replicaProfiles) printReplicaProfile(c, options.profileRows);
}

/**
 * A replica profile as a table: each phase, the barrier waits, then the kernels whose time grew
 * most, one replica against `threads` (ms per replica-step).
 */
function printReplicaProfile(c: ReplicaProfileComparison, rows: number): void {
  const { one, many } = c;
  const total = (p: ReplicaProfileSummary) => Object.values(p.phases).reduce((a, b) => a + b, 0);
  console.log(
    `\nreplica profile, ${c.model}: 1 replica at batch ${one.batch} against ${c.threads} at ` +
      `${c.batch} (${many.batch / c.threads} each), wall ms per replica-step, mean of ${one.steps} ` +
      `steps (and of the replicas)`,
  );
  const row = (name: string, a: number, b: number) => [
    name,
    fixed(a, 1),
    fixed(b, 1),
    `${b - a >= 0 ? '+' : ''}${fixed(b - a, 1)}`,
    a > 0 ? `${b >= a ? '+' : ''}${fixed((100 * (b - a)) / a, 0)}%` : '',
  ];
  const table = [['', '1 replica', `${c.threads} replicas`, 'difference', 'growth']];
  table.push(row('step', total(one), total(many)));
  for (const phase of Object.keys(many.phases)) {
    table.push(row(`  ${phase}`, one.phases[phase] ?? 0, many.phases[phase]));
  }
  table.push(
    row(
      `barrier waits (${fixed(many.barriers, 0)} barriers)`,
      one.barrierWaitMs,
      many.barrierWaitMs,
    ),
  );
  const inKernels = (p: ReplicaProfileSummary) =>
    Object.values(p.kernels).reduce((a, b) => a + b, 0);
  table.push(row('all kernels', inKernels(one), inKernels(many)));
  const names = [...new Set([...Object.keys(one.kernels), ...Object.keys(many.kernels)])];
  const grew = (k: string) => (many.kernels[k] ?? 0) - (one.kernels[k] ?? 0);
  for (const k of names.sort((a, b) => grew(b) - grew(a)).slice(0, rows)) {
    table.push(row(`  ${k}`, one.kernels[k] ?? 0, many.kernels[k] ?? 0));
  }
  printTable(table);
}

async function child(argv: string[]): Promise<void> {
  const [kind, model, ...rest] = argv;
  const options = parseOptions(rest);
  let result: unknown;
  switch (kind) {
    case 'wasm':
      result = await childWasm(model, options);
      break;
    case 'cpu':
    case 'tensorflow':
      result = await childTfjs(model, kind, options);
      break;
    case 'parallel':
      result = await childParallel(model, options.threads, options);
      break;
    case 'webgpu': {
      const gpu = await timeBackend(
        'webgpu',
        model,
        BATCH,
        LEARNING_RATE,
        options.steps,
        options.warmup,
      );
      // The same first step on wasm, for the correctness column.
      const wasm = await timeBackend('wasm', model, BATCH, LEARNING_RATE, 0, 1);
      result = { ...gpu, wasmFirstLoss: wasm.firstLoss };
      break;
    }
    case 'memory':
      result = await childMemory(model, options.stepsMemory);
      break;
    case 'binarize':
      result = await childBinarize();
      break;
    case 'profile':
      result = await childProfile(model, options.profile, options.warmup, options.batch);
      break;
    default:
      throw new Error(`unknown child kind ${kind}`);
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') await child(argv.slice(1));
  else await parent(parseOptions(argv));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
