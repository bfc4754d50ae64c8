/**
 * Training-mode convolution for the layers that read the model's input (the images).
 *
 * tfjs-layers' `Conv2D` always runs `tf.fused.conv2d` (even with a linear activation), and the
 * fused op's gradient computes the gradient of its input eagerly, together with the filter's and
 * the bias'. For a convolution applied to the images that gradient is never used, and it is not
 * cheap: on the wasm backend it is ~8 ms of the ~95 ms mnist-cnn training step (a 26×26×32 → 28×28×1
 * backward convolution per image). `tf.conv2d` + bias + activation give tfjs' tape lazy
 * gradients instead, which it evaluates only for inputs that lead back to a trained variable.
 *
 * Only the training-mode `call` of the instance is replaced: the class name, config, weights and
 * checkpoints stay those of a stock `Conv2D`, and inference keeps the fused op. The result is the
 * same convolution plus the same bias; the sum is rounded once more than in the fused kernel.
 */
import * as tf from '../tf';

/** The parts of tfjs-layers' Conv2D this reads (public at run time, protected in the typings). */
interface Conv2DInternals {
  call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[];
  kernel: tf.LayerVariable;
  bias: tf.LayerVariable | null;
  activation: { apply(x: tf.Tensor): tf.Tensor };
  strides: number[];
  padding: 'valid' | 'same' | 'causal';
  dataFormat: string;
  dilationRate: number | number[];
}

/** Does `layer` take its only input straight from one of the model's inputs? */
function readsModelInput(layer: tf.layers.Layer): boolean {
  const nodes = layer.inboundNodes;
  return (
    nodes.length > 0 &&
    nodes.every(
      (node) =>
        node.inboundLayers.length === 1 && node.inboundLayers[0].getClassName() === 'InputLayer',
    )
  );
}

/**
 * Makes every stock `Conv2D` of `model` that reads the model's input skip its input gradient in
 * training (see the file comment). Returns the names of the layers it changed.
 */
export function skipInputGradients(model: tf.LayersModel): string[] {
  const changed: string[] = [];
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'Conv2D' || !readsModelInput(layer)) continue;
    const conv = layer as unknown as Conv2DInternals;
    if (conv.dataFormat !== 'channelsLast' || conv.padding === 'causal') continue;
    const own = conv.call.bind(conv);
    conv.call = (inputs, kwargs) => {
      if (!kwargs['training']) return own(inputs, kwargs);
      return tf.tidy(() => {
        const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
        let y: tf.Tensor = tf.conv2d(
          x,
          conv.kernel.read() as tf.Tensor4D,
          conv.strides as [number, number],
          conv.padding as 'valid' | 'same',
          'NHWC',
          conv.dilationRate as number | [number, number],
        );
        if (conv.bias) y = tf.add(y, conv.bias.read());
        return conv.activation.apply(y);
      });
    };
    changed.push(layer.name);
  }
  return changed;
}
