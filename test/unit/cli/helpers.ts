/** Runs `bnn-lab` in-process and captures what it writes to stdout and stderr. */
import { main } from '../../../core/cli/main';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `bnn-lab ARGS` with stdout and stderr captured. The progress line is drawn on stderr as on a
 * terminal of `columns` columns (`tty: false`: a pipe).
 */
export async function runCli(
  args: string[],
  options: { columns?: number; tty?: boolean } = {},
): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(
    args,
    (t) => (stdout += t),
    (t) => (stderr += t),
    {
      isTTY: options.tty ?? false,
      columns: options.columns,
      write: (t: string) => (stderr += t),
    },
  );
  return { code, stdout, stderr };
}

/** The escape character that starts a terminal control sequence. */
export const ESC = String.fromCharCode(0x1b);

/**
 * The lines a terminal shows of `text`: split at `\r` and `\n`, escape sequences removed.
 * A `\r`-redrawn progress line is one entry per redraw.
 */
export function screenLines(text: string): string[] {
  return text
    .replace(new RegExp(`${ESC}\\[[0-9;]*[A-Za-z]`, 'g'), '')
    .split(/[\r\n]/)
    .filter((l) => l !== '');
}

/** Display width: code points (the CLI prints no wide characters). */
export const width = (line: string) => [...line].length;
