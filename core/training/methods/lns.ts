/**
 * LNS, "Training Binary Neural Networks through Learning with Noisy Supervision" (Han et al.,
 * ICML 2020; bnn-methods.md §1): a learned per-layer mapper `f_θ` binarizes a whole filter at a
 * time, `binaryWeights = sgn(f_θ(latentWeights))`, trained with a loss-corrected squared loss
 * whose noisy labels are `sgn(latentWeights)`.
 *
 * Mapper choices:
 * - k×k conv kernels (k > 1): as in the paper, three 3×3 convs, stride 1, padding same, over one
 *   filter at a time read as a `Cin`-channel k×k image: `Cin → 2Cin → 2Cin → Cin`, batch norm
 *   and ReLU after the first two. The filters of a layer form the batch.
 * - 1×1 convs and dense layers: a filter is a `Cin`-channel 1×1 image, on which a padded 3×3 conv
 *   only ever sees its centre tap, so the same stack becomes three 1×1 convs, i.e. a per-filter
 *   MLP `Cin → h → h → Cin`. Its hidden width is `h = min(2Cin, MAX_POINTWISE_HIDDEN)`: a dense
 *   layer's `Cin` is its fan-in (576 in mnist-cnn), and `2Cin` wide square layers would cost
 *   millions of parameters per binary layer for no reported benefit.
 *
 * Batch norm in the mapper always uses the statistics of the current batch of filters: the mapper
 * only ever sees that one batch (all filters of its layer), so there is no train/inference gap
 * and no moving averages to keep.
 */
import * as tf from '../../tf';
import { quantize, type QuantizerConfig } from '../../bnn/quantizers';

/** Hidden width cap of the pointwise mapper (1×1 convs and dense layers). */
export const MAX_POINTWISE_HIDDEN = 256;
const BN_EPSILON = 1e-5;
/** Identity straight-through: the mapper's output sits near ±1/(1 − 2ρ), beyond a clip of 1. */
const MAPPER_STE: QuantizerConfig = { kind: 'ste_sign', clip: null };

/** `sgn(x)` (zero → +1) built from `tf.sign` only, so it has a (zero) gradient on every backend. */
export function hardSign(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sign(tf.add(tf.sign(x), 0.1)));
}

/**
 * The loss-corrected squared loss of Natarajan et al., elementwise:
 * `ℓ̃(q̂, q̃) = [(1 − ρ_{−q̃}) ℓ(q̂, q̃) − ρ_{q̃} ℓ(q̂, −q̃)] / (1 − ρ₊ − ρ₋)`, `ℓ(a, b) = (a − b)²`,
 * with `ρ₊ = P(q̃ = −1 | q = +1)` and `ρ₋ = P(q̃ = +1 | q = −1)`. Its expectation over noisy labels
 * `q̃` drawn from a clean `q` equals `ℓ(q̂, q)`. Gradient in `q̂` for `ρ₊ = ρ₋ = ρ`:
 * `2q̂ − 2q̃ / (1 − 2ρ)`.
 *
 * @param qHat mapper output, any shape, float32.
 * @param qTilde noisy labels ±1, the same shape (no gradient is taken through it).
 * @param rhoPlus ρ₊ in [0, 1); @param rhoMinus ρ₋ in [0, 1), with ρ₊ + ρ₋ < 1.
 * @returns the elementwise loss, the shape of `qHat`.
 * @example correctedSquaredLoss(tf.tensor([0.5]), tf.tensor([1]), 0.1, 0.1) // [(0.9·0.25 − 0.1·2.25)/0.8] = [0]
 */
export function correctedSquaredLoss(
  qHat: tf.Tensor,
  qTilde: tf.Tensor,
  rhoPlus: number,
  rhoMinus = rhoPlus,
): tf.Tensor {
  const denominator = 1 - rhoPlus - rhoMinus;
  if (!(rhoPlus >= 0 && rhoMinus >= 0 && denominator > 0)) {
    throw new Error(
      `correctedSquaredLoss: need ρ₊, ρ₋ ≥ 0 and ρ₊ + ρ₋ < 1, got ${rhoPlus}, ${rhoMinus}`,
    );
  }
  return tf.tidy(() => {
    const positive = tf.div(tf.add(qTilde, 1), 2); // 1 where q̃ = +1, 0 where q̃ = −1
    const rhoSame = tf.add(rhoMinus, tf.mul(positive, rhoPlus - rhoMinus)); // ρ_{q̃}
    const rhoOther = tf.add(rhoPlus, tf.mul(positive, rhoMinus - rhoPlus)); // ρ_{−q̃}
    const toLabel = tf.square(tf.sub(qHat, qTilde));
    const toFlipped = tf.square(tf.add(qHat, qTilde));
    const numerator = tf.sub(tf.mul(tf.sub(1, rhoOther), toLabel), tf.mul(rhoSame, toFlipped));
    return tf.div(numerator, denominator);
  });
}

/**
 * A binary layer's latent kernel as a batch of filter images: `[kh, kw, cin, cout]` becomes
 * `[cout, kh, kw, cin]`; a dense kernel `[in, out]` becomes `[out, 1, 1, in]`.
 */
export function filtersAsImages(kernel: tf.Tensor): tf.Tensor4D {
  return tf.tidy(() => {
    if (kernel.rank === 4) return tf.transpose(kernel, [3, 0, 1, 2]) as tf.Tensor4D;
    if (kernel.rank === 2) {
      const [inputs, units] = kernel.shape;
      return tf.reshape(tf.transpose(kernel), [units, 1, 1, inputs]) as tf.Tensor4D;
    }
    throw new Error(`filtersAsImages: kernel of rank 4 or 2 expected, got ${kernel.shape}`);
  });
}

/** Inverse of `filtersAsImages` for a kernel of shape `shape`. */
export function imagesAsKernel(images: tf.Tensor4D, shape: readonly number[]): tf.Tensor {
  return tf.tidy(() => {
    if (shape.length === 4) return tf.transpose(images, [1, 2, 3, 0]);
    return tf.transpose(tf.reshape(images, [shape[1], shape[0]]));
  });
}

interface MapperConv {
  kernel: tf.Variable;
  /** Batch-norm scale and shift; absent on the last conv. */
  gamma?: tf.Variable;
  beta?: tf.Variable;
}

/**
 * One binary layer's mapper `f_θ`: maps the latent kernel to a real tensor of the same shape,
 * filter by filter. Owns its variables (call `dispose`).
 */
export class LnsMapper {
  private constructor(
    readonly kernelShape: readonly number[],
    private readonly convs: MapperConv[],
  ) {}

  /**
   * @param kernelShape the binary layer's latent kernel shape (`[k, k, cin, cout]` or `[in, out]`).
   * @param seed seeds the He-normal initializers of the three convs.
   * @param name prefix of the variable names.
   */
  static create(kernelShape: readonly number[], seed: number, name = 'lns'): LnsMapper {
    const pointwise = kernelShape.length === 2 || kernelShape[0] === 1;
    const cin = kernelShape.length === 2 ? kernelShape[0] : kernelShape[2];
    const hidden = pointwise ? Math.min(2 * cin, MAX_POINTWISE_HIDDEN) : 2 * cin;
    const k = pointwise ? 1 : 3;
    const widths = [cin, hidden, hidden, cin];
    const convs: MapperConv[] = [];
    for (let i = 0; i < 3; i++) {
      const init = tf.initializers.heNormal({ seed: seed + i });
      const kernel = tf.variable(
        init.apply([k, k, widths[i], widths[i + 1]]) as tf.Tensor,
        true,
        `${name}/conv${i + 1}/kernel`,
      );
      if (i < 2) {
        convs.push({
          kernel,
          gamma: tf.variable(tf.ones([widths[i + 1]]), true, `${name}/bn${i + 1}/gamma`),
          beta: tf.variable(tf.zeros([widths[i + 1]]), true, `${name}/bn${i + 1}/beta`),
        });
      } else convs.push({ kernel });
    }
    return new LnsMapper([...kernelShape], convs);
  }

  /** Mapper parameters θ, for the optimizer. */
  variables(): tf.Variable[] {
    return this.convs.flatMap((c) => [c.kernel, ...(c.gamma && c.beta ? [c.gamma, c.beta] : [])]);
  }

  /** Number of mapper parameters. */
  params(): number {
    return this.variables().reduce((n, v) => n + v.size, 0);
  }

  /** `f_θ(W)`: real-valued, the shape of `latentWeights`; differentiable in θ and W. */
  apply(latentWeights: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      let x = filtersAsImages(latentWeights);
      for (const conv of this.convs) {
        x = tf.conv2d(x, conv.kernel as tf.Tensor4D, 1, 'same');
        if (conv.gamma && conv.beta) {
          const { mean, variance } = tf.moments(x, [0, 1, 2]);
          const normalized = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, BN_EPSILON)));
          x = tf.relu(tf.add(tf.mul(normalized, conv.gamma), conv.beta)) as tf.Tensor4D;
        }
      }
      return imagesAsKernel(x, this.kernelShape);
    });
  }

  /** `sgn(f_θ(W))`, ±1, with an identity straight-through backward into the mapper. */
  binaryWeights(latentWeights: tf.Tensor): tf.Tensor {
    return tf.tidy(() => quantize(this.apply(latentWeights), MAPPER_STE));
  }

  dispose(): void {
    tf.dispose(this.variables());
  }
}

/** LNS settings: `L = ℓ_cls + α Σ_layers Σ ℓ̃`. */
export interface LnsOptions {
  /** Weight α ≥ 0 of the auxiliary loss. */
  alpha: number;
  /** Label-noise rate ρ₊ = ρ₋ = ρ in [0, 0.5). */
  rho: number;
}

/** One layer's auxiliary-loss parts, kept for telemetry. */
export interface LnsLayerTerms {
  /** `Σ ℓ̃` over the layer's weights. */
  auxLoss: tf.Scalar;
  /** `mean(sgn(f_θ(W)) ≠ sgn(W))`. */
  disagreement: tf.Scalar;
}

/** The mappers of every binary layer of a model, by layer name. */
export class LnsMappers {
  private constructor(readonly mappers: Map<string, LnsMapper>) {}

  /** One mapper per layer; `seed + 10·i` seeds layer i's mapper. */
  static create(layers: { name: string; kernelShape: readonly number[] }[], seed: number) {
    const mappers = new Map<string, LnsMapper>();
    layers.forEach((l, i) =>
      mappers.set(l.name, LnsMapper.create(l.kernelShape, seed + 10 * i, `lns/${l.name}`)),
    );
    return new LnsMappers(mappers);
  }

  get(name: string): LnsMapper {
    const m = this.mappers.get(name);
    if (!m) throw new Error(`LnsMappers: no mapper for layer ${name}`);
    return m;
  }

  variables(): tf.Variable[] {
    return [...this.mappers.values()].flatMap((m) => m.variables());
  }

  dispose(): void {
    for (const m of this.mappers.values()) m.dispose();
  }
}

/**
 * One layer's auxiliary loss `Σ ℓ̃(f_θ(W), sgn(W))` (differentiable in θ and W; the labels are
 * constants) and its disagreement. @param mapped `f_θ(W)` when the caller already has it.
 */
export function layerAuxTerms(
  mapper: LnsMapper,
  latentWeights: tf.Tensor,
  rho: number,
  mapped?: tf.Tensor,
): LnsLayerTerms {
  return tf.tidy(() => {
    const qHat = mapped ?? mapper.apply(latentWeights);
    const qTilde = hardSign(latentWeights);
    const auxLoss = tf.sum(correctedSquaredLoss(qHat, qTilde, rho)) as tf.Scalar;
    const disagreement = tf.mean(tf.cast(tf.notEqual(hardSign(qHat), qTilde), 'float32'));
    return { auxLoss, disagreement: disagreement as tf.Scalar };
  });
}

/**
 * Fits the mappers to `sgn(W)` alone (W fixed) with the corrected loss, so that fine-tuning starts
 * from (nearly) the checkpoint's own binary weights instead of a random mapper's. Returns the
 * disagreement of each layer afterwards. `onStep` hears the steps made so far after each step
 * (and may throw, e.g. a `CancelledError`, to stop).
 */
export async function warmUpMappers(
  mappers: LnsMappers,
  latentByLayer: Map<string, tf.Tensor>,
  rho: number,
  steps: number,
  learningRate = 0.01,
  onStep?: (done: number) => void,
): Promise<Map<string, number>> {
  const optimizer = tf.train.adam(learningRate);
  // On webgpu, wait for each step's GPU work (by reading its cost): hundreds of steps queued
  // without a read-back crash Mesa's lavapipe (SIGSEGV) and only pile up GPU memory elsewhere.
  const sync = tf.getBackend() === 'webgpu';
  try {
    for (let s = 0; s < steps; s++) {
      const cost = optimizer.minimize(
        () => {
          let total = tf.scalar(0);
          for (const [name, w] of latentByLayer) {
            const { auxLoss, disagreement } = layerAuxTerms(mappers.get(name), w, rho);
            disagreement.dispose();
            // Mean, not sum: layers of very different sizes then converge at similar speeds.
            total = tf.add(total, tf.div(auxLoss, w.size));
          }
          return total as tf.Scalar;
        },
        sync,
        mappers.variables(),
      );
      if (cost && sync) await cost.data();
      cost?.dispose();
      onStep?.(s + 1);
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    optimizer.dispose();
  }
  const out = new Map<string, number>();
  for (const [name, w] of latentByLayer) {
    const { auxLoss, disagreement } = layerAuxTerms(mappers.get(name), w, rho);
    out.set(name, (await disagreement.data())[0]);
    tf.dispose([auxLoss, disagreement]);
  }
  return out;
}
