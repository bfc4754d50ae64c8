/**
 * A data-parallel replica: a worker thread (bundled to dist/replica.js) with its own wasm
 * instance and its own copy of the model, optimizer and dataset. For each step the coordinator
 * posts, it computes the gradients of its shard of the batch; then each replica sums the
 * replicas' gradients of its own variables (`variableOwners`) through shared memory, takes the
 * optimizer step on them and publishes their new values, and copies the other variables' values
 * from their owners. Every replica ends the step with the same weights.
 */
import * as tf from '../tf';
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../backend/backends';
import { copyValuesInto } from '../backend/copyValues';
import { batchArrays, batchTensors } from '../training/batches';
import { getPreset } from '../bnn/presets';
import { clipLatentWeights, optimizerState, setLearningRate } from '../training/optimizers';
import { augmentSeed, mulberry32, shuffledIndices, shuffleSeed } from '../training/random';
import {
  applySetupState,
  captureSetupState,
  createStepSetup,
  keptTensors,
  METHOD_LOSSES,
  type StepParts,
} from '../training/stepSetup';
import type { FromReplica, ReplicaInit } from './protocol';
import {
  AbortedError,
  CTRL,
  OP,
  PARAM,
  publishRegion,
  ReplicaComm,
  SCALAR,
  sharedViews,
} from './shared';
import { ReplicaProfiler } from './replicaProfile';
import { shardOf, variableOwners } from './shards';
import { synchronizeBatchNorm } from './syncBatchNorm';

if (!parentPort) throw new Error('replica: must be started as a worker thread');
const port = parentPort;
const post = (message: FromReplica, transfer: ArrayBuffer[] = []) =>
  port.postMessage(message, transfer);

async function main(init: ReplicaInit): Promise<void> {
  const { config, rank, world, layout } = init;
  const views = sharedViews(init.buffer, layout);
  const comm = new ReplicaComm(views, rank, world, layout.reduceWidth);
  await initBackend(init.backend, () => undefined);
  const profiler = init.profile ? new ReplicaProfiler() : undefined;
  if (profiler) {
    profiler.wrapKernels(tf.getBackend());
    comm.onBarrier = (ms) => profiler.barrier(ms);
  }
  const { dataset } = init;
  const preset = getPreset(config.preset);
  const setup = createStepSetup(config, preset, init.lns);
  if (init.initialState) await applySetupState(setup, init.initialState);
  synchronizeBatchNorm(setup.model, comm);
  const { optimizer, variables, binaryLayers, latentKernels } = setup;
  const batchSize = Math.min(config.batchSize, dataset.train.count);
  const shard = shardOf(batchSize, world, rank);
  const weight = shard.size / batchSize;
  const owners = variableOwners(
    variables.map((v) => v.size),
    world,
  );
  const offsets = offsetsOf(variables);
  const ownedNames = new Set(variables.filter((_, i) => owners[i] === rank).map((v) => v.name));
  // The latent kernels this replica publishes: those of its variables, and its share of any
  // that no one trains (e.g. frozen by a fine-tune), which the trainer still reads.
  const trained = new Set(variables.map((v) => v.name));
  const latentOffsets = offsetsOf(latentKernels);
  const ownLatents = latentKernels.flatMap((k, j) =>
    ownedNames.has(k.name) || (!trained.has(k.name) && j % world === rank)
      ? [{ kernel: k, at: latentOffsets[j] }]
      : [],
  );
  // The latent kernels it clips: its own, and on every replica alike the ones no one trains
  // (as on one thread).
  const clipped = latentKernels.filter((k) => ownedNames.has(k.name) || !trained.has(k.name));
  post({ kind: 'ready', rank });

  let epochShown = -1;
  let order: Uint32Array = new Uint32Array(0);
  let augment: (() => number) | null = null;
  let seen = 0;
  for (;;) {
    // Wait for the next command.
    while (Atomics.load(views.ctrl, CTRL.go) === seen) {
      comm.checkAbort();
      Atomics.wait(views.ctrl, CTRL.go, seen, 50);
    }
    seen = Atomics.load(views.ctrl, CTRL.go);
    const op = views.params[PARAM.op];
    if (op === OP.stop) return;
    if (op === OP.snapshot) {
      // Rank 0 sends everything; the others the optimizer slots of the variables they update
      // (rank 0's own copies of those are stale), which the coordinator puts in their place.
      const { weights, state } =
        rank === 0
          ? await captureSetupState(setup)
          : { weights: [], state: await optimizerState(optimizer, (name) => ownedNames.has(name)) };
      post(
        { kind: 'snapshot', rank, weights, state },
        [...weights, ...state.map((s) => s.data)].map((a) => a.buffer as ArrayBuffer),
      );
      finish(views.ctrl);
      continue;
    }
    profiler?.start();
    const epoch = views.params[PARAM.epoch];
    const b = views.params[PARAM.batchIndex];
    if (epoch !== epochShown) {
      // The same order and augmentation stream as the single-thread trainer: every replica
      // draws the whole batch's augmentation and keeps its shard.
      order = shuffledIndices(dataset.train.count, shuffleSeed(config.seed, epoch));
      augment = config.augment ? mulberry32(augmentSeed(config.seed, epoch)) : null;
      const tau = views.params[PARAM.tau];
      if (!Number.isNaN(tau)) for (const l of binaryLayers) l.setTau(tau);
      epochShown = epoch;
    }
    setLearningRate(optimizer, views.params[PARAM.learningRate]);
    const full = batchArrays(dataset.train, dataset, order, b * batchSize, batchSize, augment);
    const pixels = full.images.length / batchSize;
    const { xs, ys } = batchTensors(
      dataset,
      full.images.subarray(shard.start * pixels, (shard.start + shard.size) * pixels),
      full.labels.subarray(shard.start, shard.start + shard.size),
    );
    const parts: Partial<StepParts> = {};
    const { value, grads } = optimizer.computeGradients(
      setup.objective(xs, ys, parts, weight),
      variables,
    );
    // The gradients of the variables other replicas update, into this replica's slot.
    const slot = comm.gradientSlot(layout.gradientFloats);
    variables.forEach((v, i) => {
      const g = grads[v.name];
      if (owners[i] !== rank && g) copyValuesInto(g, slot, offsets[i]);
    });
    const scalars = views.scalars.subarray(rank * SCALAR.size, (rank + 1) * SCALAR.size);
    // The objective is already weighted; the cross-entropy alone (when it differs) is not.
    scalars[SCALAR.loss] = parts.ce ? parts.ce.dataSync()[0] * weight : value.dataSync()[0];
    scalars[SCALAR.hits] = parts.hits ? parts.hits.dataSync()[0] : 0;
    METHOD_LOSSES.forEach((name, i) => {
      const t = parts.methods?.[name];
      scalars[SCALAR.firstMethod + i] = t ? t.dataSync()[0] * weight : 0;
    });
    const region = publishRegion(seen);
    if (rank === 0 && parts.layers) {
      // LNS: each layer's terms and the binary weights this step's forward used.
      let at = 0;
      for (const [i, terms] of parts.layers.entries()) {
        views.layerTerms[region][2 * i] = terms.aux.dataSync()[0];
        views.layerTerms[region][2 * i + 1] = terms.disagreement.dataSync()[0];
        views.binary[region].set(terms.signs.dataSync() as Float32Array, at);
        at += terms.signs.size;
      }
    }
    tf.dispose([xs, ys, value, ...keptTensors(parts)]);
    profiler?.phase('gradients');
    comm.barrier();
    profiler?.phase('wait for gradients');

    // This replica's variables: the gradient summed over the replicas in rank order (a variable
    // without one has none on any replica and is left alone, as on one thread), then the step.
    const update = variables.map((v, i) => {
      const own = grads[v.name];
      if (owners[i] !== rank || !own) return { name: v.name, tensor: null };
      const tensor = tf.tidy(() => {
        let sum: tf.Tensor | undefined;
        for (let r = 0; r < world; r++) {
          const part =
            r === rank
              ? own
              : fromShared(comm.gradientSlot(layout.gradientFloats, r), offsets[i], v);
          sum = sum ? tf.add(sum, part) : part;
        }
        return sum as tf.Tensor;
      });
      return { name: v.name, tensor };
    });
    optimizer.applyGradients(update as unknown as Parameters<tf.Optimizer['applyGradients']>[0]);
    tf.dispose(update.map((u) => u.tensor).filter((t): t is tf.Tensor => t !== null));
    tf.dispose(Object.values(grads));
    if ((config.latentClip ?? 0) > 0) clipLatentWeights(clipped, config.latentClip ?? 0);
    // Publish the new values for the other replicas and the latent kernels for the trainer.
    if (world > 1) {
      variables.forEach((v, i) => {
        if (owners[i] === rank) copyValuesInto(v, views.weights, offsets[i]);
      });
    }
    for (const { kernel, at } of ownLatents) copyValuesInto(kernel, views.latents[region], at);
    profiler?.phase('optimizer step');
    comm.barrier();
    profiler?.phase('wait for weights');
    tf.tidy(() =>
      variables.forEach((v, i) => {
        if (owners[i] !== rank) v.assign(fromShared(views.weights, offsets[i], v));
      }),
    );
    if (profiler) {
      profiler.phase('copy weights');
      post({ kind: 'profile', rank, profile: profiler.take() });
    }
    finish(views.ctrl);
  }
}

/** Each variable's offset in a layout of `variables` one after another. */
function offsetsOf(variables: readonly tf.Variable[]): number[] {
  const offsets: number[] = [];
  let at = 0;
  for (const v of variables) {
    offsets.push(at);
    at += v.size;
  }
  return offsets;
}

/**
 * `v`'s share of a shared-memory layout at `offset`, as a tensor of its own: the layout is
 * overwritten by later steps (wasm copies the values into its heap; the cpu backend would keep
 * the view, so it gets a copy).
 */
function fromShared(layout: Float32Array, offset: number, v: tf.Variable): tf.Tensor {
  const values = layout.subarray(offset, offset + v.size);
  return tf.tensor(tf.getBackend() === 'wasm' ? values : values.slice(), v.shape);
}

/** Tells the coordinator this replica is done with the current command. */
function finish(ctrl: Int32Array): void {
  Atomics.add(ctrl, CTRL.done, 1);
  Atomics.notify(ctrl, CTRL.done);
}

main(workerData as ReplicaInit).then(
  () => process.exit(0),
  (e: unknown) => {
    const views = sharedViews(
      (workerData as ReplicaInit).buffer,
      (workerData as ReplicaInit).layout,
    );
    if (e instanceof AbortedError) {
      process.exit(0);
    }
    // Stop the other replicas (they poll the abort word) and tell the coordinator why.
    Atomics.store(views.ctrl, CTRL.abort, 2);
    Atomics.notify(views.ctrl, CTRL.done);
    post({
      kind: 'error',
      rank: (workerData as ReplicaInit).rank,
      message: e instanceof Error ? e.message : String(e),
      stack: e instanceof Error ? (e.stack ?? e.message) : String(e),
    });
  },
);
