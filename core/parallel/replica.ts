/**
 * A data-parallel replica: a worker thread (bundled to dist/replica.js) with its own wasm
 * instance and its own copy of the model, optimizer and dataset. For each step the coordinator
 * posts, it computes the gradients of its shard of the batch, sums all replicas' gradients
 * through shared memory and applies them, exactly as every other replica does.
 */
import * as tf from '../tf';
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../backend/backends';
import { copyValuesInto } from '../backend/copyValues';
import { batchArrays, batchTensors } from '../training/batches';
import { getPreset } from '../bnn/presets';
import { clipLatentWeights, setLearningRate } from '../training/optimizers';
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
import { shardOf } from './shards';
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
  const { dataset } = init;
  const preset = getPreset(config.preset);
  const setup = createStepSetup(config, preset, init.lns);
  if (init.initialState) await applySetupState(setup, init.initialState);
  synchronizeBatchNorm(setup.model, comm);
  const { optimizer, variables, binaryLayers, latentKernels } = setup;
  const batchSize = Math.min(config.batchSize, dataset.train.count);
  const shard = shardOf(batchSize, world, rank);
  const weight = shard.size / batchSize;
  const latentFloats = latentKernels.reduce((n, k) => n + k.size, 0);
  const latentPart = Math.ceil(latentFloats / world);
  const latentRange = {
    start: Math.min(latentFloats, rank * latentPart),
    end: Math.min(latentFloats, (rank + 1) * latentPart),
  };
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
      if (rank === 0) {
        const { weights, state } = await captureSetupState(setup);
        post(
          { kind: 'snapshot', weights, state },
          [...weights, ...state.map((s) => s.data)].map((a) => a.buffer as ArrayBuffer),
        );
      }
      finish(views.ctrl);
      continue;
    }
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
    // Straight into this replica's slot of shared memory (zeros where a variable got none).
    const slot = comm.gradientSlot(layout.gradientFloats);
    let offset = 0;
    for (const v of variables) {
      const g = grads[v.name];
      if (g) copyValuesInto(g, slot, offset);
      else slot.fill(0, offset, offset + v.size);
      offset += v.size;
    }
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
    tf.dispose(Object.values(grads));

    const sum = comm.sumGradients(layout.gradientFloats);
    const summed: tf.NamedTensorMap = {};
    offset = 0;
    for (const v of variables) {
      // The sum lives in shared memory the next step overwrites: tensors copy it (wasm copies
      // into its heap; the cpu backend would keep the view, so it gets a copy).
      const values = sum.subarray(offset, offset + v.size);
      summed[v.name] = tf.tensor(tf.getBackend() === 'wasm' ? values : values.slice(), v.shape);
      offset += v.size;
    }
    optimizer.applyGradients(summed);
    tf.dispose(Object.values(summed));
    if ((config.latentClip ?? 0) > 0) clipLatentWeights(latentKernels, config.latentClip ?? 0);
    // Every replica publishes its 1/world of the latent weights (all hold the same values), so
    // that no replica waits for one to copy all of them.
    let at = 0;
    for (const k of latentKernels) {
      const from = Math.max(0, latentRange.start - at);
      const to = Math.min(k.size, latentRange.end - at);
      copyValuesInto(k, views.latents[region], at, from, to);
      at += k.size;
    }
    finish(views.ctrl);
  }
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
