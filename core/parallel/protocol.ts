/** Messages between the data-parallel coordinator and its replica threads. */
import type { Dataset } from '../data/datasets';
import type { BackendPreference, TrainConfig } from '../protocol';
import type { SharedLayout } from './shared';

/** `workerData` of a replica. */
export interface ReplicaInit {
  config: TrainConfig;
  rank: number;
  world: number;
  buffer: SharedArrayBuffer;
  layout: SharedLayout;
  backend: BackendPreference;
  resumeFrom?: string;
  /** The training split in shared memory (no test split): replicas never read dataset files. */
  dataset: Dataset;
}

export type FromReplica =
  | { kind: 'ready'; rank: number }
  /** Rank 0's weights (`model.getWeights()` order), optimizer slots and BONN state. */
  | { kind: 'snapshot'; weights: Float32Array[]; state: { name: string; data: Float32Array }[] }
  | { kind: 'error'; rank: number; message: string; stack: string };
