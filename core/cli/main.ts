/**
 * `bnn-lab` command line: the same engine as the extension, no VS Code.
 * Exit codes: 0 ok, 1 run failed or file unreadable, 2 bad usage or input, 130 cancelled (Ctrl-C).
 * Results go to stdout; progress, warnings and errors to stderr. Under `--json` an error is one
 * JSON object on stderr. `BNN_LAB_DEBUG=1` adds stack traces.
 * TensorFlow.js and the trainer load only for the commands that train: `inspect` starts fast.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs as parseNodeArgs } from 'node:util';
import { CancelledError, ConfigError, FileFormatError, UserError, useVocabulary } from '../errors';
import {
  commandHelp,
  HELP_WIDTH,
  optionLines,
  parseCommandArgs,
  RunFailed,
  UsageError,
  wrap,
  type Command,
  type OptionValues,
  type Out,
  type ProgressStream,
} from './args';
import { finetuneCommand } from './finetune';
import { exportCommand } from './export';
import { compareCommand, inspectCommand, seriesCommand } from './inspect';
import { presetsCommand } from './presets';
import { trainCommand } from './train';
import { CLI_VOCABULARY } from './wording';
import { besideBundle, foldersAbove } from '../io/shipped';

/** Every command, in the order the help lists them. A new command is one entry here. */
export const COMMANDS: readonly Command[] = [
  trainCommand,
  finetuneCommand,
  presetsCommand,
  inspectCommand,
  compareCommand,
  seriesCommand,
  exportCommand,
];

/** The version in the package.json beside (or above) this file: dist/, out/core/cli/. */
export function packageVersion(): string {
  for (const dir of [besideBundle(), ...foldersAbove(4)]) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'bnn-lab' && pkg.version) return pkg.version;
    }
  }
  return 'unknown';
}

/** `bnn-lab --help`: the commands, then every option of every command. */
export function topLevelHelp(): string {
  const name = Math.max(...COMMANDS.map((c) => c.name.length)) + 4;
  const lines = [
    "bnn-lab: train and inspect binary neural networks (BNN Lab's engine, no VS Code)",
    '',
    'Usage: bnn-lab COMMAND [options]',
    '       bnn-lab COMMAND --help    (one command)',
    '       bnn-lab --version',
    '',
    'Commands:',
  ];
  for (const c of COMMANDS) {
    const text = wrap(c.summary, HELP_WIDTH - name - 2);
    lines.push(
      `  ${c.name.padEnd(name)}${text[0]}`,
      ...text.slice(1).map((t) => ' '.repeat(name + 2) + t),
    );
  }
  for (const c of COMMANDS) {
    lines.push('', `bnn-lab ${c.usage}`);
    // --help is listed once, below.
    lines.push(...optionLines([...c.options, { name: 'json', type: 'boolean', help: c.jsonHelp }]));
  }
  lines.push(
    '',
    'Every command:',
    ...optionLines([
      { name: 'help', short: 'h', type: 'boolean', help: "print the command's help and exit" },
    ]),
    '',
    'Top level:',
    ...optionLines([
      { name: 'help', short: 'h', type: 'boolean', help: 'print this help and exit' },
      { name: 'version', short: 'V', type: 'boolean', help: 'print the version and exit' },
    ]),
    '',
    ...wrap(
      'Results go to stdout; progress, warnings and errors to stderr. With --json, an error is one JSON object on stderr: {"event":"error","message":…} with "field" and "value" when known. Exit codes: 0 ok, 1 run failed or file unreadable, 2 bad usage or input, 130 cancelled. BNN_LAB_DEBUG=1 in the environment adds stack traces to errors.',
      HELP_WIDTH,
    ),
  );
  return lines.join('\n') + '\n';
}

const debug = () => Boolean(process.env.BNN_LAB_DEBUG);

interface Described {
  message: string;
  exit: number;
  fields: Record<string, string>;
  /** Add "see bnn-lab … --help" to the text. */
  usage: boolean;
}

/** The message, exit code and fields of an error, worded for the command line. */
function describe(e: unknown, command: Command | undefined, values: OptionValues): Described {
  if (e instanceof UsageError) {
    const fields: Record<string, string> = {};
    if (e.field !== undefined) fields.field = e.field;
    if (e.value !== undefined) fields.value = e.value;
    return { message: e.message, exit: 2, fields, usage: true };
  }
  if (e instanceof RunFailed)
    return { message: e.message, exit: 1, fields: { runDir: e.runDir }, usage: false };
  if (e instanceof ConfigError) {
    // A field the user set with a flag is named by the flag; one from a --config file keeps the
    // file's name and the field's.
    const option = command?.fieldOptions?.[e.field];
    const given = option !== undefined ? values[option.slice(2)] : undefined;
    if (option !== undefined && given !== undefined) {
      const value = Array.isArray(given) ? String(given[given.length - 1]) : String(given);
      return {
        message: e.wordedAs(option),
        exit: 2,
        fields: { field: option, value },
        usage: false,
      };
    }
    return {
      message: e.message,
      exit: 2,
      fields: { field: e.field, source: e.source },
      usage: false,
    };
  }
  if (e instanceof CancelledError)
    return { message: 'cancelled', exit: 130, fields: {}, usage: false };
  const exit = command?.userErrorExit ?? 2;
  if (e instanceof FileFormatError)
    return { message: e.message, exit, fields: { file: e.file }, usage: false };
  if (e instanceof UserError) return { message: e.message, exit, fields: {}, usage: false };
  const sys = e as NodeJS.ErrnoException;
  if (sys instanceof Error && typeof sys.code === 'string' && typeof sys.syscall === 'string') {
    // A file-system error core did not word: "ENOENT: no such file or directory, open 'x'".
    const what = sys.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '');
    const path = sys.path ?? '';
    return {
      message: `${path ? `${path}: ` : ''}${what} (${sys.code})`,
      exit,
      fields: path ? { file: path } : {},
      usage: false,
    };
  }
  const message = e instanceof Error ? e.message.split('\n')[0] : String(e);
  return {
    message: `internal error: ${message}${debug() ? '' : ' (set BNN_LAB_DEBUG=1 to see the stack trace)'}`,
    exit: 1,
    fields: {},
    usage: false,
  };
}

/**
 * Prints an error the way the user asked (one line, or one JSON object) on stderr, the stack only
 * with BNN_LAB_DEBUG set; returns the exit code.
 */
export function reportError(
  e: unknown,
  command: Command | undefined,
  values: OptionValues,
  json: boolean,
  err: Out,
): number {
  const d = describe(e, command, values);
  const stack = debug() && e instanceof Error ? e.stack : undefined;
  if (json) {
    err(
      `${JSON.stringify({ event: 'error', message: d.message, ...d.fields, ...(stack ? { stack } : {}) })}\n`,
    );
  } else {
    const where = command ? `bnn-lab ${command.name}` : 'bnn-lab';
    err(`${where}: ${d.message}${d.usage ? `; see ${where} --help` : ''}\n`);
    if (stack) err(`${stack}\n`);
  }
  return d.exit;
}

/** True when `--json` is among the arguments (before a `--`). */
function wantsJson(args: string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).includes('--json');
}

/**
 * Runs the CLI; returns the exit code. `out` is stdout, `err` stderr, `progress` the stream the
 * training progress line is drawn on (its `columns` and `isTTY` decide how).
 */
export async function main(
  argv: string[],
  out: Out,
  err: Out,
  progress: ProgressStream = process.stderr,
): Promise<number> {
  // Core's messages name flags while the CLI runs (in-process callers get theirs back after).
  const previous = useVocabulary(CLI_VOCABULARY);
  try {
    return await runCommandLine(argv, out, err, progress);
  } finally {
    useVocabulary(previous);
  }
}

async function runCommandLine(
  argv: string[],
  out: Out,
  err: Out,
  progress: ProgressStream,
): Promise<number> {
  const json = wantsJson(argv);
  const first = argv.findIndex((a) => !a.startsWith('-'));
  const leading = first < 0 ? argv : argv.slice(0, first);
  let top: OptionValues;
  try {
    top = parseNodeArgs({
      args: leading,
      options: {
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
        json: { type: 'boolean' },
      },
      strict: true,
    }).values;
  } catch (e) {
    const option = /'([^' ]+)/.exec((e as Error).message)?.[1] ?? leading[0];
    return reportError(
      new UsageError(`unknown option ${option}`, option),
      undefined,
      {},
      json,
      err,
    );
  }
  if (top.version) {
    out(
      json ? `${JSON.stringify({ version: packageVersion() })}\n` : `bnn-lab ${packageVersion()}\n`,
    );
    return 0;
  }
  const name = first < 0 ? undefined : argv[first];
  if (name === undefined || top.help || name === 'help') {
    // `bnn-lab help train` and `bnn-lab -h train` are `bnn-lab train --help`.
    const topicName = name === 'help' ? argv[first + 1] : name;
    const topic = COMMANDS.find((c) => c.name === topicName);
    out(topic ? commandHelp(topic) : topLevelHelp());
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    return reportError(
      new UsageError(
        `unknown command "${name}" (commands: ${COMMANDS.map((c) => c.name).join(', ')})`,
        undefined,
        name,
      ),
      undefined,
      {},
      json,
      err,
    );
  }
  // Top-level options before the command (`bnn-lab --json inspect F`) apply to it.
  const args = [...(top.json ? ['--json'] : []), ...argv.slice(first + 1)];
  let values: OptionValues = {};
  try {
    const parsed = parseCommandArgs(command, args);
    if (parsed.help) {
      out(commandHelp(command));
      return 0;
    }
    values = parsed.values;
    return await command.run({
      values,
      positionals: parsed.positionals,
      json: values.json === true,
      out,
      err,
      progress,
    });
  } catch (e) {
    return reportError(e, command, values, json, err);
  }
}

if (require.main === module) {
  // `bnn-lab presets | head`: a closed pipe ends the output quietly, as for other CLI tools.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  // Whatever escapes main (an error thrown on a later tick): one line, the stack only on request.
  const json = wantsJson(process.argv.slice(2));
  for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
    process.on(event, (e: unknown) => {
      reportError(e, undefined, {}, json, (t) => process.stderr.write(t));
      process.exit(1);
    });
  }
  void main(
    process.argv.slice(2),
    (t) => process.stdout.write(t),
    (t) => process.stderr.write(t),
  ).then((code) => {
    process.exitCode = code;
  });
}
