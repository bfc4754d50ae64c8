/**
 * TensorFlow.js as BNN Lab uses it: tensors and ops (`@tensorflow/tfjs-core`), the layers API
 * (`@tensorflow/tfjs-layers`, whose Node build also registers every op's gradient) and the pure-JS
 * cpu backend. The wasm backend is registered by `backend/backends.ts`. Everything in core imports
 * TensorFlow.js through this file rather than the `@tensorflow/tfjs` umbrella, which would add
 * WebGL, the graph-model converter and tf.data to every bundle (about half of each) for nothing.
 */
export * from '@tensorflow/tfjs-core';
export * from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
