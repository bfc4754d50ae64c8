/**
 * Export entry points shared by the CLI (`bnn-lab export`) and the extension's export commands:
 * a checkpoint to Keras/Larq `.h5`, ONNX or safetensors; a run folder to TensorBoard event files
 * or CSV. Files are written through a temporary name and renamed at the end, and an existing
 * output is never replaced unless the caller says so (`overwrite`).
 */
import { resolve } from 'node:path';
import { checkOutput, writeFileAtomic } from './files';

export { checkOutput, writeFileAtomic } from './files';

export {
  CHECKPOINT_FORMATS,
  EXPORT_FORMATS,
  FORMAT_INFO,
  isExportFormat,
  RUN_FORMATS,
  type ExportFormat,
} from './formats';
import type { CHECKPOINT_FORMATS, ExportFormat, RUN_FORMATS } from './formats';

export interface ExportOptions {
  /** Replace an existing output file (the CLI's `--force`, a confirmed dialog). */
  overwrite?: boolean;
  /** safetensors: also store binary kernels as packed sign bits with their scales. */
  packedSigns?: boolean;
  /** Progress messages. */
  log?: (message: string) => void;
}

export interface ExportResult {
  format: ExportFormat;
  /** The files written. */
  files: string[];
  /** One line for the user. */
  summary: string;
}

/** The version written into exported files' producer fields. */
export const PRODUCER_VERSION = '0.1.0';

/**
 * Exports a BNN Lab checkpoint (folder or its model.json) to `out`. Needs a TF.js backend.
 * @throws UserError for a source that is not a checkpoint, an existing `out`, or a layer the
 * format cannot express (naming the layer and the format).
 */
export async function exportCheckpoint(
  format: (typeof CHECKPOINT_FORMATS)[number],
  source: string,
  out: string,
  options: ExportOptions = {},
): Promise<ExportResult> {
  const target = resolve(out);
  checkOutput(target, options.overwrite === true);
  const { loadExportSource } = await import('./source.js');
  options.log?.(`reading ${source}`);
  const model = await loadExportSource(source);
  options.log?.(`writing ${format} to ${target}`);
  switch (format) {
    case 'onnx': {
      const { exportOnnx } = await import('./onnx.js');
      writeFileAtomic(target, exportOnnx(model, PRODUCER_VERSION));
      break;
    }
    case 'keras': {
      const { exportKeras } = await import('./keras.js');
      await exportKeras(model, target);
      break;
    }
    case 'safetensors': {
      const { exportSafetensors } = await import('./safetensors.js');
      writeFileAtomic(target, exportSafetensors(model, { packedSigns: options.packedSigns }));
      break;
    }
  }
  const binary = model.layers.filter((l) => l.binary).length;
  return {
    format,
    files: [target],
    summary: `exported ${model.dir} (${model.layers.length} layers, ${binary} binary) to ${target}`,
  };
}

/**
 * Exports a run folder's metrics: TensorBoard event files into the folder `out`, or CSV to the
 * file `out`.
 * @throws UserError when `runDir` is not a run folder or `out` may not be written.
 */
export async function exportRun(
  format: (typeof RUN_FORMATS)[number],
  runDir: string,
  out: string,
  options: ExportOptions = {},
): Promise<ExportResult> {
  const { readRunForExport } = await import('./runSource.js');
  const run = readRunForExport(runDir);
  const target = resolve(out);
  if (format === 'csv') {
    checkOutput(target, options.overwrite === true);
    const { runCsvFromRecords } = await import('./csv.js');
    writeFileAtomic(target, runCsvFromRecords(run.records));
    return {
      format,
      files: [target],
      summary: `exported ${run.records.length} records of ${runDir} to ${target}`,
    };
  }
  const { writeTensorBoardRun } = await import('./tensorboard.js');
  const file = writeTensorBoardRun(run, target);
  return {
    format,
    files: [file],
    summary: `wrote ${file} (open with: tensorboard --logdir ${target})`,
  };
}
