/**
 * `bnn-lab inspect`, `bnn-lab compare` and `bnn-lab series`: the checkpoint inspector on the
 * command line. A file that cannot be read is exit 1 (one line on stderr naming it), bad usage 2.
 */
import {
  checkpointSeries,
  compareCheckpoints,
  inspectCheckpoint,
  type InspectReport,
} from '../checkpoints/inspect';
import {
  listOption,
  stringOption,
  UsageError,
  type Command,
  type CommandContext,
  type OptionSpec,
  type OptionValues,
} from './args';
import { alignTable } from './table';

const TAU_OPTION: OptionSpec = {
  name: 'tau',
  type: 'string',
  value: 'T',
  help: 'τ of deadWeightRatio, in (0.5, 1) (default 0.99; docs/metrics.md)',
};

const BINARY_PATTERN_OPTION: OptionSpec = {
  name: 'binary-pattern',
  type: 'string',
  value: 'REGEX',
  multiple: true,
  help: 'mark tensors whose name matches REGEX (JavaScript, case-insensitive) as binary, replacing the built-in name patterns; the CLI counterpart of bnnLab.inspect.binaryPatterns',
};

/** `--tau` and `--binary-pattern`, checked. */
function statsOptions(values: OptionValues): { deadTau?: number; binaryPatterns?: string[] } {
  const text = stringOption(values, 'tau');
  let deadTau: number | undefined;
  if (text !== undefined) {
    deadTau = Number(text);
    if (text.trim() === '' || !(deadTau > 0.5 && deadTau < 1))
      throw new UsageError(`--tau must be a number in (0.5, 1), got "${text}"`, '--tau', text);
  }
  const binaryPatterns = listOption(values, 'binary-pattern');
  if (binaryPatterns?.some((p) => p === ''))
    throw new UsageError('--binary-pattern needs a regular expression', '--binary-pattern', '');
  return { deadTau, binaryPatterns };
}

/** Formats a number for a table cell: fixed decimals, or `–` for null. */
function cell(value: number | null | undefined, digits = 3): string {
  if (value === null || value === undefined) return '–';
  if (!Number.isFinite(value)) return String(value);
  return value.toFixed(digits);
}

function binaryCell(binary: boolean | null): string {
  return binary === null ? '?' : binary ? 'yes' : 'no';
}

function humanBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes.toFixed(0)} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
}

/** The human-readable inspect output: one row per tensor, then the summary. */
export function formatInspectReport(file: string, report: InspectReport): string[] {
  const header = [
    'name',
    'shape',
    'dtype',
    'binary',
    'absMean',
    'QE',
    'dead',
    'starved',
    'signBal',
    'H(bits)',
  ];
  const rows = report.layers.map((l) => [
    l.name,
    `[${l.shape.join(', ')}]`,
    l.dtype,
    binaryCell(l.binary),
    cell(l.stats?.absMean, 4),
    cell(l.stats?.quantizationError),
    cell(l.stats?.deadWeightRatio),
    cell(l.stats?.starvedWeightRatio),
    cell(l.stats?.signBalance),
    cell(l.stats?.signEntropyBits),
  ]);
  const numeric = header.map((_, c) => c >= 4);
  const s = report.summary;
  const lines = [`${file} (${report.format})`, ''];
  if (report.profile) {
    lines.splice(
      1,
      0,
      `profile: ${report.profile.name} (${report.profile.source}): ${report.profile.description}`,
    );
  }
  lines.push(...alignTable(header, rows, numeric));
  const unknown = report.layers.filter((l) => l.binary === null).length;
  lines.push('');
  lines.push(
    `params ${s.params}, binary ${s.binaryParams}; float32 ${humanBytes(s.bytesFloat32)}, packed ${humanBytes(s.bytesPacked)}, compression ${s.compression.toFixed(2)}×`,
  );
  if (unknown > 0) {
    lines.push(
      `binary "?": the format does not record binarization for ${unknown} tensor(s); mark them with --binary-pattern REGEX (bnnLab.inspect.binaryPatterns in VS Code)`,
    );
  }
  return lines;
}

/** Writes lines (each given without its newline) to stdout. */
function lineWriter(context: CommandContext): (line: string) => void {
  return (line) => context.out(`${line}\n`);
}

async function runInspect(context: CommandContext): Promise<number> {
  const [file] = context.positionals;
  const out = lineWriter(context);
  const report = await inspectCheckpoint(file, statsOptions(context.values));
  if (context.json) out(JSON.stringify(report));
  else for (const line of formatInspectReport(file, report)) out(line);
  return 0;
}

async function runCompare(context: CommandContext): Promise<number> {
  const [a, b] = context.positionals;
  const out = lineWriter(context);
  const report = await compareCheckpoints(a, b);
  if (context.json) {
    out(JSON.stringify(report));
    return 0;
  }
  out(`${a} → ${b}`);
  out('');
  if (report.layers.length === 0) {
    out('no weight tensor is in both files with the same name and shape');
    return 0;
  }
  const rows = report.layers.map((l) => [l.name, cell(l.flipRate, 4)]);
  for (const line of alignTable(['name', 'flipRate'], rows, [false, true])) out(line);
  return 0;
}

async function runSeries(context: CommandContext): Promise<number> {
  const [folder] = context.positionals;
  const out = lineWriter(context);
  const series = await checkpointSeries(folder, statsOptions(context.values));
  if (context.json) {
    out(JSON.stringify(series));
    return 0;
  }
  out(`${folder}: ${series.checkpoints.length} checkpoint(s)`);
  out('');
  const names = [...new Set(series.pairs.flatMap((p) => p.layers.map((l) => l.name)))];
  if (series.pairs.length > 0 && names.length > 0) {
    const header = ['name', ...series.pairs.map((p) => `${p.from}→${p.to}`), 'frozen'];
    const frozen = new Map(series.frozenRatio.map((f) => [f.name, f.frozenRatio]));
    const rows = names.map((name) => [
      name,
      ...series.pairs.map((p) => cell(p.layers.find((l) => l.name === name)?.flipRate, 4)),
      cell(frozen.get(name), 4),
    ]);
    out('flip rate between consecutive checkpoints; frozen = never flipped over the series');
    for (const line of alignTable(
      header,
      rows,
      header.map((_, c) => c > 0),
    ))
      out(line);
    out('');
  }
  const rows = series.checkpoints.map((c) => {
    const weights = c.report.layers.filter((l) => l.stats !== null);
    const meanQe =
      weights.length > 0
        ? weights.reduce((acc, l) => acc + (l.stats?.quantizationError ?? 0), 0) / weights.length
        : null;
    return [
      c.name,
      c.report.format,
      String(c.report.summary.params),
      cell(meanQe),
      cell(c.report.summary.compression, 2),
    ];
  });
  for (const line of alignTable(
    ['checkpoint', 'format', 'params', 'mean QE', 'compression'],
    rows,
    [false, false, true, true, true],
  )) {
    out(line);
  }
  return 0;
}

/** `bnn-lab inspect FILE`: per-tensor metrics and the model summary. */
export const inspectCommand: Command = {
  name: 'inspect',
  summary:
    'Per-tensor statistics (QE, dead, starved, sign balance, entropy) and the model summary of a checkpoint: PyTorch, Keras/Larq (.h5, .keras), safetensors, ONNX, TF.js or a BNN Lab run checkpoint (docs/inspect.md).',
  usage: 'inspect FILE [--json] [--tau T] [--binary-pattern REGEX]...',
  positionals: { min: 1, max: 1, names: ['FILE'] },
  options: [TAU_OPTION, BINARY_PATTERN_OPTION],
  jsonHelp: 'print the InspectReport of docs/inspect.md as one JSON object on one line',
  userErrorExit: 1,
  run: runInspect,
};

/** `bnn-lab compare A B`: sign flip rate of each tensor both files hold with the same shape. */
export const compareCommand: Command = {
  name: 'compare',
  summary:
    'Sign flip rate (flipRate) of each weight tensor that both checkpoints hold with the same name and shape.',
  usage: 'compare A B [--json]',
  positionals: { min: 2, max: 2, names: ['A', 'B'] },
  options: [],
  jsonHelp: 'print { "layers": [ { "name", "flipRate" } ] } on one line',
  userErrorExit: 1,
  run: runCompare,
};

/** `bnn-lab series DIR`: flip rates between consecutive checkpoints of a folder, frozenRatio. */
export const seriesCommand: Command = {
  name: 'series',
  summary:
    "Flip rates between consecutive checkpoints of a folder, frozenRatio over the series, and each checkpoint's summary.",
  usage: 'series DIR [--json] [--tau T] [--binary-pattern REGEX]...',
  positionals: { min: 1, max: 1, names: ['DIR'] },
  options: [TAU_OPTION, BINARY_PATTERN_OPTION],
  jsonHelp: 'print the SeriesReport of docs/inspect.md as one JSON object on one line',
  userErrorExit: 1,
  run: runSeries,
};
