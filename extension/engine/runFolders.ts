/**
 * Run folders on disk (`<workspace>/.bnn-lab/runs/<timestamp>-<preset>/`): creating a fresh one
 * without ever reusing an existing folder, finding the newest, and reading its `metrics.jsonl`
 * back after a window reload. No vscode API, so plain-Node tests cover it.
 */
import { appendFile, readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import type {
  MetricsRecord,
  RunSnapshot,
  RunStatus,
  SkippedLines,
  TrainConfig,
} from '../../core/protocol';
import { METRICS_FILE, parseMetricsJsonl } from '../../core/io/runFolder';
import { FILE_CAPS, openRegularFile, readBoundedText } from '../../core/io/boundedFile';

export { createRunDir, runTimestamp } from '../../core/io/runNames';
export { METRICS_FILE, parseMetricsJsonl };

const TIMESTAMP = /^\d{8}-\d{6}/;

/** A run read back from disk; `interrupted` when it has no `done` record and nothing runs it. */
export interface StoredRun {
  snapshot: RunSnapshot;
  interrupted: boolean;
  badLines: number;
  /** The last line had no newline and could not be read (a write cut short); not in `badLines`. */
  truncatedLastLine: boolean;
}

/** What the dashboard is told about unreadable lines, or undefined when there were none. */
export function skippedOf(stored: StoredRun): SkippedLines | undefined {
  return stored.badLines > 0 || stored.truncatedLastLine
    ? { badLines: stored.badLines, truncatedLastLine: stored.truncatedLastLine }
    : undefined;
}

/** True when `text` ends in a non-empty line without its newline that is not valid JSON. */
export function hasTruncatedLastLine(text: string): boolean {
  if (text.endsWith('\n')) return false;
  const tail = text.slice(text.lastIndexOf('\n') + 1);
  if (tail.trim() === '') return false;
  try {
    JSON.parse(tail);
    return false;
  } catch {
    return true;
  }
}

/** Reads a run folder's `metrics.jsonl`. @returns undefined when the folder has none. */
export async function readRun(dir: string): Promise<StoredRun | undefined> {
  let text: string;
  try {
    text = await readBoundedText(path.join(dir, METRICS_FILE), {
      what: 'metrics.jsonl',
      maxBytes: FILE_CAPS.metrics,
    });
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
    truncatedLastLine: hasTruncatedLastLine(text),
  };
}

/** Run folders (holding a `metrics.jsonl`) under `roots`, newest name first. */
export async function listRunDirs(roots: readonly string[]): Promise<string[]> {
  const dirs: string[] = [];
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
      try {
        await stat(path.join(dir, METRICS_FILE));
        dirs.push(dir);
      } catch {
        // not a run folder (or not yet): skip
      }
    }
  }
  return dirs.sort(
    (a, b) => path.basename(b).localeCompare(path.basename(a)) || b.localeCompare(a),
  );
}

/** What the Runs view shows for a run without reading its whole `metrics.jsonl`. */
export interface RunSummary {
  dir: string;
  runId: string;
  preset: string;
  /** `interrupted`: no `done` record (the window closed mid-run, or it is still running). */
  status: Exclude<RunStatus, 'running'> | 'interrupted';
  /** The `done` record's, else the last evaluated epoch's; null when never evaluated. */
  testAccuracy: number | null;
  epochs: number;
  startTime: number | undefined;
  /** The `start` record's config (seed, learning rate, limit…), when it could be read. */
  config?: TrainConfig;
}

const HEAD_BYTES = 64 * 1024;
const TAIL_BYTES = 512 * 1024;

/**
 * Reads the first record (`start`) and the last ~512 kB of a run's `metrics.jsonl`: enough for
 * status and accuracy, cheap for a run with thousands of large `step` records.
 */
export async function readRunSummary(dir: string): Promise<RunSummary> {
  const { handle } = await openRegularFile(path.join(dir, METRICS_FILE), { what: 'metrics.jsonl' });
  let head: string;
  let tail: string;
  let tailStartsFile: boolean;
  try {
    const { size } = await handle.stat();
    const headBuf = Buffer.alloc(Math.min(size, HEAD_BYTES));
    await handle.read(headBuf, 0, headBuf.length, 0);
    head = headBuf.toString('utf8');
    const tailStart = Math.max(0, size - TAIL_BYTES);
    const tailBuf = Buffer.alloc(size - tailStart);
    await handle.read(tailBuf, 0, tailBuf.length, tailStart);
    tail = tailBuf.toString('utf8');
    tailStartsFile = tailStart === 0;
  } finally {
    await handle.close();
  }
  const summary: RunSummary = {
    dir,
    runId: path.basename(dir),
    preset: '',
    status: 'interrupted',
    testAccuracy: null,
    epochs: 0,
    startTime: undefined,
  };
  const firstLine = head.slice(0, head.indexOf('\n') >= 0 ? head.indexOf('\n') : undefined);
  const start = parseLine(firstLine);
  if (start?.event === 'start') {
    summary.runId = typeof start.runId === 'string' ? start.runId : summary.runId;
    summary.preset = typeof start.preset === 'string' ? start.preset : '';
    summary.startTime = typeof start.time === 'number' ? start.time : undefined;
    if (typeof start.config === 'object' && start.config !== null) {
      summary.config = start.config as TrainConfig;
    }
  }
  const lines = tail.split('\n');
  if (!tailStartsFile) lines.shift(); // starts mid-line
  for (const line of lines) {
    // Records are written with `event` first; skip the big step records without parsing them.
    const kind = /^\{"event":"(epoch|done)"/.exec(line)?.[1];
    if (!kind) continue;
    const record = parseLine(line);
    if (!record) continue;
    if (record.event === 'epoch') {
      summary.epochs = Math.max(
        summary.epochs,
        typeof record.epoch === 'number' ? record.epoch : 0,
      );
      if (typeof record.testAccuracy === 'number') summary.testAccuracy = record.testAccuracy;
    } else if (record.event === 'done') {
      const status = record.status;
      if (status === 'completed' || status === 'cancelled' || status === 'failed') {
        summary.status = status;
      }
      if (typeof record.testAccuracy === 'number') summary.testAccuracy = record.testAccuracy;
    }
  }
  return summary;
}

function parseLine(line: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
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
    const { handle } = await openRegularFile(file, { what: 'metrics.jsonl' });
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
