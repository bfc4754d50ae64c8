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
 * gradients are identical (test/unit/bnn/trainingForward.test.ts).
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
  /** How many step inputs read each symbolic tensor. */
  readers: Map<string, number>;
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
      const readers = new Map<string, number>();
      for (const t of sorted) {
        for (const i of t.inputs) readers.set(i.name, (readers.get(i.name) ?? 0) + 1);
      }
      const steps = sorted.map((t) => ({
        layer: t.sourceLayer,
        inputs: t.inputs.map((i) => i.name),
        output: t.name,
      }));
      plan = { input, outputs: model.outputs.map((o) => o.name), steps, readers };
    }
  }
  plans.set(model, plan);
  return plan;
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
    const rank = inputs[0].rank;
    const given = (layer as unknown as ConcatenateLayer).axis;
    const axis = given < 0 ? given + rank : given;
    const sizes = inputs.map((t) => t.shape[axis]);
    return tf.customGrad((...args) => ({
      value: tf.concat(args.slice(0, inputs.length) as tf.Tensor[], axis),
      gradFunc: (dy: tf.Tensor) => tf.split(dy, sizes, axis),
    }))(...inputs);
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
  const values = new Map<string, tf.Tensor>([[plan.input, x]]);
  const pending = new Map(plan.readers);
  const kept = new Set([plan.input, ...plan.outputs]);
  for (const step of plan.steps) {
    const inputs = step.inputs.map((id) => values.get(id) as tf.Tensor);
    const output =
      mergeKeepingShapes(step.layer, inputs) ??
      (step.layer.apply(inputs, { training: true }) as tf.Tensor | tf.Tensor[]);
    values.set(step.output, Array.isArray(output) ? output[0] : output);
    for (const id of step.inputs) {
      const left = (pending.get(id) ?? 1) - 1;
      pending.set(id, left);
      if (left > 0 || kept.has(id)) continue;
      const value = values.get(id) as tf.Tensor;
      values.delete(id);
      // A layer may return its input itself (a linear activation): free a tensor only when no
      // other output still refers to it, and never the caller's input.
      if (value !== x && ![...values.values()].includes(value)) value.dispose();
    }
  }
  const outputs = plan.outputs.map((id) => values.get(id) as tf.Tensor);
  return outputs.length === 1 ? outputs[0] : outputs;
}
