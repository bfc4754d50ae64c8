/**
 * Learning-rate and ReCU τ schedules as pure functions of the epoch and step.
 */
import type { TrainConfig } from '../protocol';

/** Cosine decay from `base` to 0 over `total` steps. */
export function cosineLearningRate(base: number, step: number, total: number): number {
  return 0.5 * base * (1 + Math.cos((Math.PI * Math.min(step, total)) / Math.max(1, total)));
}

/** The schedule keys of a run config, with the defaults of older configs filled in. */
export type ScheduleConfig = Pick<TrainConfig, 'learningRate' | 'epochs'> &
  Partial<Pick<TrainConfig, 'schedule' | 'warmupEpochs' | 'stepMilestones' | 'stepGamma'>>;

/**
 * The learning rate of optimizer step `step` (0-based, global) in epoch `epoch` (1-based):
 * - warm-up (epochs 1..warmupEpochs): `base · epoch / warmupEpochs`, constant within the epoch
 *   (the ReCU code's `lr · (e + 1) / 5` with its 0-based e);
 * - `cosine`: per step from `base` to 0 over the steps after warm-up;
 * - `step`: `base · stepGamma^k`, k = number of milestones m with `epoch > m`;
 * - `constant`: `base`.
 */
export function learningRateAt(
  config: ScheduleConfig,
  epoch: number,
  step: number,
  stepsPerEpoch: number,
): number {
  const base = config.learningRate;
  const warmup = config.warmupEpochs ?? 0;
  if (epoch <= warmup) return (base * epoch) / warmup;
  switch (config.schedule ?? 'cosine') {
    case 'cosine': {
      const warmupSteps = warmup * stepsPerEpoch;
      return cosineLearningRate(
        base,
        step - warmupSteps,
        stepsPerEpoch * config.epochs - warmupSteps,
      );
    }
    case 'step': {
      const passed = (config.stepMilestones ?? []).filter((m) => epoch > m).length;
      return base * (config.stepGamma ?? 0.1) ** passed;
    }
    case 'constant':
      return base;
  }
}

/**
 * ReCU's exponential τ schedule (official code, bnn-methods.md §3.3), one value per epoch:
 * `τ(e) = A·exp(e/E) + B`, `A = (τ_end − τ_start)/(e − 1)`, `B = τ_start − A`, with the 0-based
 * epoch e = 0..E−1, so τ(0) = τ_start and the last epoch stays just below τ_end.
 * @param epoch 1-based epoch; @param epochs E.
 */
export function recuTau(epoch: number, epochs: number, tauStart: number, tauEnd: number): number {
  const a = (tauEnd - tauStart) / (Math.E - 1);
  const b = tauStart - a;
  return a * Math.exp((epoch - 1) / epochs) + b;
}
