/**
 * `bnn-lab inspect`, `bnn-lab compare` and `bnn-lab series`: the checkpoint inspector on the
 * command line. Each command takes its arguments (after the command name) and a line writer, and
 * returns the exit code: 0 on success, 1 when the file cannot be read, 2 for bad usage.
 */
import { UserError } from '../errors';
import {
  checkpointSeries,
  compareCheckpoints,
  inspectCheckpoint,
  type InspectReport,
} from '../checkpoints/inspect';

const INSPECT_USAGE = 'usage: bnn-lab inspect FILE [--json] [--tau T] [--binary-pattern REGEX]...';
const COMPARE_USAGE = 'usage: bnn-lab compare A B [--json]';
const SERIES_USAGE = 'usage: bnn-lab series DIR [--json] [--tau T] [--binary-pattern REGEX]...';

interface ParsedArgs {
  positional: string[];
  json: boolean;
  tau?: number;
  /** `--binary-pattern` values; replace the default name patterns when given. */
  binaryPatterns?: string[];
}

function parseArgs(args: string[], inspectFlags: boolean): ParsedArgs | string {
  const parsed: ParsedArgs = { positional: [], json: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--json') parsed.json = true;
    else if (inspectFlags && (arg === '--tau' || arg.startsWith('--tau='))) {
      const text = arg === '--tau' ? args[++i] : arg.slice('--tau='.length);
      const tau = Number(text);
      if (text === undefined || !(tau > 0.5 && tau < 1)) {
        return `--tau must be a number in (0.5, 1), got ${text ?? 'nothing'}`;
      }
      parsed.tau = tau;
    } else if (
      inspectFlags &&
      (arg === '--binary-pattern' || arg.startsWith('--binary-pattern='))
    ) {
      const text = arg === '--binary-pattern' ? args[++i] : arg.slice('--binary-pattern='.length);
      if (!text) return '--binary-pattern needs a regular expression';
      (parsed.binaryPatterns ??= []).push(text);
    } else if (arg.startsWith('--')) return `unknown option ${arg}`;
    else parsed.positional.push(arg);
  }
  return parsed;
}

/** Formats a number for a table cell: fixed decimals, or `–` for null. */
function cell(value: number | null | undefined, digits = 3): string {
  if (value === null || value === undefined) return '–';
  if (!Number.isFinite(value)) return String(value);
  return value.toFixed(digits);
}

/** Left-aligns text columns and right-aligns numeric ones. */
export function alignTable(header: string[], rows: string[][], numeric: boolean[]): string[] {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (r: string[]) =>
    r
      .map((v, c) => (numeric[c] ? v.padStart(widths[c]) : v.padEnd(widths[c])))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
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

/** Runs a command body, printing UserErrors as one line (exit 1) and rethrowing anything else. */
async function run(out: (line: string) => void, body: () => Promise<void>): Promise<number> {
  try {
    await body();
    return 0;
  } catch (error) {
    if (error instanceof UserError) {
      out(`error: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

/**
 * `bnn-lab inspect FILE [--json] [--tau T] [--binary-pattern REGEX]…`: per-tensor metrics and
 * the model summary. `--json` prints the InspectReport of docs/inspect.md on one line;
 * `--binary-pattern` (repeatable) replaces the default name patterns for binary tensors.
 * @returns the exit code.
 */
export async function inspectCommand(args: string[], out: (line: string) => void): Promise<number> {
  const parsed = parseArgs(args, true);
  if (typeof parsed === 'string' || parsed.positional.length !== 1) {
    out(typeof parsed === 'string' ? `error: ${parsed}` : INSPECT_USAGE);
    if (typeof parsed === 'string') out(INSPECT_USAGE);
    return 2;
  }
  const [file] = parsed.positional;
  return run(out, async () => {
    const report = await inspectCheckpoint(file, {
      deadTau: parsed.tau,
      binaryPatterns: parsed.binaryPatterns,
    });
    if (parsed.json) out(JSON.stringify(report));
    else for (const line of formatInspectReport(file, report)) out(line);
  });
}

/**
 * `bnn-lab compare A B [--json]`: sign flip rate of each weight tensor both files hold with the
 * same shape. `--json` prints `{ "layers": [ { "name", "flipRate" } ] }`.
 * @returns the exit code.
 */
export async function compareCommand(args: string[], out: (line: string) => void): Promise<number> {
  const parsed = parseArgs(args, false);
  if (typeof parsed === 'string' || parsed.positional.length !== 2) {
    if (typeof parsed === 'string') out(`error: ${parsed}`);
    out(COMPARE_USAGE);
    return 2;
  }
  const [a, b] = parsed.positional;
  return run(out, async () => {
    const report = await compareCheckpoints(a, b);
    if (parsed.json) {
      out(JSON.stringify(report));
      return;
    }
    out(`${a} → ${b}`);
    out('');
    if (report.layers.length === 0) {
      out('no weight tensor is in both files with the same name and shape');
      return;
    }
    const rows = report.layers.map((l) => [l.name, cell(l.flipRate, 4)]);
    for (const line of alignTable(['name', 'flipRate'], rows, [false, true])) out(line);
  });
}

/**
 * `bnn-lab series DIR [--json] [--tau T]`: flip rates between consecutive checkpoints of a
 * folder, frozenRatio over the series, and each checkpoint's summary. `--json` prints the
 * SeriesReport of docs/inspect.md.
 * @returns the exit code.
 */
export async function seriesCommand(args: string[], out: (line: string) => void): Promise<number> {
  const parsed = parseArgs(args, true);
  if (typeof parsed === 'string' || parsed.positional.length !== 1) {
    if (typeof parsed === 'string') out(`error: ${parsed}`);
    out(SERIES_USAGE);
    return 2;
  }
  const [folder] = parsed.positional;
  return run(out, async () => {
    const series = await checkpointSeries(folder, {
      deadTau: parsed.tau,
      binaryPatterns: parsed.binaryPatterns,
    });
    if (parsed.json) {
      out(JSON.stringify(series));
      return;
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
  });
}
