/**
 * Run folders on disk (`<workspace>/.bnn-lab/runs/<timestamp>-<preset>/`): creating a fresh one
 * without ever reusing an existing folder, finding the newest, and reading its `metrics.jsonl`
 * back after a window reload. No vscode API, so plain-Node tests cover it.
 */
import { appendFile, open, readdir, readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';
import type { MetricsRecord, RunSnapshot } from '../../core/protocol';
import { METRICS_FILE, parseMetricsJsonl } from '../../core/io/runFolder';

export { createRunDir, runTimestamp } from '../../core/io/runNames';
export { METRICS_FILE, parseMetricsJsonl };

const TIMESTAMP = /^\d{8}-\d{6}/;

/** A run read back from disk; `interrupted` when it has no `done` record and nothing runs it. */
export interface StoredRun {
  snapshot: RunSnapshot;
  interrupted: boolean;
  badLines: number;
}

/** Reads a run folder's `metrics.jsonl`. @returns undefined when the folder has none. */
export async function readRun(dir: string): Promise<StoredRun | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(dir, METRICS_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const { records, badLines } = parseMetricsJsonl(text);
  const start = records.find(
    (r): r is Extract<MetricsRecord, { event: 'start' }> => r.event === 'start',
  );
  const done = [...records]
    .reverse()
    .find((r): r is Extract<MetricsRecord, { event: 'done' }> => r.event === 'done');
  return {
    snapshot: {
      runId: start?.runId ?? path.basename(dir),
      dir,
      status: done?.status ?? 'failed',
      records,
    },
    interrupted: done === undefined,
    badLines,
  };
}

/**
 * The newest run folder holding a `metrics.jsonl` under any of `roots`: latest timestamp
 * prefix first (names sort by time), then latest `metrics.jsonl` modification.
 */
export async function findNewestRunDir(roots: readonly string[]): Promise<string | undefined> {
  let best: { dir: string; key: string; mtimeMs: number } | undefined;
  for (const root of roots) {
    let entries;
    try {
      entries = await readdir(root, { withFileTypes: true });
    } catch {
      continue; // no runs folder yet
    }
    for (const entry of entries) {
      if (!entry.isDirectory()) continue;
      const dir = path.join(root, entry.name);
      let mtimeMs: number;
      try {
        mtimeMs = (await stat(path.join(dir, METRICS_FILE))).mtimeMs;
      } catch {
        continue;
      }
      const key = TIMESTAMP.exec(entry.name)?.[0] ?? '';
      if (
        !best ||
        key > best.key ||
        (key === best.key &&
          (mtimeMs > best.mtimeMs || (mtimeMs === best.mtimeMs && dir > best.dir)))
      ) {
        best = { dir, key, mtimeMs };
      }
    }
  }
  return best?.dir;
}

/**
 * Appends one record to a run's `metrics.jsonl`. The host uses it to close the file for a worker
 * that died mid-run; a line that worker left unfinished is ended first, so the new record stays
 * readable (the broken line is then skipped, and counted, by `parseMetricsJsonl`).
 */
export async function appendRecord(dir: string, record: MetricsRecord): Promise<void> {
  const file = path.join(dir, METRICS_FILE);
  let prefix = '';
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      if (size > 0) {
        const last = Buffer.alloc(1);
        await handle.read(last, 0, 1, size - 1);
        if (last[0] !== 0x0a) prefix = '\n';
      }
    } finally {
      await handle.close();
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await appendFile(file, `${prefix}${JSON.stringify(record)}\n`);
}
