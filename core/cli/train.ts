/**
 * `bnn-lab train`: trains a preset or a run config into a new run folder. TensorFlow.js and the
 * trainer load when the command runs, not when the CLI starts.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { getPresetInfo, PRESET_NAMES } from '../bnn/presetCatalog';
import { createRunDir } from '../io/runNames';
import { threadCountProblem } from '../parallel/shards';
import type { BackendPreference, LayerTelemetry, MetricsRecord } from '../protocol';
import { BACKEND_NAMES } from '../protocol';
import type { RunHooks } from '../training/api';
import { readConfigFile, resolveConfig } from '../training/config';
import { GLOBAL_DEFAULTS } from '../training/config';
import {
  numberOption,
  RunFailed,
  stringOption,
  UsageError,
  type Command,
  type CommandContext,
  type OptionValues,
} from './args';
import { backendLine, formatDuration, layerSummary, percent, TrainProgress } from './progress';
import { nameTable } from './table';

/** The per-layer table printed at the end of a run. */
export function layerTable(layers: LayerTelemetry[]): string {
  const header = ['layer', 'params', 'QE', 'dead', 'starved', 'flipRate', 'frozen', 'sign+'];
  const rows = layers.map((l) => [
    l.name,
    String(l.params),
    l.quantizationError.toFixed(4),
    percent(l.deadWeightRatio),
    l.starvedWeightRatio === null ? '-' : percent(l.starvedWeightRatio),
    l.flipRate.toExponential(2),
    percent(l.frozenRatio),
    percent(l.signBalance),
  ]);
  return nameTable(header, rows).join('\n');
}

/** `--lr`'s help, from the presets' schedules (cosine decay to 0, step decay or constant). */
export function learningRateHelp(): string {
  const bySchedule = new Map<string, string[]>();
  for (const name of PRESET_NAMES) {
    const schedule = getPresetInfo(name).defaults.schedule ?? GLOBAL_DEFAULTS.schedule;
    bySchedule.set(schedule, [...(bySchedule.get(schedule) ?? []), name]);
  }
  const wording: Record<string, string> = {
    cosine: 'cosine decay to 0',
    step: 'step decay at milestones',
    constant: 'constant',
  };
  // The most common schedule is named last, "for the other presets".
  const groups = [...bySchedule].sort((x, y) => x[1].length - y[1].length);
  const schedules = groups.map(([schedule, names], i) => {
    const which =
      groups.length === 1
        ? 'every preset'
        : i === groups.length - 1
          ? 'the others'
          : names.join(', ');
    return `${wording[schedule] ?? schedule} for ${which}`;
  });
  return `base learning rate (default: the preset's), shaped over the run by the preset's schedule: ${schedules.join('; ')}`;
}

/**
 * Writes a run's records as text: the header and progress on stderr, the epoch lines (and the
 * layer line after each) on stdout. Used by `train` and `finetune`.
 */
export class TextReport {
  readonly progress: TrainProgress;
  private started = Date.now();

  constructor(
    private readonly context: CommandContext,
    private readonly runDir: string,
  ) {
    this.progress = new TrainProgress(context.progress);
  }

  /** Diagnostic lines from the engine. The backend lines become one line at the start. */
  log(level: 'info' | 'warn' | 'error', message: string): void {
    // Errors come back as the run's result; their stack goes to stderr only when debugging.
    if (level === 'error' && !process.env.BNN_LAB_DEBUG) return;
    if (level === 'info' && /^backend[ :]/.test(message)) return;
    this.err(
      `${level === 'info' ? '' : `${level}: `}${process.env.BNN_LAB_DEBUG ? message : message.split('\n')[0]}\n`,
    );
  }

  err(text: string): void {
    this.progress.clear();
    this.context.err(text);
  }

  out(text: string): void {
    this.progress.clear();
    this.context.out(text);
  }

  record(record: MetricsRecord): void {
    switch (record.event) {
      case 'start': {
        this.started = Date.now();
        this.progress.start(record);
        const epochs = this.progress.totalEpochs;
        this.err(
          `run folder: ${this.runDir}\npreset ${record.preset} · ${epochs} epoch${epochs === 1 ? '' : 's'} × ${record.stepsPerEpoch} steps of ${record.config.batchSize}\n${backendLine(record.backend)}\n`,
        );
        break;
      }
      case 'phase':
        this.progress.phase(record);
        break;
      case 'step':
        this.progress.step(record);
        break;
      case 'epoch': {
        this.out(
          `epoch ${record.epoch}: train loss ${record.trainLoss.toFixed(4)} acc ${percent(record.trainAccuracy)} · test loss ${record.testLoss.toFixed(4)} acc ${percent(record.testAccuracy)} · ${formatDuration(record.durationMs)}\n`,
        );
        const layers = this.progress.latest?.layers ?? [];
        const summary = layerSummary(layers, this.progress.width);
        if (summary) this.out(`${summary}\n`);
        // LNS fine-tuning: how far each layer's mapper is from sgn(W).
        const disagreement = layers
          .filter((l) => l.disagreement !== undefined)
          .map((l) => `${l.name} ${percent(l.disagreement ?? 0)}`);
        if (disagreement.length > 0)
          this.out(`  mapper disagreement ${disagreement.join(' · ')}\n`);
        break;
      }
      case 'done':
        break;
    }
  }

  finish(result: { status: string; testAccuracy: number | null; message?: string }): void {
    const last = this.progress.latest;
    if (last) this.out(`\n${layerTable(last.layers)}\n\n`);
    if (result.status === 'completed')
      this.out(
        `done: test accuracy ${percent(result.testAccuracy ?? 0)} in ${formatDuration(Date.now() - this.started)}; run folder ${this.runDir}\n`,
      );
  }
}

/** Config fields the options set, so a ConfigError about one names the option. */
const FIELD_OPTIONS: Record<string, string> = {
  preset: '--preset',
  epochs: '--epochs',
  batchSize: '--batch-size',
  learningRate: '--lr',
  seed: '--seed',
  limit: '--limit',
  testLimit: '--test-limit',
  dataset: '--dataset',
  'dataset.path': '--dataset',
};

async function runTrain(context: CommandContext): Promise<number> {
  const { values, json } = context;
  let raw: Record<string, unknown> = {};
  let source = 'command line';
  const configFile = stringOption(values, 'config');
  if (configFile !== undefined) {
    if (!existsSync(configFile))
      throw new UsageError(`run config ${configFile} does not exist`, '--config', configFile);
    raw = { ...readConfigFile(configFile) };
    source = `${configFile} with command-line overrides`;
  }
  const overrides: Record<string, unknown> = {
    preset: stringOption(values, 'preset'),
    epochs: numberOption(values, 'epochs'),
    batchSize: numberOption(values, 'batch-size'),
    learningRate: numberOption(values, 'lr'),
    seed: numberOption(values, 'seed'),
    limit: numberOption(values, 'limit'),
    testLimit: numberOption(values, 'test-limit'),
  };
  const datasetPath = stringOption(values, 'dataset');
  if (datasetPath !== undefined) {
    // Keep the preset's dataset kind (normalization, CIFAR-10 format); other folders are IDX.
    const presetName = overrides.preset ?? raw.preset ?? 'mnist-cnn';
    const presetDataset = PRESET_NAMES.includes(presetName as string)
      ? getPresetInfo(presetName as string).dataset.name
      : 'idx';
    const name = presetDataset === 'mnist' ? 'idx' : presetDataset;
    overrides.dataset = { name, path: resolve(datasetPath) };
  }
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) raw[k] = v;
  const config = resolveConfig(raw, source);
  const backend = backendOption(values);
  const threads = threadsOption(values);
  const resumeFrom = resumeOption(values);
  const parent = resolve(stringOption(values, 'out') ?? join('.bnn-lab', 'runs'));
  const runDir = await createRunDir(parent, config.preset, new Date());
  const text = json ? undefined : new TextReport(context, runDir);
  const ctrlC = stopOnCtrlC(context, text);
  try {
    const { runTraining } = await import('../run/train.js');
    const result = await runTraining(
      {
        runId: runDir,
        config,
        runDir,
        backend,
        threads,
        ...(resumeFrom !== undefined ? { resumeFrom } : {}),
      },
      runHooks(context, text, ctrlC.isCancelled),
    );
    text?.finish(result);
    if (result.status === 'failed') throw new RunFailed(result.message ?? 'the run failed', runDir);
    if (result.status === 'cancelled') {
      if (text) text.err(`cancelled; run folder ${runDir}\n`);
      return 130;
    }
    return 0;
  } finally {
    text?.progress.clear();
    ctrlC.dispose();
  }
}

/** `--threads N`: data-parallel threads, every core by default. @throws UsageError. */
export function threadsOption(values: OptionValues): number {
  const threads = numberOption(values, 'threads') ?? availableParallelism();
  const threadProblem = threadCountProblem(threads, availableParallelism());
  if (threadProblem)
    throw new UsageError(`--threads: ${threadProblem}`, '--threads', String(threads));
  return threads;
}

/** `--resume DIR`: a checkpoint folder, absolute. @throws UsageError when it is not one. */
export function resumeOption(values: OptionValues): string | undefined {
  const resumeFrom = stringOption(values, 'resume');
  if (resumeFrom !== undefined && !existsSync(join(resumeFrom, 'training-state.json'))) {
    throw new UsageError(
      `--resume ${resumeFrom} is not a checkpoint folder (no training-state.json); name one like RUN/checkpoints/epoch-3`,
      '--resume',
      resumeFrom,
    );
  }
  return resumeFrom === undefined ? undefined : resolve(resumeFrom);
}

/** `--limit` and `--test-limit`, as train and finetune show them. */
export const LIMIT_OPTIONS = [
  {
    name: 'limit',
    type: 'string',
    value: 'N',
    help: 'train on the first N examples only (0 = all)',
  },
  {
    name: 'test-limit',
    type: 'string',
    value: 'N',
    help: 'evaluate on the first N test examples only (0 = all)',
  },
] as const;

/** The `--backend` option, as train and finetune show it. */
export const BACKEND_OPTION = {
  name: 'backend',
  type: 'string',
  value: 'NAME',
  help: `auto | ${BACKEND_NAMES.join(' | ')} (default auto)`,
} as const;

/** The `--threads` option, as train and finetune show it. */
export const THREADS_OPTION = {
  name: 'threads',
  type: 'string',
  value: 'N',
  help: 'data-parallel threads, 1 to the number of cores (default: every core); batch norm is synchronized, so any N trains the same model up to rounding',
} as const;

/** `--backend NAME`: auto or a backend the engine knows. */
export function backendOption(values: OptionValues): BackendPreference {
  const backend = (stringOption(values, 'backend') ?? 'auto') as BackendPreference;
  if (backend !== 'auto' && !(BACKEND_NAMES as readonly string[]).includes(backend)) {
    throw new UsageError(
      `--backend must be auto or one of ${BACKEND_NAMES.join(', ')}, got "${backend}"`,
      '--backend',
      backend,
    );
  }
  return backend;
}

/**
 * Ctrl-C during a run (train, finetune): the first stops after the current batch, a second exits
 * at once. `dispose` removes the handler when the run ends.
 */
export function stopOnCtrlC(
  context: CommandContext,
  text: TextReport | undefined,
): { isCancelled: () => boolean; dispose: () => void } {
  let cancelled = false;
  const message = 'stopping after the current batch (Ctrl-C again to exit now)';
  const onSigint = () => {
    if (cancelled) process.exit(130);
    cancelled = true;
    if (text) text.err(`\n${message}\n`);
    else context.err(`${JSON.stringify({ event: 'warning', message })}\n`);
  };
  process.on('SIGINT', onSigint);
  return { isCancelled: () => cancelled, dispose: () => process.off('SIGINT', onSigint) };
}

/**
 * A run's hooks for the CLI: records as text through `text`, or (under `--json`) as JSON lines on
 * stdout with warnings as JSON on stderr; an error's stack only with BNN_LAB_DEBUG.
 */
export function runHooks(
  context: CommandContext,
  text: TextReport | undefined,
  isCancelled: () => boolean,
): RunHooks {
  return {
    isCancelled,
    log: (level, message) => {
      if (text) text.log(level, message);
      else if (level === 'warn')
        context.err(`${JSON.stringify({ event: 'warning', message: message.split('\n')[0] })}\n`);
      else if (level === 'error' && process.env.BNN_LAB_DEBUG) context.err(`${message}\n`);
    },
    onRecord: (record) => {
      if (text) text.record(record);
      else context.out(JSON.stringify(record) + '\n');
    },
  };
}

export const trainCommand: Command = {
  name: 'train',
  summary:
    'Train a preset or a run config (*.bnn.json) into a new run folder (config.json, metrics.jsonl, checkpoints/).',
  usage: 'train [--preset NAME | --config FILE.bnn.json] [options]',
  positionals: { min: 0, max: 0, names: [] },
  options: [
    {
      name: 'preset',
      type: 'string',
      value: 'NAME',
      help: 'a preset (see `bnn-lab presets`); default mnist-cnn',
    },
    {
      name: 'config',
      type: 'string',
      value: 'FILE',
      help: 'a run config (*.bnn.json); the options below override its fields',
    },
    { name: 'epochs', type: 'string', value: 'N', help: "epochs (default: the preset's)" },
    { name: 'batch-size', type: 'string', value: 'N', help: 'examples per step' },
    { name: 'lr', type: 'string', value: 'X', help: learningRateHelp },
    { name: 'seed', type: 'string', value: 'N', help: 'seed for initialization and data order' },
    ...LIMIT_OPTIONS,
    {
      name: 'dataset',
      type: 'string',
      value: 'PATH',
      help: 'the dataset folder: IDX files (train-images-idx3-ubyte, … optionally .gz), or data_batch_1..5.bin + test_batch.bin for the cifar10-* presets',
    },
    {
      name: 'resume',
      type: 'string',
      value: 'DIR',
      help: 'continue from a checkpoint folder (…/checkpoints/epoch-N) of a run with the same config and seed; the new run folder gets the records after epoch N',
    },
    BACKEND_OPTION,
    THREADS_OPTION,
    {
      name: 'out',
      type: 'string',
      value: 'DIR',
      help: 'parent folder of the run folder (default .bnn-lab/runs)',
    },
  ],
  jsonHelp:
    'print the metrics.jsonl records, one JSON object per line; the last is {"event":"done",…}',
  notes:
    'Progress goes to stderr: on a terminal one line redrawn in place, fitted to its width; otherwise a line every 15 s. Epoch results, a per-epoch line naming the layers with the highest deadWeightRatio, frozenRatio and flipRate, and the final layer table go to stdout. Ctrl-C stops after the current batch (the run ends as cancelled, exit 130); a second Ctrl-C exits at once.',
  fieldOptions: FIELD_OPTIONS,
  run: runTrain,
};
