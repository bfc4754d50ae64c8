/**
 * safetensors export in PyTorch's layout, so that a PyTorch model with the same modules loads it
 * with `load_state_dict` (docs/export.md has the name map):
 *
 * | BNN Lab (Keras) weight              | PyTorch name               | layout                    |
 * | ----------------------------------- | -------------------------- | ------------------------- |
 * | `<conv>/kernel` `[kh, kw, in, out]` | `<conv>.weight`            | `[out, in, kh, kw]` (OIHW) |
 * | `<dense>/kernel` `[in, out]`        | `<dense>.weight`           | `[out, in]`               |
 * | `<layer>/bias`                      | `<layer>.bias`             |                           |
 * | `<bn>/gamma`, `beta`                | `<bn>.weight`, `<bn>.bias` |                           |
 * | `<bn>/moving_mean`, `moving_variance` | `<bn>.running_mean`, `.running_var` |              |
 * | `<binary>/scale`, `modulation`      | `<binary>.scale`, `.modulation` |                      |
 *
 * A dense layer right after a Flatten of a feature map gets its input axis reordered from BNN
 * Lab's NHWC flattening (h, w, c) to PyTorch's NCHW flattening (c, h, w). Latent (float) kernels
 * are stored; with `packedSigns`, every binary layer also gets `<layer>.weight_sign_bits` (uint8,
 * the signs of its forward kernel in the OIHW / `[out, in]` element order, most significant bit
 * first, 1 = +1) and `<layer>.weight_scale` (float32 `[out]`, the magnitude of each output
 * channel's binarized kernel: 1 for `sgn`, `mean|W|` for magnitude_aware_sign), plus
 * `<layer>.output_scale` when the layer scales its output. `__metadata__` records the format,
 * the source and each binary layer's quantizers as JSON.
 */
import { hwioToOihw } from './onnx';
import type { ExportLayer, ExportSource } from './source';

interface Entry {
  name: string;
  dtype: 'F32' | 'U8';
  shape: number[];
  bytes: Uint8Array;
}

function f32(values: Float32Array): Uint8Array {
  const copy = Float32Array.from(values);
  return new Uint8Array(copy.buffer);
}

/** `[in, out]` → `[out, in]`, with `in` reordered from (h, w, c) to (c, h, w) when given. */
function denseToTorch(
  values: Float32Array,
  inputs: number,
  outputs: number,
  hwc: [number, number, number] | null,
): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < inputs; i++) {
    let j = i;
    if (hwc) {
      const [h, w, c] = hwc;
      const y = Math.floor(i / (w * c));
      const x = Math.floor(i / c) % w;
      const ch = i % c;
      j = (ch * h + y) * w + x;
    }
    for (let o = 0; o < outputs; o++) out[o * inputs + j] = values[i * outputs + o];
  }
  return out;
}

/** Signs of `values` packed 8 per byte, most significant bit first (1 = +1, i.e. x >= 0). */
export function packSigns(values: Float32Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(values.length / 8));
  for (let i = 0; i < values.length; i++) if (values[i] >= 0) out[i >> 3] |= 0x80 >> (i & 7);
  return out;
}

const BN_NAMES: Readonly<Record<string, string>> = {
  gamma: 'weight',
  beta: 'bias',
  moving_mean: 'running_mean',
  moving_variance: 'running_var',
};

function flattenedInput(
  layer: ExportLayer,
  byName: Map<string, ExportLayer>,
): [number, number, number] | null {
  const previous = byName.get(layer.inputs[0] ?? '');
  if (!previous || previous.className !== 'Flatten') return null;
  const before = byName.get(previous.inputs[0] ?? '');
  const shape = before?.outputShape;
  if (!shape || shape.length !== 4 || shape.slice(1).some((d) => d === null)) return null;
  return shape.slice(1) as [number, number, number];
}

/** The tensors of a checkpoint in PyTorch layout. */
export function torchTensors(source: ExportSource, packedSigns: boolean): Entry[] {
  const byName = new Map(source.layers.map((l) => [l.name, l]));
  const entries: Entry[] = [];
  for (const layer of source.layers) {
    const isBn = layer.className === 'BatchNormalization';
    for (const w of layer.weights) {
      let shape = w.shape;
      let values = w.values;
      if (w.name === 'kernel' && w.shape.length === 4) {
        values = hwioToOihw(w.values, w.shape);
        shape = [w.shape[3], w.shape[2], w.shape[0], w.shape[1]];
      } else if (w.name === 'kernel' && w.shape.length === 2) {
        values = denseToTorch(w.values, w.shape[0], w.shape[1], flattenedInput(layer, byName));
        shape = [w.shape[1], w.shape[0]];
      }
      const name = w.name === 'kernel' ? 'weight' : isBn ? (BN_NAMES[w.name] ?? w.name) : w.name;
      entries.push({ name: `${layer.name}.${name}`, dtype: 'F32', shape, bytes: f32(values) });
    }
    const b = layer.binary;
    const kernel = layer.weights.find((w) => w.name === 'kernel');
    if (packedSigns && b && kernel) {
      const cout = kernel.shape[kernel.shape.length - 1];
      const torchKernel =
        kernel.shape.length === 4
          ? hwioToOihw(b.kernel, kernel.shape)
          : denseToTorch(b.kernel, kernel.shape[0], cout, flattenedInput(layer, byName));
      const perChannel = torchKernel.length / cout;
      const scale = new Float32Array(cout);
      for (let o = 0; o < cout; o++) scale[o] = Math.abs(torchKernel[o * perChannel]);
      entries.push({
        name: `${layer.name}.weight_sign_bits`,
        dtype: 'U8',
        shape: [Math.ceil(torchKernel.length / 8)],
        bytes: packSigns(torchKernel),
      });
      entries.push({
        name: `${layer.name}.weight_scale`,
        dtype: 'F32',
        shape: [cout],
        bytes: f32(scale),
      });
      if (b.outputScale) {
        entries.push({
          name: `${layer.name}.output_scale`,
          dtype: 'F32',
          shape: [cout],
          bytes: f32(b.outputScale),
        });
      }
    }
  }
  return entries;
}

/** The safetensors file bytes: 8-byte header length, JSON header, then the tensors' data. */
export function exportSafetensors(
  source: ExportSource,
  options: { packedSigns?: boolean } = {},
): Uint8Array {
  const entries = torchTensors(source, options.packedSigns === true);
  const binaryLayers = Object.fromEntries(
    source.layers
      .filter((l) => l.binary)
      .map((l) => [
        l.name,
        {
          inputQuantizer: l.binary?.inputQuantizer ?? null,
          kernelQuantizer: l.binary?.kernelQuantizer,
          scaling: l.binary?.scaling,
          recu: l.binary?.recu,
          bonn: l.binary?.bonn,
        },
      ]),
  );
  const header: Record<string, unknown> = {
    __metadata__: {
      format: 'pt',
      producer: 'bnn-lab',
      source: source.dir,
      preset: source.meta?.preset ?? '',
      epoch: String(source.meta?.epoch ?? ''),
      layout: 'pytorch (OIHW conv kernels, [out, in] dense kernels)',
      binary_layers: JSON.stringify(binaryLayers),
      packed_signs: String(options.packedSigns === true),
    },
  };
  let offset = 0;
  for (const e of entries) {
    header[e.name] = {
      dtype: e.dtype,
      shape: e.shape,
      data_offsets: [offset, offset + e.bytes.length],
    };
    offset += e.bytes.length;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned.
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const e of entries) {
    out.set(e.bytes, at);
    at += e.bytes.length;
  }
  return out;
}
