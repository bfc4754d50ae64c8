/**
 * Batches and evaluation shared by every stepper (this thread, the data-parallel replicas) and by
 * the run loop: one batch's arrays and tensors from a split, and the test-set evaluation.
 */
import * as tf from '../tf';
import { cropAndFlip, type Dataset, type Split } from '../data/datasets';
import { CancelledError } from '../errors';

/**
 * Copies examples `start..start+size` of a split into one batch's arrays, through `indices` when
 * given (a shuffled order), else in file order, and augments them when `augment` is given.
 */
export function batchArrays(
  split: Split,
  dataset: Dataset,
  indices: ArrayLike<number> | null,
  start: number,
  size: number,
  augment: (() => number) | null = null,
): { images: Float32Array; labels: Int32Array } {
  const [h, w, c] = dataset.shape;
  const pixels = h * w * c;
  const images = new Float32Array(size * pixels);
  const labels = new Int32Array(size);
  for (let b = 0; b < size; b++) {
    const i = indices ? indices[start + b] : start + b;
    images.set(split.images.subarray(i * pixels, (i + 1) * pixels), b * pixels);
    labels[b] = split.labels[i];
  }
  if (augment) cropAndFlip(images, size, dataset.shape, augment, dataset.padValues ?? []);
  return { images, labels };
}

/** Batch tensors (`xs` images, `ys` one-hot labels) from `batchArrays`' arrays. */
export function batchTensors(
  dataset: Dataset,
  images: Float32Array,
  labels: Int32Array,
): { xs: tf.Tensor4D; ys: tf.Tensor2D } {
  const [h, w, c] = dataset.shape;
  return tf.tidy(() => ({
    xs: tf.tensor4d(images, [labels.length, h, w, c]),
    ys: tf.oneHot(tf.tensor1d(labels, 'int32'), dataset.classes) as tf.Tensor2D,
  }));
}

/** `batchArrays` as tensors. */
export function makeBatch(...args: Parameters<typeof batchArrays>) {
  const { images, labels } = batchArrays(...args);
  return batchTensors(args[1], images, labels);
}

/** Lets queued messages (cancel) through between batches; `setImmediate` on Node. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Test-set loss and accuracy, in batches of 500 with inference-mode batch norm; `onProgress`
 * hears the examples evaluated so far after each batch.
 */
export async function evaluate(
  model: tf.LayersModel,
  dataset: Dataset,
  split: Split,
  isCancelled: () => boolean = () => false,
  onProgress?: (done: number) => void,
): Promise<{ loss: number; accuracy: number }> {
  const batch = 500;
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < split.count; start += batch) {
    if (isCancelled()) throw new CancelledError();
    const size = Math.min(batch, split.count - start);
    const { xs, ys } = makeBatch(split, dataset, null, start, size);
    const [lossT, correctT] = tf.tidy(() => {
      const logits = model.predict(xs) as tf.Tensor;
      const loss = tf.mul(tf.losses.softmaxCrossEntropy(ys, logits), size);
      const hits = tf.sum(tf.equal(tf.argMax(logits, 1), tf.argMax(ys, 1)));
      return [loss, hits];
    });
    lossSum += (await lossT.data())[0];
    correct += (await correctT.data())[0];
    tf.dispose([xs, ys, lossT, correctT]);
    onProgress?.(start + size);
    await yieldToEventLoop();
  }
  return { loss: lossSum / split.count, accuracy: correct / split.count };
}
