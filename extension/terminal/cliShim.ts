/**
 * The `bnn-lab` command in VS Code's integrated terminal: a small launcher script in the
 * extension's global storage that runs the bundled `dist/cli.js` with the Node that runs the
 * extension host (`process.execPath` with ELECTRON_RUN_AS_NODE=1: VS Code's Electron binary acts
 * as plain Node, so no separate Node install is needed). The folder holding it goes on the
 * terminal's PATH through the extension's environment-variable collection (terminalPath.ts).
 * Pure Node (no vscode import), so tests run the script it writes.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import * as path from 'node:path';

export const CLI_NAME = 'bnn-lab';

/** POSIX shell single quotes: everything literal, `'` written as `'\''`. */
function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The launcher's file name and text for a platform (`process.platform`). */
export function shimScript(
  platform: NodeJS.Platform,
  nodePath: string,
  cliPath: string,
  version: string,
): { file: string; text: string } {
  const missing = `BNN Lab's command line is gone (${cliPath}): the extension was updated or uninstalled. Run any BNN Lab command in VS Code to refresh this launcher.`;
  if (platform === 'win32') {
    return {
      file: `${CLI_NAME}.cmd`,
      text: [
        '@echo off',
        `rem Written by the BNN Lab extension ${version}: its command line, run with VS Code's own Node.`,
        'setlocal',
        `if not exist "${cliPath}" (`,
        `  echo ${CLI_NAME}: ${missing} 1>&2`,
        '  exit /b 127',
        ')',
        'set ELECTRON_RUN_AS_NODE=1',
        `"${nodePath}" "${cliPath}" %*`,
        '',
      ].join('\r\n'),
    };
  }
  return {
    file: CLI_NAME,
    text: [
      '#!/bin/sh',
      `# Written by the BNN Lab extension ${version}: its command line, run with VS Code's own Node.`,
      `cli=${shQuote(cliPath)}`,
      'if [ ! -f "$cli" ]; then',
      `  echo ${shQuote(`${CLI_NAME}: ${missing}`)} >&2`,
      '  exit 127',
      'fi',
      `ELECTRON_RUN_AS_NODE=1 exec ${shQuote(nodePath)} "$cli" "$@"`,
      '',
    ].join('\n'),
  };
}

/**
 * Writes the launcher into `dir` (created if needed) unless it is already there with the same
 * text; replaced atomically, so a terminal never runs a half-written script. Returns its path.
 */
export async function writeCliShim(
  dir: string,
  nodePath: string,
  cliPath: string,
  version: string,
  platform: NodeJS.Platform = process.platform,
): Promise<string> {
  const { file, text } = shimScript(platform, nodePath, cliPath, version);
  const target = path.join(dir, file);
  const current = await readFile(target, 'utf8').catch(() => undefined);
  if (current !== text) {
    await mkdir(dir, { recursive: true });
    const tmp = `${target}.${process.pid}.tmp`;
    await writeFile(tmp, text, { mode: 0o755 });
    await chmod(tmp, 0o755);
    await rename(tmp, target);
  }
  return target;
}
