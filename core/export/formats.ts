/** The export formats and what they take (light: safe to import in the extension host). */
export const CHECKPOINT_FORMATS = ['keras', 'onnx', 'safetensors'] as const;
export const RUN_FORMATS = ['tensorboard', 'csv'] as const;
export const EXPORT_FORMATS = [...CHECKPOINT_FORMATS, ...RUN_FORMATS] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** What each format is, for pickers and help. */
export const FORMAT_INFO: Readonly<
  Record<ExportFormat, { label: string; extension: string; source: 'checkpoint' | 'run' }>
> = {
  keras: { label: 'Keras / Larq (.h5)', extension: 'h5', source: 'checkpoint' },
  onnx: { label: 'ONNX inference graph (.onnx)', extension: 'onnx', source: 'checkpoint' },
  safetensors: {
    label: 'safetensors, PyTorch layout (.safetensors)',
    extension: 'safetensors',
    source: 'checkpoint',
  },
  tensorboard: { label: 'TensorBoard event file (folder)', extension: '', source: 'run' },
  csv: { label: 'CSV of the metrics (.csv)', extension: 'csv', source: 'run' },
};

export function isExportFormat(value: string): value is ExportFormat {
  return (EXPORT_FORMATS as readonly string[]).includes(value);
}
