/**
 * Reading the inspector's settings into core options. Pure (no vscode import) so that tests
 * check the parsing: `bnnLab.inspect.binaryPatterns` (regular expressions; an empty list means
 * the built-in patterns) and `bnnLab.metrics.deadTau`.
 */
import type { AnalysisOptions } from '../../core/protocol';

export const DEFAULT_DEAD_TAU = 0.99;

/** Options for the core, and what was wrong with the settings (one line each, for a warning). */
export interface ParsedAnalysisSettings {
  options: AnalysisOptions;
  /** `deadTau` actually used (shown next to the dead-weight threshold). */
  deadTau: number;
  problems: string[];
}

/**
 * `bnnLab.inspect.binaryPatterns` → the `binaryPatterns` option. Entries that are not strings,
 * are blank, or do not compile as case-insensitive JavaScript regular expressions are dropped
 * with a problem; when none is left the option is omitted, so the core uses its defaults.
 */
export function parseBinaryPatterns(value: unknown): {
  patterns: string[] | undefined;
  problems: string[];
} {
  if (value === undefined || value === null) return { patterns: undefined, problems: [] };
  if (!Array.isArray(value)) {
    return {
      patterns: undefined,
      problems: [
        `bnnLab.inspect.binaryPatterns must be an array of regular expressions, got ${typeof value}; using the built-in patterns`,
      ],
    };
  }
  const patterns: string[] = [];
  const problems: string[] = [];
  value.forEach((entry: unknown, index) => {
    if (typeof entry !== 'string' || entry.trim() === '') {
      problems.push(
        `bnnLab.inspect.binaryPatterns[${index}] is ${typeof entry === 'string' ? 'blank' : `a ${typeof entry}`}, not a regular expression; ignored`,
      );
      return;
    }
    try {
      new RegExp(entry, 'i');
    } catch (e) {
      problems.push(
        `bnnLab.inspect.binaryPatterns[${index}] "${entry}" is not a valid regular expression (${e instanceof Error ? e.message : String(e)}); ignored`,
      );
      return;
    }
    if (!patterns.includes(entry)) patterns.push(entry);
  });
  if (patterns.length === 0 && value.length > 0) {
    problems.push(
      'no usable pattern in bnnLab.inspect.binaryPatterns; using the built-in patterns',
    );
  }
  return { patterns: patterns.length > 0 ? patterns : undefined, problems };
}

/** `bnnLab.metrics.deadTau`: a number in (0.5, 1), else the default with a problem. */
export function parseDeadTau(value: unknown): { deadTau: number; problem?: string } {
  if (value === undefined || value === null) return { deadTau: DEFAULT_DEAD_TAU };
  if (typeof value === 'number' && value > 0.5 && value < 1) return { deadTau: value };
  return {
    deadTau: DEFAULT_DEAD_TAU,
    problem: `bnnLab.metrics.deadTau must be a number in (0.5, 1), got ${JSON.stringify(value)}; using ${DEFAULT_DEAD_TAU}`,
  };
}

/** Both settings as the options of an analysis request. */
export function analysisSettings(raw: {
  binaryPatterns: unknown;
  deadTau: unknown;
}): ParsedAnalysisSettings {
  const { patterns, problems } = parseBinaryPatterns(raw.binaryPatterns);
  const { deadTau, problem } = parseDeadTau(raw.deadTau);
  if (problem) problems.push(problem);
  const options: AnalysisOptions = { deadTau };
  if (patterns) options.binaryPatterns = patterns;
  return { options, deadTau, problems };
}

/**
 * A pattern that marks exactly one tensor by name, for the user to widen if they like:
 * `layer1.0.conv1.weight` → `^layer1\.0\.conv1\.weight$`.
 */
export function patternForTensor(name: string): string {
  return `^${name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`;
}

/**
 * The pattern list after adding `pattern`. A user list replaces the built-in patterns, so the
 * first addition starts from them: tensors they already mark stay marked.
 */
export function withPattern(
  current: readonly string[] | undefined,
  pattern: string,
  builtIn: readonly string[],
): string[] {
  const base = current && current.length > 0 ? current : builtIn;
  return base.includes(pattern) ? [...base] : [...base, pattern];
}
