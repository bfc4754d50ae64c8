/**
 * `bnn-lab finetune CHECKPOINT --method lns|plain …`: fine-tunes a BNN Lab checkpoint into a new
 * run folder (core/run/finetune.ts, docs/lns.md). TensorFlow.js loads when it runs.
 */
import { resolve } from 'node:path';
import { createRunDir } from '../io/runNames';
import type { FinetuneSummary } from '../protocol';
import {
  checkSourceCheckpoint,
  FINETUNE_METHODS,
  validateFinetune,
  type FinetuneMethod,
} from '../training/finetuneSettings';
import {
  numberOption,
  RunFailed,
  stringOption,
  UsageError,
  type Command,
  type CommandContext,
} from './args';
import { percent } from './progress';
import { nameTable } from './table';
import {
  BACKEND_OPTION,
  backendOption,
  LIMIT_OPTIONS,
  resumeOption,
  runHooks,
  stopOnCtrlC,
  TextReport,
  THREADS_OPTION,
  threadsOption,
} from './train';

/** The before/after table printed at the end of a fine-tune. */
export function finetuneTable(summary: FinetuneSummary): string {
  const header = ['layer', 'flip vs start', 'QE before', 'QE after', 'dead before', 'dead after'];
  const rows = summary.layers.map((l) => [
    l.name,
    percent(l.flipFromStart),
    l.quantizationErrorBefore.toFixed(4),
    l.quantizationErrorAfter.toFixed(4),
    percent(l.deadWeightRatioBefore),
    percent(l.deadWeightRatioAfter),
  ]);
  return [
    `test accuracy ${percent(summary.testAccuracyBefore)} → ${percent(summary.testAccuracyAfter)} (${summary.method})`,
    ...nameTable(header, rows),
  ].join('\n');
}

async function runFinetuneCommand(context: CommandContext): Promise<number> {
  const { values, positionals, json } = context;
  const method = stringOption(values, 'method');
  if (method === undefined)
    throw new UsageError(`finetune needs --method ${FINETUNE_METHODS.join('|')}`, '--method');
  const checkpoint = resolve(positionals[0]);
  const request = {
    method: method as FinetuneMethod,
    epochs: numberOption(values, 'epochs'),
    alpha: numberOption(values, 'alpha'),
    rho: numberOption(values, 'rho'),
    limit: numberOption(values, 'limit'),
    testLimit: numberOption(values, 'test-limit'),
    learningRate: numberOption(values, 'lr'),
    seed: numberOption(values, 'seed'),
    mapperWarmupSteps: numberOption(values, 'warmup-steps'),
  };
  // Fail on bad values and foreign checkpoints before a run folder exists.
  validateFinetune(request);
  const meta = checkSourceCheckpoint(checkpoint);
  const backend = backendOption(values);
  const threads = threadsOption(values);
  const resumeFrom = resumeOption(values);
  const { defaultFinetuneParent, runFinetune } = await import('../run/finetune.js');
  const parent = resolve(stringOption(values, 'out') ?? defaultFinetuneParent(checkpoint));
  const runDir = await createRunDir(parent, `${meta.preset}-finetune-${method}`, new Date());
  const text = json ? undefined : new TextReport(context, runDir);
  const ctrlC = stopOnCtrlC(context, text);
  let result;
  try {
    result = await runFinetune(
      {
        runId: runDir,
        checkpoint,
        runDir,
        backend,
        threads,
        ...(resumeFrom !== undefined ? { resumeFrom } : {}),
        ...request,
      },
      runHooks(context, text, ctrlC.isCancelled),
    );
  } finally {
    text?.progress.clear();
    ctrlC.dispose();
  }
  if (result.status === 'failed') throw new RunFailed(result.message ?? 'failed', runDir);
  if (result.status === 'cancelled') {
    text?.err(`cancelled; run folder ${runDir}\n`);
    return 130;
  }
  if (text && result.summary) {
    text.out(`\n${finetuneTable(result.summary)}\n\ncheckpoint: ${result.checkpoint}\n`);
  }
  return 0;
}

export const finetuneCommand: Command = {
  name: 'finetune',
  summary:
    'Fine-tune a BNN Lab checkpoint into a new run folder: LNS (learned mapper and noise-corrected loss, docs/lns.md) or plain fine-tuning. The source checkpoint is never modified.',
  usage: 'finetune CHECKPOINT --method lns|plain [options]',
  positionals: { min: 1, max: 1, names: ['CHECKPOINT (a folder like RUN/checkpoints/epoch-3)'] },
  options: [
    {
      name: 'method',
      type: 'string',
      value: 'lns|plain',
      help: 'lns: learned mapper + noise-corrected loss; plain: ordinary fine-tuning',
    },
    { name: 'epochs', type: 'string', value: 'N', help: 'fine-tuning epochs (default 1)' },
    {
      name: 'alpha',
      type: 'string',
      value: 'A',
      help: 'weight of the auxiliary loss, ≥ 0 (lns; default 1e-3)',
    },
    {
      name: 'rho',
      type: 'string',
      value: 'R',
      help: 'label-noise rate in [0, 0.5) (lns; default 0.1)',
    },
    {
      name: 'lr',
      type: 'string',
      value: 'X',
      help: "constant learning rate (default 0.1 × the source run's)",
    },
    {
      name: 'warmup-steps',
      type: 'string',
      value: 'N',
      help: 'steps fitting the mappers to sgn(W) first (lns; default 100)',
    },
    ...LIMIT_OPTIONS,
    { name: 'seed', type: 'string', value: 'N', help: 'seed for the data order' },
    BACKEND_OPTION,
    THREADS_OPTION,
    {
      name: 'resume',
      type: 'string',
      value: 'DIR',
      help: 'continue from a checkpoint folder (…/checkpoints/epoch-N) of a fine-tune of the same CHECKPOINT with the same options; the new run folder gets the records after epoch N',
    },
    {
      name: 'out',
      type: 'string',
      value: 'DIR',
      help: 'parent of the new run folder (default: beside the source run)',
    },
  ],
  jsonHelp: 'print the metrics.jsonl records, one JSON object per line',
  fieldOptions: {
    method: '--method',
    epochs: '--epochs',
    alpha: '--alpha',
    rho: '--rho',
    learningRate: '--lr',
    mapperWarmupSteps: '--warmup-steps',
    limit: '--limit',
    testLimit: '--test-limit',
    seed: '--seed',
  },
  run: runFinetuneCommand,
};
