/**
 * Errors a user can act on. The message names the file, field or value and says what to do;
 * the glue shows `message` in one notification and logs `stack`.
 *
 * Core raises errors in structured form (the field, the value given, what is allowed) and each
 * front end words them in its own language: the CLI names the flag (`--lr`), the extension the
 * run-config field (`"learningRate"` in my.bnn.json) or the setting (`bnnLab.metrics.deadTau`).
 * Errors raised inside a run travel between threads as text, so for those the front end installs
 * its {@link Vocabulary} once per thread and core names fields through {@link fieldName}.
 */
export class UserError extends Error {
  override name = 'UserError';
}

/** What a field may hold, for a front end to word or a test to check. */
export type Allowed =
  | {
      kind: 'range';
      min: number;
      max: number;
      openMin: boolean;
      openMax: boolean;
      integer: boolean;
    }
  | { kind: 'oneOf'; values: readonly string[] }
  | { kind: 'keys'; keys: readonly string[] };

/** The structured part of a {@link ConfigError}. */
export interface ConfigProblem {
  /** The value given; absent when the field was missing or the value does not matter. */
  value?: unknown;
  /** What the field may hold. */
  allowed?: Allowed;
  /** The nearest allowed key or value to what was given, for "did you mean …?". */
  suggestion?: string;
}

/**
 * A bad value in a run config, CLI flag or setting: names the source and the field. `detail` is
 * the part after the field ("must be a number in (0, 10], got 20"), so a front end can put its
 * own name for the field before it ({@link ConfigError.wordedAs}).
 */
export class ConfigError extends UserError {
  override name = 'ConfigError';
  readonly value?: unknown;
  readonly allowed?: Allowed;
  readonly suggestion?: string;
  constructor(
    readonly source: string,
    readonly field: string,
    readonly detail: string,
    problem: ConfigProblem = {},
  ) {
    super(`${source}: "${field}" ${detail}${didYouMean(problem.suggestion)}`);
    if ('value' in problem) this.value = problem.value;
    this.allowed = problem.allowed;
    this.suggestion = problem.suggestion;
  }

  /**
   * The message with the field named as the caller names it, e.g. `--lr must be a number in
   * (0, 10], got 20` or `settings: bnnLab.metrics.deadTau must be …`. `source` is put in front
   * when given.
   */
  wordedAs(name: string, source?: string): string {
    return `${source ? `${source}: ` : ''}${name} ${this.detail}${didYouMean(this.suggestion)}`;
  }
}

function didYouMean(suggestion: string | undefined): string {
  return suggestion === undefined ? '' : `; did you mean "${suggestion}"?`;
}

/** A file that is missing, truncated or not in the expected format. */
export class FileFormatError extends UserError {
  override name = 'FileFormatError';
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

/** Thrown inside the training loop when the user cancels; not an error for the UI. */
export class CancelledError extends Error {
  override name = 'CancelledError';
  constructor() {
    super('cancelled');
  }
}

/** Lazy assertion for hot paths: the message is built only on failure (as tfjs-core does). */
export function assert(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new Error(message());
}

/** Fields and settings that core's messages tell the user to change. */
export type FieldKey =
  | 'learningRate'
  | 'batchSize'
  | 'mapperWarmupSteps'
  | 'runsFolder'
  | 'threads'
  | 'backend'
  | 'deadTau';

/** How a front end names each {@link FieldKey} in a sentence ("lower X", "set X to …"). */
export type Vocabulary = Readonly<Record<FieldKey, string>>;

/** Until a front end installs its own: both front ends' names. */
export const NEUTRAL_VOCABULARY: Vocabulary = {
  learningRate: '"learningRate" (--lr on the command line)',
  batchSize: '"batchSize" in the run config, --batch-size on the command line',
  mapperWarmupSteps: '"mapperWarmupSteps" (--warmup-steps on the command line)',
  runsFolder: 'the bnnLab.runs.folder setting in VS Code, --out on the command line',
  threads: 'bnnLab.engine.threads / --threads',
  backend: 'bnnLab.engine.backend (--backend)',
  deadTau: 'bnnLab.metrics.deadTau (--tau)',
};

let vocabulary: Vocabulary = NEUTRAL_VOCABULARY;

/**
 * Installs the front end's names for fields (once per thread: each thread has its own).
 * @returns the vocabulary it replaces, for a caller that restores it.
 */
export function useVocabulary(words: Vocabulary): Vocabulary {
  const previous = vocabulary;
  vocabulary = words;
  return previous;
}

/** A field's name in the current front end's words. */
export function fieldName(key: FieldKey): string {
  return vocabulary[key];
}

/** Levenshtein distance (small strings: keys and option names). */
function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/**
 * The candidate nearest to `given` when it is a near miss (case and `-`/`_` ignored; at most
 * about one edit per four letters), else undefined: `learningrate` → `learningRate`,
 * `batchsize` → `batch-size`.
 */
export function nearest(given: string, candidates: Iterable<string>): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  const g = norm(given);
  let best: { name: string; d: number } | undefined;
  for (const c of candidates) {
    const d = editDistance(g, norm(c));
    if (d <= Math.max(1, Math.floor(c.length / 4)) && (!best || d < best.d)) best = { name: c, d };
  }
  return best?.name;
}
