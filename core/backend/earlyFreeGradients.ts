/**
 * tfjs' backward pass, freeing each gradient and each saved tensor once nothing reads it again.
 *
 * TensorFlow.js 4.22 (`Engine.gradients` with tape.ts' `backpropagateGradients`) keeps the
 * gradient of every intermediate tensor and every tensor a kernel saved for its gradient until the
 * whole backward pass ends. A training step's peak memory is then the forward pass's saved
 * activations plus a gradient for every one of them: on ResNetE-18 at 32×32 about 25 MB per
 * example, so that batch 256 cannot fit one thread's 4 GiB of wasm memory. Walking the same tape
 * in the same order, this version disposes a node's output gradients and its saved tensors right
 * after its own gradient has been computed, which tfjs does at the end; nothing else changes, so
 * every gradient is the same, bit for bit (test/unit/backend/earlyFreeGradients.test.ts).
 *
 * Only first-order gradients are changed: inside another gradient computation (a gradient of a
 * gradient) the tape's tensors may be read again, and the stock method runs.
 *
 * Installed as an own property of tfjs' engine object, over its class method, by
 * `installEarlyFreeGradients()` (the backend set-up calls it); `uninstallEarlyFreeGradients()`
 * restores the stock method (benchmarks compare the two).
 */
import * as tf from '../tf';

/** A node of tfjs' gradient tape (tape.ts `TapeNode`), as far as the backward pass reads it. */
interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
  saved?: tf.Tensor[];
}

type Gradients = (
  f: () => tf.Tensor,
  xs: tf.Tensor[],
  dy?: tf.Tensor,
  allowNoGradients?: boolean,
) => { value: tf.Tensor; grads: tf.Tensor[] };

/** The parts of tfjs-core's `Engine` this file uses (tfjs-core 4.22). */
interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  startTape(): void;
  endTape(): void;
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  tidy<T>(nameOrFn: string | (() => T), fn?: () => T): T;
  gradients: Gradients;
}

const engine = () => tf.engine() as unknown as EngineInternals;

/**
 * The nodes of `tape` on a path from one of `xs` to `y`, in tape order, each with only the
 * inputs that depend on `xs` (a gradient is computed for those alone).
 */
function pathsFromXsToY(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromXs = new Set(xs.map((x) => x.id));
  const reached = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((input) => fromXs.has(input.id))) {
      reached.add(node.id);
      for (const output of node.outputs) fromXs.add(output.id);
    }
  }
  const toY = new Set([y.id]);
  const leads = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node.outputs.some((output) => toY.has(output.id))) {
      leads.add(node.id);
      for (const input of Object.values(node.inputs)) toY.add(input.id);
    }
  }
  return tape
    .filter((node) => reached.has(node.id) && leads.has(node.id))
    .map((node) => ({
      ...node,
      inputs: Object.fromEntries(
        Object.entries(node.inputs).filter(([, input]) => fromXs.has(input.id)),
      ),
    }));
}

function earlyFreeGradients(
  this: EngineInternals,
  f: () => tf.Tensor,
  xs: tf.Tensor[],
  dy?: tf.Tensor,
  allowNoGradients = false,
): { value: tf.Tensor; grads: tf.Tensor[] } {
  if (xs.length === 0) throw new Error('gradients() received an empty list of xs.');
  if (dy != null && dy.dtype !== 'float32') {
    throw new Error(`dy must have 'float32' dtype, but has '${dy.dtype}'`);
  }
  const y = this.scopedRun(
    () => this.startTape(),
    () => this.endTape(),
    () => this.tidy('forward', f),
  );
  if (!(y instanceof tf.Tensor)) throw new Error('The result y returned by f() must be a tensor.');
  const fullTape = this.state.activeTape ?? [];
  const tape = pathsFromXsToY(fullTape, xs, y);
  if (!allowNoGradients && tape.length === 0) {
    throw new Error(
      'Cannot compute gradient of y=f(x) with respect to x. Make sure that the f you passed ' +
        'encloses all operations that lead from x to y.',
    );
  }
  const firstOrder = this.state.gradientDepth === 0;
  return this.tidy('backward', () => {
    const grads = new Map<number, tf.Tensor>([[y.id, dy ?? tf.ones(y.shape)]]);
    const wanted = new Set(xs.map((x) => x.id));
    for (let i = tape.length - 1; i >= 0; i--) {
      const node = tape[i];
      const dys = node.outputs.map((o) => grads.get(o.id) ?? null);
      if (!node.gradient) {
        throw new Error(
          `Cannot compute gradient: gradient function not found for ${node.kernelName}.`,
        );
      }
      const inputGradients = node.gradient(dys);
      for (const [name, x] of Object.entries(node.inputs)) {
        if (!(name in inputGradients)) {
          throw new Error(
            `Cannot backprop through input ${name}. Available gradients found: ${Object.keys(inputGradients)}.`,
          );
        }
        const dx = this.tidy(() => inputGradients[name]());
        if (dx.dtype !== 'float32') {
          throw new Error(
            `Error in gradient for op ${node.kernelName}. The gradient of input ${name} must have 'float32' dtype, but has '${dx.dtype}'`,
          );
        }
        if (!tf.util.arraysEqual(dx.shape, x.shape)) {
          throw new Error(
            `Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has shape '${dx.shape}', which does not match the shape of the input '${x.shape}'`,
          );
        }
        const current = grads.get(x.id);
        if (current === undefined) {
          grads.set(x.id, dx);
        } else {
          grads.set(x.id, tf.add(current, dx));
          current.dispose();
        }
      }
      if (!firstOrder) continue;
      // Each tensor is one node's output, so its gradient is read by that node alone: free it,
      // unless a gradient function passed it on as an input's gradient, or the caller gave it.
      for (const output of node.outputs) {
        const g = grads.get(output.id);
        if (g === undefined || wanted.has(output.id)) continue;
        grads.delete(output.id);
        if (g !== dy && ![...grads.values()].includes(g)) g.dispose();
      }
      for (const saved of node.saved ?? []) saved.dispose();
    }
    const result = xs.map((x) => grads.get(x.id) as tf.Tensor);
    if (firstOrder) {
      for (const node of fullTape) for (const saved of node.saved ?? []) saved.dispose();
      this.state.activeTape = null;
    }
    return { value: y, grads: result };
  });
}

/**
 * Puts the early-freeing backward pass in place of tfjs' (idempotent). Returns false, leaving
 * tfjs' own, when the engine does not have the internals this file was written against (another
 * tfjs-core than the pinned 4.22).
 */
export function installEarlyFreeGradients(): boolean {
  const e = engine() as Partial<EngineInternals>;
  const internals = [e.startTape, e.endTape, e.scopedRun, e.tidy, e.gradients];
  if (!internals.every((f) => typeof f === 'function') || typeof e.state !== 'object') {
    return false;
  }
  (e as EngineInternals).gradients = earlyFreeGradients;
  return true;
}

/** Restores tfjs' own backward pass. */
export function uninstallEarlyFreeGradients(): void {
  delete (engine() as Partial<EngineInternals>).gradients;
}

/** Whether the early-freeing backward pass is in place. */
export function earlyFreeGradientsInstalled(): boolean {
  return Object.prototype.hasOwnProperty.call(engine(), 'gradients');
}
