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
import * as tf from '@tensorflow/tfjs';
import type { ReplicaComm } from './shared';

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

function syncBatchNormTraining(bn: BatchNormLayer, x: tf.Tensor, comm: ReplicaComm): tf.Tensor {
  const channels = x.shape[x.rank - 1] as number;
  const axes = [...Array(x.rank - 1).keys()];
  const localCount = x.size / channels;
  const gamma = bn.gamma ? bn.gamma.read() : tf.ones([channels]);
  const beta = bn.beta ? bn.beta.read() : tf.zeros([channels]);
  let batchMean: Float32Array | undefined;
  let batchVariance: Float32Array | undefined;

  const normalize = tf.customGrad((input, g, b, save) => {
    const xIn = input as tf.Tensor;
    // Pass 1: the batch mean; pass 2: the batch variance around it (two passes, as tf.moments,
    // rather than E[x²] − E[x]², which cancels badly when the mean is large).
    const totals = comm.allReduce([...tf.tidy(() => tf.sum(xIn, axes)).dataSync(), localCount]);
    const count = totals[channels];
    const mean = new Float32Array(channels);
    for (let c = 0; c < channels; c++) mean[c] = totals[c] / count;
    const centred = tf.sub(xIn, tf.tensor1d(mean));
    const squares = comm.allReduce(tf.tidy(() => tf.sum(tf.square(centred), axes)).dataSync());
    const variance = new Float32Array(channels);
    const invStd = new Float32Array(channels);
    for (let c = 0; c < channels; c++) {
      variance[c] = squares[c] / count;
      invStd[c] = 1 / Math.sqrt(variance[c] + bn.epsilon);
    }
    batchMean = mean;
    batchVariance = variance;
    const invStdT = tf.tensor1d(invStd);
    const normed = tf.mul(centred, invStdT);
    (save as tf.GradSaveFunc)([normed, g as tf.Tensor, invStdT]);
    const value = tf.add(tf.mul(normed, g as tf.Tensor), b as tf.Tensor);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xHat, gammaT, invStdSaved] = saved;
        const dBeta = tf.sum(dy, axes);
        const dGamma = tf.sum(tf.mul(dy, xHat), axes);
        // dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy·x̂)), the means over the whole batch.
        const sums = comm.allReduce([...dBeta.dataSync(), ...dGamma.dataSync()]);
        const meanDy = new Float32Array(channels);
        const meanDyXHat = new Float32Array(channels);
        for (let c = 0; c < channels; c++) {
          meanDy[c] = sums[c] / count;
          meanDyXHat[c] = sums[channels + c] / count;
        }
        const inner = tf.sub(
          tf.sub(dy, tf.tensor1d(meanDy)),
          tf.mul(xHat, tf.tensor1d(meanDyXHat)),
        );
        const dx = tf.mul(inner, tf.mul(gammaT, invStdSaved));
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
