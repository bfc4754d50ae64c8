/**
 * The two passes of the weight statistics in C with SIMD (core/kernels/stats_kernels.c, built to
 * stats-kernels.wasm), for float32 tensors. layerStats.ts uses them when the module loads and
 * falls back to its JavaScript passes otherwise (no .wasm beside the bundle, a float64 input, or
 * `BNN_LAB_C_KERNELS=0`). No TensorFlow.js: the CLI's inspect, the analysis worker and the
 * engine's telemetry all use it.
 *
 * The module owns its memory; each call copies the tensor in after `__heap_base` (a memcpy,
 * ~5 % of the time of the passes) and grows the memory when a tensor needs more.
 */
import { existsSync, readFileSync } from 'node:fs';
import { kernelFileCandidates } from '../io/shipped';

export const STATS_KERNELS_FILE = 'stats-kernels.wasm';

/** The parts of the WebAssembly API used here (core compiles without the DOM typings). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface StatsExports {
  memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  __heap_base: { readonly value: number };
  stats_pass1(
    w: number,
    n: number,
    channels: number,
    lastAxis: number,
    absSums: number,
    out: number,
  ): void;
  stats_pass2(
    w: number,
    n: number,
    alpha: number,
    channels: number,
    lastAxis: number,
    deadAbove: number,
    clipAt: number,
    counts: number,
    stride: number,
    min: number,
    scale: number,
    out: number,
  ): void;
}

/** Results of pass 1 (see layerStats.ts `firstPass`); `absSums` is filled in place. */
export interface Pass1 {
  sum: number;
  sumSq: number;
  absSum: number;
  min: number;
  max: number;
  positives: number;
}

/** Where the .wasm may be: beside the bundle (dist/wasm), or in the source tree (tests, bench). */
function candidates(): string[] {
  return kernelFileCandidates(STATS_KERNELS_FILE);
}

let loaded: StatsExports | null | undefined;

/** The instantiated module, or null when it cannot be used here (the reason is not fatal). */
function kernels(): StatsExports | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (process.env.BNN_LAB_C_KERNELS === '0') return loaded;
  const file = candidates().find((f) => existsSync(f));
  if (!file) return loaded;
  try {
    const module = new wasmApi.Module(readFileSync(file));
    loaded = new wasmApi.Instance(module, {}).exports as unknown as StatsExports;
  } catch {
    loaded = null; // e.g. a runtime without SIMD: the JavaScript passes are exact and correct
  }
  return loaded;
}

/** True when {@link StatsKernel} can be used (for tests and benchmarks). */
export function statsKernelAvailable(): boolean {
  return kernels() !== null;
}

/**
 * One tensor in the module's memory, laid out as
 * `[heap base] w: n f32 | absSums: C f64 | alpha: C f64 | counts: 4 × (bins+1) i32 | out: 8 f64`
 * (four sub-histograms, one per SIMD lane).
 */
export class StatsKernel {
  private readonly w: number;
  private readonly absSums: number;
  private readonly alpha: number;
  private readonly counts: number;
  private readonly out: number;

  private constructor(
    private readonly k: StatsExports,
    private readonly n: number,
    private readonly channels: number,
    private readonly lastAxis: boolean,
    bins: number,
  ) {
    const align = (x: number) => Math.ceil(x / 16) * 16;
    this.w = align(Number(k.__heap_base.value));
    this.absSums = align(this.w + 4 * n);
    this.alpha = align(this.absSums + 8 * channels);
    this.counts = align(this.alpha + 8 * channels);
    this.out = align(this.counts + 4 * 4 * (bins + 1));
    const end = this.out + 8 * 8;
    const have = k.memory.buffer.byteLength;
    if (end > have) k.memory.grow(Math.ceil((end - have) / 65536));
  }

  /**
   * Copies `w` in. @returns null when the module is unavailable or `w` is not float32 (float64
   * inputs keep the exact JavaScript path rather than being rounded).
   */
  static load(
    w: ArrayLike<number>,
    channels: number,
    lastAxis: boolean,
    bins: number,
  ): StatsKernel | null {
    if (!(w instanceof Float32Array)) return null;
    const k = kernels();
    if (!k) return null;
    let kernel: StatsKernel;
    try {
      kernel = new StatsKernel(k, w.length, channels, lastAxis, bins);
    } catch {
      return null; // the memory cannot grow that far (wasm32: 4 GB): the JS passes take it
    }
    new Float32Array(k.memory.buffer, kernel.w, w.length).set(w);
    return kernel;
  }

  /** Pass 1; writes the per-channel sums of |w| into `absSums`. */
  pass1(absSums: Float64Array): Pass1 {
    const { k } = this;
    new Float64Array(k.memory.buffer, this.absSums, this.channels).fill(0);
    k.stats_pass1(this.w, this.n, this.channels, this.lastAxis ? 1 : 0, this.absSums, this.out);
    absSums.set(new Float64Array(k.memory.buffer, this.absSums, this.channels));
    const o = new Float64Array(k.memory.buffer, this.out, 6);
    return { sum: o[0], sumSq: o[1], absSum: o[2], min: o[3], max: o[4], positives: o[5] };
  }

  /** Pass 2; adds the histogram slots into `counts` (length bins + 1). */
  pass2(
    alpha: Float64Array,
    deadAbove: number,
    clipAt: number,
    counts: Int32Array,
    min: number,
    scale: number,
  ): { errSq: number; dead: number; starved: number } {
    const { k } = this;
    new Float64Array(k.memory.buffer, this.alpha, this.channels).set(alpha);
    const stride = counts.length;
    const slots = new Int32Array(k.memory.buffer, this.counts, 4 * stride);
    slots.fill(0);
    k.stats_pass2(
      this.w,
      this.n,
      this.alpha,
      this.channels,
      this.lastAxis ? 1 : 0,
      deadAbove,
      clipAt,
      this.counts,
      stride,
      min,
      scale,
      this.out,
    );
    // The memory has not moved since the views were made (no grow in between).
    for (let b = 0; b < stride; b++) {
      counts[b] = slots[b] + slots[stride + b] + slots[2 * stride + b] + slots[3 * stride + b];
    }
    const o = new Float64Array(k.memory.buffer, this.out, 3);
    return { errSq: o[0], dead: o[1], starved: o[2] };
  }
}
