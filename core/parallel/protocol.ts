/**
 * Messages between the data-parallel coordinator and its replica threads, on the convention of
 * core/protocol/channel.ts (the steps themselves go through shared memory, core/parallel/shared.ts).
 */
import type { Dataset } from '../data/datasets';
import { anyFields, messageGuard } from '../protocol/channel';
import type { BackendPreference, TrainConfig } from '../protocol/schema';
import type { LnsOptions } from '../training/methods/lns';
import type { SetupState } from '../training/stepSetup';
import type { ReplicaStepProfile } from './replicaProfile';
import type { SharedLayout } from './shared';

/** `workerData` of a replica. */
export interface ReplicaInit {
  config: TrainConfig;
  rank: number;
  world: number;
  buffer: SharedArrayBuffer;
  layout: SharedLayout;
  backend: BackendPreference;
  /** LNS fine-tuning: the replicas build the same mappers (`createStepSetup`). */
  lns?: LnsOptions;
  /**
   * The coordinator's state after a resume or a fine-tune's start: replicas start from it
   * instead of their seed.
   */
  initialState?: SetupState;
  /** The training split in shared memory (no test split): replicas never read dataset files. */
  dataset: Dataset;
  /** Time each step's phases and kernels and post them (`bench:train --replica-profile`). */
  profile?: boolean;
}

export type FromReplica =
  | { kind: 'ready'; rank: number }
  /**
   * Rank 0: its weights, optimizer slots and BONN/LNS state (`captureSetupState`); every other
   * rank: no weights, and the optimizer slots of the variables it updates.
   */
  | ({ kind: 'snapshot'; rank: number } & SetupState)
  | { kind: 'profile'; rank: number; profile: ReplicaStepProfile }
  | { kind: 'error'; rank: number; message: string; stack: string };

/** Runtime check of a message received from a replica. */
export const isFromReplica = messageGuard<FromReplica>({
  ready: anyFields,
  snapshot: anyFields,
  profile: anyFields,
  error: anyFields,
});
