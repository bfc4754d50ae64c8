/**
 * The settings of a fine-tune (`bnn-lab finetune`, "Fine-tune Checkpoint with Noisy Supervision"):
 * defaults, validation and the source run's config. Free of TensorFlow.js, so the extension host
 * validates what the user types before anything starts.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors';
import type { FinetuneOptions, TrainConfig } from '../protocol';
import { readConfigFile, resolveConfig } from './config';

export { checkSourceCheckpoint } from './checkpointMeta';

export type FinetuneMethod = FinetuneOptions['method'];
export const FINETUNE_METHODS: readonly FinetuneMethod[] = ['lns', 'plain'];

/**
 * Defaults of the fine-tune settings. The paper's own α and ρ are not known (bnn-methods.md §1.3:
 * "ρ small, accuracy degrades from ρ ≈ 0.2"; α unverified); these were chosen on mnist-cnn.
 */
export const FINETUNE_DEFAULTS = {
  epochs: 1,
  alpha: 1e-3,
  rho: 0.1,
  /** Adam steps fitting the mappers to `sgn(W)` before fine-tuning starts. */
  mapperWarmupSteps: 100,
  /** The fine-tune's learning rate is this times the source run's. */
  learningRateFactor: 0.1,
};

/** Validated settings of a fine-tune. */
export interface FinetuneSettings {
  method: FinetuneMethod;
  epochs: number;
  alpha: number;
  rho: number;
  mapperWarmupSteps: number;
}

const SOURCE = 'finetune';

/**
 * Checks the method and numbers of a request. @throws ConfigError naming the field and range.
 */
export function validateFinetune(
  request: Pick<FinetuneOptions, 'method' | 'epochs' | 'alpha' | 'rho' | 'mapperWarmupSteps'> &
    Partial<Pick<FinetuneOptions, 'learningRate'>>,
): FinetuneSettings {
  if (!FINETUNE_METHODS.includes(request.method)) {
    throw new ConfigError(
      SOURCE,
      'method',
      `must be one of ${FINETUNE_METHODS.join(', ')}, got ${JSON.stringify(request.method)}`,
    );
  }
  const epochs = request.epochs ?? FINETUNE_DEFAULTS.epochs;
  if (!Number.isInteger(epochs) || epochs < 1 || epochs > 10_000) {
    throw new ConfigError(SOURCE, 'epochs', `must be an integer in [1, 10000], got ${epochs}`);
  }
  const alpha = request.alpha ?? FINETUNE_DEFAULTS.alpha;
  if (!Number.isFinite(alpha) || alpha < 0) {
    throw new ConfigError(SOURCE, 'alpha', `must be a number ≥ 0, got ${alpha}`);
  }
  const rho = request.rho ?? FINETUNE_DEFAULTS.rho;
  if (!Number.isFinite(rho) || rho < 0 || rho >= 0.5) {
    throw new ConfigError(SOURCE, 'rho', `must be in [0, 0.5), got ${rho}`);
  }
  const mapperWarmupSteps = request.mapperWarmupSteps ?? FINETUNE_DEFAULTS.mapperWarmupSteps;
  if (!Number.isInteger(mapperWarmupSteps) || mapperWarmupSteps < 0) {
    throw new ConfigError(
      SOURCE,
      'mapperWarmupSteps',
      `must be an integer ≥ 0, got ${mapperWarmupSteps}`,
    );
  }
  const lr = request.learningRate;
  if (lr !== undefined && !(Number.isFinite(lr) && lr > 0)) {
    throw new ConfigError(SOURCE, 'learningRate', `must be a number > 0, got ${lr}`);
  }
  return { method: request.method, epochs, alpha, rho, mapperWarmupSteps };
}

/** The source run's config (two folders up), or the preset's defaults when it is missing. */
export function sourceConfig(dir: string, preset: string): TrainConfig {
  const path = join(dir, '..', '..', 'config.json');
  if (existsSync(path)) return readConfigFile(path);
  return resolveConfig({ preset }, `${dir} (preset defaults)`);
}
