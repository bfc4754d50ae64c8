/**
 * Profiles of known BNN checkpoints: recognises, from tensor names and shapes alone, the layouts
 * of the public BNN code bases and marks their binary and full-precision layers as those projects
 * do, so their files open with no `bnnLab.inspect.binaryPatterns`.
 *
 * - PyTorch ResNets (state dicts): ReCU (`BinarizeConv2d` with a learnable scale `alpha` and a
 *   `tau` buffer), IR-Net (`IRConv2d`, a BatchNorm1d `bn2` before and `bn3` after the classifier),
 *   ReActNet ResNet-18 (`binary_conv` with `move*` learnable biases and `prelu`), Bi-Real Net
 *   (`binary_conv.weights` stored flat as `[n, 1]`). The binary layers are the 3×3 convolutions of
 *   the residual blocks; the first convolution, the downsample shortcuts (a 1×1 conv, after an
 *   average pool in Bi-Real/ReActNet) and the classifier stay full precision. IR-Net's CIFAR
 *   "option B" shortcut is an `IRConv2d`, hence binary.
 * - Larq Zoo Keras weights (`model.save_weights` files, which carry no model config): QuickNet,
 *   BinaryResNetE18, BinaryDenseNet28/37/45 and others built from `QuantConv2D` layers, whose
 *   auto-generated names (`quant_conv2d_12`) mark the binary kernels; `Conv2D`, `DepthwiseConv2D`
 *   and `Dense` are full precision in every Larq Zoo model.
 *
 * Pure functions over names and shapes; the inspector applies a profile only to tensors the file
 * itself says nothing about, after the user's patterns.
 */
import type { CheckpointProfileInfo } from '../protocol/schema';

/** What a profile says about one tensor. */
export interface ProfileDecision {
  binary: boolean;
  reason: string;
  /** The weight quantizer's gradient clip `t_clip`, or null when none or unknown. */
  clip: number | null;
  /** The shape to compute metrics with when the file stores the weight flattened (Bi-Real). */
  statsShape?: number[];
}

/** A recognised checkpoint layout. */
export interface CheckpointProfile {
  info: CheckpointProfileInfo;
  /** The decision for a rank-2 or rank-4 float tensor, or undefined to leave it to the defaults. */
  classify(name: string, shape: readonly number[]): ProfileDecision | undefined;
}

interface TensorLike {
  name: string;
  shape: readonly number[];
}

/** The prefix data-parallel wrappers add (`module.`), when every name has it. */
function commonPrefix(names: readonly string[]): string {
  return names.length > 0 && names.every((n) => n.startsWith('module.')) ? 'module.' : '';
}

const BLOCK = /^layer(\d+)\.(\d+)\./;

/** Blocks per stage (`layer1` … `layerN`), from the block indices present. */
function stageBlocks(names: readonly string[]): number[] {
  const blocks = new Map<number, number>();
  for (const name of names) {
    const m = BLOCK.exec(name);
    if (m) blocks.set(Number(m[1]), Math.max(blocks.get(Number(m[1])) ?? 0, Number(m[2]) + 1));
  }
  return [...blocks.keys()].sort((a, b) => a - b).map((k) => blocks.get(k) ?? 0);
}

/** `ResNet-18`, `ResNet-20` … from the residual blocks per stage and convs per block. */
function resnetDepth(blocks: readonly number[], convsPerBlock: number): string {
  const total = blocks.reduce((a, b) => a + b, 0);
  return `ResNet-${total * convsPerBlock + 2}`;
}

type Family = 'recu' | 'irnet' | 'reactnet' | 'bireal';

const PROJECTS: Record<Family, { label: string; source: string; clip: number | null }> = {
  // ReCU's weights pass gradients unclipped (identity STE) after their τ-quantile clamp.
  recu: { label: 'ReCU', source: 'github.com/z-hXu/ReCU', clip: null },
  // IR-Net's EDE gradient approximation has no fixed clip.
  irnet: { label: 'IR-Net', source: 'github.com/htqin/IR-Net', clip: null },
  // HardBinaryConv clamps the latent weights to [-1, 1] for the gradient.
  reactnet: { label: 'ReActNet', source: 'github.com/liuzechun/ReActNet', clip: 1 },
  bireal: { label: 'Bi-Real Net', source: 'github.com/liuzechun/Bi-Real-net', clip: 1 },
};

function pytorchResnetProfile(tensors: readonly TensorLike[]): CheckpointProfile | undefined {
  const all = tensors.map((t) => t.name);
  const prefix = commonPrefix(all);
  const names = all.map((n) => n.slice(prefix.length));
  const has = (re: RegExp) => names.some((n) => re.test(n));
  const byName = new Map(tensors.map((t) => [t.name.slice(prefix.length), t.shape]));
  const hasStem = byName.has('conv1.weight') || has(/^conv1\.\d+\.weight$/);
  if (!has(BLOCK) || !hasStem) return undefined;
  let family: Family;
  let convsPerBlock = 2;
  if (has(/^layer\d+\.\d+\.binary_conv\.weights$/)) {
    family = 'bireal';
    convsPerBlock = 1;
  } else if (has(/^layer\d+\.\d+\.binary_conv\.weight$/)) {
    family = has(/^layer\d+\.\d+\.(move\d|prelu)/) ? 'reactnet' : 'bireal';
    convsPerBlock = 1;
  } else if (has(/^layer\d+\.\d+\.conv[12]\.alpha$/)) {
    family = 'recu';
  } else if (has(/^layer\d+\.\d+\.conv[12]\.weight$/) && byName.get('bn2.weight')?.length === 1) {
    // A BatchNorm1d before the classifier is the tell of the IR-Net/ReCU code (torchvision's
    // full-precision ResNets have none); without ReCU's alpha it is IR-Net.
    family = 'irnet';
  } else {
    return undefined;
  }
  const project = PROJECTS[family];
  const blocks = stageBlocks(names);
  const depth = resnetDepth(blocks, convsPerBlock);
  const cifar = blocks.length === 3;
  const info: CheckpointProfileInfo = {
    id: `${family}-${depth.toLowerCase()}`,
    name: `${project.label} ${depth}${cifar ? ' (CIFAR)' : ''}`,
    source: project.source,
    description:
      family === 'bireal' || family === 'reactnet'
        ? 'binary: the 3×3 binary_conv of every block; full precision: the first conv, the AvgPool + 1×1 conv downsample shortcuts and the classifier'
        : cifar
          ? `binary: both 3×3 convs of every block${family === 'irnet' ? ' (and option-B shortcut convs)' : ''}; full precision: the first conv and the classifier; shortcuts are parameter-free (option A)`
          : 'binary: both 3×3 convs of every block; full precision: the first conv, the 1×1 downsample convs and the classifier',
  };
  const by = `(${project.label} layout)`;
  return {
    info,
    classify(rawName, shape) {
      const name = rawName.startsWith(prefix) ? rawName.slice(prefix.length) : rawName;
      const inBlock = BLOCK.test(name);
      if (inBlock && /\.(conv[12]|binary_conv)\.weights?$/.test(name)) {
        const decision: ProfileDecision = {
          binary: true,
          reason: `${name.replace(BLOCK, '').split('.')[0]} of a residual block is binary ${by}`,
          clip: project.clip,
        };
        if (name.endsWith('.weights') && shape.length === 2 && shape[1] === 1) {
          // Bi-Real's HardBinaryConv stores `[out·in·k·k, 1]` and views it as `[out, in, k, k]`.
          const out = byName.get(name.replace(/binary_conv\.weights$/, 'bn1.weight'))?.[0];
          const k2 = out ? shape[0] / out : 0;
          const k = [3, 1, 5, 7].find((s) => k2 % (s * s) === 0 && k2 >= s * s);
          if (out && k) decision.statsShape = [out, k2 / (k * k), k, k];
        }
        return decision;
      }
      if (inBlock && /\.shortcut\.0\.weight$/.test(name) && family === 'irnet') {
        return { binary: true, reason: `option-B shortcut IRConv2d is binary ${by}`, clip: null };
      }
      if (inBlock && /\.(downsample|shortcut)\.\d+\.weight$/.test(name)) {
        return {
          binary: false,
          reason: `downsample shortcut convolution stays full precision ${by}`,
          clip: null,
        };
      }
      if (/^conv1(\.\d+)?\.weight$/.test(name)) {
        return {
          binary: false,
          reason: `first convolution stays full precision ${by}`,
          clip: null,
        };
      }
      if (/^(fc|linear|classifier)\.weight$/.test(name)) {
        return { binary: false, reason: `classifier stays full precision ${by}`, clip: null };
      }
      return { binary: false, reason: `not a binary layer ${by}`, clip: null };
    },
  };
}

const LARQ_BINARY = /^quant_(conv2d|dense|depthwise_conv2d|separable_conv2d)(_\d+)?\//;
const LARQ_KERNEL = /(^|\/)(kernel|depthwise_kernel|pointwise_kernel)(:\d+)?$/;

/** Larq Zoo models by their count of QuantConv2D layers (each model's spec in larq/zoo). */
const LARQ_ZOO_MODELS: { id: string; name: string; quantConvs: number; clip: number | null }[] = [
  // QuickNet: blocks [2, 3, 4, 4], SteSign(clip_value=1.25); its stem has a DepthwiseConv2D.
  { id: 'larq-zoo-quicknet', name: 'Larq Zoo QuickNet', quantConvs: 13, clip: 1.25 },
  // BinaryResNetE18: [2, 2, 2, 2] × 2 blocks of one QuantConv2D, SteSign(clip_value=1.25).
  { id: 'larq-zoo-binaryresnete18', name: 'Larq Zoo BinaryResNetE18', quantConvs: 16, clip: 1.25 },
  // BinaryDenseNet28/37/45: dense blocks [6, 6, 6, 5], [6, 8, 12, 6], [6, 12, 14, 8].
  { id: 'larq-zoo-binarydensenet28', name: 'Larq Zoo BinaryDenseNet28', quantConvs: 23, clip: 1 },
  { id: 'larq-zoo-binarydensenet37', name: 'Larq Zoo BinaryDenseNet37', quantConvs: 32, clip: 1 },
  { id: 'larq-zoo-binarydensenet45', name: 'Larq Zoo BinaryDenseNet45', quantConvs: 40, clip: 1 },
];

function larqZooProfile(tensors: readonly TensorLike[]): CheckpointProfile | undefined {
  const quantLayers = new Set<string>();
  for (const t of tensors) {
    if (LARQ_BINARY.test(t.name) && LARQ_KERNEL.test(t.name)) quantLayers.add(t.name.split('/')[0]);
  }
  if (quantLayers.size === 0) return undefined;
  const quantConvs = [...quantLayers].filter((l) => l.startsWith('quant_conv2d')).length;
  const depthwise = tensors.some((t) => /^depthwise_conv2d(_\d+)?\//.test(t.name));
  const model =
    LARQ_ZOO_MODELS.find(
      (m) => m.quantConvs === quantConvs && (m.id === 'larq-zoo-quicknet') === depthwise,
    ) ?? undefined;
  const info: CheckpointProfileInfo = model
    ? {
        id: model.id,
        name: model.name,
        source: 'github.com/larq/zoo',
        description:
          'binary: QuantConv2D kernels (quant_conv2d_N); full precision: Conv2D, DepthwiseConv2D and Dense layers (the stem, shortcuts/transitions and classifier)',
      }
    : {
        id: 'larq-keras',
        name: `Larq Keras weights (${quantLayers.size} Quant layers)`,
        source: 'github.com/larq/larq',
        description:
          'binary: kernels of Quant* layers (quant_conv2d_N, quant_dense_N); full precision: every other layer',
      };
  const clip = model?.clip ?? null;
  return {
    info,
    classify(name) {
      if (!LARQ_KERNEL.test(name)) {
        return { binary: false, reason: `not a kernel (${info.name} layout)`, clip: null };
      }
      const layer = name.split('/')[0];
      if (LARQ_BINARY.test(name)) {
        return {
          binary: true,
          reason: `${layer} is a Larq Quant layer with a sign kernel quantizer (${info.name} layout)`,
          clip,
        };
      }
      return {
        binary: false,
        reason: `${layer} is a full-precision Keras layer (${info.name} layout)`,
        clip: null,
      };
    },
  };
}

/**
 * The profile whose layout `tensors` (all tensors of a checkpoint: names as stored, shapes)
 * follow, or undefined when none does.
 */
export function detectProfile(tensors: readonly TensorLike[]): CheckpointProfile | undefined {
  return pytorchResnetProfile(tensors) ?? larqZooProfile(tensors);
}
