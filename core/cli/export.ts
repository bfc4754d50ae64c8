/**
 * `bnn-lab export FORMAT SOURCE OUT`: a checkpoint to keras | onnx | safetensors, a run folder to
 * tensorboard | csv (core/export).
 */
import { UserError } from '../errors';
import {
  EXPORT_FORMATS,
  FORMAT_INFO,
  isExportFormat,
  type ExportFormat,
  type ExportResult,
} from '../export/index';
import type { Command, CommandContext } from './args';

async function runExportCommand(context: CommandContext): Promise<number> {
  const { values, positionals, json, out, err } = context;
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
    log: json ? undefined : (message: string) => err(`${message}\n`),
  };
  const result = await runExport(format, source, target, options);
  if (json) out(`${JSON.stringify(result)}\n`);
  else out(`${result.summary}\n`);
  return 0;
}

export const exportCommand: Command = {
  name: 'export',
  summary:
    'Write a checkpoint as Keras/Larq .h5, ONNX or safetensors, or a run as TensorBoard events or CSV.',
  usage: 'export FORMAT SOURCE OUT [--force] [--packed-signs] [--json]',
  positionals: { min: 3, max: 3, names: ['FORMAT', 'SOURCE', 'OUT'] },
  options: [
    {
      name: 'force',
      type: 'boolean',
      help: 'replace OUT when it exists (otherwise an existing file is never touched)',
    },
    {
      name: 'packed-signs',
      type: 'boolean',
      help: 'safetensors: also store binary kernels as packed sign bits with their scales',
    },
  ],
  notes: `FORMAT is one of:
${EXPORT_FORMATS.map((f) => `  ${f.padEnd(12)} ${FORMAT_INFO[f].label}`).join('\n')}
SOURCE is a BNN Lab checkpoint folder (RUN/checkpoints/epoch-N) or its model.json for keras, onnx
and safetensors; a run folder (with metrics.jsonl) for tensorboard and csv. OUT is the file to
write (for tensorboard: the log folder the event file goes into). See docs/export.md.`,
  jsonHelp: 'print the export result as one JSON object',
  userErrorExit: 2,
  run: runExportCommand,
};

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
