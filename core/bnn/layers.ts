/**
 * Binary layers for tfjs-layers: latent float weights, binarized in every forward pass.
 * Registered with `tf.serialization`, so checkpoints load back with `tf.loadLayersModel`.
 */
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_QUANTIZER, quantize, type QuantizerConfig } from './quantizers';

type Shape = (number | null)[];

interface BinaryLayerArgs {
  name?: string;
  /** Quantizer of the layer's input (activations); null keeps inputs real-valued. */
  inputQuantizer?: QuantizerConfig | null;
  /** Quantizer of the latent kernel. */
  kernelQuantizer?: QuantizerConfig;
  /** Seed of the Glorot-uniform kernel initializer. */
  seed?: number;
  inputShape?: number[];
}

export interface BinaryConv2DArgs extends BinaryLayerArgs {
  filters: number;
  kernelSize: number;
  strides?: number;
  padding?: 'same' | 'valid';
}

function outLength(size: number | null, kernel: number, stride: number, padding: string) {
  if (size === null) return null;
  return padding === 'same' ? Math.ceil(size / stride) : Math.ceil((size - kernel + 1) / stride);
}

/** Every binary layer exposes its latent kernel and quantizers to the trainer and telemetry. */
export interface BinaryLayer {
  readonly kernelQuantizer: QuantizerConfig;
  readonly inputQuantizer: QuantizerConfig | null;
  /** The latent kernel variable (`[kh, kw, cin, cout]` or `[in, out]`). */
  latentKernel(): tf.LayerVariable;
}

/** True for BinaryConv2D and BinaryDense. */
export function isBinaryLayer(layer: unknown): layer is tf.layers.Layer & BinaryLayer {
  return layer instanceof BinaryConv2D || layer instanceof BinaryDense;
}

/** 2-D convolution with `sgn` kernel and (optionally) `sgn` input, no bias (BN follows). */
export class BinaryConv2D extends tf.layers.Layer implements BinaryLayer {
  static readonly className = 'BinaryConv2D';
  readonly filters: number;
  readonly kernelSize: number;
  readonly strides: number;
  readonly padding: 'same' | 'valid';
  readonly inputQuantizer: QuantizerConfig | null;
  readonly kernelQuantizer: QuantizerConfig;
  private readonly seed: number | undefined;
  private kernel: tf.LayerVariable | undefined;

  constructor(args: BinaryConv2DArgs) {
    super(args);
    this.filters = args.filters;
    this.kernelSize = args.kernelSize;
    this.strides = args.strides ?? 1;
    this.padding = args.padding ?? 'same';
    this.inputQuantizer =
      args.inputQuantizer === undefined ? DEFAULT_QUANTIZER : args.inputQuantizer;
    this.kernelQuantizer = args.kernelQuantizer ?? DEFAULT_QUANTIZER;
    this.seed = args.seed;
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const cin = shape[shape.length - 1];
    if (cin === null) throw new Error(`${this.name}: the input channel count must be known`);
    this.kernel = this.addWeight(
      'kernel',
      [this.kernelSize, this.kernelSize, cin, this.filters],
      'float32',
      tf.initializers.glorotUniform({ seed: this.seed }),
    );
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const k = this.kernelSize;
    return [
      s[0],
      outLength(s[1], k, this.strides, this.padding),
      outLength(s[2], k, this.strides, this.padding),
      this.filters,
    ];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const a = this.inputQuantizer ? quantize(x, this.inputQuantizer) : x;
      const w = quantize(this.latentKernel().read(), this.kernelQuantizer);
      return tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, this.strides, this.padding);
    });
  }

  latentKernel(): tf.LayerVariable {
    if (!this.kernel) throw new Error(`${this.name}: layer is not built`);
    return this.kernel;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      padding: this.padding,
      inputQuantizer: this.inputQuantizer as unknown as tf.serialization.ConfigDict | null,
      kernelQuantizer: this.kernelQuantizer as unknown as tf.serialization.ConfigDict,
    };
  }
}

export interface BinaryDenseArgs extends BinaryLayerArgs {
  units: number;
}

/** Fully connected layer with `sgn` kernel and (optionally) `sgn` input, no bias. */
export class BinaryDense extends tf.layers.Layer implements BinaryLayer {
  static readonly className = 'BinaryDense';
  readonly units: number;
  readonly inputQuantizer: QuantizerConfig | null;
  readonly kernelQuantizer: QuantizerConfig;
  private readonly seed: number | undefined;
  private kernel: tf.LayerVariable | undefined;

  constructor(args: BinaryDenseArgs) {
    super(args);
    this.units = args.units;
    this.inputQuantizer =
      args.inputQuantizer === undefined ? DEFAULT_QUANTIZER : args.inputQuantizer;
    this.kernelQuantizer = args.kernelQuantizer ?? DEFAULT_QUANTIZER;
    this.seed = args.seed;
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const inputs = shape[shape.length - 1];
    if (inputs === null) throw new Error(`${this.name}: the input size must be known`);
    this.kernel = this.addWeight(
      'kernel',
      [inputs, this.units],
      'float32',
      tf.initializers.glorotUniform({ seed: this.seed }),
    );
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [s[0], this.units];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const a = this.inputQuantizer ? quantize(x, this.inputQuantizer) : x;
      const w = quantize(this.latentKernel().read(), this.kernelQuantizer);
      return tf.matMul(a as tf.Tensor2D, w as tf.Tensor2D);
    });
  }

  latentKernel(): tf.LayerVariable {
    if (!this.kernel) throw new Error(`${this.name}: layer is not built`);
    return this.kernel;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      units: this.units,
      inputQuantizer: this.inputQuantizer as unknown as tf.serialization.ConfigDict | null,
      kernelQuantizer: this.kernelQuantizer as unknown as tf.serialization.ConfigDict,
    };
  }
}

tf.serialization.registerClass(BinaryConv2D);
tf.serialization.registerClass(BinaryDense);
