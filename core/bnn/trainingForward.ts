/**
 * The forward pass of a training step, for a functional tfjs-layers model, that frees each layer
 * output as soon as the last layer reading it has run.
 *
 * tfjs-layers' own executor frees intermediate outputs only in inference: in training it keeps
 * every layer's output until the gradient tape's forward scope ends, although the tape keeps its
 * own references to what the backward pass needs (the tensors each kernel saves). On a ResNet
 * that is every convolution's, batch norm's and addition's output alive at once at the end of
 * the forward pass; here only what the backward pass saved is left. The layers, their order and
 * the kernels they run are the same as `model.apply(x, {training: true})`, so the values and
 * gradients are identical (test/unit/core/trainingForward.test.ts).
 *
 * Two more things are kept out of memory. Concatenations and additions run through ops whose
 * gradients keep the input shapes, not the inputs (`mergeKeepingShapes`). And a concatenation
 * along the channels that only batch norms and further concatenations read is never made: it
 * stays a list of its parts, which a batch norm that implements `PartsBatchNorm` (the engine's
 * synchronized one) normalizes as they are, each part standardized once per pass (`ForwardShared`)
 * however many dense layers read it. The values are the same; the gradients differ in rounding
 * (test/unit/parallel/syncBatchNorm.test.ts).
 */
import * as tf from '../tf';

interface Step {
  layer: tf.layers.Layer;
  inputs: string[];
  output: string;
}

interface Plan {
  input: string;
  outputs: string[];
  steps: Step[];
  /** The layers that read each symbolic tensor, once per input that reads it. */
  readers: Map<string, tf.layers.Layer[]>;
  /** The symbolic tensors that a channel concatenation reads. */
  concatenated: Set<string>;
}

const plans = new WeakMap<tf.LayersModel, Plan | null>();

/**
 * Symbolic tensors upstream of `fetch` in the order tfjs-layers' executor sorts them (its
 * depth-first walk with an explicit stack, the last input first), so that layers run, and the
 * gradient tape records, in the same order: gradients summed over several readers then add up
 * in the same order, bit for bit.
 */
function sortUpstream(fetch: tf.SymbolicTensor, visited: Set<string>): tf.SymbolicTensor[] {
  const sorted: tf.SymbolicTensor[] = [];
  const stack: tf.SymbolicTensor[] = [fetch];
  const marks: number[] = [];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (visited.has(top.name)) {
      stack.pop();
      continue;
    }
    const marked = marks[marks.length - 1] === stack.length - 1;
    if (top.inputs.length === 0 || marked) {
      stack.pop();
      sorted.push(top);
      visited.add(top.name);
      if (marked) marks.pop();
    } else {
      marks.push(stack.length - 1);
      for (const input of top.inputs) if (!visited.has(input.name)) stack.push(input);
    }
  }
  return sorted;
}

/**
 * The layer calls that compute `model`'s outputs, in tfjs-layers' order, or null for a graph
 * this executor does not cover (several inputs, a layer with several outputs), which then runs
 * through tfjs-layers.
 */
function planFor(model: tf.LayersModel): Plan | null {
  if (plans.has(model)) return plans.get(model) ?? null;
  let plan: Plan | null = null;
  if (model.inputs.length === 1) {
    const input = model.inputs[0].name;
    const visited = new Set<string>([input]);
    const sorted = model.outputs.flatMap((o) => sortUpstream(o, visited));
    const covered = sorted.every(
      (t) => t.inputs.length > 0 && t.sourceLayer && !Array.isArray(t.sourceLayer.outputShape[0]),
    );
    if (covered) {
      const readers = new Map<string, tf.layers.Layer[]>();
      for (const t of sorted) {
        for (const i of t.inputs) {
          readers.set(i.name, [...(readers.get(i.name) ?? []), t.sourceLayer]);
        }
      }
      const steps = sorted.map((t) => ({
        layer: t.sourceLayer,
        inputs: t.inputs.map((i) => i.name),
        output: t.name,
      }));
      const concatenated = new Set(
        steps.filter((step) => concatenatesChannels(step.layer)).flatMap((step) => step.inputs),
      );
      plan = { input, outputs: model.outputs.map((o) => o.name), steps, readers, concatenated };
    }
  }
  plans.set(model, plan);
  return plan;
}

/** `tf.concat(inputs, axis)` through an op whose gradient, `split(dy)`, keeps no input. */
function concatKeepingShapes(inputs: tf.Tensor[], axis: number): tf.Tensor {
  const sizes = inputs.map((t) => t.shape[axis]);
  return tf.customGrad((...args) => ({
    value: tf.concat(args.slice(0, inputs.length) as tf.Tensor[], axis),
    gradFunc: (dy: tf.Tensor) => tf.split(dy, sizes, axis),
  }))(...inputs);
}

/**
 * Tensors a layer shares with other layers during one forward pass, by the tensor they derive
 * from (the batch norms' standardized parts of a concatenation); disposed when the pass ends.
 */
export type ForwardShared = Map<tf.Tensor, { dispose(): void }>;

/**
 * A batch-norm layer that normalizes a concatenation along the channel axis given as its parts,
 * so that the concatenation need not exist (parallel/syncBatchNorm.ts installs it).
 */
export interface PartsBatchNorm {
  /**
   * The training-mode output for `concat(parts, last axis)`; undefined when the layer cannot
   * take parts here (it then gets the concatenation).
   */
  trainOverParts(parts: tf.Tensor[], shared: ForwardShared): tf.Tensor | undefined;
}

/** A concatenation along the last axis, kept as the tensors it concatenates. */
class Parts {
  constructor(readonly parts: tf.Tensor[]) {}
}

type Value = tf.Tensor | Parts;

const tensorsOf = (value: Value): tf.Tensor[] => (value instanceof Parts ? value.parts : [value]);

/** True for a Concatenate layer along the last (channel) axis. */
function concatenatesChannels(layer: tf.layers.Layer): boolean {
  if (layer.getClassName() !== 'Concatenate') return false;
  const axis = (layer as unknown as ConcatenateLayer).axis;
  return axis === -1 || axis === (layer.outputShape as tf.Shape).length - 1;
}

function takesParts(layer: tf.layers.Layer): boolean {
  return (
    concatenatesChannels(layer) ||
    typeof (layer as Partial<PartsBatchNorm>).trainOverParts === 'function'
  );
}

/**
 * Runs one layer on its inputs, some of which may be kept as parts: a channel concatenation
 * concatenates all the parts at once, a batch norm that can normalizes them as they are, and any
 * other layer gets the concatenation (freed after it ran, unless the layer returned it).
 */
function runLayer(
  layer: tf.layers.Layer,
  inputs: Value[],
  shared: ForwardShared,
): tf.Tensor | tf.Tensor[] {
  if (inputs.length === 1 && inputs[0] instanceof Parts) {
    const y = (layer as Partial<PartsBatchNorm>).trainOverParts?.(inputs[0].parts, shared);
    if (y) return y;
  }
  if (concatenatesChannels(layer)) {
    return mergeKeepingShapes(layer, inputs.flatMap(tensorsOf)) as tf.Tensor;
  }
  const made: tf.Tensor[] = [];
  const tensors = inputs.map((v) => {
    if (!(v instanceof Parts)) return v;
    if (v.parts.length === 1) return v.parts[0];
    const joined = concatKeepingShapes(v.parts, v.parts[0].rank - 1);
    made.push(joined);
    return joined;
  });
  const output =
    mergeKeepingShapes(layer, tensors) ??
    (layer.apply(tensors, { training: true }) as tf.Tensor | tf.Tensor[]);
  const outputs = Array.isArray(output) ? output : [output];
  for (const t of made) if (!outputs.includes(t)) t.dispose();
  return output;
}

/** The fields of tfjs-layers' Concatenate that `mergeKeepingShapes` reads. */
interface ConcatenateLayer {
  axis: number;
}

/**
 * A Concatenate or Add layer's output, computed with the kernels its `call` runs, through an op
 * whose gradient keeps only the inputs' shapes; or undefined for another layer (or an Add that
 * broadcasts), which then runs its own `call`.
 *
 * tfjs' gradients of `Concat` and `Add` save their inputs for the backward pass only to read
 * their shapes, so every concatenation input and both summands of every addition would stay in
 * memory until the backward pass reaches them: on BinaryDenseNet each layer's whole growing
 * concatenation (~10 MB per CIFAR example, two fifths of its step), on ResNetE each block's two
 * summands (~4 MB). The gradients are the ones tfjs computes, `split(dy)` and `dy`, bit for bit.
 */
function mergeKeepingShapes(layer: tf.layers.Layer, inputs: tf.Tensor[]): tf.Tensor | undefined {
  const kind = layer.getClassName();
  if (kind === 'Concatenate' && inputs.length > 1) {
    const given = (layer as unknown as ConcatenateLayer).axis;
    return concatKeepingShapes(inputs, given < 0 ? given + inputs[0].rank : given);
  }
  const sameShapes = inputs.every((t) => tf.util.arraysEqual(t.shape, inputs[0].shape));
  if (kind === 'Add' && inputs.length > 1 && sameShapes) {
    return tf.customGrad((...args) => ({
      // In the order of tfjs-layers' Add: ((x0 + x1) + x2) + …
      value: tf.tidy(() =>
        (args.slice(1, inputs.length) as tf.Tensor[]).reduce(
          (sum, t) => tf.add(sum, t),
          args[0] as tf.Tensor,
        ),
      ),
      gradFunc: (dy: tf.Tensor) => inputs.map(() => tf.clone(dy)),
    }))(...inputs);
  }
  return undefined;
}

/**
 * `model.apply(x, {training: true})` with each intermediate output disposed once its readers have
 * run. Returns one tensor for a single-output model, an array otherwise, as `apply` does.
 */
export function applyForTraining(model: tf.LayersModel, x: tf.Tensor): tf.Tensor | tf.Tensor[] {
  const plan = planFor(model);
  if (!plan) return model.apply(x, { training: true }) as tf.Tensor | tf.Tensor[];
  const values = new Map<string, Value>([[plan.input, x]]);
  const pending = new Map([...plan.readers].map(([id, layers]) => [id, layers.length]));
  const kept = new Set([plan.input, ...plan.outputs]);
  const shared: ForwardShared = new Map();
  for (const step of plan.steps) {
    const inputs = step.inputs.map((id) => values.get(id) as Value);
    // A channel concatenation read only by layers that take parts is never made: each dense
    // layer of a DenseNet would otherwise copy the whole concatenation so far.
    const readers = plan.readers.get(step.output) ?? [];
    const asParts =
      concatenatesChannels(step.layer) &&
      !kept.has(step.output) &&
      readers.length > 0 &&
      readers.every(takesParts);
    // A batch norm of a tensor that a concatenation reads too (a dense block's input) shares
    // its standardization with the batch norms of that concatenation.
    const shares = inputs.length === 1 && plan.concatenated.has(step.inputs[0]);
    const output = asParts
      ? new Parts(inputs.flatMap(tensorsOf))
      : runLayer(step.layer, shares ? [new Parts(tensorsOf(inputs[0]))] : inputs, shared);
    values.set(step.output, Array.isArray(output) ? output[0] : output);
    for (const id of step.inputs) {
      const left = (pending.get(id) ?? 1) - 1;
      pending.set(id, left);
      if (left > 0 || kept.has(id)) continue;
      const value = values.get(id) as Value;
      values.delete(id);
      // A layer may return its input itself (a linear activation), and parts live on in the
      // concatenations that hold them: free a tensor only when no other value still refers to
      // it, and never the caller's input.
      const live = new Set([...values.values()].flatMap(tensorsOf));
      for (const t of tensorsOf(value)) if (t !== x && !live.has(t)) t.dispose();
    }
  }
  for (const entry of shared.values()) entry.dispose();
  const outputs = plan.outputs.map((id) => values.get(id) as tf.Tensor);
  return outputs.length === 1 ? outputs[0] : outputs;
}
