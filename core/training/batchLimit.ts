/**
 * The largest batch the wasm backend can train. Every tensor of a step lives in one wasm32
 * linear memory per thread (replica), at most 4 GiB, addressed with 32-bit offsets by tfjs' own
 * kernels and BNN Lab's C kernels. Past it, tfjs' wasm module reads or writes out of bounds (a
 * trap, "memory access out of bounds") instead of failing an allocation, and an offset past
 * 2 GiB can wrap. So the step's working set must fit: what the backward pass keeps of the
 * forward pass, plus the gradients in flight. With the engine's forward pass that frees layer
 * outputs early (bnn/trainingForward.ts), binary convolutions that keep their input as 2 bits per
 * value (bnn/signConv.ts) and the backward pass that frees gradients and saved tensors as it goes
 * (backend/earlyFreeGradients.ts), and concatenations and additions whose gradients keep no
 * input (trainingForward.ts), that is counted here as 6 bytes per value of the layer outputs other
 * than those merges (1.5 float32 per value), plus 24 per input value of each binary layer that
 * keeps its input as floats. A merge's output is read by the next layers and freed: nothing of it
 * waits for the backward pass (on BinaryDenseNet the concatenations are 40% of all output values).
 * Measured as the growth of the wasm heap's peak allocations per example, every preset needs
 * 0.48–0.84 of this estimate (docs/performance.md "Memory"; test/unit/backend/memoryFit.test.ts
 * checks five of them). The slack is needed: the wasm memory grows further than the live
 * allocations peak, as freed tensors of one size leave holes that tensors of another do not
 * fill. cifar10-bdn28 at batch 256 on one thread, whose allocations peak at about 2.9 GB, ran out
 * of the 4 GiB (a trap), where the estimate allows 177 per thread. That bound also keeps every
 * single tensor under 1 GiB, well inside 32-bit offsets; the C kernels check their buffers against
 * the memory as a last line (core/kernels/bnn_kernels.c).
 * Checked before training, so a too-large batch is one message, not a trap mid-step.
 */
import type * as tf from '../tf';
import { fieldName, UserError } from '../errors';
import type { QuantizerConfig } from '../bnn/quantizers';

/** Bytes a replica's step may use: the 4 GiB of wasm32 less room for the weights and the code. */
export const MAX_STEP_BYTES = 4 * 2 ** 30 - 256 * 2 ** 20;
/** A step's working set per example, in multiples of the sum of its layer outputs (see above). */
const WORKING_SET_FACTOR = 1.5;

function shapesOf(shape: tf.Shape | tf.Shape[]): tf.Shape[] {
  return Array.isArray(shape[0]) ? (shape as tf.Shape[]) : [shape as tf.Shape];
}

/** Layers whose outputs the training step does not keep (trainingForward.ts). */
const TRANSIENT_OUTPUTS = new Set(['Concatenate', 'Add']);

/**
 * Float32 values of the layer outputs a training step keeps for one example (the batch axis left
 * out): every layer's but the concatenations' and additions'.
 */
export function outputValuesPerExample(model: tf.LayersModel): number {
  let values = 0;
  for (const layer of model.layers) {
    if (TRANSIENT_OUTPUTS.has(layer.getClassName())) continue;
    for (const s of shapesOf(layer.outputShape)) {
      values += s.slice(1).reduce<number>((n, d) => n * (d ?? 1), 1);
    }
  }
  return values;
}

/**
 * Bytes a binary layer keeps per value of its input when the input is not packed as 2 bits: the
 * float32 input for its quantizer's gradient, and with ReCU the normalized activations and their
 * statistics (measured ~18 on fmnist-resnete-recu, docs/performance.md "Memory"; counted as 24).
 */
const FLOAT_INPUT_BYTES = 24;

/** The fields of BNN Lab's binary layers (bnn/layers.ts) that decide what they keep. */
interface BinaryLayerFields {
  inputQuantizer: QuantizerConfig | null;
  recu: boolean;
}

/**
 * Float32 values per example of the inputs of binary layers that keep them as floats: every
 * binary layer's but a convolution's whose input quantizer is a clipped `ste_sign` without ReCU,
 * which keeps 2 bits per value (bnn/signConv.ts).
 */
export function floatInputValuesPerExample(model: tf.LayersModel): number {
  let values = 0;
  for (const layer of model.layers) {
    const kind = layer.getClassName();
    if (kind !== 'BinaryConv2D' && kind !== 'BinaryDense') continue;
    const { inputQuantizer: q, recu } = layer as unknown as BinaryLayerFields;
    const bits = kind === 'BinaryConv2D' && q?.kind === 'ste_sign' && q.clip !== null && !recu;
    if (bits) continue;
    const input = layer.input as tf.SymbolicTensor;
    values += input.shape.slice(1).reduce<number>((n, d) => n * (d ?? 1), 1);
  }
  return values;
}

/** Estimated bytes of a training step per example on the wasm backend. */
export function stepBytesPerExample(model: tf.LayersModel): number {
  return (
    4 * WORKING_SET_FACTOR * outputValuesPerExample(model) +
    FLOAT_INPUT_BYTES * floatInputValuesPerExample(model)
  );
}

/** The largest batch size a step of `model` can take on the wasm backend over `threads` replicas. */
export function maxWasmBatchSize(model: tf.LayersModel, threads: number): number {
  return Math.max(1, Math.floor(MAX_STEP_BYTES / stepBytesPerExample(model))) * threads;
}

/**
 * @throws UserError "lower batchSize to N" when `batchSize` examples, shared by `threads`
 * replicas, make a step the wasm backend cannot hold. `configured` is the config's value, when
 * the training set is smaller than it.
 */
export function checkWasmBatchSize(
  model: tf.LayersModel,
  preset: string,
  batchSize: number,
  threads: number,
  configured = batchSize,
): void {
  const max = maxWasmBatchSize(model, threads);
  if (batchSize <= max) return;
  const perExample = stepBytesPerExample(model);
  const perThread = Math.ceil(batchSize / threads);
  const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(bytes < 10 * 2 ** 20 ? 2 : 0)} MiB`;
  throw new UserError(
    `batchSize ${configured}${configured !== batchSize ? ` (${batchSize} examples, the whole training set)` : ''} is too large for the wasm backend: a step of ${preset} needs about ` +
      `${gib(perExample * perThread)} per thread for ${perThread} examples ` +
      `(${mib(perExample)} each), and each thread's wasm memory holds at most 4 GiB, ` +
      `addressed with 32-bit offsets` +
      `${threads > 1 ? ` (the batch is shared by ${threads} threads)` : ''}; lower batchSize to ` +
      `${max} or less (${fieldName('batchSize')})` +
      `${threads === 1 ? ', or train on more threads, each holding its share of the batch' : ''}`,
  );
}
