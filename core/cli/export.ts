/**
 * `bnn-lab export FORMAT SOURCE OUT`: a checkpoint to keras | onnx | safetensors, a run folder to
 * tensorboard | csv (core/export). Options are parsed here with node:util's parseArgs.
 */
import { parseArgs } from 'node:util';
import { UserError } from '../errors';
import {
  EXPORT_FORMATS,
  FORMAT_INFO,
  isExportFormat,
  type ExportFormat,
  type ExportResult,
} from '../export/index';

export const EXPORT_HELP = `Usage: bnn-lab export FORMAT SOURCE OUT [--force] [--packed-signs] [--json]

  FORMAT   ${EXPORT_FORMATS.join(' | ')}
  SOURCE   keras, onnx, safetensors: a BNN Lab checkpoint folder (RUN/checkpoints/epoch-N) or its
           model.json; tensorboard, csv: a run folder (with metrics.jsonl)
  OUT      the file to write (for tensorboard: the log folder the event file goes into)

  --force         replace OUT when it exists (otherwise an existing file is never touched)
  --packed-signs  safetensors: also store binary kernels as packed sign bits with their scales
  --json          print the result as one JSON object

Formats:
${EXPORT_FORMATS.map((f) => `  ${f.padEnd(12)} ${FORMAT_INFO[f].label}`).join('\n')}
See docs/export.md for what each format holds.
`;

type Out = (text: string) => void;

/** Runs the export command; returns the exit code (usage and input errors throw UserError). */
export async function exportCommand(argv: string[], out: Out, err: Out): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        force: { type: 'boolean' },
        'packed-signs': { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new UserError(`export: ${(e as Error).message} (see bnn-lab export --help)`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out(EXPORT_HELP);
    return 0;
  }
  if (positionals.length !== 3) {
    throw new UserError(
      `export needs FORMAT SOURCE OUT, got ${positionals.length} argument${positionals.length === 1 ? '' : 's'} (see bnn-lab export --help)`,
    );
  }
  const [format, source, target] = positionals;
  if (!isExportFormat(format)) {
    throw new UserError(
      `export: unknown format "${format}"; use one of ${EXPORT_FORMATS.join(', ')}`,
    );
  }
  if (values['packed-signs'] && format !== 'safetensors') {
    throw new UserError('export: --packed-signs applies to the safetensors format only');
  }
  const options = {
    overwrite: values.force === true,
    packedSigns: values['packed-signs'] === true,
    log: values.json ? undefined : (message: string) => err(`${message}\n`),
  };
  const result = await runExport(format, source, target, options);
  if (values.json) out(`${JSON.stringify(result)}\n`);
  else out(`${result.summary}\n`);
  return 0;
}

/** Runs one export with the cpu backend for the checkpoint formats (enough to read weights). */
export async function runExport(
  format: ExportFormat,
  source: string,
  target: string,
  options: { overwrite?: boolean; packedSigns?: boolean; log?: (m: string) => void },
): Promise<ExportResult> {
  const { exportCheckpoint, exportRun } = await import('../export/index.js');
  if (format === 'tensorboard' || format === 'csv') {
    return exportRun(format, source, target, options);
  }
  const { useCpuBackend } = await import('../backend/backends.js');
  await useCpuBackend();
  return exportCheckpoint(format, source, target, options);
}
