/**
 * Run configurations: validation of `*.bnn.json` files and CLI flags, defaults from presets.
 * Every error names the source (file or flag) and the field, and nothing starts on an error.
 */
import { ConfigError } from '../errors';
import type { DatasetConfig, TrainConfig } from '../protocol';
import { getPresetInfo, PRESET_NAMES } from '../bnn/presetCatalog';
import { DEFAULT_BINS, DEFAULT_DEAD_TAU } from '../metrics/layerStats';

/** Keys a run config file may hold; anything else is an error (typos must not pass silently). */
const KEYS: ReadonlySet<string> = new Set([
  '$schema',
  'preset',
  'epochs',
  'batchSize',
  'learningRate',
  'seed',
  'dataset',
  'limit',
  'testLimit',
  'telemetryEverySteps',
  'histogramBins',
  'deadTau',
]);
const DATASET_NAMES = ['mnist', 'fashion-mnist', 'idx'] as const;

/** Defaults shared by every preset unless the preset overrides them. */
export const GLOBAL_DEFAULTS = {
  seed: 42,
  limit: 0,
  testLimit: 0,
  telemetryEverySteps: 10,
  histogramBins: DEFAULT_BINS,
  deadTau: DEFAULT_DEAD_TAU,
};

function checkInteger(
  source: string,
  field: string,
  value: unknown,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new ConfigError(
      source,
      field,
      `must be an integer ${range}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function checkNumber(
  source: string,
  field: string,
  value: unknown,
  min: number,
  max: number,
  openMin = false,
  openMax = false,
): number {
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (openMin ? value > min : value >= min) &&
    (openMax ? value < max : value <= max);
  if (!ok) {
    const range = `${openMin ? '(' : '['}${min}, ${max}${openMax ? ')' : ']'}`;
    throw new ConfigError(
      source,
      field,
      `must be a number in ${range}, got ${JSON.stringify(value)}`,
    );
  }
  return value as number;
}

function checkDataset(source: string, value: unknown): DatasetConfig {
  if (typeof value === 'string') value = { name: value };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(
      source,
      'dataset',
      `must be "mnist", "fashion-mnist", "idx" or { "name", "path" }`,
    );
  }
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v)) {
    if (key !== 'name' && key !== 'path') {
      throw new ConfigError(source, `dataset.${key}`, 'is not a known key (allowed: name, path)');
    }
  }
  if (!DATASET_NAMES.includes(v.name as (typeof DATASET_NAMES)[number])) {
    throw new ConfigError(
      source,
      'dataset.name',
      `must be one of ${DATASET_NAMES.join(', ')}, got ${JSON.stringify(v.name)}`,
    );
  }
  if (v.path !== undefined && (typeof v.path !== 'string' || v.path.length === 0)) {
    throw new ConfigError(source, 'dataset.path', 'must be a non-empty folder path');
  }
  const name = v.name as DatasetConfig['name'];
  if (name !== 'mnist' && v.path === undefined) {
    throw new ConfigError(
      source,
      'dataset.path',
      `is required for "${name}": name the folder that holds its IDX files`,
    );
  }
  return v.path === undefined ? { name } : { name, path: v.path as string };
}

/**
 * Validates a raw run config (parsed JSON or CLI overrides) and fills every default from its
 * preset. @param source the file or flag set, used in error messages.
 * @throws ConfigError naming the source and the field.
 */
export function resolveConfig(raw: unknown, source: string): TrainConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(source, '(root)', 'must be a JSON object like { "preset": "mnist-cnn" }');
  }
  const r = raw as Record<string, unknown>;
  for (const key of Object.keys(r)) {
    if (!KEYS.has(key)) {
      throw new ConfigError(
        source,
        key,
        `is not a known key (allowed: ${[...KEYS].filter((k) => k !== '$schema').join(', ')})`,
      );
    }
  }
  const presetName = r.preset ?? 'mnist-cnn';
  if (typeof presetName !== 'string' || !PRESET_NAMES.includes(presetName)) {
    throw new ConfigError(
      source,
      'preset',
      `must be one of ${PRESET_NAMES.join(', ')}, got ${JSON.stringify(presetName)}`,
    );
  }
  const preset = getPresetInfo(presetName);
  const d = { ...GLOBAL_DEFAULTS, ...preset.defaults };
  const pick = <T>(key: string, fallback: T): unknown => (r[key] === undefined ? fallback : r[key]);
  return {
    preset: presetName,
    epochs: checkInteger(source, 'epochs', pick('epochs', d.epochs), 1, 10_000),
    batchSize: checkInteger(source, 'batchSize', pick('batchSize', d.batchSize), 1, 65_536),
    learningRate: checkNumber(
      source,
      'learningRate',
      pick('learningRate', d.learningRate),
      0,
      10,
      true,
    ),
    seed: checkInteger(source, 'seed', pick('seed', d.seed), 0, 2 ** 31 - 1),
    dataset: checkDataset(source, pick('dataset', preset.dataset)),
    limit: checkInteger(source, 'limit', pick('limit', d.limit), 0),
    testLimit: checkInteger(source, 'testLimit', pick('testLimit', d.testLimit), 0),
    telemetryEverySteps: checkInteger(
      source,
      'telemetryEverySteps',
      pick('telemetryEverySteps', d.telemetryEverySteps),
      1,
      1_000_000,
    ),
    histogramBins: checkInteger(
      source,
      'histogramBins',
      pick('histogramBins', d.histogramBins),
      2,
      1024,
    ),
    deadTau: checkNumber(source, 'deadTau', pick('deadTau', d.deadTau), 0.5, 1, true, true),
  };
}

/** Parses the text of a `*.bnn.json` file. @throws ConfigError naming the file on bad JSON. */
export function parseConfigFile(text: string, file: string): TrainConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, '(root)', `is not valid JSON: ${(e as Error).message}`);
  }
  return resolveConfig(raw, file);
}
