/**
 * The HDF5 channel: the Keras readers (keras.ts) ↔ the h5 worker (h5Worker.ts), on the
 * convention of core/protocol/channel.ts. Every request carries an id; the worker answers it
 * exactly once, with its answer kind or `h5Failed`.
 */
import { hasId, messageGuard } from '../protocol/channel';
import type { CheckpointTensor } from './model';

/** Main thread → h5 worker. */
export type ToH5 =
  /** Open a file and list its tensors. */
  | {
      kind: 'open';
      id: number;
      path: string;
      displayName: string;
      layout: 'keras2' | 'keras3';
      configText?: string;
    }
  /** Decode one tensor of an opened file. */
  | { kind: 'data'; id: number; handle: number; index: number }
  | { kind: 'close'; id: number; handle: number };

/** A tensor as listed by the worker (CheckpointTensor without `data`). */
export type H5TensorInfo = Pick<CheckpointTensor, 'name' | 'shape' | 'dtype' | 'hint'>;

/** H5 worker → main thread: one answer per request. */
export type FromH5 =
  | {
      kind: 'opened';
      id: number;
      handle: number;
      tensors: H5TensorInfo[];
      binarySource?: string;
      note?: string;
    }
  | { kind: 'tensorData'; id: number; values: Float32Array }
  | { kind: 'closed'; id: number }
  | {
      kind: 'h5Failed';
      id: number;
      /** Set for FileFormatErrors, rethrown as one naming the same file. */
      fileError?: { file: string; detail: string };
      /** Set for UserErrors (e.g. h5wasm missing), rethrown as UserError. */
      userError?: boolean;
      message: string;
    };

/** Runtime check of a message received by the h5 worker. */
export const isToH5 = messageGuard<ToH5>({ open: hasId, data: hasId, close: hasId });

/** Runtime check of a message received from the h5 worker. */
export const isFromH5 = messageGuard<FromH5>({
  opened: hasId,
  tensorData: hasId,
  closed: hasId,
  h5Failed: hasId,
});
