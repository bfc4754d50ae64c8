/** Command-line parsing shared by the `bnn-lab` subcommands that take `--flag value` options. */
import { UserError } from '../errors';

/**
 * Parses `--flag value`, `--flag=value` and bare `--switch`es; positional arguments are returned
 * in order. With `known`, an option outside it is a UserError naming `command`.
 */
export function parseArgs(
  args: string[],
  switches: ReadonlySet<string>,
  known?: { flags: ReadonlySet<string>; command: string },
): { flags: Map<string, string>; positional: string[] } {
  const flags = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (known && !known.flags.has(name)) {
      throw new UserError(`unknown option --${name} for ${known.command} (see bnn-lab --help)`);
    }
    if (eq > 0) flags.set(name, a.slice(eq + 1));
    else if (switches.has(name)) flags.set(name, 'true');
    else {
      if (i + 1 >= args.length) {
        throw new UserError(`option --${name} needs a value (see bnn-lab --help)`);
      }
      flags.set(name, args[++i]);
    }
  }
  return { flags, positional };
}

/** The number given for `--name`, or undefined when absent. @throws UserError when not a number. */
export function numberFlag(flags: Map<string, string>, name: string): number | undefined {
  const v = flags.get(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) {
    throw new UserError(`--${name} must be a number, got "${v}"`);
  }
  return n;
}
