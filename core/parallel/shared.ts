/**
 * Shared memory of a data-parallel run: one SharedArrayBuffer that the coordinator (the thread
 * running the trainer) and every replica (a worker thread with its own wasm instance) map the
 * same way. Replicas block on it with `Atomics.wait`; the coordinator never blocks (it waits with
 * `Atomics.waitAsync`, so it can still see a replica die).
 *
 * Batch-norm sums across replicas run in rank order 0..N-1, in float64. The optimizer step is
 * split by variable (`variableOwners`): each replica sums the gradients of its own variables over
 * the replicas' slots (rank order), updates them and publishes the new values, which the others
 * copy, so every replica holds the same bits and their weights never drift apart.
 */

/** Int32 control words. */
export const CTRL = {
  /** Non-zero: stop. 1 = the coordinator aborted, 2 = a replica failed. */
  abort: 0,
  /** Number of the last command posted (the coordinator increments it). */
  go: 1,
  /** Replicas that finished the current command, cumulative over commands. */
  done: 2,
  /** Barrier: arrivals in the current generation, and the generation. */
  barrierCount: 3,
  barrierGeneration: 4,
  size: 8,
} as const;

/** Float64 command parameters written by the coordinator before it increments `go`. */
export const PARAM = {
  op: 0,
  epoch: 1,
  batchIndex: 2,
  learningRate: 3,
  /** ReCU's τ, NaN when the run has none. */
  tau: 4,
  size: 8,
} as const;

export const OP = { step: 1, snapshot: 2, stop: 3 } as const;

/** Per-replica float64 scalars of a step, each already weighted by the replica's batch share. */
export const SCALAR = { loss: 0, hits: 1, firstMethod: 2, size: 8 } as const;

export interface SharedLayout {
  world: number;
  /** Floats of all trainable variables, in `StepSetup.variables` order. */
  gradientFloats: number;
  /** Floats of all latent kernels, in binary-layer order (their owners publish them each step). */
  latentFloats: number;
  /** Most values one all-reduce sums (`batchNormReduceValues`: 3 per batch-norm channel + 1). */
  reduceWidth: number;
  /**
   * LNS runs: the number of binary layers, whose step terms (auxiliary loss, disagreement) and
   * binary weights `sgn(f_θ(W))` rank 0 publishes each step; 0 (or absent) otherwise.
   */
  lnsLayers?: number;
}

export interface SharedViews {
  ctrl: Int32Array;
  params: Float64Array;
  /** `world × SCALAR.size`. */
  scalars: Float64Array;
  /** Two alternating regions of `world × reduceWidth`: batch-norm all-reduces. */
  reduce: Float64Array;
  /**
   * `world × gradientFloats`: each replica's gradients, at the variables' offsets, of the
   * variables another replica updates.
   */
  gradients: Float32Array;
  /** `gradientFloats`: every variable's value after a step, written by the replica that owns it. */
  weights: Float32Array;
  /**
   * The latent kernels after a step, in two regions that steps take in turns (a command's
   * number modulo 2, `publishRegion`): the trainer's thread reads one step's latent weights
   * while the replicas run the next step and write the other region.
   */
  latents: [Float32Array, Float32Array];
  /** LNS: per binary layer its auxiliary loss and disagreement (`2 × lnsLayers`), two regions. */
  layerTerms: [Float64Array, Float64Array];
  /** LNS: the binary weights of a step's forward, laid out as `latents` (else empty), two regions. */
  binary: [Float32Array, Float32Array];
}

/** Which of the two regions of `latents`, `layerTerms` and `binary` command `command` writes. */
export function publishRegion(command: number): 0 | 1 {
  return (command % 2) as 0 | 1;
}

/** Allocates the buffer for `layout`. */
export function allocateShared(layout: SharedLayout): SharedArrayBuffer {
  return new SharedArrayBuffer(sharedBytes(layout));
}

function sharedBytes(l: SharedLayout): number {
  const lns = l.lnsLayers ?? 0;
  const f64 = PARAM.size + l.world * SCALAR.size + 2 * l.world * l.reduceWidth + 2 * 2 * lns;
  const binary = lns > 0 ? l.latentFloats : 0;
  const floats = (l.world + 1) * l.gradientFloats + 2 * (l.latentFloats + binary);
  return CTRL.size * 4 + f64 * 8 + floats * 4;
}

/** The typed views of a buffer made by `allocateShared(layout)`. */
export function sharedViews(buffer: SharedArrayBuffer, l: SharedLayout): SharedViews {
  let offset = 0;
  const take = <T>(make: (offset: number, length: number) => T, length: number, width: number) => {
    const view = make(offset, length);
    offset += length * width;
    return view;
  };
  const i32 = (o: number, n: number) => new Int32Array(buffer, o, n);
  const f64 = (o: number, n: number) => new Float64Array(buffer, o, n);
  const f32 = (o: number, n: number) => new Float32Array(buffer, o, n);
  const ctrl = take(i32, CTRL.size, 4);
  const params = take(f64, PARAM.size, 8);
  const scalars = take(f64, l.world * SCALAR.size, 8);
  const reduce = take(f64, 2 * l.world * l.reduceWidth, 8);
  const lns = l.lnsLayers ?? 0;
  const layerTerms: [Float64Array, Float64Array] = [take(f64, 2 * lns, 8), take(f64, 2 * lns, 8)];
  const gradients = take(f32, l.world * l.gradientFloats, 4);
  const weights = take(f32, l.gradientFloats, 4);
  const latents: [Float32Array, Float32Array] = [
    take(f32, l.latentFloats, 4),
    take(f32, l.latentFloats, 4),
  ];
  const binaryFloats = lns > 0 ? l.latentFloats : 0;
  const binary: [Float32Array, Float32Array] = [
    take(f32, binaryFloats, 4),
    take(f32, binaryFloats, 4),
  ];
  return { ctrl, params, scalars, reduce, gradients, weights, latents, layerTerms, binary };
}

/** Thrown inside a replica when the run was aborted while it waited. */
export class AbortedError extends Error {
  constructor() {
    super('the data-parallel run was stopped');
  }
}

/** How long one blocking wait lasts before a replica checks the abort word again. */
const POLL_MS = 50;

/**
 * A replica's side: a barrier among the replicas (the coordinator does not take part) and the
 * all-reduce built on it. Every call blocks the calling thread.
 */
export class ReplicaComm {
  private reduceCalls = 0;
  /** Told how long each barrier waited (the replica profile, core/parallel/replicaProfile.ts). */
  onBarrier: ((waitedMs: number) => void) | undefined;

  constructor(
    readonly views: SharedViews,
    readonly rank: number,
    readonly world: number,
    private readonly reduceWidth: number,
  ) {}

  /** @throws AbortedError when the run is aborted while waiting. */
  checkAbort(): void {
    if (Atomics.load(this.views.ctrl, CTRL.abort) !== 0) throw new AbortedError();
  }

  barrier(): void {
    const started = this.onBarrier ? performance.now() : 0;
    const { ctrl } = this.views;
    const generation = Atomics.load(ctrl, CTRL.barrierGeneration);
    if (Atomics.add(ctrl, CTRL.barrierCount, 1) === this.world - 1) {
      Atomics.store(ctrl, CTRL.barrierCount, 0);
      Atomics.add(ctrl, CTRL.barrierGeneration, 1);
      Atomics.notify(ctrl, CTRL.barrierGeneration);
    } else {
      while (Atomics.load(ctrl, CTRL.barrierGeneration) === generation) {
        this.checkAbort();
        Atomics.wait(ctrl, CTRL.barrierGeneration, generation, POLL_MS);
      }
    }
    this.onBarrier?.(performance.now() - started);
  }

  /**
   * Sums `values` over the replicas (rank order, float64) and returns the sums. Two regions take
   * turns, so one barrier per call suffices: a replica can only reach the call after next (which
   * reuses this region) once every replica has passed the next call's barrier, i.e. finished
   * reading this one.
   */
  allReduce(values: ArrayLike<number>): Float64Array {
    const n = values.length;
    if (n > this.reduceWidth) {
      throw new Error(`all-reduce of ${n} values exceeds the ${this.reduceWidth} reserved`);
    }
    const stride = this.reduceWidth;
    const region = (this.reduceCalls++ % 2) * this.world * stride;
    const { reduce } = this.views;
    const mine = region + this.rank * stride;
    for (let i = 0; i < n; i++) reduce[mine + i] = values[i];
    this.barrier();
    const out = new Float64Array(n);
    for (let r = 0; r < this.world; r++) {
      const base = region + r * stride;
      for (let i = 0; i < n; i++) out[i] += reduce[base + i];
    }
    return out;
  }

  /** Replica `rank`'s gradient slot (this replica writes its own before the step's barrier). */
  gradientSlot(floats: number, rank = this.rank): Float32Array {
    return this.views.gradients.subarray(rank * floats, (rank + 1) * floats);
  }
}
