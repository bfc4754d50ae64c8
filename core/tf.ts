/**
 * TensorFlow.js as BNN Lab uses it: tensors and ops (`@tensorflow/tfjs-core`), the layers API
 * (`@tensorflow/tfjs-layers`, whose Node build also registers every op's gradient) and the pure-JS
 * cpu backend. The wasm backend is registered by `backend/backends.ts`. Everything in core imports
 * TensorFlow.js through this file rather than the `@tensorflow/tfjs` umbrella, which would add
 * WebGL, the graph-model converter and tf.data to every bundle (about half of each) for nothing.
 * Chained ops (`x.sum()`) are not registered here: core calls ops as functions (`tf.sum(x)`).
 */
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { findBackendFactory, registerBackend } from '@tensorflow/tfjs-core';

export * from '@tensorflow/tfjs-core';
export * from '@tensorflow/tfjs-layers';

// Loading the cpu backend's package registers it, but the package declares itself free of side
// effects, so a bundler drops a bare `import`: register it here when that happened.
if (findBackendFactory('cpu') === null) registerBackend('cpu', () => new MathBackendCPU(), 1);
