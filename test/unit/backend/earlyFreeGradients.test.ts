/**
 * The backward pass that frees gradients and saved tensors as it goes
 * (core/backend/earlyFreeGradients.ts): the same gradients as tfjs' own, bit for bit, a lower
 * peak, no leaked tensor, and nothing freed that a caller or a later node still reads.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import * as tf from '../../../core/tf';
import {
  earlyFreeGradientsInstalled,
  installEarlyFreeGradients,
  uninstallEarlyFreeGradients,
} from '../../../core/backend/earlyFreeGradients';
import { getPreset } from '../../../core/bnn/presets';
import { applyForTraining } from '../../../core/bnn/trainingForward';

afterEach(() => uninstallEarlyFreeGradients());

/** Loss, every weight's gradient and the step's peak bytes, with or without early freeing. */
async function trainingStep(name: string, early: boolean) {
  await tf.setBackend('cpu');
  if (early) installEarlyFreeGradients();
  else uninstallEarlyFreeGradients();
  assert.equal(earlyFreeGradientsInstalled(), early);
  const preset = getPreset(name);
  const model = preset.build(2);
  const x = tf.randomUniform([6, ...preset.inputShape], 0, 1, 'float32', 8);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5], 'int32'), preset.classes);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const before = tf.memory().numTensors;
  let loss = 0;
  let grads: Float32Array[] = [];
  const info = await tf.profile(() => {
    const result = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(y, applyForTraining(model, x) as tf.Tensor) as tf.Scalar,
      variables,
    );
    loss = result.value.dataSync()[0];
    grads = variables.map((v) => result.grads[v.name].dataSync() as Float32Array);
    tf.dispose([result.value, ...Object.values(result.grads)]);
  });
  const leaked = tf.memory().numTensors - before;
  tf.dispose([x, y]);
  model.dispose();
  return { loss, grads, peak: info.peakBytes, leaked };
}

for (const name of ['mnist-resnete', 'fmnist-bdn', 'fmnist-resnete-bonn']) {
  test(`${name}: the same gradients as tfjs' backward pass with a lower peak`, async () => {
    const stock = await trainingStep(name, false);
    const early = await trainingStep(name, true);
    assert.equal(early.loss, stock.loss);
    assert.equal(early.grads.length, stock.grads.length);
    early.grads.forEach((g, i) => assert.deepEqual(g, stock.grads[i], `weight ${i}`));
    assert.equal(stock.leaked, 0);
    assert.equal(early.leaked, 0, 'no tensor left behind');
    assert.ok(
      early.peak < 0.8 * stock.peak,
      `peak ${early.peak} B with early freeing, ${stock.peak} B without`,
    );
  });
}

test("a caller's dy and gradients passed through unchanged are not freed", async () => {
  await tf.setBackend('cpu');
  installEarlyFreeGradients();
  const x = tf.tensor1d([1, -2, 3]);
  const dy = tf.tensor1d([0.5, 0.25, 2]);
  // A custom gradient that hands its dy on as the input's gradient, object for object.
  const passThrough = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const input = args[0] as tf.Tensor;
    return { value: tf.mul(input, 2), gradFunc: (g: tf.Tensor) => [g] };
  });
  const g = tf.grad((v: tf.Tensor) => tf.add(passThrough(tf.exp(v)), 1))(x, dy);
  assert.equal(dy.isDisposed, false);
  assert.deepEqual(
    [...g.dataSync()].map((v) => Number(v.toFixed(4))),
    [0.5, 0.25, 2].map((d, i) => Number((d * Math.exp([1, -2, 3][i])).toFixed(4))),
  );
  tf.dispose([x, dy, g]);
});

test('second-order gradients still run through the tape', async () => {
  await tf.setBackend('cpu');
  installEarlyFreeGradients();
  const x = tf.tensor1d([0.5, -1, 2]);
  // d²/dx² of x³ is 6x.
  const second = tf.grad((v: tf.Tensor) =>
    tf.sum(tf.grad((u: tf.Tensor) => tf.sum(tf.pow(u, 3)))(v)),
  )(x);
  assert.deepEqual([...second.dataSync()], [3, -6, 12]);
  tf.dispose([x, second]);
});
