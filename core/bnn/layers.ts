/**
 * Binary layers for tfjs-layers: latent float weights, binarized in every forward pass.
 * Registered with `tf.serialization`, so checkpoints load back with `tf.loadLayersModel`.
 */
import * as tf from '../tf';
import {
  DEFAULT_QUANTIZER,
  normalizeQuantizer,
  quantize,
  snakeCase,
  type QuantizerConfig,
} from './quantizers';
import { recuActivations, recuWeights } from './recu';
import { isPlainSign, signInputConv2d } from './signConv';

/**
 * Scaling of a binary layer's output, per output channel:
 * - `none`: plain `sgn(A) ⊛ sgn(W)` (Back to Simplicity: BN after the conv learns the scale);
 * - `channel_mean`: times `α_c = mean|W_c|` of the latent weights (XNOR-Net; the gradient flows
 *   through α as well);
 * - `learnable`: times a trained `α ∈ R^{Cout}` initialised U(0, 1) (the ReCU code's `torch.rand`).
 */
export type WeightScaling = 'none' | 'channel_mean' | 'learnable';
export const WEIGHT_SCALINGS: readonly WeightScaling[] = ['none', 'channel_mean', 'learnable'];

type Shape = (number | null)[];

interface BinaryLayerArgs {
  name?: string;
  /** Quantizer of the layer's input (activations); null keeps inputs real-valued. */
  inputQuantizer?: QuantizerConfig | null;
  /** Quantizer of the latent kernel. */
  kernelQuantizer?: QuantizerConfig;
  /** Seed of the Glorot-uniform kernel initializer (and of the learnable scale). */
  seed?: number;
  inputShape?: number[];
  /** Output scaling per channel; `none` by default. */
  scaling?: WeightScaling;
  /**
   * ReCU (bnn-methods.md §3): standardize each filter, clamp to ±Q(τ) before `sgn`, and in
   * training divide each sample's input by its standard deviation. τ is set by the trainer.
   */
  recu?: boolean;
  /**
   * BONN (§2.3): a learned modulation vector `w` (one entry per kernel position); the output is
   * divided by `mean(w)`. Its kernel loss lives in core/training/methods/bonn.ts.
   */
  bonnModulation?: boolean;
}

/** Shared state and forward pass of BinaryConv2D and BinaryDense. */
abstract class BinaryBase extends tf.layers.Layer {
  readonly inputQuantizer: QuantizerConfig | null;
  readonly kernelQuantizer: QuantizerConfig;
  readonly scaling: WeightScaling;
  readonly recu: boolean;
  readonly bonnModulation: boolean;
  protected readonly seed: number | undefined;
  protected kernel: tf.LayerVariable | undefined;
  protected scale: tf.LayerVariable | undefined;
  protected modulation: tf.LayerVariable | undefined;
  /** ReCU's τ for the current epoch, set by the trainer (`setTau`). */
  tau = 0.99;

  constructor(args: BinaryLayerArgs) {
    super(args);
    this.inputQuantizer =
      args.inputQuantizer === undefined
        ? DEFAULT_QUANTIZER
        : args.inputQuantizer && normalizeQuantizer(args.inputQuantizer);
    this.kernelQuantizer = args.kernelQuantizer
      ? normalizeQuantizer(args.kernelQuantizer)
      : DEFAULT_QUANTIZER;
    this.seed = args.seed;
    this.scaling = (args.scaling ? snakeCase(args.scaling) : 'none') as WeightScaling;
    this.recu = args.recu ?? false;
    this.bonnModulation = args.bonnModulation ?? false;
  }

  /** Adds the kernel and the optional scale / modulation weights. */
  protected buildWeights(kernelShape: number[]): void {
    this.kernel = this.addWeight(
      'kernel',
      kernelShape,
      'float32',
      tf.initializers.glorotUniform({ seed: this.seed }),
    );
    const cout = kernelShape[kernelShape.length - 1];
    if (this.scaling === 'learnable') {
      this.scale = this.addWeight(
        'scale',
        [cout],
        'float32',
        tf.initializers.randomUniform({ minval: 0, maxval: 1, seed: this.seed }),
      );
    }
    if (this.bonnModulation) {
      // w ∘ k ≈ sgn(k) wants w ≈ 1/|k|: start at 1/mean|k| of the Glorot-uniform law, 2/limit.
      const receptive = kernelShape.slice(0, -2).reduce((a, b) => a * b, 1);
      const cin = kernelShape[kernelShape.length - 2];
      const limit = Math.sqrt(6 / (receptive * (cin + cout)));
      this.modulation = this.addWeight(
        'modulation',
        [receptive],
        'float32',
        tf.initializers.constant({ value: 2 / limit }),
      );
    }
    this.built = true;
  }

  latentKernel(): tf.LayerVariable {
    if (!this.kernel) throw new Error(`${this.name}: layer is not built`);
    return this.kernel;
  }

  /** The BONN modulation vector, or null when the layer has none. */
  modulationVector(): tf.LayerVariable | null {
    return this.modulation ?? null;
  }

  /** Sets ReCU's τ in (0.5, 1) for the following forward passes. */
  setTau(tau: number): void {
    this.tau = tau;
  }

  /** The weights the forward pass uses: `sgn` of the (ReCU-clamped) latent kernel. */
  binaryKernel(): tf.Tensor {
    const latentWeights = this.latentKernel().read();
    const w = this.recu ? recuWeights(latentWeights, this.tau) : latentWeights;
    return quantize(w, this.kernelQuantizer);
  }

  /** Input after the optional ReCU normalization and the input quantizer. */
  protected quantizedInput(x: tf.Tensor, training: boolean): tf.Tensor {
    const a = this.recu && training ? recuActivations(x) : x;
    return this.inputQuantizer ? quantize(a, this.inputQuantizer) : a;
  }

  /** Applies the output scaling and BONN's `1 / mean(w)`. */
  protected scaleOutput(y: tf.Tensor): tf.Tensor {
    let out = y;
    if (this.scaling === 'channel_mean') {
      const k = this.latentKernel().read();
      out = tf.mul(out, tf.mean(tf.abs(k), [...Array(k.rank - 1).keys()]));
    } else if (this.scaling === 'learnable' && this.scale) {
      out = tf.mul(out, this.scale.read());
    }
    if (this.modulation) out = tf.div(out, tf.mean(this.modulation.read()));
    return out;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      inputQuantizer: this.inputQuantizer as unknown as tf.serialization.ConfigDict | null,
      kernelQuantizer: this.kernelQuantizer as unknown as tf.serialization.ConfigDict,
      scaling: this.scaling,
      recu: this.recu,
      bonnModulation: this.bonnModulation,
    };
  }
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
  readonly scaling: WeightScaling;
  readonly recu: boolean;
  tau: number;
  /** The latent kernel variable (`[kh, kw, cin, cout]` or `[in, out]`). */
  latentKernel(): tf.LayerVariable;
  modulationVector(): tf.LayerVariable | null;
  setTau(tau: number): void;
}

/** True for BinaryConv2D and BinaryDense. */
export function isBinaryLayer(layer: unknown): layer is tf.layers.Layer & BinaryLayer {
  return layer instanceof BinaryConv2D || layer instanceof BinaryDense;
}

/** 2-D convolution with `sgn` kernel and (optionally) `sgn` input, no bias (BN follows). */
export class BinaryConv2D extends BinaryBase implements BinaryLayer {
  static readonly className = 'BinaryConv2D';
  readonly filters: number;
  readonly kernelSize: number;
  readonly strides: number;
  readonly padding: 'same' | 'valid';

  constructor(args: BinaryConv2DArgs) {
    super(args);
    this.filters = args.filters;
    this.kernelSize = args.kernelSize;
    this.strides = args.strides ?? 1;
    this.padding = args.padding ?? 'same';
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const cin = shape[shape.length - 1];
    if (cin === null) throw new Error(`${this.name}: the input channel count must be known`);
    this.buildWeights([this.kernelSize, this.kernelSize, cin, this.filters]);
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

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: tf.serialization.ConfigDict): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const training = kwargs?.training === true;
      const w = this.binaryKernel() as tf.Tensor4D;
      const q = this.inputQuantizer;
      let y: tf.Tensor;
      if (training && q && isPlainSign(q)) {
        // One op that saves x, not x and its signs, for the backward pass (signConv.ts).
        const a = (this.recu ? recuActivations(x) : x) as tf.Tensor4D;
        y = signInputConv2d(a, w, q, this.strides, this.padding);
      } else {
        const a = this.quantizedInput(x, training);
        y = tf.conv2d(a as tf.Tensor4D, w, this.strides, this.padding);
      }
      return this.scaleOutput(y);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      padding: this.padding,
    };
  }
}

export interface BinaryDenseArgs extends BinaryLayerArgs {
  units: number;
}

/** Fully connected layer with `sgn` kernel and (optionally) `sgn` input, no bias. */
export class BinaryDense extends BinaryBase implements BinaryLayer {
  static readonly className = 'BinaryDense';
  readonly units: number;

  constructor(args: BinaryDenseArgs) {
    super(args);
    this.units = args.units;
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const inputs = shape[shape.length - 1];
    if (inputs === null) throw new Error(`${this.name}: the input size must be known`);
    this.buildWeights([inputs, this.units]);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [s[0], this.units];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: tf.serialization.ConfigDict): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const a = this.quantizedInput(x, kwargs?.training === true);
      const w = this.binaryKernel();
      return this.scaleOutput(tf.matMul(a as tf.Tensor2D, w as tf.Tensor2D));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), units: this.units };
  }
}

tf.serialization.registerClass(BinaryConv2D);
tf.serialization.registerClass(BinaryDense);
