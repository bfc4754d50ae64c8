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
} from '../backend/bnnKernels';
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
  }
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
  const width = batchNormWidth(model);
  if (width === 0 || tf.getKernel(BNN_BN_FORWARD, tf.getBackend()) === undefined) return false;
  const layout = { world: 1, gradientFloats: 0, latentFloats: 0, reduceWidth: width + 1 };
  const comm = new ReplicaComm(sharedViews(allocateShared(layout), layout), 0, 1, width + 1);
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
  const fused = tf.getBackend() === 'wasm' && tf.getKernel(BNN_BN_FORWARD, 'wasm') !== undefined;
  const run = (name: string, inputs: tf.NamedTensorMap) =>
    tf.engine().runKernel(name, inputs, {}) as tf.Tensor | tf.Tensor[];

  const normalize = tf.customGrad((input, g, b, save) => {
    const xIn = input as tf.Tensor;
    // Pass 1: the batch mean; pass 2: the batch variance around it (two passes, as tf.moments,
    // rather than E[x²] − E[x]², which cancels badly when the mean is large).
    const localSums = fused
      ? (run(BNN_CHANNEL_SUMS, { x: xIn }) as tf.Tensor)
      : tf.tidy(() => tf.sum(xIn, axes));
    const totals = comm.allReduce([...localSums.dataSync(), localCount]);
    const count = totals[channels];
    const mean = new Float32Array(channels);
    for (let c = 0; c < channels; c++) mean[c] = totals[c] / count;
    const meanT = tf.tensor1d(mean);
    const centred = fused ? undefined : tf.sub(xIn, meanT);
    const localSquares = centred
      ? tf.tidy(() => tf.sum(tf.square(centred), axes))
      : (run(BNN_CHANNEL_SQ_DEV, { x: xIn, mean: meanT }) as tf.Tensor);
    const squares = comm.allReduce(localSquares.dataSync());
    const variance = new Float32Array(channels);
    const invStd = new Float32Array(channels);
    for (let c = 0; c < channels; c++) {
      variance[c] = squares[c] / count;
      invStd[c] = 1 / Math.sqrt(variance[c] + bn.epsilon);
    }
    batchMean = mean;
    batchVariance = variance;
    const invStdT = tf.tensor1d(invStd);
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
      [normed, value] = run(BNN_BN_FORWARD, inputs) as tf.Tensor[];
    }
    (save as tf.GradSaveFunc)([normed, g as tf.Tensor, invStdT]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xHat, gammaT, invStdSaved] = saved;
        const [dBeta, dGamma] = fused
          ? (run(BNN_BN_GRAD_SUMS, { dy, xHat }) as tf.Tensor[])
          : [tf.sum(dy, axes), tf.sum(tf.mul(dy, xHat), axes)];
        // dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy·x̂)), the means over the whole batch.
        const sums = comm.allReduce([...dBeta.dataSync(), ...dGamma.dataSync()]);
        const meanDy = new Float32Array(channels);
        const meanDyXHat = new Float32Array(channels);
        for (let c = 0; c < channels; c++) {
          meanDy[c] = sums[c] / count;
          meanDyXHat[c] = sums[channels + c] / count;
        }
        const scale = tf.mul(gammaT, invStdSaved);
        const dx = fused
          ? (run(BNN_BN_BACKWARD, {
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
  if (batchMean && batchVariance) {
    // The moving averages as tfjs-layers updates them: m ← m − (m − batch)·(1 − momentum).
    const decay = 1 - bn.momentum;
    const update = (variable: tf.LayerVariable, batch: Float32Array) =>
      tf.tidy(() => {
        const current = variable.read();
        variable.write(tf.sub(current, tf.mul(tf.sub(current, tf.tensor1d(batch)), decay)));
      });
    update(bn.movingMean, batchMean);
    update(bn.movingVariance, batchVariance);
  }
  return y;
}
