/** Output files of the exporters: never replaced unless asked, written through a temporary name. */
import { existsSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { UserError } from '../errors';

/** @throws UserError when `out` exists and may not be replaced. */
export function checkOutput(out: string, overwrite: boolean): void {
  if (existsSync(out) && !overwrite) {
    throw new UserError(`${out} already exists; choose another name or pass --force to replace it`);
  }
  if (existsSync(out) && statSync(out).isDirectory()) {
    throw new UserError(`${out} is a folder; name a file to write`);
  }
}

/** Writes `bytes` to `out` through a temporary file beside it. */
export function writeFileAtomic(out: string, bytes: Uint8Array | string): void {
  const temp = `${out}.partial-${process.pid}`;
  try {
    writeFileSync(temp, bytes);
    renameSync(temp, out);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}
