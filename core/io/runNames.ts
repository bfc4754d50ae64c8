/** Run folder names: `<yyyymmdd-hhmmss>-<preset>`, never reusing an existing folder. */
import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { describeFsError } from './runFolder';

/** Local time as `YYYYMMDD-HHMMSS`, e.g. `20261122-013501`: sorts by name, reads at a glance. */
export function runTimestamp(date: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${date.getFullYear()}${two(date.getMonth() + 1)}${two(date.getDate())}-` +
    `${two(date.getHours())}${two(date.getMinutes())}${two(date.getSeconds())}`
  );
}

/**
 * Creates `<root>/<timestamp>-<preset>/`, or `…-2`, `…-3` when that exists: `mkdir` without
 * `recursive` fails on an existing folder, so two runs never share one, even when racing.
 * @returns the absolute path of the new, empty folder.
 * @throws RunFolderError (one message naming the folder and what to do) when it cannot be made.
 */
export async function createRunDir(root: string, preset: string, date: Date): Promise<string> {
  try {
    await mkdir(root, { recursive: true });
  } catch (e) {
    throw describeFsError('create the runs folder', path.resolve(root), e);
  }
  const safePreset = preset.replace(/[^A-Za-z0-9._-]+/g, '_');
  const base = `${runTimestamp(date)}-${safePreset}`;
  for (let n = 1; n <= 1000; n++) {
    const dir = path.resolve(root, n === 1 ? base : `${base}-${n}`);
    try {
      await mkdir(dir);
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
        throw describeFsError('create the run folder', dir, e);
    }
  }
  throw new Error(`createRunDir: ${root} already holds 1000 runs named ${base}`);
}
