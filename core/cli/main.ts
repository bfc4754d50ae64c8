/**
 * `bnn-lab` command line: the same engine as the extension, no VS Code.
 * Exit codes: 0 ok, 1 run failed, 2 bad usage or input, 130 cancelled (Ctrl-C).
 * TensorFlow.js and the trainer load only for the commands that train: `inspect` starts fast.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { getPresetInfo, PRESET_NAMES } from '../bnn/presetCatalog';
import { UserError } from '../errors';
import { threadCountProblem } from '../parallel/shards';
import type { BackendPreference, LayerTelemetry, MetricsRecord } from '../protocol';
import { BACKEND_NAMES } from '../protocol';
import { readConfigFile, resolveConfig } from '../training/config';
import { numberFlag, parseArgs } from './args';
import { compareCommand, inspectCommand, seriesCommand } from './inspect';
import { createRunDir } from '../io/runNames';

const HELP = `bnn-lab: train and inspect binary neural networks (BNN Lab's engine, without VS Code)

Usage:
  bnn-lab train [--preset NAME | --config FILE.bnn.json] [options]
  bnn-lab finetune CHECKPOINT --method lns|plain [--epochs N] [--alpha A] [--rho R] [--json] (--help: all options)
  bnn-lab presets
  bnn-lab inspect FILE [--json] [--tau T]
  bnn-lab compare A B [--json]
  bnn-lab series DIR [--json]
  bnn-lab --help

train options:
  --preset NAME       a preset (see \`bnn-lab presets\`); default mnist-cnn
  --config FILE       a run config (*.bnn.json); flags below override its fields
  --epochs N          epochs (default: the preset's)
  --batch-size N      examples per step
  --lr X              base learning rate (cosine decay to 0)
  --seed N            seed for initialization and data order
  --limit N           train on the first N examples only (0 = all)
  --test-limit N      evaluate on the first N test examples only (0 = all)
  --dataset PATH      the dataset folder: IDX files (train-images-idx3-ubyte, … optionally .gz), or
                      data_batch_1..5.bin + test_batch.bin for the cifar10-* presets
  --resume DIR        continue from a checkpoint folder (…/checkpoints/epoch-N) of a run with the
                      same config and seed; the new run folder gets the records after epoch N
  --backend NAME      auto | ${BACKEND_NAMES.join(' | ')} (default auto)
  --threads N         data-parallel threads, 1 to the number of cores (default: every core);
                      batch norm is synchronized, so any N trains the same model up to rounding
  --out DIR           parent folder of the run folder (default .bnn-lab/runs)
  --json              one JSON object per line (metrics.jsonl records); the last is {"event":"done",…}

Ctrl-C stops after the current batch (the run ends as cancelled); a second Ctrl-C exits at once.
`;

type Out = (text: string) => void;

const TRAIN_FLAGS = new Set([
  'threads',
  'preset',
  'config',
  'epochs',
  'batch-size',
  'lr',
  'seed',
  'limit',
  'test-limit',
  'dataset',
  'backend',
  'out',
  'json',
  'resume',
]);

function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

function percent(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

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
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

async function trainCommand(args: string[], out: Out, err: Out): Promise<number> {
  const { flags, positional } = parseArgs(args, new Set(['json']), {
    flags: TRAIN_FLAGS,
    command: 'train',
  });
  if (positional.length > 0)
    throw new UserError(`unexpected argument "${positional[0]}" (see bnn-lab --help)`);
  const json = flags.has('json');
  let raw: Record<string, unknown> = {};
  let source = 'command line';
  const configFile = flags.get('config');
  if (configFile !== undefined) {
    if (!existsSync(configFile)) throw new UserError(`run config ${configFile} does not exist`);
    raw = { ...readConfigFile(configFile) };
    source = `${configFile} with command-line overrides`;
  }
  const overrides: Record<string, unknown> = {
    preset: flags.get('preset'),
    epochs: numberFlag(flags, 'epochs'),
    batchSize: numberFlag(flags, 'batch-size'),
    learningRate: numberFlag(flags, 'lr'),
    seed: numberFlag(flags, 'seed'),
    limit: numberFlag(flags, 'limit'),
    testLimit: numberFlag(flags, 'test-limit'),
  };
  const datasetPath = flags.get('dataset');
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
  if (flags.has('preset') && configFile === undefined) {
    // A preset given alone: its own defaults, not those of a config file.
    raw = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined));
  }
  const config = resolveConfig(raw, source);
  const backend = (flags.get('backend') ?? 'auto') as BackendPreference;
  if (backend !== 'auto' && !(BACKEND_NAMES as readonly string[]).includes(backend)) {
    throw new UserError(
      `--backend must be auto or one of ${BACKEND_NAMES.join(', ')}, got "${backend}"`,
    );
  }
  const threads = numberFlag(flags, 'threads') ?? availableParallelism();
  const threadProblem = threadCountProblem(threads, availableParallelism());
  if (threadProblem) throw new UserError(`--threads: ${threadProblem}`);
  const parent = resolve(flags.get('out') ?? join('.bnn-lab', 'runs'));
  const runDir = await createRunDir(parent, config.preset, new Date());
  let cancelled = false;
  const onSigint = () => {
    if (cancelled) process.exit(130);
    cancelled = true;
    err('\nstopping after the current batch (Ctrl-C again to exit now)\n');
  };
  process.on('SIGINT', onSigint);
  let totalSteps = 0;
  let lastStep: Extract<MetricsRecord, { event: 'step' }> | undefined;
  const started = Date.now();
  const tty = !json && process.stderr.isTTY === true;
  const resumeFrom = flags.get('resume');
  if (resumeFrom !== undefined && !existsSync(join(resumeFrom, 'training-state.json'))) {
    throw new UserError(
      `--resume ${resumeFrom} is not a checkpoint folder (no training-state.json); name one like RUN/checkpoints/epoch-3`,
    );
  }
  const { runTraining } = await import('../training/trainer.js');
  const result = await runTraining(
    {
      runId: runDir,
      config,
      runDir,
      backend,
      threads,
      ...(resumeFrom !== undefined ? { resumeFrom: resolve(resumeFrom) } : {}),
    },
    {
      isCancelled: () => cancelled,
      log: (level, message) => {
        if (level !== 'info' || !json)
          err(`${level === 'info' ? '' : `${level}: `}${message.split('\n')[0]}\n`);
      },
      onRecord: (record) => {
        if (json) {
          out(JSON.stringify(record) + '\n');
          return;
        }
        switch (record.event) {
          case 'start':
            totalSteps = record.totalSteps;
            out(
              `run folder: ${runDir}\npreset ${record.preset} · backend ${record.backend.name}${record.backend.threads > 1 ? ` × ${record.backend.threads} threads` : ''} · ${record.config.epochs} epochs × ${record.stepsPerEpoch} steps of ${record.config.batchSize}\n`,
            );
            break;
          case 'step': {
            lastStep = record;
            const elapsed = Date.now() - started;
            const eta = (elapsed / record.step) * (totalSteps - record.step);
            const width = 24;
            const filled = Math.round((width * record.step) / Math.max(1, totalSteps));
            const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
            const line = `${bar} epoch ${record.epoch} step ${record.step}/${totalSteps} loss ${record.loss.toFixed(4)} acc ${percent(record.accuracy)} ${Math.round(record.examplesPerSecond)} ex/s eta ${formatDuration(eta)}`;
            if (tty) err(`\r${line.padEnd(110)}`);
            break;
          }
          case 'epoch':
            if (tty) err('\r'.padEnd(111) + '\r');
            out(
              `epoch ${record.epoch}: train loss ${record.trainLoss.toFixed(4)} acc ${percent(record.trainAccuracy)} · test loss ${record.testLoss.toFixed(4)} acc ${percent(record.testAccuracy)} · ${formatDuration(record.durationMs)}\n`,
            );
            break;
          case 'done':
            break;
        }
      },
    },
  );
  process.off('SIGINT', onSigint);
  if (!json && lastStep) out(`\n${layerTable(lastStep.layers)}\n\n`);
  if (!json) {
    if (result.status === 'completed')
      out(
        `done: test accuracy ${percent(result.testAccuracy ?? 0)} in ${formatDuration(Date.now() - started)}; run folder ${runDir}\n`,
      );
    else err(`${result.status}: ${result.message ?? ''}\n`);
  }
  return result.status === 'completed' ? 0 : result.status === 'cancelled' ? 130 : 1;
}

async function presetsCommand(out: Out): Promise<number> {
  // Counting weights needs tensors; the cpu backend is always available and enough for that.
  const { useCpuBackend } = await import('../backend/backends.js');
  const { getPreset, listPresets } = await import('../bnn/presets.js');
  await useCpuBackend();
  const rows = listPresets().map((p) => {
    const model = getPreset(p.name).build(0);
    let params = 0;
    let binary = 0;
    for (const layer of model.layers) {
      for (const w of layer.getWeights()) params += w.size;
      if (layer.getClassName().startsWith('Binary')) binary += layer.getWeights()[0].size;
    }
    model.dispose();
    return { ...p, params, binaryShare: params > 0 ? binary / params : 0 };
  });
  for (const r of rows)
    out(
      `${r.name.padEnd(22)} ${String(r.params).padStart(9)} params  ${percent(r.binaryShare).padStart(7)} binary  ${r.description}\n`,
    );
  return 0;
}

/** Runs the CLI; returns the exit code. Errors a user can fix print one line. */
export async function main(argv: string[], out: Out, err: Out): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        out(HELP);
        return 0;
      case 'train':
        return await trainCommand(rest, out, err);
      case 'finetune':
        return await (await import('./finetune.js')).finetuneCommand(rest, out, err);
      case 'presets':
        return await presetsCommand(out);
      case 'inspect':
        return await inspectCommand(rest, (line) => out(line.endsWith('\n') ? line : `${line}\n`));
      case 'compare':
        return await compareCommand(rest, (line) => out(line.endsWith('\n') ? line : `${line}\n`));
      case 'series':
        return await seriesCommand(rest, (line) => out(line.endsWith('\n') ? line : `${line}\n`));
      default:
        err(`bnn-lab: unknown command "${command}"\n\n${HELP}`);
        return 2;
    }
  } catch (e) {
    if (e instanceof UserError) {
      err(`bnn-lab: ${e.message}\n`);
      return 2;
    }
    err(`bnn-lab: ${(e as Error).stack ?? String(e)}\n`);
    return 1;
  }
}

if (require.main === module) {
  // `bnn-lab presets | head`: a closed pipe ends the output quietly, as for other CLI tools.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  void main(
    process.argv.slice(2),
    (t) => process.stdout.write(t),
    (t) => process.stderr.write(t),
  ).then((code) => {
    process.exitCode = code;
  });
}
