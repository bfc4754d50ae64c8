/**
 * Where a data-parallel replica's step goes, in wall time: its phases, its waits at the barriers
 * and each wasm kernel (convolutions by layer shape). Only `bench:train --replica-profile`
 * turns it on (`DataParallel.start`'s `profile`); training never wraps its kernels.
 *
 * Wall time, not CPU time: what a replica loses beside the other is time its kernels take longer
 * while both share the caches and the memory bus, and time it waits for the other at a barrier.
 */
import * as tf from '../tf';

/** One replica step. */
export interface ReplicaStepProfile {
  /**
   * Milliseconds per phase: `gradients` (the shard's batch, the forward and backward pass with
   * the batch norms' barrier waits, reading the loss back, copying the gradients other replicas
   * own into shared memory), `wait for gradients`, `optimizer step` (summing the owned variables'
   * gradients, the update, publishing the new values), `wait for weights`, `copy weights`.
   */
  phases: Record<string, number>;
  /** Milliseconds per kernel key (`kernelProfileKey`), outermost kernels only. */
  kernels: Record<string, number>;
  /** Milliseconds waited at barriers, all phases, and how many barriers. */
  barrierWaitMs: number;
  barriers: number;
}

/**
 * A kernel's profile key: a convolution's name with its layer shape (input HxWxCin -> Cout,
 * kernel size, stride), so a profile splits the convolutions by layer; other kernels by name.
 */
export function kernelProfileKey(name: string, args: Parameters<tf.KernelFunc>[0]): string {
  const attrs = args.attrs as Record<string, unknown> | undefined;
  const stride = (attrs?.strides as number | number[] | undefined) ?? 1;
  const s = Array.isArray(stride) ? stride[0] : stride;
  let x: readonly number[] | undefined;
  let filter: readonly number[] | undefined;
  if (name === 'Conv2D' || name === 'FusedConv2D' || name === 'BnnSignConv2D') {
    x = args.inputs.x?.shape;
    filter = args.inputs.filter?.shape;
  } else if (name === 'Conv2DBackpropInput') {
    x = attrs?.inputShape as number[] | undefined;
    filter = args.inputs.filter?.shape;
  } else if (name === 'Conv2DBackpropFilter') {
    x = args.inputs.x?.shape;
    filter = attrs?.filterShape as number[] | undefined;
  } else {
    return name;
  }
  if (!x || !filter) return name;
  return `${name} ${x[1]}x${x[2]}x${filter[2]}->${filter[3]} k${filter[0]} s${s}`;
}

/** Collects one replica's `ReplicaStepProfile`s. */
export class ReplicaProfiler {
  private step = emptyStep();
  private last = performance.now();

  /** Wraps every kernel registered for `backend` to time it (kernels called inside not apart). */
  wrapKernels(backend: string): void {
    let depth = 0;
    for (const config of tf.getKernelsForBackend(backend)) {
      const inner = config.kernelFunc;
      const kernelFunc: tf.KernelFunc = (args) => {
        if (depth > 0) return inner(args);
        depth++;
        const start = performance.now();
        try {
          return inner(args);
        } finally {
          const ms = performance.now() - start;
          depth--;
          const key = kernelProfileKey(config.kernelName, args);
          this.step.kernels[key] = (this.step.kernels[key] ?? 0) + ms;
        }
      };
      tf.unregisterKernel(config.kernelName, backend);
      tf.registerKernel({ ...config, kernelFunc });
    }
  }

  /** Starts a step's first phase now. */
  start(): void {
    this.step = emptyStep();
    this.last = performance.now();
  }

  /** Ends phase `name` now (the next one starts). */
  phase(name: string): void {
    const now = performance.now();
    this.step.phases[name] = (this.step.phases[name] ?? 0) + now - this.last;
    this.last = now;
  }

  /** A barrier waited `ms`. */
  barrier(ms: number): void {
    this.step.barrierWaitMs += ms;
    this.step.barriers++;
  }

  /** The step's profile; the next starts empty. */
  take(): ReplicaStepProfile {
    const step = this.step;
    this.step = emptyStep();
    return step;
  }
}

function emptyStep(): ReplicaStepProfile {
  return { phases: {}, kernels: {}, barrierWaitMs: 0, barriers: 0 };
}
