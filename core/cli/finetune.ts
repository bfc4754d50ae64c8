/**
 * `bnn-lab finetune CHECKPOINT --method lns|plain …`: fine-tunes a BNN Lab checkpoint into a new
 * run folder (core/training/finetune.ts, docs/lns.md).
 */
import { resolve } from 'node:path';
import { UserError } from '../errors';
import { FAILURE_LOG_PREFIX } from '../training/api';
import { numberFlag, parseArgs } from './args';
import { createRunDir } from '../io/runNames';
import { BACKEND_NAMES, type BackendPreference, type FinetuneSummary } from '../protocol';
import {
  checkSourceCheckpoint,
  defaultFinetuneParent,
  FINETUNE_METHODS,
  runFinetune,
  validateFinetune,
  type FinetuneMethod,
} from '../training/finetune';

type Out = (text: string) => void;

const FLAGS = new Set([
  'method',
  'epochs',
  'alpha',
  'rho',
  'limit',
  'test-limit',
  'lr',
  'seed',
  'warmup-steps',
  'backend',
  'out',
  'json',
]);

export const FINETUNE_HELP = `finetune options:
  --method lns|plain  lns: learned mapper + noise-corrected loss; plain: ordinary fine-tuning
  --epochs N          fine-tuning epochs (default 1)
  --alpha A           weight of the auxiliary loss, ≥ 0 (lns; default 1e-3)
  --rho R             label-noise rate in [0, 0.5) (lns; default 0.1)
  --lr X              constant learning rate (default 0.1 × the source run's)
  --limit N, --test-limit N, --seed N, --backend NAME, --json as for train
  --warmup-steps N    steps fitting the mappers to sgn(W) first (lns; default 100)
  --out DIR           parent of the new run folder (default: beside the source run)
`;

const percent = (x: number) => `${(100 * x).toFixed(2)}%`;

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
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [
    `test accuracy ${percent(summary.testAccuracyBefore)} → ${percent(summary.testAccuracyAfter)} (${summary.method})`,
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ].join('\n');
}

/** Runs `bnn-lab finetune`; returns the exit code (0 ok, 1 failed, 2 bad input, 130 cancelled). */
export async function finetuneCommand(args: string[], out: Out, err: Out): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    out(`Usage: bnn-lab finetune CHECKPOINT --method lns|plain [options]\n\n${FINETUNE_HELP}`);
    return 0;
  }
  const { flags, positional } = parseArgs(args, new Set(['json']), {
    flags: FLAGS,
    command: 'finetune',
  });
  if (positional.length !== 1) {
    throw new UserError(
      positional.length === 0
        ? 'finetune needs a checkpoint folder, e.g. bnn-lab finetune RUN/checkpoints/epoch-3 --method lns'
        : `unexpected argument "${positional[1]}" (see bnn-lab --help)`,
    );
  }
  const method = flags.get('method');
  if (method === undefined)
    throw new UserError(`finetune needs --method ${FINETUNE_METHODS.join('|')}`);
  const checkpoint = resolve(positional[0]);
  const request = {
    method: method as FinetuneMethod,
    epochs: numberFlag(flags, 'epochs'),
    alpha: numberFlag(flags, 'alpha'),
    rho: numberFlag(flags, 'rho'),
    limit: numberFlag(flags, 'limit'),
    testLimit: numberFlag(flags, 'test-limit'),
    learningRate: numberFlag(flags, 'lr'),
    seed: numberFlag(flags, 'seed'),
    mapperWarmupSteps: numberFlag(flags, 'warmup-steps'),
  };
  // Fail on bad values and foreign checkpoints before a run folder exists.
  validateFinetune(request);
  const meta = checkSourceCheckpoint(checkpoint);
  const backend = (flags.get('backend') ?? 'auto') as BackendPreference;
  if (backend !== 'auto' && !(BACKEND_NAMES as readonly string[]).includes(backend)) {
    throw new UserError(
      `--backend must be auto or one of ${BACKEND_NAMES.join(', ')}, got "${backend}"`,
    );
  }
  const json = flags.has('json');
  const parent = resolve(flags.get('out') ?? defaultFinetuneParent(checkpoint));
  const runDir = await createRunDir(parent, `${meta.preset}-finetune-${method}`, new Date());
  let cancelled = false;
  const onSigint = () => {
    if (cancelled) process.exit(130);
    cancelled = true;
    err('\nstopping after the current batch (Ctrl-C again to exit now)\n');
  };
  process.on('SIGINT', onSigint);
  let result;
  try {
    result = await runFinetune(
      { runId: runDir, checkpoint, runDir, backend, ...request },
      {
        isCancelled: () => cancelled,
        log: (level, message) => {
          // A failure's stack is for a log; its message is printed once when the run ends.
          if (message.startsWith(FAILURE_LOG_PREFIX)) return;
          if (level !== 'info' || !json)
            err(`${level === 'info' ? '' : `${level}: `}${message.split('\n')[0]}\n`);
        },
        onRecord: (record) => {
          if (json) out(JSON.stringify(record) + '\n');
          else if (record.event === 'start') out(`run folder: ${runDir}\n`);
          else if (record.event === 'step') {
            const disagreement = record.layers
              .map((l) =>
                l.disagreement === undefined ? '' : ` ${l.name} ${percent(l.disagreement)}`,
              )
              .join('');
            err(
              `step ${record.step}: loss ${record.loss.toFixed(4)} acc ${percent(record.accuracy)}${disagreement ? ` · mapper disagreement${disagreement}` : ''}\n`,
            );
          }
        },
      },
    );
  } finally {
    process.off('SIGINT', onSigint);
  }
  if (!json) {
    if (result.status === 'completed' && result.summary) {
      out(`\n${finetuneTable(result.summary)}\n\ncheckpoint: ${result.checkpoint}\n`);
    } else err(`${result.status}: ${result.message ?? ''}\n`);
  }
  return result.status === 'completed' ? 0 : result.status === 'cancelled' ? 130 : 1;
}
