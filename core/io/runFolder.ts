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
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { fieldName, UserError } from '../errors';
import { FILE_CAPS, readBoundedTextSync } from './boundedFile';
import { isMetricsEvent, type MetricsRecord, type TrainConfig } from '../protocol';

export const METRICS_FILE = 'metrics.jsonl';
export const CONFIG_FILE = 'config.json';
export const CHECKPOINTS_DIR = 'checkpoints';

/**
 * A file-system error while creating or writing a run: names the path, says what went wrong in
 * words and what to do. The original error stays in `stack` (for the log), never in `message`.
 */
export class RunFolderError extends UserError {
  override name = 'RunFolderError';
  constructor(
    readonly path: string,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** What an errno means for a folder we create or write, and what the user can do about it. */
function fsHint(code: string | undefined, fallback: string): string {
  const choose = `choose another folder (${fieldName('runsFolder')})`;
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return `the disk is full; free space or ${choose}`;
    case 'EROFS':
      return `the file system is read-only; ${choose}`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied; make it writable or ${choose}`;
    case 'EEXIST':
    case 'ENOTDIR':
      return `a file is in the way where a folder is needed; ${choose}`;
    case 'EISDIR':
      return `a folder is in the way where a file is needed; ${choose}`;
    case 'ENAMETOOLONG':
      return `the path is too long; ${choose}`;
    default:
      return `${fallback}; ${choose}`;
  }
}

/**
 * Wraps a file-system error of `action` on `path` (a run folder or a file in one) as one clear
 * message, e.g. `cannot create the run folder /mnt/ro/runs: the file system is read-only; …`.
 */
export function describeFsError(action: string, path: string, e: unknown): RunFolderError {
  const err = e as NodeJS.ErrnoException;
  const code = typeof err?.code === 'string' ? err.code : undefined;
  // Node's message repeats the path and the syscall: keep only its words ("no such file…").
  const words = String(err?.message ?? e)
    .replace(/^[A-Z]+: /, '')
    .replace(/, \w+ '.*'$/, '');
  const wrapped = new RunFolderError(
    path,
    code,
    `cannot ${action} ${path}: ${fsHint(code, words)}`,
  );
  wrapped.stack = `${wrapped.stack}\ncaused by: ${err?.stack ?? String(e)}`;
  return wrapped;
}

/**
 * Test hook for the kill -9 tests: `BNN_LAB_KILL_AT=<point>[:<epoch>]` makes the process kill
 * itself with SIGKILL when it reaches `point` (while writing that epoch's checkpoint), so a test
 * can show what a crash at the commit point leaves behind. Unset in normal use.
 */
export function killPoint(point: string, epoch: number): void {
  const at = process.env.BNN_LAB_KILL_AT;
  if (!at) return;
  const [name, wanted] = at.split(':');
  if (name === point && (wanted === undefined || Number(wanted) === epoch)) {
    process.kill(process.pid, 'SIGKILL');
  }
}

/** Writes `content` to a new file and flushes it to the disk before returning. */
function writeDurably(path: string, content: Uint8Array | string): void {
  const fd = openSync(path, 'wx');
  try {
    const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Flushes a folder's entries (a rename into it, a new file) to the disk. Windows cannot open a
 * folder for that (and its file system orders metadata itself), so failing to open is ignored.
 */
function syncFolder(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch (e) {
    // EINVAL: the file system cannot sync folders (some network mounts); nothing more to do.
    if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
  } finally {
    closeSync(fd);
  }
}

const TEMP_CHECKPOINT = /^\.tmp-.+-(\d+)$/;

function processIsAlive(pid: number): boolean {
  if (pid === process.pid) return false; // a folder of an earlier process that had our id
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temporary checkpoint folders (`checkpoints/.tmp-epoch-N-PID`) that runs killed
 * mid-write left in `runDir`, unless their process still runs. They are never complete
 * checkpoints (the rename into `epoch-N` is the commit point). Best effort: a folder that cannot
 * be removed (read-only mount) stays, and is still never listed as a checkpoint.
 * @returns the folders removed.
 */
export function removeStaleTempCheckpoints(runDir: string): string[] {
  const root = join(runDir, CHECKPOINTS_DIR);
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const match = TEMP_CHECKPOINT.exec(name);
    if (!match || processIsAlive(Number(match[1]))) continue;
    try {
      rmSync(join(root, name), { recursive: true, force: true });
      removed.push(join(root, name));
    } catch {
      // left in place; listCheckpoints and the inspector skip it anyway
    }
  }
  return removed;
}

/** Appends records to `metrics.jsonl`, one JSON object per line, flushed on every write. */
export class RunFolder {
  readonly metricsPath: string;

  /** Creates the folder (and parents). @throws RunFolderError when it cannot be written. */
  constructor(readonly dir: string) {
    this.metricsPath = join(dir, METRICS_FILE);
    try {
      mkdirSync(join(dir, CHECKPOINTS_DIR), { recursive: true });
    } catch (e) {
      throw describeFsError('create the run folder', dir, e);
    }
    removeStaleTempCheckpoints(dir);
  }

  writeConfig(config: TrainConfig): void {
    const path = join(this.dir, CONFIG_FILE);
    try {
      writeDurably(path, JSON.stringify(config, null, 2) + '\n');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new RunFolderError(
          path,
          'EEXIST',
          `${path} already exists: a run folder is never reused; start a new run`,
        );
      }
      throw describeFsError('write', path, e);
    }
  }

  /** Writes `value` as `<name>` (JSON) beside config.json, durably; never over an existing file. */
  writeJson(name: string, value: unknown): void {
    const path = join(this.dir, name);
    try {
      writeDurably(path, JSON.stringify(value, null, 2) + '\n');
    } catch (e) {
      throw describeFsError('write', path, e);
    }
  }

  /**
   * Appends one record. `epoch` and `done` records are flushed to the disk before returning (they
   * are what resume and the Runs view read back); `step` records are left to the OS.
   */
  append(record: MetricsRecord): void {
    let fd: number | undefined;
    try {
      fd = openSync(this.metricsPath, 'a');
      const bytes = Buffer.from(JSON.stringify(record) + '\n', 'utf8');
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
      if (record.event !== 'step') fsyncSync(fd);
    } catch (e) {
      throw describeFsError('append to', this.metricsPath, e);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  /**
   * Writes a checkpoint atomically and durably: every file goes into a temporary sibling folder
   * and is flushed to the disk, the folder is flushed, renamed to `checkpoints/<name>` (the
   * commit point) and the parent flushed, so after a crash or power loss `<name>` is either
   * absent or complete. @returns the path relative to the run.
   */
  writeCheckpoint(name: string, files: Record<string, Uint8Array | string>, epoch = 0): string {
    const root = join(this.dir, CHECKPOINTS_DIR);
    const finalDir = join(root, name);
    const tmpDir = join(root, `.tmp-${name}-${process.pid}`);
    if (existsSync(finalDir))
      throw new RunFolderError(
        finalDir,
        'EEXIST',
        `checkpoint ${finalDir} already exists; refusing to overwrite it`,
      );
    try {
      rmSync(tmpDir, { recursive: true, force: true });
      mkdirSync(tmpDir, { recursive: true });
      for (const [file, content] of Object.entries(files))
        writeDurably(join(tmpDir, file), content);
      syncFolder(tmpDir);
      killPoint('before-rename', epoch);
      renameSync(tmpDir, finalDir);
      killPoint('after-rename', epoch);
      syncFolder(root);
    } catch (e) {
      try {
        rmSync(tmpDir, { recursive: true, force: true });
      } catch {
        // the original error is what the user needs to see
      }
      throw describeFsError('write checkpoint', finalDir, e);
    }
    return `${CHECKPOINTS_DIR}/${name}`;
  }
}

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
    return isMetricsEvent(event) ? (value as MetricsRecord) : undefined;
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
