/**
 * Memory of one training step on the current backend, shared by the batch-size estimate's test
 * (memoryFit.test.ts) and its benchmark (test/bench/stepMemory.ts).
 */
import * as tf from '../../../core/tf';
import { installEarlyFreeGradients } from '../../../core/backend/earlyFreeGradients';
import { applyForTraining } from '../../../core/bnn/trainingForward';
import { createOptimizer } from '../../../core/training/optimizers';

export interface StepMemory {
  /** Bytes of the tensors resident after one step (weights and Adam's slots). */
  resident: number;
  /** Peak bytes above `resident` during the next step (tf.profile's peakBytes). */
  peakAboveResident: number;
}

/**
 * Runs two Adam steps of `batch` random examples through `model` and measures the second, with
 * the engine's forward and backward passes (both free tensors early).
 */
export async function stepMemory(
  model: tf.LayersModel,
  inputShape: readonly number[],
  classes: number,
  batch: number,
  forward: (model: tf.LayersModel, x: tf.Tensor) => tf.Tensor = (m, x) =>
    applyForTraining(m, x) as tf.Tensor,
): Promise<StepMemory> {
  installEarlyFreeGradients();
  const optimizer = createOptimizer({ learningRate: 0.002, optimizer: 'adam' });
  const images = tf.randomUniform([batch, ...inputShape], 0, 1, 'float32', 1);
  const labels = tf.oneHot(tf.randomUniform([batch], 0, classes, 'int32', 2), classes);
  const step = () => {
    const loss = optimizer.minimize(
      () => tf.losses.softmaxCrossEntropy(labels, forward(model, images)) as tf.Scalar,
      true,
    ) as tf.Scalar;
    loss.dataSync();
    loss.dispose();
  };
  step(); // Adam's slots exist from here on: they are resident, not per step
  const resident = tf.memory().numBytes;
  const info = await tf.profile(step);
  tf.dispose([images, labels]);
  optimizer.dispose();
  return { resident, peakAboveResident: info.peakBytes - resident };
}
