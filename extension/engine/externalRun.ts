/**
 * Following a run folder that another program writes (the PyTorch module
 * python/bnn_lab_telemetry.py, or a BNN Lab run of another window): checks that a folder is a
 * run, then reads `metrics.jsonl` as it grows, only whole lines, skipping and counting the
 * unreadable ones as `parseMetricsJsonl` does. No vscode API, so plain-Node tests cover it.
 */
import { open, readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { UserError } from '../../core/errors';
import { METRICS_FILE, parseMetricsJsonl } from '../../core/io/runFolder';
import type { MetricsRecord, RunSnapshot, RunStatus, SkippedLines } from '../../core/protocol';
import { hasTruncatedLastLine, readRunSummary } from './runFolders';

/**
 * Checks that `dir` is a run folder (holds a `metrics.jsonl`).
 * @throws UserError naming the folder and what to pick instead.
 */
export async function checkRunFolder(dir: string): Promise<void> {
  let info;
  try {
    info = await stat(dir);
  } catch {
    throw new UserError(`${dir} does not exist; choose the run folder your training writes`);
  }
  if (!info.isDirectory()) {
    throw new UserError(
      `${dir} is a file, not a run folder; choose the folder that holds ${METRICS_FILE}`,
    );
  }
  try {
    if ((await stat(path.join(dir, METRICS_FILE))).isFile()) return;
  } catch {
    // reported below
  }
  const runs = await runsInside(dir);
  const hint =
    runs.length > 0
      ? ` It holds run folders (${runs.slice(0, 3).join(', ')}${runs.length > 3 ? ', …' : ''}): choose one of them.`
      : ' Choose the folder passed to bnn_lab_telemetry.watch(model, folder), or start the training first.';
  throw new UserError(`${dir} is not a BNN Lab run folder: it has no ${METRICS_FILE}.${hint}`);
}

async function runsInside(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    const runs: string[] = [];
    for (const entry of entries) {
      if (!entry.isDirectory()) continue;
      try {
        await stat(path.join(dir, entry.name, METRICS_FILE));
        runs.push(entry.name);
      } catch {
        // not a run
      }
    }
    return runs.sort();
  } catch {
    return [];
  }
}

/**
 * True when `dir` holds a run written by another program (its `start` record says
 * `backend.name: "pytorch"`) that has no `done` record yet: opening it from the Runs view
 * follows it instead of showing it as a run that did not finish.
 */
export async function isExternalRunInProgress(dir: string): Promise<boolean> {
  try {
    const handle = await open(path.join(dir, METRICS_FILE), 'r');
    let head: string;
    try {
      const buffer = Buffer.alloc(64 * 1024);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      head = buffer.toString('utf8', 0, bytesRead);
    } finally {
      await handle.close();
    }
    const newline = head.indexOf('\n');
    if (newline < 0) return false;
    const start = JSON.parse(head.slice(0, newline)) as {
      event?: unknown;
      backend?: { name?: unknown };
    };
    if (start.event !== 'start' || start.backend?.name !== 'pytorch') return false;
    return (await readRunSummary(dir)).status === 'interrupted';
  } catch {
    return false;
  }
}

/** Largest piece of `metrics.jsonl` read at once (a run opened late reads in steps). */
const CHUNK_BYTES = 8 * 1024 * 1024;

/**
 * Reads a growing `metrics.jsonl`: every `poll()` parses the whole lines appended since the
 * last one. A line still being written stays pending until its newline arrives.
 */
export class MetricsFollower {
  readonly file: string;
  readonly records: MetricsRecord[] = [];
  /** Unreadable whole lines skipped so far. */
  badLines = 0;
  private offset = 0;
  private pending: Buffer = Buffer.alloc(0);
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<MetricsRecord[]> | undefined;

  constructor(readonly dir: string) {
    this.file = path.join(dir, METRICS_FILE);
  }

  /** The `done` record, once the writer has closed the run. */
  get done(): Extract<MetricsRecord, { event: 'done' }> | undefined {
    for (let i = this.records.length - 1; i >= 0; i--) {
      const r = this.records[i];
      if (r.event === 'done') return r;
    }
    return undefined;
  }

  get status(): RunStatus {
    return this.done?.status ?? 'running';
  }

  /** What was skipped, for the panel's notice; undefined when nothing was. */
  get skipped(): SkippedLines | undefined {
    const truncatedLastLine =
      (this.done !== undefined || !this.following) && this.pendingIsBroken();
    return this.badLines > 0 || truncatedLastLine
      ? { badLines: this.badLines, truncatedLastLine }
      : undefined;
  }

  /** Everything read so far, for a dashboard snapshot. */
  snapshot(): RunSnapshot {
    const start = this.records.find((r) => r.event === 'start');
    return {
      runId: start?.event === 'start' ? start.runId : path.basename(this.dir),
      dir: this.dir,
      status: this.status,
      records: this.records.slice(),
    };
  }

  /** Reads what was appended since the last poll. @returns the new records. */
  poll(): Promise<MetricsRecord[]> {
    // One read at a time: a timer tick during a slow read waits for it.
    this.polling ??= this.readNew().finally(() => (this.polling = undefined));
    return this.polling;
  }

  /** Polls every `intervalMs` until `done` arrives or `stop()`; `onRecords` gets new records. */
  start(onRecords: (records: MetricsRecord[]) => void, intervalMs = 500): void {
    this.stop();
    const tick = async () => {
      try {
        const fresh = await this.poll();
        if (fresh.length > 0) onRecords(fresh);
      } catch {
        // The folder may be mid-rename or on a slow disk: the next tick tries again.
      }
      if (this.timer !== undefined && this.done) this.stop();
    };
    this.timer = setInterval(() => void tick(), intervalMs); // tick reports nothing it throws
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  get following(): boolean {
    return this.timer !== undefined;
  }

  private async readNew(): Promise<MetricsRecord[]> {
    const handle = await open(this.file, 'r');
    const fresh: MetricsRecord[] = [];
    try {
      const { size } = await handle.stat();
      if (size < this.offset) {
        // The file was replaced by a shorter one: nothing read so far can be trusted.
        throw new UserError(`${this.file} shrank while it was followed; open the run again`);
      }
      while (this.offset < size) {
        const length = Math.min(CHUNK_BYTES, size - this.offset);
        const chunk = Buffer.alloc(length);
        const { bytesRead } = await handle.read(chunk, 0, length, this.offset);
        if (bytesRead === 0) break;
        this.offset += bytesRead;
        const data = Buffer.concat([this.pending, chunk.subarray(0, bytesRead)]);
        const end = data.lastIndexOf(0x0a);
        if (end < 0) {
          this.pending = data;
          continue;
        }
        this.pending = Buffer.from(data.subarray(end + 1));
        const parsed = parseMetricsJsonl(data.toString('utf8', 0, end + 1));
        this.badLines += parsed.badLines;
        fresh.push(...parsed.records);
      }
    } finally {
      await handle.close();
    }
    this.records.push(...fresh);
    return fresh;
  }

  private pendingIsBroken(): boolean {
    // `pending` holds the bytes after the last newline.
    return hasTruncatedLastLine(this.pending.toString('utf8'));
  }
}

/** The lines a PyTorch script needs, with the module's folder spelled out for `sys.path`. */
export function telemetrySnippet(modulePath: string, runsFolder: string): string {
  const folder = JSON.stringify(path.dirname(modulePath));
  const runs = JSON.stringify(path.join(runsFolder, '{time}-pytorch'));
  return [
    `import sys; sys.path.insert(0, ${folder}); import bnn_lab_telemetry as bnnlab`,
    `run = bnnlab.watch(model, ${runs}, optimizer=optimizer)  # after building model and optimizer`,
    `run.step(loss, accuracy=acc)  # in the training loop, after optimizer.step()`,
    '',
  ].join('\n');
}
