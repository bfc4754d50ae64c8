/**
 * Training a BNN from its run config (`runTraining`): the run loop (core/run/loop.ts) with the
 * config's own optimizer, schedule, ReCU τ, BONN losses, weight decay and latent clip. Used by
 * the engine worker and the CLI.
 */
import { getPreset } from '../bnn/presets';
import type { RunHooks, RunRequest, RunResult } from '../training/api';
import { recuTau } from '../training/schedules';
import { runLoop } from './loop';

export { evaluate, makeBatch } from '../training/batches';
export { mulberry32, shuffledIndices } from '../training/random';
export { decayedKernels } from '../training/stepSetup';
export { cosineLearningRate } from '../training/schedules';
export { checkDatasetFits, dataParallelWorld, describeLayers } from './loop';

/** Trains `request.config` into `request.runDir`; a user cancel ends as `cancelled`, not thrown. */
export async function runTraining(request: RunRequest, hooks: RunHooks): Promise<RunResult> {
  const { config } = request;
  const { status, testAccuracy, message } = await runLoop(request, hooks, () => ({
    config,
    preset: getPreset(config.preset),
    startsFromWeights: false,
    tau: (epoch) =>
      config.recu
        ? recuTau(epoch, config.epochs, config.recu.tauStart, config.recu.tauEnd)
        : undefined,
    diverged: (loss, step) =>
      `training diverged: the loss is ${loss} at step ${step}; lower "learningRate" (now ${config.learningRate}) and start again (the checkpoints of earlier epochs are kept)`,
  }));
  return { status, testAccuracy, ...(message !== undefined ? { message } : {}) };
}
