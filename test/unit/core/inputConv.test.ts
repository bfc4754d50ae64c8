import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '../../../core/tf';
import { skipInputGradients } from '../../../core/bnn/inputConv';
import { getPreset } from '../../../core/bnn/presets';

/** One training-mode gradient of every trainable weight, and the kernels the step ran. */
async function trainingGradients(
  model: tf.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
): Promise<{ grads: Map<string, Float32Array>; kernels: string[] }> {
  const grads = new Map<string, Float32Array>();
  const weights = model.trainableWeights;
  const variables = weights.map((w) => w.read() as tf.Variable);
  const profile = await tf.profile(() => {
    const { grads: g } = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor),
      variables,
    );
    // Keyed by the layer weight's own name: the variables' names differ between two models.
    weights.forEach((w, i) =>
      grads.set(w.originalName, g[variables[i].name].dataSync() as Float32Array),
    );
    tf.dispose(Object.values(g));
  });
  return { grads, kernels: profile.kernels.map((k) => k.name) };
}

/** Undoes skipInputGradients on one layer: the patch is an own property over the class method. */
function restoreFusedCall(model: tf.LayersModel, name: string): void {
  delete (model.getLayer(name) as unknown as { call?: unknown }).call;
}

test('the convolution on the images skips its input gradient and trains the same', async () => {
  const preset = getPreset('mnist-cnn');
  const patched = preset.build(3);
  const stock = preset.build(3);
  restoreFusedCall(stock, 'conv1');
  assert.equal(JSON.stringify(patched.toJSON()), JSON.stringify(stock.toJSON()), 'same model.json');

  const x = tf.randomUniform([4, 28, 28, 1], 0, 1, 'float32', 5);
  const y = tf.oneHot(tf.tensor1d([1, 7, 3, 0], 'int32'), 10);
  const a = await trainingGradients(patched, x, y);
  const b = await trainingGradients(stock, x, y);
  const count = (names: string[]) => names.filter((n) => n === 'Conv2DBackpropInput').length;
  // bconv2 and bconv3 need their input gradients; conv1 (on the images) does not.
  assert.equal(count(a.kernels), 2, `patched step ran ${a.kernels.join(', ')}`);
  assert.equal(count(b.kernels), 3, 'the stock fused conv computes the images gradient');

  assert.deepEqual([...a.grads.keys()].sort(), [...b.grads.keys()].sort());
  for (const [name, ga] of a.grads) {
    const gb = b.grads.get(name)!;
    const scale = Math.max(...Array.from(gb, Math.abs), 1e-6);
    const diff = Math.max(...Array.from(ga, (v, i) => Math.abs(v - gb[i])));
    assert.ok(diff <= 1e-4 * scale, `${name}: gradients differ by ${diff} (scale ${scale})`);
  }
  // Inference is the layer's own fused call, bit for bit.
  const pa = patched.predict(x) as tf.Tensor;
  const pb = stock.predict(x) as tf.Tensor;
  assert.deepEqual(Array.from(pa.dataSync()), Array.from(pb.dataSync()));
  tf.dispose([x, y, pa, pb]);
  patched.dispose();
  stock.dispose();
});

test('only convolutions fed by the model input are changed', () => {
  const resnet = getPreset('mnist-resnete').build(1);
  const inner = resnet.layers.filter(
    (l) => l.getClassName() === 'Conv2D' && !Object.prototype.hasOwnProperty.call(l, 'call'),
  );
  const patched = resnet.layers.filter((l) => Object.prototype.hasOwnProperty.call(l, 'call'));
  assert.equal(patched.length, 1, `patched: ${patched.map((l) => l.name).join(', ')}`);
  assert.equal(patched[0].getClassName(), 'Conv2D');
  assert.ok(inner.length > 0, 'ResNetE has full-precision convolutions after the stem');
  // Applying it again to a model whose stem already skips changes the same layer only.
  assert.deepEqual(skipInputGradients(resnet), [patched[0].name]);
  resnet.dispose();
});
