// Its own file, so its own process: the wasm backend must not be initialized before the test.
import assert from 'node:assert/strict';
import path from 'node:path';
import { it } from 'node:test';
import * as tf from '../../../core/tf';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../../../core/backend/wasmKernels';

// node:test schedules and reports tests itself; the promise it returns only mirrors that.
void it('registering before the wasm backend initializes keeps the stock fallbacks working', async () => {
  registerWasmTrainingKernels();
  const wasmPackage = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  setWasmPaths(path.join(path.dirname(wasmPackage), 'dist') + path.sep);
  assert.equal(await tf.setBackend('wasm'), true);
  // int32 sums go to the stock kernel, whose setup binds its wasm function.
  const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3], 'int32');
  assert.deepEqual(Array.from(tf.sum(x, 0).dataSync()), [5, 7, 9]);
  assert.deepEqual(Array.from(tf.sum(x, 1).dataSync()), [6, 15]);
  assert.deepEqual(Array.from(tf.mean(x, 0).dataSync()), [2.5, 3.5, 4.5]);
  const dw = tf.grad((w: tf.Tensor) =>
    tf.conv2d(tf.ones([1, 3, 3, 1]) as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid'),
  )(tf.ones([2, 2, 1, 1]));
  assert.deepEqual(Array.from(dw.dataSync()), [4, 4, 4, 4]);
});
