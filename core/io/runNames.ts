/** Run folder names: `<yyyymmdd-hhmmss>-<preset>`, never reusing an existing folder. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** `20261122-013501` in local time. */
export function timestamp(date: Date): string {
  return `${date.getFullYear()}${pad(date.getMonth() + 1)}${pad(date.getDate())}-${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}`;
}

/** A folder name under `parent` that does not exist yet: adds `-2`, `-3`, … when needed. */
export function newRunDirName(parent: string, preset: string, date: Date): string {
  const base = `${timestamp(date)}-${preset}`;
  let name = base;
  for (let i = 2; existsSync(join(parent, name)); i++) name = `${base}-${i}`;
  return name;
}
