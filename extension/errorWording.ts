/**
 * How the extension words core's structured errors: run-config fields by their JSON name in the
 * file (`my.bnn.json: "learningRate" …`), settings by their key (`bnnLab.metrics.deadTau`), never
 * CLI flags. Pure (no vscode import): the unit tests check the wording, and the engine worker
 * installs the same vocabulary for messages raised inside a run.
 */
import type { ConfigError, Vocabulary } from '../core/errors';

export const EXTENSION_VOCABULARY: Vocabulary = {
  learningRate: '"learningRate" in the run config',
  batchSize: '"batchSize" in the run config',
  mapperWarmupSteps: 'the mappers\u2019 warm-up ("mapperWarmupSteps" of the fine-tune settings)',
  runsFolder: 'the bnnLab.runs.folder setting',
  threads: 'the bnnLab.engine.threads setting',
  backend: 'the bnnLab.engine.backend setting',
  deadTau: 'the bnnLab.metrics.deadTau setting',
};

/**
 * The notification text of a ConfigError about a value that came from a setting:
 * `BNN Lab: setting bnnLab.metrics.deadTau must be a number in (0.5, 1), got 2; …`.
 * @param key the setting without `bnnLab.`.
 */
export function settingMessage(e: ConfigError, key: string): string {
  return `${e.wordedAs(`BNN Lab: setting bnnLab.${key}`)}; fix or remove it in the Settings editor`;
}
