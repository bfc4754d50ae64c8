import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '../../../core/tf';
import { BinaryDense } from '../../../core/bnn/layers';

/** A built BinaryDense with the kernel [[0.5, −2], [−0.25, 1]] (2 inputs, 2 units). */
function dense(args: Partial<ConstructorParameters<typeof BinaryDense>[0]>) {
  const layer = new BinaryDense({ units: 2, inputQuantizer: null, seed: 3, ...args });
  layer.apply(tf.input({ shape: [2] }));
  layer.latentKernel().write(
    tf.tensor2d([
      [0.5, -2],
      [-0.25, 1],
    ]),
  );
  return layer;
}

async function forward(layer: BinaryDense, x: number[][]): Promise<number[]> {
  const y = layer.apply(tf.tensor2d(x)) as tf.Tensor;
  const out = [...(await y.data())];
  y.dispose();
  return out;
}

const close = (a: number[], b: number[]) =>
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-6, `[${i}] ${v} vs ${b[i]}`));

test('scaling none: x · sgn(W)', async () => {
  await tf.setBackend('cpu');
  // sgn(W) = [[1, −1], [−1, 1]]; x = [1, 2] → [1 − 2, −1 + 2].
  close(await forward(dense({}), [[1, 2]]), [-1, 1]);
});

test('scaling channel_mean (XNOR): times mean|W| of each output channel', async () => {
  await tf.setBackend('cpu');
  // α = [(0.5 + 0.25)/2, (2 + 1)/2] = [0.375, 1.5].
  close(await forward(dense({ scaling: 'channel_mean' }), [[1, 2]]), [-0.375, 1.5]);
});

test('scaling learnable: a trained α per channel, initialised U(0, 1), seeded', async () => {
  await tf.setBackend('cpu');
  const layer = dense({ scaling: 'learnable' });
  const scale = layer.getWeights()[1];
  assert.deepEqual(scale.shape, [2]);
  const alpha = [...(await scale.data())];
  assert.ok(alpha.every((a) => a >= 0 && a < 1));
  close(await forward(layer, [[1, 2]]), [-alpha[0], alpha[1]]);
  const again = [...(await dense({ scaling: 'learnable' }).getWeights()[1].data())];
  assert.deepEqual(again, alpha);
  // The gradient reaches α: d/dα Σ y = x·sgn(W) per channel = [−1, 1].
  const scaleVariable = layer.trainableWeights.find((v) => v.originalName.endsWith('scale'));
  assert.ok(scaleVariable);
  const { grads } = tf.variableGrads(
    () => tf.sum(layer.apply(tf.tensor2d([[1, 2]])) as tf.Tensor) as tf.Scalar,
    [scaleVariable.read() as tf.Variable],
  );
  close([...(await Object.values(grads)[0].data())], [-1, 1]);
});

test('BONN modulation divides the output by mean(w); ReCU and scaling survive serialization', async () => {
  await tf.setBackend('cpu');
  const layer = dense({ bonnModulation: true, recu: true });
  const w = layer.modulationVector();
  assert.ok(w);
  w.write(tf.tensor1d([4]));
  // ReCU standardizes the kernel before sgn; the signs of this kernel's columns are unchanged
  // (column 0: mean 0.125 → [+, −]; column 1: mean −0.5 → [−, +]).
  close(await forward(layer, [[1, 2]]), [-1 / 4, 1 / 4]);
  const config = layer.getConfig();
  assert.equal(config.recu, true);
  assert.equal(config.bonnModulation, true);
  assert.equal(config.scaling, 'none');
  const copy = BinaryDense.fromConfig(BinaryDense, config) as BinaryDense;
  assert.equal(copy.recu, true);
  assert.equal(copy.bonnModulation, true);
});
