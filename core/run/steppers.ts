/**
 * Steppers: what makes one training step of the run loop (core/run/loop.ts), in this thread or
 * on data-parallel replica threads. Both train the same `StepSetup`, so they differ only in float
 * rounding.
 */
import * as tf from '../tf';
import type { Dataset } from '../data/datasets';
import { DataParallel } from '../parallel/dataParallel';
import { makeBatch } from '../training/batches';
import { clipLatentWeights } from '../training/optimizers';
import { augmentSeed, mulberry32, shuffledIndices, shuffleSeed } from '../training/random';
import { keptTensors, METHOD_LOSSES, type StepParts, type StepSetup } from '../training/stepSetup';
import type { TrainConfig } from '../protocol';

export interface StepParams {
  epoch: number;
  batchIndex: number;
  learningRate: number;
  tau?: number;
}

/** One step's outcome, as the run loop reports it. */
export interface StepOutcome {
  /** Batch-mean cross-entropy. */
  loss: number;
  /** Correct predictions in the batch. */
  hits: number;
  /** Batch-mean method losses by name (`METHOD_LOSSES`). */
  methods: Record<string, number>;
  /** Each binary layer's latent weights after the step. */
  latents: Float32Array[];
  /** LNS: each binary layer's auxiliary terms and the binary weights the forward used. */
  layers?: { aux: number; disagreement: number; binary: Float32Array }[];
}

export interface Stepper {
  /** Threads that share each batch. */
  readonly threads: number;
  /**
   * Whether `whileRunning` runs while the step computes (on other threads), so that the run
   * loop's bookkeeping of the previous step is off the critical path; its outcome's arrays then
   * hold until the step after next.
   */
  readonly overlaps: boolean;
  /** One step; `whileRunning` (the previous step's bookkeeping) runs once, before it ends. */
  step(params: StepParams, whileRunning?: () => void): Promise<StepOutcome>;
  /** Brings the run loop's own setup up to date (before an evaluation or checkpoint). */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** Trains `setup` in this thread. */
export class LocalStepper implements Stepper {
  readonly threads = 1;
  readonly overlaps = false;
  private epoch = -1;
  private order: Uint32Array = new Uint32Array(0);
  private augment: (() => number) | null = null;

  constructor(
    private readonly setup: StepSetup,
    private readonly config: TrainConfig,
    private readonly dataset: Dataset,
    private readonly batchSize: number,
  ) {}

  async step({ epoch, batchIndex }: StepParams, whileRunning?: () => void): Promise<StepOutcome> {
    whileRunning?.(); // one thread: before the step, not beside it
    const { setup, config, dataset, batchSize } = this;
    if (epoch !== this.epoch) {
      this.order = shuffledIndices(dataset.train.count, shuffleSeed(config.seed, epoch));
      this.augment = config.augment ? mulberry32(augmentSeed(config.seed, epoch)) : null;
      this.epoch = epoch;
    }
    const { xs, ys } = makeBatch(
      dataset.train,
      dataset,
      this.order,
      batchIndex * batchSize,
      batchSize,
      this.augment,
    );
    const parts: Partial<StepParts> = {};
    const totalT = setup.optimizer.minimize(
      setup.objective(xs, ys, parts),
      true,
      setup.variables,
    ) as tf.Scalar;
    const lossT = parts.ce ?? totalT;
    const loss = (await lossT.data())[0];
    const hits = parts.hits ? (await parts.hits.data())[0] : 0;
    const methods: Record<string, number> = {};
    for (const [name, t] of Object.entries(parts.methods ?? {})) {
      methods[name] = (await t.data())[0];
    }
    const layers = parts.layers
      ? await Promise.all(
          parts.layers.map(async (p) => ({
            aux: (await p.aux.data())[0],
            disagreement: (await p.disagreement.data())[0],
            binary: (await p.signs.data()) as Float32Array,
          })),
        )
      : undefined;
    tf.dispose([xs, ys, totalT, ...keptTensors(parts)]);
    if ((config.latentClip ?? 0) > 0)
      clipLatentWeights(setup.latentKernels, config.latentClip ?? 0);
    const latents: Float32Array[] = [];
    for (const layer of setup.binaryLayers) {
      latents.push((await layer.latentKernel().read().data()) as Float32Array);
    }
    return { loss, hits, methods, latents, ...(layers ? { layers } : {}) };
  }

  async sync(): Promise<void> {}

  async close(): Promise<void> {}
}

/** Trains `setup`'s copies on replica threads (core/parallel/). */
export class ParallelStepper implements Stepper {
  private readonly sizes: number[];

  constructor(
    private readonly pool: DataParallel,
    private readonly setup: StepSetup,
  ) {
    this.sizes = setup.latentKernels.map((k) => k.size);
  }

  readonly overlaps = true;

  get threads(): number {
    return this.pool.world;
  }

  async step(params: StepParams, whileRunning?: () => void): Promise<StepOutcome> {
    // pool.step signals the replicas before it first waits: this thread is free meanwhile.
    const running = this.pool.step(params);
    if (whileRunning) {
      try {
        whileRunning();
      } catch (e) {
        await running.catch(() => undefined);
        throw e;
      }
    }
    const result = await running;
    const methods: Record<string, number> = {};
    for (const name of this.setup.methodLosses) {
      methods[name] = result.methods[METHOD_LOSSES.indexOf(name)];
    }
    const latents = this.pool.latents(this.sizes);
    const layers = this.setup.lns ? this.pool.layerTerms(this.sizes) : undefined;
    return {
      loss: result.loss,
      hits: result.hits,
      methods,
      latents,
      ...(layers ? { layers } : {}),
    };
  }

  sync(): Promise<void> {
    return this.pool.syncInto(this.setup);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
