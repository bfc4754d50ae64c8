/**
 * The training loop: runs one BNN training run end to end (dataset, model, optimizer, telemetry,
 * checkpoints) and reports through `RunHooks`. Used by the engine worker and the CLI.
 */
import type { RunHooks, RunRequest, RunResult } from './api';

/** Trains `request.config` into `request.runDir`; never throws for a user cancel. */
export async function runTraining(_request: RunRequest, _hooks: RunHooks): Promise<RunResult> {
  throw new Error('runTraining: work in progress (#2)');
}
