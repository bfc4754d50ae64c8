/**
 * Memory of one training step on the wasm backend, shared by the batch-size estimate's test
 * (memoryFit.test.ts) and its benchmark (test/bench/stepMemory.ts).
 */
import * as tf from '../../../core/tf';
import { installEarlyFreeGradients } from '../../../core/backend/earlyFreeGradients';
import { applyForTraining } from '../../../core/bnn/trainingForward';
import { createOptimizer } from '../../../core/training/optimizers';

export interface StepMemory {
  /** Bytes of the tensors resident after one step (weights and Adam's slots). */
  resident: number;
  /** Peak bytes above `resident` during the next step. */
  peakAboveResident: number;
}

/** The parts of tfjs' Emscripten module that allocate tensor buffers on its heap. */
interface WasmHeap {
  _malloc(bytes: number): number;
  _free(offset: number): void;
}

/**
 * Counts the wasm backend's heap allocations from now until `stop()`: the bytes allocated and not
 * yet freed (`live`) and their high-water mark since `resetPeak()`. This is what the 4 GiB of
 * wasm memory must hold: every tensor buffer and every C kernel's scratch, each once. (tf.memory()
 * and tf.profile add up tensors instead: a clone that shares its buffer, as every tensor saved for
 * the backward pass is, counts again, and scratch that is not a tensor does not count.) Buffers
 * allocated before the count started are not known, so frees of them are not subtracted.
 */
function countHeap(): { live(): number; peak(): number; resetPeak(): void; stop(): void } {
  const heap = (tf.backend() as unknown as { wasm: WasmHeap }).wasm;
  // Emscripten binds `_malloc` on its first call, replacing the property: bind it first.
  heap._free(heap._malloc(16));
  const { _malloc: malloc, _free: free } = heap;
  const sizes = new Map<number, number>();
  let live = 0;
  let peak = 0;
  heap._malloc = (bytes: number) => {
    const offset = malloc(bytes);
    sizes.set(offset, bytes);
    live += bytes;
    peak = Math.max(peak, live);
    return offset;
  };
  heap._free = (offset: number) => {
    live -= sizes.get(offset) ?? 0;
    sizes.delete(offset);
    free(offset);
  };
  return {
    live: () => live,
    peak: () => peak,
    resetPeak: () => {
      peak = live;
    },
    stop: () => {
      heap._malloc = malloc;
      heap._free = free;
    },
  };
}

/**
 * Runs two Adam steps of `batch` random examples through `model` on the wasm backend, with the
 * engine's forward and backward passes (both free tensors early), and measures the second: the
 * peak of its heap allocations above those live when it starts (`countHeap`).
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
  const heap = countHeap();
  try {
    step(); // Adam's slots exist from here on: they are resident, not per step
    const resident = tf.memory().numBytes;
    heap.resetPeak();
    const start = heap.live();
    step();
    return { resident, peakAboveResident: heap.peak() - start };
  } finally {
    heap.stop();
    tf.dispose([images, labels]);
    optimizer.dispose();
  }
}
