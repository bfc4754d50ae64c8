/**
 * The coordinator of data-parallel training: starts one replica thread per core (each with its
 * own wasm instance), posts each step's parameters through shared memory, and collects the
 * step's loss and the latent weights for telemetry. It never blocks its thread, so a replica
 * that dies is noticed (its `error`/`exit` event) and ends the run with its message.
 *
 * The coordinator's own model (built by the trainer) is not trained step by step; before each
 * evaluation and checkpoint `syncInto` copies rank 0's weights and optimizer state into it.
 *
 * A replica that stops making progress without dying (a deadlock, an endless loop) would leave
 * the run waiting forever, so a watchdog fails a command that takes longer than
 * `max(60 s, 20 × the median step)` (10 minutes before the first step has been timed), and a
 * cancel ends the wait at once; `close` then terminates the threads.
 */
import * as path from 'node:path';
import type { Dataset } from '../data/datasets';
import { CancelledError, fieldName } from '../errors';
import type { BackendPreference, TrainConfig } from '../protocol/schema';
import type { LnsOptions } from '../training/methods/lns';
import {
  applySetupState,
  captureSetupState,
  type SetupState,
  type StepSetup,
} from '../training/stepSetup';
import { WorkerThread } from '../workers/thread';
import { isFromReplica, type FromReplica, type ReplicaInit } from './protocol';
import type { ReplicaStepProfile } from './replicaProfile';
import {
  allocateShared,
  CTRL,
  OP,
  PARAM,
  publishRegion,
  SCALAR,
  sharedViews,
  type SharedLayout,
  type SharedViews,
} from './shared';
import { batchNormReduceValues } from './syncBatchNorm';

/** Where the replica entry lives: dist/replica.js beside a bundle, or the compiled module. */
export function replicaScript(): string {
  return process.env.BNN_LAB_REPLICA_SCRIPT ?? path.join(__dirname, 'replica.js');
}

/**
 * Moves `dataset`'s training images into a SharedArrayBuffer (the dataset then uses the shared
 * copy, so there is still one) and returns the dataset the replicas get: that split, no test.
 */
function shareTrainingSplit(dataset: Dataset): Dataset {
  const images = dataset.train.images;
  if (!(images.buffer instanceof SharedArrayBuffer)) {
    const view = new Float32Array(new SharedArrayBuffer(images.byteLength));
    view.set(images);
    dataset.train.images = view;
  }
  const empty = { images: new Float32Array(0), labels: new Uint8Array(0), count: 0 };
  return { ...dataset, train: dataset.train, test: empty };
}

export interface StepParams {
  epoch: number;
  batchIndex: number;
  learningRate: number;
  tau?: number;
}

export interface StepResult {
  /** Batch-mean cross-entropy (or objective, when it is the cross-entropy alone). */
  loss: number;
  hits: number;
  /** Batch-mean method losses, in the order the objective reports them. */
  methods: number[];
}

/** LNS: rank 0's terms of the last step, per binary layer. */
export interface LayerTerms {
  aux: number;
  disagreement: number;
  /** The binary weights the step's forward used. */
  binary: Float32Array;
}

/** How long a command may take before the watchdog fails the run (see the file comment). */
export interface WatchdogBounds {
  /** Floor of the bound once steps have been timed. */
  minimumMs: number;
  /** Multiple of the median step time. */
  stepFactor: number;
  /** Bound while no step has been timed (the first step includes the kernels' warm-up). */
  untimedMs: number;
}

export const DEFAULT_WATCHDOG: WatchdogBounds = {
  minimumMs: 60_000,
  stepFactor: 20,
  untimedMs: 600_000,
};

/** `BNN_LAB_WATCHDOG_MS` (tests): one bound in ms for every case, instead of the defaults. */
function watchdogBounds(): WatchdogBounds {
  const override = Number(process.env.BNN_LAB_WATCHDOG_MS);
  return Number.isFinite(override) && override > 0
    ? { minimumMs: override, stepFactor: 0, untimedMs: override }
    : DEFAULT_WATCHDOG;
}

/** The watchdog's bound for the next command, from the step times measured so far. */
export function stallLimitMs(stepTimesMs: readonly number[], bounds: WatchdogBounds): number {
  if (stepTimesMs.length === 0) return bounds.untimedMs;
  const sorted = [...stepTimesMs].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  return Math.max(bounds.minimumMs, bounds.stepFactor * median);
}

const formatSeconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

type Snapshot = Extract<FromReplica, { kind: 'snapshot' }>;

/**
 * One state from the replicas' snapshots: rank 0's, with each optimizer slot that another rank
 * sent (the slots of the variables that rank updates) in place of rank 0's stale copy.
 */
export function mergeSnapshots(snapshots: readonly Snapshot[]): SetupState {
  const first = snapshots.find((s) => s.rank === 0);
  if (!first) throw new Error('the snapshot of replica 0 is missing');
  const owned = new Map<string, Float32Array>();
  for (const s of snapshots) {
    if (s.rank === 0) continue;
    for (const entry of s.state)
      if (entry.name !== 'optimizer/iter') owned.set(entry.name, entry.data);
  }
  return {
    weights: first.weights,
    state: first.state.map((entry) => ({ ...entry, data: owned.get(entry.name) ?? entry.data })),
  };
}

type WaitAsync = (
  array: Int32Array,
  index: number,
  value: number,
  timeout?: number,
) => { async: boolean; value: Promise<string> | string };

export class DataParallel {
  private commands = 0;
  /** The number of the last step command, whose region holds the latest latent weights. */
  private lastStep = 0;
  private failure: Error | undefined;
  private stopping = false;
  private snapshotWaiter: ((m: Snapshot) => void) | undefined;
  /** Rejects with the first replica failure; `until` races it. */
  private readonly failed: Promise<never>;
  private rejectFailed: (error: Error) => void = () => undefined;
  /** Durations of the latest steps, for the watchdog. */
  private readonly stepTimesMs: number[] = [];
  private readonly bounds = watchdogBounds();
  /** Polled while a command runs: a cancel ends the wait without the replicas. */
  private isCancelled: () => boolean = () => false;

  private constructor(
    private readonly workers: WorkerThread<never, FromReplica>[],
    private readonly views: SharedViews,
    private readonly layout: SharedLayout,
  ) {
    this.failed = new Promise<never>((_, reject) => (this.rejectFailed = reject));
    this.failed.catch(() => undefined); // observed through `until` and `command`
  }

  /**
   * Starts `world` replicas of the run in `config` and waits until each has built its model.
   * `setup` is the coordinator's own (for the shared-memory sizes); with `sendState` (after a
   * resume, or a fine-tune's loaded weights) the replicas start from its state rather than each
   * reading a checkpoint again.
   */
  static async start(options: {
    config: TrainConfig;
    world: number;
    backend: BackendPreference;
    setup: StepSetup;
    /** Its training images move into shared memory, which the replicas read. */
    dataset: Dataset;
    sendState: boolean;
    /** LNS fine-tuning (`setup` was built with the same options). */
    lns?: LnsOptions;
    log: (level: 'info' | 'warn' | 'error', message: string) => void;
    /** The run's cancel flag, polled while waiting for the replicas. */
    isCancelled?: () => boolean;
    /** Receives each replica's profile of each step (benchmarks; core/parallel/replicaProfile.ts). */
    profile?: (rank: number, profile: ReplicaStepProfile) => void;
  }): Promise<DataParallel> {
    const { setup, world } = options;
    const layout: SharedLayout = {
      world,
      gradientFloats: setup.variables.reduce((n, v) => n + v.size, 0),
      latentFloats: setup.latentKernels.reduce((n, v) => n + v.size, 0),
      reduceWidth: batchNormReduceValues(setup.model),
      lnsLayers: options.lns ? setup.binaryLayers.length : 0,
    };
    const buffer = allocateShared(layout);
    const views = sharedViews(buffer, layout);
    const shared = shareTrainingSplit(options.dataset);
    const initialState = options.sendState ? await captureSetupState(setup) : undefined;
    const workers: WorkerThread<never, FromReplica>[] = [];
    const ready = new Set<number>();
    const pool = new DataParallel(workers, views, layout);
    if (options.isCancelled) pool.isCancelled = options.isCancelled;
    let onReady: () => void = () => undefined;
    const allReady = new Promise<void>((resolve) => (onReady = resolve));
    for (let rank = 0; rank < world; rank++) {
      const init: ReplicaInit = {
        config: options.config,
        rank,
        world,
        buffer,
        layout,
        backend: options.backend,
        dataset: shared,
        ...(options.lns ? { lns: options.lns } : {}),
        ...(initialState ? { initialState } : {}),
        ...(options.profile ? { profile: true } : {}),
      };
      const worker = new WorkerThread<never, FromReplica>({
        name: `replica thread ${rank}`,
        script: replicaScript(),
        workerData: init,
        accepts: isFromReplica,
        isReady: (m) => m.kind === 'ready',
        // A replica that never gets ready (stuck while building its model) fails the start.
        readyTimeoutMs: pool.bounds.untimedMs,
        onMessage: (m) => {
          if (m.kind === 'ready') {
            ready.add(m.rank);
            if (ready.size === world) onReady();
          } else if (m.kind === 'snapshot') {
            pool.snapshotWaiter?.(m);
          } else if (m.kind === 'profile') {
            options.profile?.(m.rank, m.profile);
          } else {
            options.log('error', `replica ${m.rank}: ${m.stack}`);
            pool.fail(new Error(`replica thread ${m.rank} failed: ${m.message}`));
          }
        },
        onLost: (lost) => {
          if (pool.stopping) return;
          options.log('error', `${lost.message}${lost.detail ? `\n${lost.detail}` : ''}`);
          pool.fail(
            new Error(
              lost.reason === 'notReady'
                ? `${lost.message}; start again with fewer threads (${fieldName('threads')})`
                : lost.message,
            ),
          );
        },
      });
      workers.push(worker);
    }
    try {
      await pool.until(allReady);
    } catch (e) {
      await pool.close();
      throw e;
    }
    options.log('info', `data-parallel: ${world} replica threads ready`);
    return pool;
  }

  get world(): number {
    return this.layout.world;
  }

  /** One training step on every replica; resolves with the batch's loss and hits. */
  async step(params: StepParams): Promise<StepResult> {
    const p = this.views.params;
    p[PARAM.epoch] = params.epoch;
    p[PARAM.batchIndex] = params.batchIndex;
    p[PARAM.learningRate] = params.learningRate;
    p[PARAM.tau] = params.tau ?? Number.NaN;
    const started = performance.now();
    await this.command(OP.step);
    this.lastStep = this.commands;
    this.stepTimesMs.push(performance.now() - started);
    if (this.stepTimesMs.length > 101) this.stepTimesMs.shift();
    const { scalars } = this.views;
    let loss = 0;
    let hits = 0;
    const methods = new Array<number>(SCALAR.size - SCALAR.firstMethod).fill(0);
    for (let r = 0; r < this.world; r++) {
      const base = r * SCALAR.size;
      loss += scalars[base + SCALAR.loss];
      hits += scalars[base + SCALAR.hits];
      for (let i = 0; i < methods.length; i++) methods[i] += scalars[base + SCALAR.firstMethod + i];
    }
    return { loss, hits, methods };
  }

  /**
   * Each binary layer's latent kernel after the last step (`sizes` in order): views of shared
   * memory, not copies, which hold until the step after next (the next step writes the other
   * region), so that they can be read while the next step runs.
   */
  latents(sizes: number[]): Float32Array[] {
    return this.latentsOf(this.views.latents[publishRegion(this.lastStep)], sizes);
  }

  private latentsOf(view: Float32Array, sizes: number[]): Float32Array[] {
    const out: Float32Array[] = [];
    let at = 0;
    for (const n of sizes) {
      out.push(view.subarray(at, at + n));
      at += n;
    }
    return out;
  }

  /**
   * LNS: each binary layer's terms of the last step (`sizes`: latent kernel sizes, in order);
   * the binary weights are views that hold as long as {@link latents}'.
   */
  layerTerms(sizes: number[]): LayerTerms[] {
    const region = publishRegion(this.lastStep);
    const binary = this.latentsOf(this.views.binary[region], sizes);
    return binary.map((b, i) => ({
      aux: this.views.layerTerms[region][2 * i],
      disagreement: this.views.layerTerms[region][2 * i + 1],
      binary: b,
    }));
  }

  /** Copies the replicas' weights, optimizer slots and BONN/LNS state into `setup`. */
  async syncInto(setup: StepSetup): Promise<void> {
    const snapshots: Snapshot[] = [];
    const received = new Promise<void>((resolve) => {
      this.snapshotWaiter = (m) => {
        snapshots.push(m);
        if (snapshots.length === this.world) resolve();
      };
    });
    await this.command(OP.snapshot);
    await this.until(received);
    this.snapshotWaiter = undefined;
    await applySetupState(setup, mergeSnapshots(snapshots));
  }

  /** Stops every replica (after its current step) and waits for the threads to end. */
  async close(): Promise<void> {
    this.stopping = true;
    Atomics.store(this.views.ctrl, CTRL.abort, 1);
    Atomics.notify(this.views.ctrl, CTRL.go);
    Atomics.notify(this.views.ctrl, CTRL.barrierGeneration);
    await Promise.all(this.workers.map((w) => w.kill()));
  }

  private fail(error: Error): void {
    if (this.stopping || this.failure) return;
    this.failure = error;
    this.rejectFailed(error);
    Atomics.store(this.views.ctrl, CTRL.abort, 1);
    Atomics.notify(this.views.ctrl, CTRL.done);
  }

  /** Posts command `op` and waits until every replica has finished it. */
  private async command(op: number): Promise<void> {
    if (this.failure) throw this.failure;
    this.views.params[PARAM.op] = op;
    this.commands++;
    const target = this.commands * this.world;
    Atomics.store(this.views.ctrl, CTRL.go, this.commands);
    Atomics.notify(this.views.ctrl, CTRL.go);
    const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;
    // A monotonic clock: a clock change does not count as no progress, nor (Linux, macOS) sleep.
    const started = performance.now();
    const limitMs = stallLimitMs(this.stepTimesMs, this.bounds);
    for (;;) {
      if (this.failure) throw this.failure;
      const done = Atomics.load(this.views.ctrl, CTRL.done);
      if (done >= target) return;
      if (this.isCancelled()) throw new CancelledError();
      const waitedMs = performance.now() - started;
      if (waitedMs > limitMs) {
        const timed = this.stepTimesMs.length
          ? `; a step took ${formatSeconds(stallLimitMs(this.stepTimesMs, { minimumMs: 0, stepFactor: 1, untimedMs: 0 }))} before`
          : '';
        this.fail(
          new Error(
            `the ${this.world} replica threads made no progress for ${formatSeconds(waitedMs)}${timed}; the run was stopped (its earlier checkpoints are kept). Start again with fewer threads (${fieldName('threads')}) if it happens again`,
          ),
        );
        continue;
      }
      const r = waitAsync(this.views.ctrl, CTRL.done, done, 200);
      if (r.async) await r.value;
      // Let worker events (error, exit) run between waits.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Resolves with `promise`, or rejects as soon as a replica fails. */
  private until<T>(promise: Promise<T>): Promise<T> {
    return Promise.race([promise, this.failed]);
  }
}
