/**
 * The preset catalog: names, descriptions, datasets and default schedules, without TensorFlow.js,
 * so the extension host can list and validate presets without loading the engine.
 * The model builders live in presets.ts.
 */
import type { DatasetConfig } from '../protocol';

export interface PresetDefaults {
  epochs: number;
  batchSize: number;
  learningRate: number;
}

export interface PresetInfo {
  name: string;
  /** One line for quick picks and `bnn-lab presets`. */
  description: string;
  dataset: DatasetConfig;
  /** Input image shape `[height, width, channels]`. */
  inputShape: [number, number, number];
  classes: number;
  defaults: PresetDefaults;
}

const CATALOG: readonly PresetInfo[] = [
  {
    name: 'mnist-cnn',
    description:
      'Small binary CNN for 28×28 digits: FP first conv and last dense, 2 binary convs + binary dense, STE (clip 1), batch norm',
    dataset: { name: 'mnist' },
    inputShape: [28, 28, 1],
    classes: 10,
    defaults: { epochs: 8, batchSize: 64, learningRate: 0.002 },
  },
];

export const PRESET_NAMES: readonly string[] = CATALOG.map((p) => p.name);

/** @throws Error for an unknown name (callers validate names first through resolveConfig). */
export function getPresetInfo(name: string): PresetInfo {
  const preset = CATALOG.find((p) => p.name === name);
  if (!preset) throw new Error(`unknown preset "${name}" (known: ${PRESET_NAMES.join(', ')})`);
  return preset;
}

/** Name and one-line description of every preset, for quick picks and `bnn-lab presets`. */
export function listPresets(): { name: string; description: string }[] {
  return CATALOG.map((p) => ({ name: p.name, description: p.description }));
}
