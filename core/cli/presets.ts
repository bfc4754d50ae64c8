/** `bnn-lab presets`: every preset with its parameter count, binary share and description. */
import { getPresetInfo } from '../bnn/presetCatalog';
import { GLOBAL_DEFAULTS } from '../training/config';
import type { Command, CommandContext } from './args';
import { percent } from './progress';

async function runPresets(context: CommandContext): Promise<number> {
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
    const info = getPresetInfo(p.name);
    return {
      name: p.name,
      description: p.description,
      dataset: info.dataset.name,
      params,
      binaryParams: binary,
      binaryShare: params > 0 ? binary / params : 0,
      epochs: info.defaults.epochs,
      batchSize: info.defaults.batchSize,
      learningRate: info.defaults.learningRate,
      schedule: info.defaults.schedule ?? GLOBAL_DEFAULTS.schedule,
    };
  });
  if (context.json) {
    context.out(`${JSON.stringify({ presets: rows })}\n`);
    return 0;
  }
  for (const r of rows)
    context.out(
      `${r.name.padEnd(22)} ${String(r.params).padStart(9)} params  ${percent(r.binaryShare).padStart(7)} binary  ${r.description}\n`,
    );
  return 0;
}

export const presetsCommand: Command = {
  name: 'presets',
  summary:
    'List the presets: name, parameters, the share of them that is binary, and a description.',
  usage: 'presets [--json]',
  positionals: { min: 0, max: 0, names: [] },
  options: [],
  jsonHelp:
    'print { "presets": [ { "name", "description", "dataset", "params", "binaryParams", "binaryShare", "epochs", "batchSize", "learningRate", "schedule" } ] } on one line',
  run: runPresets,
};
