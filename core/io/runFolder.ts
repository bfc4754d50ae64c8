/**
 * A run folder on disk:
 *
 *   <run>/config.json          the resolved TrainConfig
 *   <run>/metrics.jsonl        one MetricsRecord per line
 *   <run>/checkpoints/epoch-N/ model.json + weights.bin + training-state.json + state.bin
 *
 * Checkpoints are written to a hidden temporary folder and renamed into place, so a killed run
 * never leaves a half-written checkpoint under a complete-looking name.
 */
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors';
import { FILE_CAPS, readBoundedTextSync } from './boundedFile';
import type { MetricsRecord, TrainConfig } from '../protocol';

export const METRICS_FILE = 'metrics.jsonl';
export const CONFIG_FILE = 'config.json';
export const CHECKPOINTS_DIR = 'checkpoints';

function describeFsError(action: string, path: string, e: unknown): UserError {
  const err = e as NodeJS.ErrnoException;
  const hint =
    err.code === 'ENOSPC'
      ? 'the disk is full; free space and start again'
      : err.code === 'EACCES' || err.code === 'EPERM' || err.code === 'EROFS'
        ? 'the folder is not writable; choose a writable workspace or bnnLab.runs.folder'
        : err.message;
  const wrapped = new UserError(`cannot ${action} ${path}: ${hint}`);
  wrapped.stack = `${wrapped.stack}\ncaused by: ${err.stack ?? String(err)}`;
  return wrapped;
}

/** Appends records to `metrics.jsonl`, one JSON object per line, flushed on every write. */
export class RunFolder {
  readonly metricsPath: string;

  /** Creates the folder (and parents). @throws UserError when it cannot be written. */
  constructor(readonly dir: string) {
    this.metricsPath = join(dir, METRICS_FILE);
    try {
      mkdirSync(join(dir, CHECKPOINTS_DIR), { recursive: true });
    } catch (e) {
      throw describeFsError('create the run folder', dir, e);
    }
  }

  writeConfig(config: TrainConfig): void {
    const path = join(this.dir, CONFIG_FILE);
    try {
      writeFileSync(path, JSON.stringify(config, null, 2) + '\n', { flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new UserError(
          `${path} already exists: a run folder is never reused; start a new run`,
        );
      }
      throw describeFsError('write', path, e);
    }
  }

  append(record: MetricsRecord): void {
    try {
      appendFileSync(this.metricsPath, JSON.stringify(record) + '\n');
    } catch (e) {
      throw describeFsError('append to', this.metricsPath, e);
    }
  }

  /**
   * Writes a checkpoint atomically: every file goes into a temporary sibling folder that is
   * renamed to `checkpoints/<name>` only once complete. @returns the path relative to the run.
   */
  writeCheckpoint(name: string, files: Record<string, Uint8Array | string>): string {
    const root = join(this.dir, CHECKPOINTS_DIR);
    const finalDir = join(root, name);
    const tmpDir = join(root, `.tmp-${name}-${process.pid}`);
    if (existsSync(finalDir))
      throw new UserError(`checkpoint ${finalDir} already exists; refusing to overwrite it`);
    try {
      rmSync(tmpDir, { recursive: true, force: true });
      mkdirSync(tmpDir, { recursive: true });
      for (const [file, content] of Object.entries(files))
        writeFileSync(join(tmpDir, file), content);
      renameSync(tmpDir, finalDir);
    } catch (e) {
      rmSync(tmpDir, { recursive: true, force: true });
      throw describeFsError('write checkpoint', finalDir, e);
    }
    return `${CHECKPOINTS_DIR}/${name}`;
  }
}

const EVENTS: ReadonlySet<string> = new Set(['start', 'step', 'epoch', 'done']);

/**
 * Parses `metrics.jsonl`. A last line without its newline is a write cut short (the window was
 * reloaded mid-append) and is dropped silently; any other unreadable line is skipped and counted.
 */
export function parseMetricsJsonl(text: string): { records: MetricsRecord[]; badLines: number } {
  const lines = text.split('\n');
  const truncated = !text.endsWith('\n');
  const records: MetricsRecord[] = [];
  let badLines = 0;
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const record = parseRecord(line);
    if (record) records.push(record);
    else if (!(truncated && i === lines.length - 1)) badLines++;
  });
  return { records, badLines };
}

function parseRecord(line: string): MetricsRecord | undefined {
  try {
    const value: unknown = JSON.parse(line);
    if (typeof value !== 'object' || value === null) return undefined;
    const event = (value as { event?: unknown }).event;
    return typeof event === 'string' && EVENTS.has(event) ? (value as MetricsRecord) : undefined;
  } catch {
    return undefined;
  }
}

/** Reads a run's `metrics.jsonl` (see `parseMetricsJsonl`). */
export function readMetrics(path: string): { records: MetricsRecord[]; badLines: number } {
  return parseMetricsJsonl(
    readBoundedTextSync(path, { what: 'metrics.jsonl', maxBytes: FILE_CAPS.metrics }),
  );
}

/** Complete checkpoints of a run, oldest first (temporary folders are ignored). */
export function listCheckpoints(runDir: string): string[] {
  const root = join(runDir, CHECKPOINTS_DIR);
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((d) => /^epoch-\d+$/.test(d))
    .sort((a, b) => Number(a.slice(6)) - Number(b.slice(6)))
    .map((d) => join(root, d));
}
