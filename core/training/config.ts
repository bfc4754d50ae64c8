/**
 * Run configurations: validation of `*.bnn.json` files and CLI flags, defaults from presets.
 * Every error names the source (file or flag) and the field, and nothing starts on an error.
 */
import { ConfigError, nearest } from '../errors';
import { FILE_CAPS, readBoundedTextSync } from '../io/boundedFile';
import type { DatasetConfig, QuantizerSetting, TrainConfig } from '../protocol';
import { getPresetInfo, PRESET_NAMES } from '../bnn/presetCatalog';
import {
  overrideArchitecture,
  validateArchitecture,
  validateLayerPrecision,
} from '../bnn/architectureSpec';
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
  'optimizer',
  'momentum',
  'schedule',
  'warmupEpochs',
  'stepMilestones',
  'stepGamma',
  'weightDecay',
  'latentClip',
  'inputQuantizer',
  'kernelQuantizer',
  'scaling',
  'recu',
  'bonn',
  'augment',
  'architecture',
  'layerPrecision',
]);
const DATASET_NAMES = ['mnist', 'fashion-mnist', 'idx', 'cifar10'] as const;
const QUANTIZER_KINDS = ['ste_sign', 'approx_sign', 'swish_sign', 'magnitude_aware_sign'] as const;

/** Defaults shared by every preset unless the preset overrides them. */
export const GLOBAL_DEFAULTS = {
  seed: 42,
  limit: 0,
  testLimit: 0,
  telemetryEverySteps: 10,
  histogramBins: DEFAULT_BINS,
  deadTau: DEFAULT_DEAD_TAU,
  optimizer: 'adam',
  momentum: 0.9,
  schedule: 'cosine',
  warmupEpochs: 0,
  stepMilestones: [] as number[],
  stepGamma: 0.1,
  weightDecay: 0,
  latentClip: 0,
  inputQuantizer: { kind: 'ste_sign', clip: 1 } as QuantizerSetting,
  kernelQuantizer: { kind: 'ste_sign', clip: 1 } as QuantizerSetting,
  scaling: 'none',
  recu: null as TrainConfig['recu'],
  bonn: null as TrainConfig['bonn'],
  augment: false,
};

function checkEnum<T extends string>(
  source: string,
  field: string,
  value: unknown,
  allowed: readonly T[],
): T {
  if (!allowed.includes(value as T)) {
    throw new ConfigError(
      source,
      field,
      `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`,
      {
        value,
        allowed: { kind: 'oneOf', values: allowed },
        suggestion: typeof value === 'string' ? nearest(value, allowed) : undefined,
      },
    );
  }
  return value as T;
}

/**
 * `"learningrate" is not a known key; did you mean "learningRate"?`, or the list of known keys
 * when nothing is close. @param prefix the parent field with its dot (`dataset.`), or ''.
 */
function unknownKey(
  source: string,
  prefix: string,
  key: string,
  keys: readonly string[],
): ConfigError {
  const suggestion = nearest(key, keys);
  const detail =
    suggestion === undefined
      ? `is not a known key (allowed: ${keys.join(', ')})`
      : 'is not a known key';
  return new ConfigError(source, `${prefix}${key}`, detail, {
    allowed: { kind: 'keys', keys },
    suggestion: suggestion === undefined ? undefined : `${prefix}${suggestion}`,
  });
}

function checkObject(
  source: string,
  field: string,
  value: unknown,
  keys: readonly string[],
): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(source, field, `must be an object with ${keys.join(', ')}`, { value });
  }
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) throw unknownKey(source, `${field}.`, key, keys);
  }
  return value as Record<string, unknown>;
}

function checkQuantizer(source: string, field: string, value: unknown): QuantizerSetting {
  const v = checkObject(source, field, value, ['kind', 'clip', 'beta']);
  const kind = checkEnum(source, `${field}.kind`, v.kind, QUANTIZER_KINDS);
  const clip =
    v.clip === null ? null : checkNumber(source, `${field}.clip`, v.clip ?? 1, 0, 100, true);
  const out: QuantizerSetting = { kind, clip };
  if (kind === 'swish_sign')
    out.beta = checkNumber(source, `${field}.beta`, v.beta ?? 5, 0, 100, true);
  else if (v.beta !== undefined)
    throw new ConfigError(source, `${field}.beta`, 'applies to swish_sign only');
  return out;
}

function checkRecu(source: string, value: unknown): TrainConfig['recu'] {
  if (value === null || value === false) return null;
  const v = checkObject(source, 'recu', value, ['tauStart', 'tauEnd']);
  const tauStart = checkNumber(source, 'recu.tauStart', v.tauStart ?? 0.85, 0.5, 1, true, true);
  const tauEnd = checkNumber(source, 'recu.tauEnd', v.tauEnd ?? 0.99, 0.5, 1, true, true);
  return { tauStart, tauEnd };
}

function checkBonn(source: string, value: unknown): TrainConfig['bonn'] {
  if (value === null || value === false) return null;
  const v = checkObject(source, 'bonn', value, ['lambda', 'theta', 'nu']);
  return {
    lambda: checkNumber(source, 'bonn.lambda', v.lambda ?? 1e-4, 0, 1e3),
    theta: checkNumber(source, 'bonn.theta', v.theta ?? 1e-3, 0, 1e3),
    nu: checkNumber(source, 'bonn.nu', v.nu ?? 1, 0, 1e3),
  };
}

/**
 * A preset's step milestones for a run of `epochs` instead of the preset's `presetEpochs`:
 * scaled proportionally (100 and 110 of 120 become 8 and 9 of 10), kept in [1, epochs − 1] and
 * strictly increasing; milestones that collide are dropped.
 */
export function scaleMilestones(
  milestones: readonly number[],
  presetEpochs: number,
  epochs: number,
): number[] {
  if (epochs === presetEpochs) return [...milestones];
  const out: number[] = [];
  for (const m of milestones) {
    const scaled = Math.min(epochs - 1, Math.max(1, Math.round((m * epochs) / presetEpochs)));
    if (scaled > (out.at(-1) ?? 0)) out.push(scaled);
  }
  return out;
}

function checkMilestones(source: string, value: unknown, epochs: number): number[] {
  if (!Array.isArray(value) || value.length > 64) {
    throw new ConfigError(source, 'stepMilestones', 'must be a list of at most 64 epoch numbers');
  }
  let previous = 0;
  value.forEach((m, i) => {
    checkInteger(source, `stepMilestones[${i}]`, m, previous + 1, Math.max(previous + 1, epochs));
    previous = m as number;
  });
  return value as number[];
}

/**
 * A value as the message shows it: JSON, except numbers JSON cannot write (`1e999` parses as
 * Infinity, which JSON.stringify would show as "null").
 */
function shown(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    return Number.isNaN(value) ? 'NaN' : `a number too large to represent (${value})`;
  }
  return JSON.stringify(value) ?? String(value);
}

function checkInteger(
  source: string,
  field: string,
  value: unknown,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new ConfigError(source, field, `must be an integer ${range}, got ${shown(value)}`, {
      value,
      allowed: { kind: 'range', min, max, openMin: false, openMax: false, integer: true },
    });
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
    throw new ConfigError(source, field, `must be a number in ${range}, got ${shown(value)}`, {
      value,
      allowed: { kind: 'range', min, max, openMin, openMax, integer: false },
    });
  }
  return value as number;
}

function checkDataset(source: string, value: unknown): DatasetConfig {
  if (typeof value === 'string') value = { name: value };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(
      source,
      'dataset',
      `must be "mnist", "fashion-mnist", "idx", "cifar10" or { "name", "path" }`,
    );
  }
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v)) {
    if (key !== 'name' && key !== 'path')
      throw unknownKey(source, 'dataset.', key, ['name', 'path']);
  }
  checkEnum(source, 'dataset.name', v.name, DATASET_NAMES);
  if (v.path !== undefined && (typeof v.path !== 'string' || v.path.length === 0)) {
    throw new ConfigError(source, 'dataset.path', 'must be a non-empty folder path', {
      value: v.path,
    });
  }
  const name = v.name as DatasetConfig['name'];
  if ((name === 'cifar10' || name === 'idx') && v.path === undefined) {
    throw new ConfigError(
      source,
      'dataset.path',
      name === 'cifar10'
        ? 'is required for "cifar10": name the folder that holds data_batch_1..5.bin and test_batch.bin'
        : 'is required for "idx": name the folder that holds its IDX files',
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
      throw unknownKey(
        source,
        '',
        key,
        [...KEYS].filter((k) => k !== '$schema'),
      );
    }
  }
  const presetName = checkEnum(source, 'preset', r.preset ?? 'mnist-cnn', PRESET_NAMES);
  const preset = getPresetInfo(presetName);
  const d = { ...GLOBAL_DEFAULTS, ...preset.defaults };
  const pick = <T>(key: string, fallback: T): unknown => (r[key] === undefined ? fallback : r[key]);
  const epochs = checkInteger(source, 'epochs', pick('epochs', d.epochs), 1, 10_000);
  let architecture: TrainConfig['architecture'];
  if (preset.architecture) {
    architecture = validateArchitecture(
      overrideArchitecture(preset.architecture, r.architecture, source),
      preset.inputShape,
      source,
    );
  } else if (
    r.architecture !== undefined &&
    (typeof r.architecture !== 'object' ||
      r.architecture === null ||
      Object.keys(r.architecture).length > 0)
  ) {
    throw new ConfigError(
      source,
      'architecture',
      `must be {} for ${presetName}: it has no architecture parameters`,
    );
  }
  const layerPrecision =
    r.layerPrecision === undefined
      ? undefined
      : validateLayerPrecision(r.layerPrecision, architecture, source);
  const training = {
    optimizer: checkEnum(source, 'optimizer', pick('optimizer', d.optimizer), ['adam', 'sgd']),
    momentum: checkNumber(source, 'momentum', pick('momentum', d.momentum), 0, 1, false, true),
    schedule: checkEnum(source, 'schedule', pick('schedule', d.schedule), [
      'cosine',
      'step',
      'constant',
    ]),
    warmupEpochs: checkInteger(
      source,
      'warmupEpochs',
      // A preset's warm-up shrinks with a shorter run; an explicit one is checked as given.
      pick('warmupEpochs', Math.min(d.warmupEpochs, Math.max(0, epochs - 1))),
      0,
      Math.max(0, epochs - 1),
    ),
    stepMilestones: checkMilestones(
      source,
      pick('stepMilestones', scaleMilestones(d.stepMilestones, d.epochs, epochs)),
      epochs,
    ),
    stepGamma: checkNumber(source, 'stepGamma', pick('stepGamma', d.stepGamma), 0, 1, true),
    weightDecay: checkNumber(
      source,
      'weightDecay',
      pick('weightDecay', d.weightDecay),
      0,
      1,
      false,
      true,
    ),
    latentClip: checkNumber(source, 'latentClip', pick('latentClip', d.latentClip), 0, 100),
    inputQuantizer: checkQuantizer(
      source,
      'inputQuantizer',
      pick('inputQuantizer', d.inputQuantizer),
    ),
    kernelQuantizer: checkQuantizer(
      source,
      'kernelQuantizer',
      pick('kernelQuantizer', d.kernelQuantizer),
    ),
    scaling: checkEnum(source, 'scaling', pick('scaling', d.scaling), [
      'none',
      'channel_mean',
      'learnable',
    ]),
    recu: checkRecu(source, pick('recu', d.recu)),
    bonn: checkBonn(source, pick('bonn', d.bonn)),
    augment: pick('augment', d.augment),
  };
  if (typeof training.augment !== 'boolean') {
    throw new ConfigError(
      source,
      'augment',
      `must be true or false, got ${JSON.stringify(training.augment)}`,
      { value: training.augment, allowed: { kind: 'oneOf', values: ['true', 'false'] } },
    );
  }
  return {
    preset: presetName,
    epochs,
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
    ...training,
    augment: training.augment as boolean,
    ...(architecture ? { architecture } : {}),
    ...(layerPrecision && Object.keys(layerPrecision).length > 0 ? { layerPrecision } : {}),
  };
}

/**
 * The JSON value of a `*.bnn.json` file's text, not yet validated (a front end may add defaults
 * before {@link resolveConfig}). @throws ConfigError naming the file on bad JSON.
 */
export function parseConfigJson(text: string, file: string): unknown {
  try {
    // Editors on Windows may save with a UTF-8 byte-order mark, which JSON.parse refuses.
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (e) {
    throw new ConfigError(file, '(root)', `is not valid JSON: ${(e as Error).message}`);
  }
}

/** Parses the text of a `*.bnn.json` file. @throws ConfigError naming the file and the field. */
export function parseConfigFile(text: string, file: string): TrainConfig {
  return resolveConfig(parseConfigJson(text, file), file);
}

/**
 * Reads and validates a run config file. Only a regular file of at most 4 MB is read: a folder,
 * FIFO or device (`--config /dev/zero`) is refused with one message before it is opened.
 */
export function readConfigFile(path: string): TrainConfig {
  return parseConfigFile(
    readBoundedTextSync(path, { what: 'run config', maxBytes: FILE_CAPS.config }),
    path,
  );
}
