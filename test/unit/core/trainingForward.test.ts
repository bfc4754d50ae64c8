/**
 * The training forward pass that frees layer outputs early (core/bnn/trainingForward.ts): the
 * same loss and gradients as `model.apply(x, {training: true})`, bit for bit, a lower peak in a
 * training step (with the engine's backward pass, which frees as it goes), and no tensor leaked
 * or freed too early.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '../../../core/tf';
import { getPreset } from '../../../core/bnn/presets';
import {
  installEarlyFreeGradients,
  uninstallEarlyFreeGradients,
} from '../../../core/backend/earlyFreeGradients';
import { applyForTraining } from '../../../core/bnn/trainingForward';

interface Step {
  loss: number;
  /** Every trainable weight's gradient, in `trainableWeights` order. */
  grads: Float32Array[];
  /** Peak bytes of live tensors during the step above those before it (tf.profile). */
  peak: number;
}

/** One gradient step with the engine's backward pass, which frees what it no longer needs. */
async function step(
  model: tf.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
  forward: (m: tf.LayersModel, x: tf.Tensor) => tf.Tensor,
): Promise<Step> {
  installEarlyFreeGradients();
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  let loss = 0;
  let grads: Float32Array[] = [];
  const resident = tf.memory().numBytes;
  const info = await tf.profile(() => {
    const result = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(y, forward(model, x)) as tf.Scalar,
      variables,
    );
    loss = result.value.dataSync()[0];
    grads = variables.map((v) => result.grads[v.name].dataSync() as Float32Array);
    tf.dispose([result.value, ...Object.values(result.grads)]);
  });
  uninstallEarlyFreeGradients();
  return { loss, grads, peak: info.peakBytes - resident };
}

const stock = (m: tf.LayersModel, x: tf.Tensor) => m.apply(x, { training: true }) as tf.Tensor;
const early = (m: tf.LayersModel, x: tf.Tensor) => applyForTraining(m, x) as tf.Tensor;

for (const name of ['mnist-resnete', 'fmnist-bdn', 'fmnist-resnete-recu']) {
  test(`${name}: same loss and gradients as model.apply, with a lower peak`, async () => {
    await tf.setBackend('cpu');
    const preset = getPreset(name);
    // Two identical models: batch norm's moving statistics change with every training call.
    const a = preset.build(4);
    const b = preset.build(4);
    const x = tf.randomUniform([6, ...preset.inputShape], 0, 1, 'float32', 3);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5], 'int32'), preset.classes);
    const tensorsBefore = tf.memory().numTensors;
    const viaApply = await step(a, x, y, stock);
    const afterApply = tf.memory().numTensors;
    const viaEarly = await step(b, x, y, early);
    assert.equal(tf.memory().numTensors, afterApply, 'no tensor left behind');
    assert.ok(afterApply >= tensorsBefore);
    assert.equal(viaEarly.loss, viaApply.loss);
    assert.equal(viaEarly.grads.length, viaApply.grads.length);
    a.trainableWeights.forEach((w, i) =>
      assert.deepEqual(viaEarly.grads[i], viaApply.grads[i], w.originalName),
    );
    // On the cpu backend tfjs' batch norm saves several tensors of its own, so the gain is
    // smaller here than on wasm with the fused batch norm (memoryFit.test.ts measures that).
    assert.ok(
      viaEarly.peak < viaApply.peak,
      `step peak ${viaEarly.peak} B, with model.apply ${viaApply.peak} B`,
    );
    tf.dispose([x, y]);
    a.dispose();
    b.dispose();
  });
}

test('a layer that returns its input, and an output read twice, stay alive while needed', async () => {
  await tf.setBackend('cpu');
  const build = () => {
    const input = tf.input({ shape: [5] });
    const hidden = tf.layers
      .dense({ units: 4, kernelInitializer: 'ones', name: 'hidden' })
      .apply(input) as tf.SymbolicTensor;
    const same = tf.layers.activation({ activation: 'linear' }).apply(hidden) as tf.SymbolicTensor;
    const twice = tf.layers.add().apply([same, hidden]) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 3, kernelInitializer: 'ones' }).apply(twice);
    return tf.model({ inputs: input, outputs: out as tf.SymbolicTensor });
  };
  const x = tf.tensor2d([[1, 2, 3, 4, 5]]);
  const y = tf.tensor2d([[0, 1, 0]]);
  const viaApply = await step(build(), x, y, stock);
  const viaEarly = await step(build(), x, y, early);
  assert.equal(viaEarly.loss, viaApply.loss);
  assert.deepEqual(viaEarly.grads, viaApply.grads);
  assert.equal(x.isDisposed, false, "the caller's input is never freed");
  tf.dispose([x, y]);
});
