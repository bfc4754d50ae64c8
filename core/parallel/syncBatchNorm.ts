/**
 * Synchronized batch normalization for data-parallel training: in training mode each replica
 * normalizes its shard with the mean and variance of the *whole* batch (all-reduced over the
 * replicas), and the backward pass all-reduces the two per-channel sums the input gradient needs.
 * The result equals batch norm over the full batch on one thread, up to float rounding; that is
 * what lets a 1-thread and an N-thread run agree (test/unit/parallel/dataParallel.test.ts).
 *
 * The replica's BatchNormalization layers keep their class (checkpoints are unchanged); only the
 * training-mode `call` of each instance is replaced. Inference mode is the layer's own code.
 */
import * as tf from '../tf';
import {
  BNN_BN_BACKWARD,
  BNN_BN_FORWARD,
  BNN_BN_GRAD_SUMS,
  BNN_CHANNEL_SQ_DEV,
  BNN_CHANNEL_SUMS,
  BNN_SCALE_CONCAT,
  BNN_SCALE_SPLIT_GRAD,
} from '../backend/bnnKernels';
import type { ForwardShared, PartsBatchNorm } from '../bnn/trainingForward';
import { allocateShared, ReplicaComm, sharedViews } from './shared';

/** The fields of tfjs-layers' BatchNormalization that the replacement reads. */
interface BatchNormLayer {
  name: string;
  axis: number;
  momentum: number;
  epsilon: number;
  gamma: tf.LayerVariable | null;
  beta: tf.LayerVariable | null;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
  call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor;
}

export function isBatchNorm(layer: tf.layers.Layer): boolean {
  return layer.getClassName() === 'BatchNormalization';
}

/** Widest channel count among the model's batch-norm layers (0 when it has none). */
export function batchNormWidth(model: tf.LayersModel): number {
  return model.layers
    .filter(isBatchNorm)
    .reduce((w, l) => Math.max(w, (l as unknown as BatchNormLayer).movingMean.shape[0] ?? 0), 0);
}

/**
 * Most values one all-reduce of `model`'s batch norms sums: the statistics of the widest, three
 * sums per channel and the count (see `batchStatistics`).
 */
export function batchNormReduceValues(model: tf.LayersModel): number {
  return 3 * Math.max(1, batchNormWidth(model)) + 1;
}

/**
 * Replaces the training-mode `call` of every batch-norm layer of `model` by the synchronized one.
 * @throws Error for a batch norm over another axis than the last (no preset has one).
 */
export function synchronizeBatchNorm(model: tf.LayersModel, comm: ReplicaComm): void {
  for (const layer of model.layers.filter(isBatchNorm)) {
    const bn = layer as unknown as BatchNormLayer;
    const own = bn.call.bind(bn);
    bn.call = (inputs, kwargs) => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (!kwargs['training']) return own(inputs, kwargs);
      if (bn.axis !== -1 && bn.axis !== x.rank - 1) {
        throw new Error(`${bn.name}: synchronized batch norm supports the last axis only`);
      }
      return syncBatchNormTraining(bn, x, comm);
    };
    (bn as unknown as PartsBatchNorm).trainOverParts = (parts, shared) =>
      fusedKernels() && bn.axis === -1 ? batchNormOverParts(bn, parts, comm, shared) : undefined;
  }
}

/** True when BNN Lab's batch-norm C kernels run on the current backend. */
function fusedKernels(): boolean {
  return tf.getBackend() === 'wasm' && tf.getKernel(BNN_BN_FORWARD, 'wasm') !== undefined;
}

function runKernel(name: string, inputs: tf.NamedTensorMap): tf.Tensor | tf.Tensor[] {
  return tf.engine().runKernel(name, inputs, {}) as tf.Tensor | tf.Tensor[];
}

/**
 * The whole batch's means of two per-channel sums of this replica's shard: each summed over the
 * replicas (one all-reduce for both) and divided by the batch's `count` of rows.
 */
function batchMeans(
  comm: ReplicaComm,
  a: tf.Tensor,
  b: tf.Tensor,
  count: number,
): [Float32Array, Float32Array] {
  const channels = a.size;
  const sums = comm.allReduce([...a.dataSync(), ...b.dataSync()]);
  const first = new Float32Array(channels);
  const second = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    first[c] = sums[c] / count;
    second[c] = sums[channels + c] / count;
  }
  return [first, second];
}

/** A batch's per-channel statistics, all-reduced over the replicas. */
interface BatchStatistics {
  /** Rows (values per channel) in the whole batch. */
  count: number;
  mean: Float32Array;
  variance: Float32Array;
  meanT: tf.Tensor;
  /** 1 / √(variance + ε). */
  invStdT: tf.Tensor;
}

/**
 * The whole batch's mean and variance from this replica's per-channel `localSums` over
 * `localCount` rows and its sums of squared deviations from a mean (`localSquares`): two passes
 * over the values, as tf.moments, rather than E[x²] − E[x]², which cancels badly when the mean is
 * large. On one replica the deviations are from the batch mean. On several, each replica's are
 * from its own mean, so that one all-reduce serves the step instead of two (each all-reduce is a
 * barrier, and every batch norm takes one in the forward pass and one in the backward pass): the
 * replicas' sums of squared deviations M2ᵣ combine as M2 = Σ M2ᵣ + Σ nᵣ·meanᵣ² − N·mean² (Chan,
 * Golub and LeVeque), in float64, where only the means cancel, not the values.
 */
function batchStatistics(
  comm: ReplicaComm,
  localSums: tf.Tensor,
  localCount: number,
  epsilon: number,
  localSquares: (meanT: tf.Tensor) => tf.Tensor,
): BatchStatistics {
  const channels = localSums.size;
  const sums = localSums.dataSync();
  const mean = new Float32Array(channels);
  const variance = new Float32Array(channels);
  let count: number;
  let meanT: tf.Tensor;
  if (comm.world === 1) {
    count = localCount;
    for (let c = 0; c < channels; c++) mean[c] = sums[c] / count;
    meanT = tf.tensor1d(mean);
    const squares = localSquares(meanT).dataSync();
    for (let c = 0; c < channels; c++) variance[c] = squares[c] / count;
  } else {
    const localMean = new Float32Array(channels);
    for (let c = 0; c < channels; c++) localMean[c] = sums[c] / localCount;
    const localMeanT = tf.tensor1d(localMean);
    const squares = localSquares(localMeanT).dataSync();
    localMeanT.dispose();
    const local = new Float64Array(3 * channels + 1);
    for (let c = 0; c < channels; c++) {
      local[c] = sums[c];
      // The deviations are from the float32 mean: the float64 one would add n·(its rounding)².
      local[channels + c] = squares[c];
      local[2 * channels + c] = localCount * localMean[c] * localMean[c];
    }
    local[3 * channels] = localCount;
    const totals = comm.allReduce(local);
    count = totals[3 * channels];
    for (let c = 0; c < channels; c++) {
      const m = totals[c] / count;
      mean[c] = m;
      const m2 = totals[channels + c] + totals[2 * channels + c] - count * m * m;
      variance[c] = Math.max(0, m2) / count;
    }
    meanT = tf.tensor1d(mean);
  }
  const invStd = new Float32Array(channels);
  for (let c = 0; c < channels; c++) invStd[c] = 1 / Math.sqrt(variance[c] + epsilon);
  return { count, mean, variance, meanT, invStdT: tf.tensor1d(invStd) };
}

/** A tensor standardized with its batch statistics: x̂ = (x − mean) / √(variance + ε). */
interface Standardized {
  xHat: tf.Tensor;
  mean: Float32Array;
  variance: Float32Array;
}

/** The standardized versions of one tensor, by ε, shared by the layers of one forward pass. */
class StandardizedByEpsilon extends Map<number, Standardized> {
  dispose(): void {
    for (const s of this.values()) s.xHat.dispose();
  }
}

/**
 * `x` standardized per channel with the whole batch's statistics (all-reduced over the
 * replicas), as an op whose backward pass is batch norm's with γ = 1:
 * dx = (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂)) / √(variance + ε), the means over the whole batch.
 * With the fused C kernels only (wasm).
 */
function standardize(x: tf.Tensor, epsilon: number, comm: ReplicaComm): Standardized {
  const channels = x.shape[x.rank - 1] as number;
  let stats: BatchStatistics | undefined;
  const op = tf.customGrad((input, save) => {
    const xIn = input as tf.Tensor;
    stats = batchStatistics(
      comm,
      runKernel(BNN_CHANNEL_SUMS, { x: xIn }) as tf.Tensor,
      xIn.size / channels,
      epsilon,
      (mean) => runKernel(BNN_CHANNEL_SQ_DEV, { x: xIn, mean }) as tf.Tensor,
    );
    const { count, meanT, invStdT } = stats;
    const [normed] = runKernel(BNN_BN_FORWARD, {
      x: xIn,
      mean: meanT,
      invStd: invStdT,
      gamma: tf.ones([channels]),
      beta: tf.zeros([channels]),
    }) as tf.Tensor[];
    (save as tf.GradSaveFunc)([normed, invStdT]);
    return {
      value: normed,
      gradFunc: (dxHat: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [xHat, invStdSaved] = saved;
          const [sumD, sumDX] = runKernel(BNN_BN_GRAD_SUMS, { dy: dxHat, xHat }) as tf.Tensor[];
          const [meanD, meanDX] = batchMeans(comm, sumD, sumDX, count);
          return runKernel(BNN_BN_BACKWARD, {
            dy: dxHat,
            xHat,
            meanDy: tf.tensor1d(meanD),
            meanDyXHat: tf.tensor1d(meanDX),
            scale: invStdSaved,
          }) as tf.Tensor;
        }),
    };
  });
  const xHat = op(x);
  const { mean, variance } = stats as BatchStatistics;
  return { xHat, mean, variance };
}

/**
 * `y = concat(x̂ parts) · γ + β` as one op whose backward pass keeps the parts' x̂ (which every
 * later layer of a dense block shares) and γ: dγ = Σ dy · x̂, dβ = Σ dy, dx̂ = dy · γ per part.
 * Both directions are one C kernel over the parts in place (`BnnScaleConcat`, `BnnScaleSplitGrad`):
 * each part is read once and y written once, where a concatenation, a multiply and an add wrote
 * the whole width three times, and the gradient reads dy's columns per part without splitting it.
 * The same float32 operations in the same order as those tfjs ops, so the same values.
 */
function scaleParts(xHats: tf.Tensor[], gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const n = xHats.length;
  const named = (parts: tf.Tensor[]) => Object.fromEntries(parts.map((t, i) => [`x${i}`, t]));
  return tf.customGrad((...args) => {
    const hats = args.slice(0, n) as tf.Tensor[];
    const [g, b] = args.slice(n, n + 2) as tf.Tensor[];
    (args[n + 2] as tf.GradSaveFunc)([...hats, g]);
    return {
      value: runKernel(BNN_SCALE_CONCAT, { ...named(hats), gamma: g, beta: b }) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        runKernel(BNN_SCALE_SPLIT_GRAD, {
          dy,
          ...named(saved.slice(0, n)),
          gamma: saved[n],
        }) as tf.Tensor[],
    };
  })(...xHats, gamma, beta);
}

/**
 * The synchronized batch norm of `concat(parts)` without the concatenation. Batch norm in
 * training standardizes each channel with the batch's statistics, which do not depend on the
 * layer: in a DenseNet block every layer's batch norm standardizes the same earlier parts again,
 * and tfjs keeps each layer's x̂ of the whole concatenation for its backward pass (10.5 MB per
 * CIFAR example on BinaryDenseNet-28). Here each part is standardized once per forward pass
 * (`shared`) and each layer keeps only its scale and shift over the shared x̂: the same values,
 * and the gradients to float rounding (test/unit/parallel/syncBatchNorm.test.ts).
 */
function batchNormOverParts(
  bn: BatchNormLayer,
  parts: tf.Tensor[],
  comm: ReplicaComm,
  shared: ForwardShared,
): tf.Tensor {
  const standardized = parts.map((part) => {
    let byEpsilon = shared.get(part) as StandardizedByEpsilon | undefined;
    if (!byEpsilon) shared.set(part, (byEpsilon = new StandardizedByEpsilon()));
    let s = byEpsilon.get(bn.epsilon);
    if (!s) byEpsilon.set(bn.epsilon, (s = standardize(part, bn.epsilon, comm)));
    return s;
  });
  const channels = standardized.reduce((n, s) => n + s.mean.length, 0);
  const y = scaleParts(
    standardized.map((s) => s.xHat),
    bn.gamma ? bn.gamma.read() : tf.ones([channels]),
    bn.beta ? bn.beta.read() : tf.zeros([channels]),
  );
  const join = (pick: (s: Standardized) => Float32Array) =>
    Float32Array.from(standardized.flatMap((s) => Array.from(pick(s))));
  updateMovingAverages(
    bn,
    join((s) => s.mean),
    join((s) => s.variance),
  );
  return y;
}

/** The moving averages as tfjs-layers updates them: m ← m − (m − batch)·(1 − momentum). */
function updateMovingAverages(
  bn: BatchNormLayer,
  batchMean: Float32Array,
  batchVariance: Float32Array,
): void {
  const decay = 1 - bn.momentum;
  const update = (variable: tf.LayerVariable, batch: Float32Array) =>
    tf.tidy(() => {
      const current = variable.read();
      variable.write(tf.sub(current, tf.mul(tf.sub(current, tf.tensor1d(batch)), decay)));
    });
  update(bn.movingMean, batchMean);
  update(bn.movingVariance, batchVariance);
}

/**
 * The synchronized batch norm on a single replica, for training in the engine's own thread: the
 * same batch statistics and gradients as tfjs' batch norm (to float32 rounding:
 * test/unit/parallel/syncBatchNorm.test.ts), computed by BNN Lab's five one-pass C kernels
 * instead of tfjs' ~15 kernels per layer. Does nothing unless those kernels are registered for
 * the current backend (wasm with bnn-kernels.wasm), where it would only trade tfjs' ops for
 * equivalent ones. Returns whether it replaced anything.
 */
export function fuseBatchNorm(model: tf.LayersModel): boolean {
  if (batchNormWidth(model) === 0 || tf.getKernel(BNN_BN_FORWARD, tf.getBackend()) === undefined) {
    return false;
  }
  const reduceWidth = batchNormReduceValues(model);
  const layout = { world: 1, gradientFloats: 0, latentFloats: 0, reduceWidth };
  const comm = new ReplicaComm(sharedViews(allocateShared(layout), layout), 0, 1, reduceWidth);
  synchronizeBatchNorm(model, comm);
  return true;
}

function syncBatchNormTraining(bn: BatchNormLayer, x: tf.Tensor, comm: ReplicaComm): tf.Tensor {
  const channels = x.shape[x.rank - 1] as number;
  const axes = [...Array(x.rank - 1).keys()];
  const localCount = x.size / channels;
  const gamma = bn.gamma ? bn.gamma.read() : tf.ones([channels]);
  const beta = bn.beta ? bn.beta.read() : tf.zeros([channels]);
  let batchMean: Float32Array | undefined;
  let batchVariance: Float32Array | undefined;

  // BNN Lab's C kernels do each pass below in one kernel, with the same float32 operations; the
  // tfjs ops are the reference and the path on other backends or without the C kernels.
  const fused = fusedKernels();

  const normalize = tf.customGrad((input, g, b, save) => {
    const xIn = input as tf.Tensor;
    const { count, mean, variance, meanT, invStdT } = batchStatistics(
      comm,
      fused
        ? (runKernel(BNN_CHANNEL_SUMS, { x: xIn }) as tf.Tensor)
        : tf.tidy(() => tf.sum(xIn, axes)),
      localCount,
      bn.epsilon,
      (m) =>
        fused
          ? (runKernel(BNN_CHANNEL_SQ_DEV, { x: xIn, mean: m }) as tf.Tensor)
          : tf.tidy(() => tf.sum(tf.square(tf.sub(xIn, m)), axes)),
    );
    // Without the C kernels, centred on the batch mean (the squares may be about a replica's own).
    const centred = fused ? undefined : tf.sub(xIn, meanT);
    batchMean = mean;
    batchVariance = variance;
    let normed: tf.Tensor;
    let value: tf.Tensor;
    if (centred) {
      normed = tf.mul(centred, invStdT);
      value = tf.add(tf.mul(normed, g as tf.Tensor), b as tf.Tensor);
    } else {
      const inputs = {
        x: xIn,
        mean: meanT,
        invStd: invStdT,
        gamma: g,
        beta: b,
      } as tf.NamedTensorMap;
      [normed, value] = runKernel(BNN_BN_FORWARD, inputs) as tf.Tensor[];
    }
    (save as tf.GradSaveFunc)([normed, g as tf.Tensor, invStdT]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xHat, gammaT, invStdSaved] = saved;
        const [dBeta, dGamma] = fused
          ? (runKernel(BNN_BN_GRAD_SUMS, { dy, xHat }) as tf.Tensor[])
          : [tf.sum(dy, axes), tf.sum(tf.mul(dy, xHat), axes)];
        // dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy·x̂)), the means over the whole batch.
        const [meanDy, meanDyXHat] = batchMeans(comm, dBeta, dGamma, count);
        const scale = tf.mul(gammaT, invStdSaved);
        const dx = fused
          ? (runKernel(BNN_BN_BACKWARD, {
              dy,
              xHat,
              meanDy: tf.tensor1d(meanDy),
              meanDyXHat: tf.tensor1d(meanDyXHat),
              scale,
            }) as tf.Tensor)
          : tf.mul(
              tf.sub(tf.sub(dy, tf.tensor1d(meanDy)), tf.mul(xHat, tf.tensor1d(meanDyXHat))),
              scale,
            );
        return [dx, dGamma, dBeta];
      },
    };
  });

  const y = normalize(x, gamma, beta);
  if (batchMean && batchVariance) updateMovingAverages(bn, batchMean, batchVariance);
  return y;
}
