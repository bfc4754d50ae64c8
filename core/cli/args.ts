/**
 * The `bnn-lab` command table's types, option parsing (Node's `util.parseArgs`) and help text.
 * A command is one {@link Command} object: its name, usage, options and handler; `main.ts` lists
 * them, so adding a command is one file and one line there.
 */
import { parseArgs as parseNodeArgs } from 'node:util';
import { nearest, UserError } from '../errors';

/** Writes text (already ending in `\n` where a line ends). */
export type Out = (text: string) => void;

/** The stream progress is drawn on: `process.stderr`, or a fake one in tests. */
export interface ProgressStream {
  write(text: string): unknown;
  /** True when the stream is a terminal: the progress line is redrawn in place. */
  isTTY?: boolean;
  /** The terminal's width; the progress line never exceeds it. */
  columns?: number;
}

export interface OptionSpec {
  /** The long name, without `--`. */
  name: string;
  /** One letter, without `-`. */
  short?: string;
  type: 'string' | 'boolean';
  /** May be given more than once (the value is then a list). */
  multiple?: boolean;
  /** The value's placeholder in the help, e.g. `N` or `FILE`. */
  value?: string;
  /** The help text (wrapped to the help's width); a function when it is computed. */
  help: string | (() => string);
}

export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface CommandContext {
  values: OptionValues;
  positionals: string[];
  /** `--json`: results as JSON on stdout, errors as one JSON object on stderr. */
  json: boolean;
  /** Standard output: results only. */
  out: Out;
  /** Standard error: progress, warnings, the backend choice. */
  err: Out;
  /** Where a progress line is drawn (standard error). */
  progress: ProgressStream;
}

export interface Command {
  name: string;
  /** One line for the top-level command list. */
  summary: string;
  /** What follows `bnn-lab ` in the usage line, e.g. `inspect FILE [options]`. */
  usage: string;
  /** How many positional arguments the command takes, and their names for messages. */
  positionals: { min: number; max: number; names: string[] };
  /** The command's options; `--json` and `--help` are added to every command. */
  options: OptionSpec[];
  /** Text printed after the options in the command's help. */
  notes?: string;
  /** What `--json` prints, for the help. */
  jsonHelp: string;
  /**
   * Run-config or settings fields that an option sets, so a ConfigError about the field names
   * the option instead (`learningRate` → `--lr`).
   */
  fieldOptions?: Record<string, string>;
  /** The exit code for a UserError the handler raises (a file that cannot be read); default 2. */
  userErrorExit?: number;
  run(context: CommandContext): Promise<number>;
}

/** Bad usage: an unknown option, a missing or malformed value, a wrong number of arguments. */
export class UsageError extends UserError {
  override name = 'UsageError';
  constructor(
    message: string,
    /** The option (`--lr`) or argument the message is about. */
    readonly field?: string,
    /** The value given, when there is one. */
    readonly value?: string,
  ) {
    super(message);
  }
}

/** A run (or fine-tune) that ended as failed: exit 1, its message, and the run folder. */
export class RunFailed extends Error {
  override name = 'RunFailed';
  constructor(
    message: string,
    readonly runDir: string,
  ) {
    super(`the run failed: ${message} (run folder ${runDir})`);
  }
}

export const HELP_OPTION: OptionSpec = {
  name: 'help',
  short: 'h',
  type: 'boolean',
  help: 'print this help and exit',
};

/** Every option a command accepts, `--json` and `--help` included. */
export function commandOptions(command: Command): OptionSpec[] {
  const json: OptionSpec = { name: 'json', type: 'boolean', help: command.jsonHelp };
  return [...command.options, json, HELP_OPTION];
}

/** ` (did you mean --batch-size?)` for a near miss, else empty. */
function suggestion(given: string, options: OptionSpec[]): string {
  const name = given.replace(/^-+/, '').split('=')[0];
  const best = nearest(
    name,
    options.map((o) => o.name),
  );
  return best ? ` (did you mean --${best}?)` : '';
}

/** The option a parseArgs error message quotes, e.g. `--epochs` from `'--epochs <value>'`. */
function quotedOption(message: string): string {
  const m = /'([^' ]+)[^']*'/.exec(message);
  return m ? m[1] : '';
}

/**
 * Parses a command's arguments (after the command name).
 * @returns `help: true` when `-h`/`--help` is among them (nothing else is checked then).
 * @throws UsageError naming the option or argument at fault.
 */
export function parseCommandArgs(
  command: Command,
  args: string[],
): { help: boolean; values: OptionValues; positionals: string[] } {
  const end = args.indexOf('--');
  const before = end < 0 ? args : args.slice(0, end);
  if (before.includes('--help') || before.includes('-h')) {
    return { help: true, values: {}, positionals: [] };
  }
  const specs = commandOptions(command);
  const options = Object.fromEntries(
    specs.map((o) => [
      o.name,
      {
        type: o.type,
        ...(o.short ? { short: o.short } : {}),
        ...(o.multiple ? { multiple: true } : {}),
      },
    ]),
  );
  // parseArgs reads `--alpha -1` as a missing value followed by option -1: join a negative
  // number to the option that takes it.
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const spec = specs.find((o) => `--${o.name}` === args[i] || `-${o.short}` === args[i]);
    if (spec?.type === 'string' && /^-(\d|\.\d)/.test(args[i + 1] ?? '')) {
      joined.push(`--${spec.name}=${args[++i]}`);
    } else joined.push(args[i]);
  }
  let parsed: { values: OptionValues; positionals: string[] };
  try {
    parsed = parseNodeArgs({ args: joined, options, allowPositionals: true, strict: true });
  } catch (e) {
    const code = (e as { code?: string }).code;
    const message = e instanceof Error ? e.message : String(e);
    const option = quotedOption(message);
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      throw new UsageError(`unknown option ${option}${suggestion(option, specs)}`, option);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const spec = specs.find((o) => `--${o.name}` === option || `-${o.short}` === option);
      if (/does not take an argument/.test(message))
        throw new UsageError(`${option} takes no value`, option);
      if (/ambiguous/.test(message))
        throw new UsageError(
          `${option} needs a value; write ${option}=VALUE for a value that starts with "-"`,
          option,
        );
      throw new UsageError(
        `${option} needs a value${spec?.value ? ` (${spec.value})` : ''}`,
        option,
      );
    }
    throw new UsageError(message.split('\n')[0]);
  }
  const { positionals } = parsed;
  const { min, max, names } = command.positionals;
  if (positionals.length < min) {
    throw new UsageError(
      `${command.name} needs ${names.slice(positionals.length, min).join(' and ')}`,
      names[positionals.length],
    );
  }
  if (positionals.length > max) {
    const extra = positionals[max];
    throw new UsageError(
      max === 0
        ? `${command.name} takes no arguments, got "${extra}"`
        : `unexpected argument "${extra}" (${command.name} takes ${names.join(' ')})`,
      undefined,
      extra,
    );
  }
  return { help: false, values: parsed.values, positionals };
}

/** The string given for `--name`, or undefined (the last one when given more than once). */
export function stringOption(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  if (Array.isArray(v)) return v.length > 0 ? String(v[v.length - 1]) : undefined;
  return typeof v === 'string' ? v : undefined;
}

/** Every string given for a `multiple` option, or undefined when none was. */
export function listOption(values: OptionValues, name: string): string[] | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  return (Array.isArray(v) ? v : [v]).map(String);
}

/** The number given for `--name`, or undefined when absent. @throws UsageError when not a number. */
export function numberOption(values: OptionValues, name: string): number | undefined {
  const v = stringOption(values, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) {
    throw new UsageError(`--${name} must be a number, got "${v}"`, `--${name}`, v);
  }
  return n;
}

/** Help is wrapped to this width, so it reads in an 80-column terminal. */
export const HELP_WIDTH = 80;
const OPTION_COLUMN = 24;

/** Splits text into lines of at most `width` characters at spaces (a longer word stays whole). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(' ')) {
      if (line !== '' && line.length + 1 + word.length > width) {
        lines.push(line);
        line = word;
      } else line = line === '' ? word : `${line} ${word}`;
    }
    lines.push(line);
  }
  return lines;
}

/** The option lines of a help text: `  -h, --help   print this help`, descriptions wrapped. */
export function optionLines(options: OptionSpec[]): string[] {
  const lines: string[] = [];
  for (const o of options) {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${o.name}${o.value ? ` ${o.value}` : ''}`;
    const left = `  ${flag}`;
    const help = typeof o.help === 'function' ? o.help() : o.help;
    const text = wrap(help + (o.multiple ? ' (may be repeated)' : ''), HELP_WIDTH - OPTION_COLUMN);
    if (left.length + 2 > OPTION_COLUMN) {
      lines.push(left);
      for (const t of text) lines.push(' '.repeat(OPTION_COLUMN) + t);
    } else {
      lines.push(left.padEnd(OPTION_COLUMN) + text[0]);
      for (const t of text.slice(1)) lines.push(' '.repeat(OPTION_COLUMN) + t);
    }
  }
  return lines;
}

/** `bnn-lab COMMAND --help`. */
export function commandHelp(command: Command): string {
  const lines = [
    `Usage: bnn-lab ${command.usage}`,
    '',
    ...wrap(command.summary, HELP_WIDTH),
    '',
    'Options:',
    ...optionLines(commandOptions(command)),
  ];
  if (command.notes) lines.push('', ...wrap(command.notes, HELP_WIDTH));
  return lines.join('\n') + '\n';
}
