/**
 * Copying a tensor's values into an array the caller owns (a data-parallel replica's slot of
 * shared memory). `dataSync()` copies the values out of the wasm heap into a new array, which the
 * caller then copies again; on wasm this reads the heap in place, so the values are copied once:
 * 45 MB less per step and copy for an 11 M-parameter model.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '../tf';

/**
 * Writes `t`'s float32 values into `target` from `offset` on; with `from`/`to`, only the values
 * `from..to` of `t` (flat order), to `target[offset + from]` on.
 */
export function copyValuesInto(
  t: tf.Tensor,
  target: Float32Array,
  offset = 0,
  from = 0,
  to = t.size,
): void {
  if (to <= from) return;
  const values =
    t.dtype === 'float32' && tf.getBackend() === 'wasm'
      ? ((tf.backend() as unknown as BackendWasm).typedArrayFromHeap(t) as Float32Array)
      : (t.dataSync() as Float32Array);
  target.set(from === 0 && to === t.size ? values : values.subarray(from, to), offset + from);
}
