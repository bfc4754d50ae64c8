/**
 * Copying a tensor's values into an array the caller owns (a data-parallel replica's slot of
 * shared memory). `dataSync()` copies the values out of the wasm heap into a new array, which the
 * caller then copies again; on wasm this reads the heap in place, so the values are copied once:
 * 45 MB less per step and copy for an 11 M-parameter model.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '../tf';

/** Writes `t`'s float32 values into `target` from `offset` on. */
export function copyValuesInto(t: tf.Tensor, target: Float32Array, offset = 0): void {
  if (t.dtype === 'float32' && tf.getBackend() === 'wasm') {
    const backend = tf.backend() as unknown as BackendWasm;
    target.set(backend.typedArrayFromHeap(t) as Float32Array, offset);
  } else {
    target.set(t.dataSync() as Float32Array, offset);
  }
}
