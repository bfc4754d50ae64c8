/**
 * LNS wired into a model for training (docs/lns.md): a mapper per binary layer, each layer's
 * forward redirected to `sgn(f_θ(W))`, and the auxiliary terms a training step adds. Built by
 * `createStepSetup`, so the run loop's own thread and every data-parallel replica train the same
 * thing.
 */
import * as tf from '../../tf';
import type { BinaryLayer } from '../../bnn/layers';
import { quantize } from '../../bnn/quantizers';
import { hardSign, layerAuxTerms, LnsMappers, type LnsOptions } from './lns';

/** A binary layer whose forward we can redirect to the mapper (instance-level override). */
type Redirectable = tf.layers.Layer & BinaryLayer & { binaryKernel: () => tf.Tensor };

/** One layer's auxiliary terms of a step, kept for telemetry. */
export interface LnsStepTerms {
  aux: tf.Scalar;
  disagreement: tf.Scalar;
  /** The binary weights the step's forward used: `sgn(f_θ(W))` before the update. */
  signs: tf.Tensor;
}

export class LnsBinding {
  /** Inside a training step the objective has already computed f_θ(W); the forward reuses it. */
  private readonly currentMapped = new Map<string, tf.Tensor>();
  private redirected = false;

  constructor(
    readonly mappers: LnsMappers,
    readonly options: LnsOptions,
    private readonly layers: (tf.layers.Layer & BinaryLayer)[],
  ) {}

  static create(
    layers: (tf.layers.Layer & BinaryLayer)[],
    options: LnsOptions,
    seed: number,
  ): LnsBinding {
    const mappers = LnsMappers.create(
      layers.map((l) => ({ name: l.name, kernelShape: l.latentKernel().shape as number[] })),
      seed,
    );
    const binding = new LnsBinding(mappers, options, layers);
    binding.redirect(true);
    return binding;
  }

  /** Turns the layers' forward to the mappers (`on`) or back to their own `sgn(W)`. */
  redirect(on: boolean): void {
    if (on === this.redirected) return;
    this.redirected = on;
    for (const layer of this.layers as Redirectable[]) {
      if (!on) {
        delete (layer as Partial<Redirectable>).binaryKernel;
        continue;
      }
      const mapper = this.mappers.get(layer.name);
      layer.binaryKernel = () => {
        const mapped = this.currentMapped.get(layer.name);
        return mapped
          ? quantize(mapped, { kind: 'ste_sign', clip: null })
          : mapper.binaryWeights(layer.latentKernel().read());
      };
    }
  }

  /**
   * Inside an objective, before the forward: computes every layer's `f_θ(W)` for the forward
   * and returns `Σ` of the layers' auxiliary losses; `kept` receives each layer's terms.
   */
  auxiliary(kept: LnsStepTerms[]): tf.Scalar {
    let total: tf.Scalar | undefined;
    for (const layer of this.layers) {
      const w = layer.latentKernel().read();
      const mapper = this.mappers.get(layer.name);
      const mapped = mapper.apply(w);
      this.currentMapped.set(layer.name, mapped);
      const { auxLoss, disagreement } = layerAuxTerms(mapper, w, this.options.rho, mapped);
      kept.push({
        aux: tf.keep(auxLoss),
        disagreement: tf.keep(disagreement),
        signs: tf.keep(hardSign(mapped)),
      });
      total = total ? (tf.add(total, auxLoss) as tf.Scalar) : auxLoss;
    }
    return total ?? tf.scalar(0);
  }

  /** After the forward: the mapped weights belong to the step's scope and go with it. */
  endForward(): void {
    this.currentMapped.clear();
  }

  /** `sgn(f_θ(W))` of each layer now, ±1. */
  async signs(): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (const layer of this.layers) {
      const signs = tf.tidy(() =>
        hardSign(this.mappers.get(layer.name).apply(layer.latentKernel().read())),
      );
      out.push((await signs.data()) as Float32Array);
      signs.dispose();
    }
    return out;
  }

  /** The mappers' parameters, named as in a checkpoint's state.bin. */
  async state(): Promise<{ name: string; data: Float32Array }[]> {
    return Promise.all(
      this.mappers.variables().map(async (v) => ({
        name: v.name,
        data: Float32Array.from(await v.data()),
      })),
    );
  }

  /** Restores what `state()` saved. @throws Error naming a missing array. */
  restore(state: Map<string, Float32Array>): void {
    for (const v of this.mappers.variables()) {
      const data = state.get(v.name);
      if (!data) throw new Error(`LNS state: ${v.name} is missing`);
      tf.tidy(() => v.assign(tf.tensor(data, v.shape)));
    }
  }

  dispose(): void {
    this.redirect(false);
    this.mappers.dispose();
  }
}
