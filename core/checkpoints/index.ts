/** Checkpoint readers and the inspector (see docs/inspect.md). */
export type {
  BinaryHint,
  CheckpointFormat,
  CheckpointModel,
  CheckpointTensor,
  TensorDtype,
} from './model';
export { openCheckpoint, CHECKPOINT_EXTENSIONS } from './open';
export {
  DEFAULT_BINARY_PATTERNS,
  checkpointSeries,
  classifyTensor,
  compareCheckpoints,
  findCheckpoints,
  inspectCheckpoint,
  isWeightTensor,
  type CompareReport,
  type InspectLayer,
  type InspectOptions,
  type InspectReport,
  type InspectStats,
  type InspectSummary,
  type SeriesReport,
} from './inspect';
