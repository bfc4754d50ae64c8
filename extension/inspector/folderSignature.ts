/**
 * A cheap fingerprint of a checkpoint folder: names, sizes and modification times of its files
 * and of the files one level down (`epoch-N/`). A watched folder is polled with it because file
 * events do not cover every case the watch is for: a training job on another machine writing to
 * a network share (NFS does not report remote writes to inotify), and watchers that start late.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

async function entriesOf(dir: string, depth: number, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      out.push(`${path}/`);
      if (depth > 0) await entriesOf(path, depth - 1, out);
    } else if (entry.isFile()) {
      const info = await stat(path).catch(() => undefined);
      if (info) out.push(`${path} ${info.size} ${info.mtimeMs}`);
    }
  }
}

/** The fingerprint; equal strings mean nothing a series analysis reads has changed. */
export async function folderSignature(folder: string): Promise<string> {
  const lines: string[] = [];
  await entriesOf(folder, 1, lines);
  return lines.join('\n');
}
