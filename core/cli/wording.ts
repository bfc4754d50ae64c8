/**
 * How the command line names the fields core's messages mention: by the flag that sets them
 * (`lower --lr`, `choose another --out`). Installed by `main` before a command runs.
 */
import type { Vocabulary } from '../errors';

export const CLI_VOCABULARY: Vocabulary = {
  learningRate: '--lr',
  batchSize: '--batch-size, or "batchSize" in the --config file',
  mapperWarmupSteps: '--warmup-steps',
  runsFolder: '--out',
  threads: '--threads',
  backend: '--backend',
  deadTau: '--tau',
};
