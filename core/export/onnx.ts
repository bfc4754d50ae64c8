/**
 * ONNX export: the inference graph of a BNN Lab checkpoint (opset 13, IR version 7).
 *
 * - The input stays NHWC as in BNN Lab (`[N, H, W, C]`); one Transpose makes it NCHW for ONNX's
 *   Conv and pooling, and Flatten transposes back first so dense layers see BNN Lab's order.
 * - Binarization is `Where(x >= 0, 1, -1)` (`sgn(0) = +1`, as BNN Lab and Larq); ONNX's
 *   `Sign(0)` is 0 and is not used. magnitude_aware_sign inputs are multiplied by
 *   `ReduceMean(|x|)` over every axis but the channel axis, as BNN Lab computes it.
 * - Binary kernels are stored as the values BNN Lab's forward pass uses (±1, or ±s per channel for
 *   magnitude_aware_sign; ReCU's clamp at the checkpoint's τ applied), output scales
 *   (channel_mean, learnable, BONN) as one Mul per channel.
 * - Batch norm is ONNX BatchNormalization with the moving statistics (inference mode).
 */
import { ProtoWriter } from './protobuf';
import { cannotExpress, type ExportLayer, type ExportSource } from './source';

const FORMAT = 'ONNX';
export const ONNX_OPSET = 13;
const IR_VERSION = 7;

/** TensorProto.DataType FLOAT; AttributeProto.AttributeType values. */
const FLOAT = 1;
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

type Attr =
  | { name: string; i: number }
  | { name: string; f: number }
  | { name: string; ints: number[] }
  | { name: string; s: string };

interface Node {
  op: string;
  inputs: string[];
  outputs: string[];
  name: string;
  attrs: Attr[];
}

interface Initializer {
  name: string;
  dims: number[];
  type: typeof FLOAT;
  raw: Uint8Array;
}

/** A value in the graph: NCHW feature maps (`rank 4`) or `[N, features]` (`rank 2`). */
type Value =
  | { name: string; rank: 4; c: number; h: number; w: number }
  | { name: string; rank: 2; features: number };

function floatBytes(values: ArrayLike<number>): Uint8Array {
  const f = Float32Array.from(values);
  return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
}

/** `[kh, kw, cin, cout]` → ONNX `[cout, cin, kh, kw]`. */
export function hwioToOihw(values: Float32Array, shape: number[]): Float32Array {
  const [kh, kw, cin, cout] = shape;
  const out = new Float32Array(values.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++)
          out[((o * cin + i) * kh + y) * kw + x] = values[((y * kw + x) * cin + i) * cout + o];
  return out;
}

function pair(value: unknown, fallback: number): [number, number] {
  if (Array.isArray(value)) return [Number(value[0]), Number(value[1] ?? value[0])];
  if (typeof value === 'number') return [value, value];
  return [fallback, fallback];
}

/** TF's padding for one spatial axis: output size and the pads before and after. */
function tfPadding(
  size: number,
  kernel: number,
  stride: number,
  padding: string,
): { out: number; before: number; after: number } {
  if (padding === 'same') {
    const out = Math.ceil(size / stride);
    const total = Math.max((out - 1) * stride + kernel - size, 0);
    return { out, before: Math.floor(total / 2), after: total - Math.floor(total / 2) };
  }
  return { out: Math.floor((size - kernel) / stride) + 1, before: 0, after: 0 };
}

class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly initializers: Initializer[] = [];
  private names = new Set<string>();

  unique(base: string): string {
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  node(op: string, inputs: string[], name: string, attrs: Attr[] = []): string {
    const output = this.unique(name);
    this.nodes.push({ op, inputs, outputs: [output], name: output, attrs });
    return output;
  }

  constant(name: string, values: ArrayLike<number>, dims: number[]): string {
    const unique = this.unique(name);
    this.initializers.push({ name: unique, dims, type: FLOAT, raw: floatBytes(values) });
    return unique;
  }
}

function activation(g: GraphBuilder, layer: ExportLayer, x: string): string {
  const act = layer.config.activation;
  if (act === undefined || act === null || act === 'linear') return x;
  if (act === 'relu') return g.node('Relu', [x], `${layer.name}/relu`);
  throw cannotExpress(FORMAT, layer.name, `activation "${String(act)}" is not supported`);
}

/** `sgn(x)` with `sgn(0) = +1`, times `mean|x|` per channel for magnitude_aware_sign. */
function binarizeInput(g: GraphBuilder, layer: ExportLayer, x: Value, one: Signs): string {
  const q = layer.binary?.inputQuantizer;
  if (!q) return x.name;
  const ge = g.node('GreaterOrEqual', [x.name, one.zero], `${layer.name}/input_ge0`);
  const signs = g.node('Where', [ge, one.plus, one.minus], `${layer.name}/input_sign`);
  if (q.kind !== 'magnitude_aware_sign') return signs;
  const abs = g.node('Abs', [x.name], `${layer.name}/input_abs`);
  const axes = x.rank === 4 ? [0, 2, 3] : [0];
  const mean = g.node('ReduceMean', [abs], `${layer.name}/input_scale`, [
    { name: 'axes', ints: axes },
    { name: 'keepdims', i: 1 },
  ]);
  return g.node('Mul', [signs, mean], `${layer.name}/input_scaled`);
}

interface Signs {
  zero: string;
  plus: string;
  minus: string;
}

function weight(layer: ExportLayer, name: string): Float32Array | undefined {
  return layer.weights.find((w) => w.name === name)?.values;
}

function requireWeight(layer: ExportLayer, name: string): Float32Array {
  const w = weight(layer, name);
  if (!w) throw cannotExpress(FORMAT, layer.name, `it has no "${name}" weight`);
  return w;
}

function toRank4(v: Value, layer: ExportLayer): Extract<Value, { rank: 4 }> {
  if (v.rank !== 4) throw cannotExpress(FORMAT, layer.name, 'it needs a 4-D (image) input');
  return v;
}

function conv(g: GraphBuilder, layer: ExportLayer, input: Value, signs: Signs): Value {
  const x = toRank4(input, layer);
  const kernelWeight = layer.weights.find((w) => w.name === 'kernel');
  if (!kernelWeight) throw cannotExpress(FORMAT, layer.name, 'it has no kernel');
  const [kh, kw, cin, cout] = kernelWeight.shape;
  const [sh, sw] = pair(layer.config.strides, 1);
  const [dh, dw] = pair(layer.config.dilation_rate, 1);
  if (dh !== 1 || dw !== 1) throw cannotExpress(FORMAT, layer.name, 'dilated convolutions');
  if (layer.config.data_format !== undefined && layer.config.data_format !== 'channels_last') {
    throw cannotExpress(FORMAT, layer.name, `data_format ${String(layer.config.data_format)}`);
  }
  const padding = String(layer.config.padding ?? 'valid');
  const py = tfPadding(x.h, kh, sh, padding);
  const px = tfPadding(x.w, kw, sw, padding);
  const values = layer.binary ? layer.binary.kernel : kernelWeight.values;
  const kernel = g.constant(`${layer.name}/kernel`, hwioToOihw(values, kernelWeight.shape), [
    cout,
    cin,
    kh,
    kw,
  ]);
  const inputs = [layer.binary ? binarizeInput(g, layer, x, signs) : x.name, kernel];
  const bias = layer.config.use_bias === true ? weight(layer, 'bias') : undefined;
  if (bias) inputs.push(g.constant(`${layer.name}/bias`, bias, [cout]));
  let y = g.node('Conv', inputs, layer.name, [
    { name: 'kernel_shape', ints: [kh, kw] },
    { name: 'strides', ints: [sh, sw] },
    { name: 'pads', ints: [py.before, px.before, py.after, px.after] },
    { name: 'dilations', ints: [1, 1] },
  ]);
  const scale = layer.binary?.outputScale;
  if (scale) {
    const s = g.constant(`${layer.name}/output_scale`, scale, [1, cout, 1, 1]);
    y = g.node('Mul', [y, s], `${layer.name}/scaled`);
  }
  return { name: activation(g, layer, y), rank: 4, c: cout, h: py.out, w: px.out };
}

function dense(g: GraphBuilder, layer: ExportLayer, input: Value, signs: Signs): Value {
  if (input.rank !== 2) {
    throw cannotExpress(FORMAT, layer.name, 'a dense layer on a 4-D input (flatten it first)');
  }
  const kernelWeight = layer.weights.find((w) => w.name === 'kernel');
  if (!kernelWeight) throw cannotExpress(FORMAT, layer.name, 'it has no kernel');
  const [inputs, units] = kernelWeight.shape;
  const values = layer.binary ? layer.binary.kernel : kernelWeight.values;
  const kernel = g.constant(`${layer.name}/kernel`, values, [inputs, units]);
  const x = layer.binary ? binarizeInput(g, layer, input, signs) : input.name;
  let y = g.node('MatMul', [x, kernel], layer.name);
  const bias = layer.config.use_bias === true ? weight(layer, 'bias') : undefined;
  if (bias)
    y = g.node('Add', [y, g.constant(`${layer.name}/bias`, bias, [units])], `${layer.name}/biased`);
  const scale = layer.binary?.outputScale;
  if (scale) {
    y = g.node(
      'Mul',
      [y, g.constant(`${layer.name}/output_scale`, scale, [units])],
      `${layer.name}/scaled`,
    );
  }
  return { name: activation(g, layer, y), rank: 2, features: units };
}

function batchNorm(g: GraphBuilder, layer: ExportLayer, x: Value): Value {
  const axis = layer.config.axis;
  if (axis !== -1 && !(Array.isArray(axis) && axis.length === 1 && axis[0] === -1)) {
    const last = x.rank === 4 ? 3 : 1;
    if (axis !== last && !(Array.isArray(axis) && axis[0] === last)) {
      throw cannotExpress(FORMAT, layer.name, `batch norm over axis ${JSON.stringify(axis)}`);
    }
  }
  const c = x.rank === 4 ? x.c : x.features;
  const gamma = weight(layer, 'gamma') ?? new Float32Array(c).fill(1);
  const beta = weight(layer, 'beta') ?? new Float32Array(c);
  const mean = requireWeight(layer, 'moving_mean');
  const variance = requireWeight(layer, 'moving_variance');
  const epsilon = typeof layer.config.epsilon === 'number' ? layer.config.epsilon : 1e-3;
  const y = g.node(
    'BatchNormalization',
    [
      x.name,
      g.constant(`${layer.name}/gamma`, gamma, [c]),
      g.constant(`${layer.name}/beta`, beta, [c]),
      g.constant(`${layer.name}/moving_mean`, mean, [c]),
      g.constant(`${layer.name}/moving_variance`, variance, [c]),
    ],
    layer.name,
    [{ name: 'epsilon', f: epsilon }],
  );
  return { ...x, name: y };
}

function pool(g: GraphBuilder, layer: ExportLayer, input: Value, op: string): Value {
  const x = toRank4(input, layer);
  const [kh, kw] = pair(layer.config.pool_size, 2);
  const [sh, sw] = pair(layer.config.strides ?? layer.config.pool_size, kh);
  const padding = String(layer.config.padding ?? 'valid');
  const py = tfPadding(x.h, kh, sh, padding);
  const px = tfPadding(x.w, kw, sw, padding);
  const attrs: Attr[] = [
    { name: 'kernel_shape', ints: [kh, kw] },
    { name: 'strides', ints: [sh, sw] },
    { name: 'pads', ints: [py.before, px.before, py.after, px.after] },
  ];
  // TF's average pooling divides by the number of real (unpadded) pixels, as count_include_pad=0.
  if (op === 'AveragePool') attrs.push({ name: 'count_include_pad', i: 0 });
  const y = g.node(op, [x.name], layer.name, attrs);
  return { name: y, rank: 4, c: x.c, h: py.out, w: px.out };
}

/** Converts one layer; `values` holds the outputs of the layers before it. */
function convertLayer(
  g: GraphBuilder,
  layer: ExportLayer,
  values: Map<string, Value>,
  signs: Signs,
): Value {
  const inputs = layer.inputs.map((name) => {
    const v = values.get(name);
    if (!v) throw cannotExpress(FORMAT, layer.name, `its input "${name}" was not converted`);
    return v;
  });
  const x = inputs[0];
  switch (layer.className) {
    case 'Conv2D':
    case 'BinaryConv2D':
      return conv(g, layer, x, signs);
    case 'Dense':
    case 'BinaryDense':
      return dense(g, layer, x, signs);
    case 'BatchNormalization':
      return batchNorm(g, layer, x);
    case 'MaxPooling2D':
      return pool(g, layer, x, 'MaxPool');
    case 'AveragePooling2D':
      return pool(g, layer, x, 'AveragePool');
    case 'GlobalAveragePooling2D': {
      const v = toRank4(x, layer);
      const gap = g.node('GlobalAveragePool', [v.name], layer.name);
      const flat = g.node('Flatten', [gap], `${layer.name}/flatten`, [{ name: 'axis', i: 1 }]);
      return { name: flat, rank: 2, features: v.c };
    }
    case 'Flatten': {
      if (x.rank === 2) return x;
      const nhwc = g.node('Transpose', [x.name], `${layer.name}/nhwc`, [
        { name: 'perm', ints: [0, 2, 3, 1] },
      ]);
      const flat = g.node('Flatten', [nhwc], layer.name, [{ name: 'axis', i: 1 }]);
      return { name: flat, rank: 2, features: x.c * x.h * x.w };
    }
    case 'ReLU': {
      if (layer.config.max_value !== null && layer.config.max_value !== undefined) {
        throw cannotExpress(FORMAT, layer.name, 'ReLU with max_value');
      }
      return { ...x, name: g.node('Relu', [x.name], layer.name) };
    }
    case 'Activation':
      return { ...x, name: activation(g, layer, x.name) };
    case 'Add': {
      let sum = x.name;
      for (let i = 1; i < inputs.length; i++) {
        sum = g.node(
          'Add',
          [sum, inputs[i].name],
          i === inputs.length - 1 ? layer.name : `${layer.name}/${i}`,
        );
      }
      return { ...x, name: sum };
    }
    case 'Concatenate': {
      const all = inputs.map((v) => toRank4(v, layer));
      const axis = layer.config.axis;
      if (axis !== -1 && axis !== 3 && axis !== undefined) {
        throw cannotExpress(FORMAT, layer.name, `concatenation on axis ${String(axis)}`);
      }
      const y = g.node(
        'Concat',
        all.map((v) => v.name),
        layer.name,
        [{ name: 'axis', i: 1 }],
      );
      return { name: y, rank: 4, c: all.reduce((n, v) => n + v.c, 0), h: all[0].h, w: all[0].w };
    }
    default:
      throw cannotExpress(FORMAT, layer.name, `layer class ${layer.className} has no ONNX mapping`);
  }
}

function encodeAttr(w: ProtoWriter, a: Attr): void {
  w.string(1, a.name);
  if ('i' in a) w.varint(3, a.i).varint(20, ATTR.INT);
  else if ('f' in a) w.float(2, a.f).varint(20, ATTR.FLOAT);
  else if ('ints' in a) w.packedVarints(8, a.ints).varint(20, ATTR.INTS);
  else w.string(4, a.s).varint(20, ATTR.STRING);
}

function encodeValueInfo(w: ProtoWriter, name: string, dims: (number | string)[]): void {
  w.string(1, name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.varint(1, FLOAT);
      tensor.message(2, (shape) => {
        for (const d of dims) {
          shape.message(1, (dim) => (typeof d === 'number' ? dim.varint(1, d) : dim.string(2, d)));
        }
      });
    }),
  );
}

/**
 * The ONNX model (serialized ModelProto) of a checkpoint: input `image` `[N, H, W, C]`, output
 * `logits` `[N, classes]`.
 * @throws UserError naming the layer when a layer has no ONNX mapping.
 */
export function exportOnnx(source: ExportSource, producerVersion: string): Uint8Array {
  const g = new GraphBuilder();
  const outputName = g.unique('logits'); // reserved: a layer named "logits" becomes logits_1
  const inputName = g.unique(source.inputName);
  const [h, w, c] = source.inputShape;
  const signs: Signs = {
    zero: g.constant('zero', [0], []),
    plus: g.constant('plus_one', [1], []),
    minus: g.constant('minus_one', [-1], []),
  };
  const values = new Map<string, Value>();
  const nchw = g.node('Transpose', [inputName], `${source.inputName}/nchw`, [
    { name: 'perm', ints: [0, 3, 1, 2] },
  ]);
  values.set(source.inputName, { name: nchw, rank: 4, c, h, w });
  for (const layer of source.layers) {
    if (layer.className === 'InputLayer') continue;
    values.set(layer.name, convertLayer(g, layer, values, signs));
  }
  const out = values.get(source.outputName);
  if (!out || out.rank !== 2) {
    throw cannotExpress(
      FORMAT,
      source.outputName,
      'the model output is not a `[N, classes]` tensor',
    );
  }
  g.nodes.push({
    op: 'Identity',
    inputs: [out.name],
    outputs: [outputName],
    name: outputName,
    attrs: [],
  });

  const model = new ProtoWriter();
  model.varint(1, IR_VERSION);
  model.string(2, 'bnn-lab');
  model.string(3, producerVersion);
  model.string(
    6,
    `BNN Lab checkpoint ${source.dir} (preset ${source.meta?.preset ?? 'unknown'}, epoch ${source.meta?.epoch ?? '?'}); binarization sgn(0)=+1 as Where(x>=0, 1, -1)`,
  );
  model.message(7, (graph) => {
    for (const n of g.nodes) {
      graph.message(1, (node) => {
        for (const i of n.inputs) node.string(1, i);
        for (const o of n.outputs) node.string(2, o);
        node.string(3, n.name);
        node.string(4, n.op);
        for (const a of n.attrs) node.message(5, (attr) => encodeAttr(attr, a));
      });
    }
    graph.string(2, source.name || 'bnn-lab');
    for (const init of g.initializers) {
      graph.message(5, (t) => {
        if (init.dims.length > 0) t.packedVarints(1, init.dims);
        t.varint(2, init.type);
        t.string(8, init.name);
        t.bytes(9, init.raw);
      });
    }
    graph.message(11, (v) => encodeValueInfo(v, inputName, ['N', h, w, c]));
    graph.message(12, (v) => encodeValueInfo(v, outputName, ['N', out.features]));
  });
  model.message(8, (opset) => opset.string(1, '').varint(2, ONNX_OPSET));
  return model.finish();
}
