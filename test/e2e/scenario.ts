/**
 * The run both VS Code tests train: the code-server end-to-end test (vscode.e2e.ts, through the
 * UI) and the desktop `@vscode/test-electron` suite (test/integration, through the API).
 */

/** Binary layers of the mnist-cnn preset, in model order. */
export const BINARY_LAYERS = ['bconv2', 'bconv3', 'bdense4'];
/** Their weight counts (3×3×32×64, 3×3×64×64, 576×128). */
export const BINARY_PARAMS = [18432, 36864, 73728];
/** A small mnist-cnn run: 8 steps of batch 64. */
export const RUN_CONFIG = {
  preset: 'mnist-cnn',
  epochs: 1,
  limit: 512,
  testLimit: 500,
  telemetryEverySteps: 2,
};
