/**
 * The rows of the Train BNN quick pick, as plain data (no vscode import, so the tests check the
 * order): the quick demo first, then the presets, then the workspace's run configs.
 */

/** A row: a separator, a preset (with the fields it sets) or a run-config file. */
export type TrainRow<F> =
  | { kind: 'separator'; label: string }
  | {
      kind: 'preset';
      label: string;
      description: string;
      detail?: string;
      preset: string;
      fields?: Record<string, unknown>;
    }
  | { kind: 'file'; label: string; description: string; file: F };

/** One epoch on 2,000 training images: a first run that finishes while the user watches. */
export const QUICK_DEMO = {
  preset: 'mnist-cnn',
  epochs: 1,
  limit: 2000,
} as const;

/**
 * @param presets the preset catalog (name, description), in catalog order.
 * @param files the workspace's `*.bnn.json` files with their names and relative paths.
 */
export function trainRows<F>(
  presets: readonly { name: string; description: string }[],
  files: readonly { file: F; name: string; relative: string }[],
): TrainRow<F>[] {
  const rows: TrainRow<F>[] = [
    {
      kind: 'preset',
      label: '$(rocket) Quick demo',
      description: `${QUICK_DEMO.preset} · ${QUICK_DEMO.epochs} epoch · 2,000 images`,
      detail: 'A short first run: watch the dashboard fill in, then try a full preset',
      preset: QUICK_DEMO.preset,
      fields: { ...QUICK_DEMO },
    },
    { kind: 'separator', label: 'Presets' },
    ...presets.map((p) => ({
      kind: 'preset' as const,
      label: `$(beaker) ${p.name}`,
      description: 'preset',
      detail: p.description,
      preset: p.name,
    })),
  ];
  if (files.length > 0) {
    rows.push({ kind: 'separator', label: 'Run configs (*.bnn.json)' });
    for (const f of files) {
      rows.push({
        kind: 'file',
        label: `$(file) ${f.name}`,
        description: f.relative,
        file: f.file,
      });
    }
  }
  return rows;
}
