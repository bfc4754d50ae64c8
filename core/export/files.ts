/** Output files of the exporters: never replaced unless asked, written through a temporary name. */
import { existsSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
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

/** The checkpoint folder a user named: the folder itself, or the folder of its model.json. */
export function checkpointFolder(source: string): string {
  if (!existsSync(source)) throw new UserError(`${source} does not exist`);
  const dir = statSync(source).isDirectory() ? source : dirname(source);
  if (!statSync(source).isDirectory() && basename(source) !== 'model.json') {
    throw new UserError(
      `${source} is not a BNN Lab checkpoint: name a checkpoint folder (RUN/checkpoints/epoch-N) or its model.json`,
    );
  }
  if (!existsSync(join(dir, 'model.json'))) {
    throw new UserError(
      `${dir} is not a BNN Lab checkpoint: it has no model.json (name a folder like RUN/checkpoints/epoch-3)`,
    );
  }
  return dir;
}
