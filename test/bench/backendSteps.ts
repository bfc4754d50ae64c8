/**
 * Training steps of one preset on one engine backend, timed (for `bench:train`'s webgpu rows and
 * `bench:gpu`). Not a test: no thresholds. The step is the trainer's: the preset's model from
 * seed 1, Adam, softmax cross-entropy on one fixed random batch; the loss is read back with
 * `await data()` (the only way on webgpu), which also waits for the GPU to finish the step.
 */
import * as tf from '../../core/tf';
import { initBackend } from '../../core/backend/backends';
import { describeAdapter } from '../../core/backend/webgpu';
import { getPreset } from '../../core/bnn/presets';
import { fuseBatchNorm } from '../../core/parallel/syncBatchNorm';
import type { BackendName } from '../../core/protocol';
import { createOptimizer } from '../../core/training/optimizers';

export interface BackendTiming {
  model: string;
  backend: BackendName;
  /** The adapter (webgpu) or tfjs backend actually used. */
  detail: string;
  /** A software GPU adapter (llvmpipe, SwiftShader): the row is a correctness run. */
  software: boolean;
  steps: number;
  warmup: number;
  medianMs: number;
  /** Loss of the first step: the same on every backend (same model, batch and seed). */
  firstLoss: number;
  /** The wasm path's first-step loss on the same model and batch, where measured. */
  wasmFirstLoss?: number;
  skipped?: string;
}

export async function timeBackend(
  backend: BackendName,
  modelName: string,
  batch: number,
  learningRate: number,
  steps: number,
  warmup: number,
  /** Steps and warm-up on a software adapter, where a step takes seconds (a correctness run). */
  softwareCap = { steps: 3, warmup: 1 },
): Promise<BackendTiming> {
  const base = { model: modelName, backend, steps: 0, warmup: 0, medianMs: NaN, firstLoss: NaN };
  let info;
  try {
    info = await initBackend(backend, () => undefined);
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    return { ...base, detail: '', software: false, skipped: reason };
  }
  const software = info.adapter?.software ?? false;
  if (software) {
    steps = Math.min(steps, softwareCap.steps);
    warmup = Math.min(warmup, softwareCap.warmup);
  }
  const detail = info.adapter ? describeAdapter(info.adapter) : `tfjs "${info.tfBackend}"`;
  const preset = getPreset(modelName);
  const model = preset.build(1);
  fuseBatchNorm(model);
  const optimizer = createOptimizer({ learningRate, optimizer: 'adam' });
  const images = tf.randomUniform([batch, ...preset.inputShape], 0, 1, 'float32', 4);
  const labels = tf.tidy(() =>
    tf.oneHot(tf.randomUniform([batch], 0, preset.classes, 'int32', 5), preset.classes),
  );
  const step = async () => {
    const loss = optimizer.minimize(() => {
      const logits = model.apply(images, { training: true }) as tf.Tensor;
      return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
    }, true) as tf.Scalar;
    const value = (await loss.data())[0];
    loss.dispose();
    return value;
  };
  const firstLoss = await step();
  for (let i = 1; i < warmup; i++) await step();
  const wall: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await step();
    wall.push(performance.now() - t0);
  }
  tf.dispose([images, labels]);
  optimizer.dispose();
  model.dispose();
  wall.sort((a, b) => a - b);
  const mid = Math.floor(wall.length / 2);
  const medianMs = wall.length % 2 ? wall[mid] : (wall[mid - 1] + wall[mid]) / 2;
  return { ...base, detail, software, steps, warmup: Math.max(warmup, 1), medianMs, firstLoss };
}
