/**
 * A run folder read for export: its `metrics.jsonl` records (unreadable lines skipped and
 * counted, as the dashboard does) and the run's name.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { UserError } from '../errors';
import { METRICS_FILE, readMetrics } from '../io/runFolder';
import type { MetricsRecord } from '../protocol';

export interface RunForExport {
  dir: string;
  name: string;
  records: MetricsRecord[];
  /** Lines of metrics.jsonl that could not be read (skipped). */
  badLines: number;
}

/**
 * Reads a run folder (or its metrics.jsonl).
 * @throws UserError when the folder is not a run folder or holds no records.
 */
export function readRunForExport(source: string): RunForExport {
  if (!existsSync(source)) throw new UserError(`${source} does not exist`);
  const dir = statSync(source).isDirectory() ? resolve(source) : resolve(source, '..');
  const metrics = join(dir, METRICS_FILE);
  if (!existsSync(metrics)) {
    throw new UserError(
      `${dir} is not a BNN Lab run folder: it has no ${METRICS_FILE} (name a folder like .bnn-lab/runs/20250101-120000-mnist-cnn)`,
    );
  }
  const { records, badLines } = readMetrics(metrics);
  if (records.length === 0) {
    throw new UserError(`${metrics} holds no readable records; there is nothing to export`);
  }
  return { dir, name: basename(dir), records, badLines };
}
