/**
 * The analysis channel: extension host (extension/inspector/analysisHost.ts) ↔ analysis worker
 * (extension/worker/analysisWorker.ts, bundled to dist/analysisWorker.js). Requests carry ids
 * (core/workers/requests.ts); every answer names the id it settles.
 */
import { anyFields, hasId, messageGuard } from './channel';
import type { CompareReport, InspectReport, SeriesReport } from './schema';

/** Options the host passes with every analysis request (settings `bnnLab.inspect.*`, `bnnLab.metrics.deadTau`). */
export interface AnalysisOptions {
  /** Replaces the built-in name patterns when set (never an empty list). */
  binaryPatterns?: string[];
  deadTau?: number;
}

/** Host → analysis worker. Every request carries an id; the worker answers it exactly once. */
export type ToAnalysis =
  /** Inspect one checkpoint (`inspectCheckpoint`). */
  | { kind: 'inspect'; id: number; path: string; options: AnalysisOptions }
  /** Sign flips between two checkpoints (`compareCheckpoints`). */
  | { kind: 'compare'; id: number; a: string; b: string; options?: AnalysisOptions }
  /** Every checkpoint of a folder, flips between consecutive ones, frozenRatio (`checkpointSeries`). */
  | { kind: 'series'; id: number; folder: string; options: AnalysisOptions };

/** Analysis worker → host. */
export type FromAnalysis =
  /** Once, after the worker has loaded the readers. */
  | { kind: 'analysisReady' }
  /** Answer to `inspect`. */
  | { kind: 'inspected'; id: number; report: InspectReport }
  /** Answer to `compare`. */
  | { kind: 'compared'; id: number; report: CompareReport }
  /** Answer to `series`. */
  | { kind: 'seriesAnalysed'; id: number; report: SeriesReport }
  /**
   * A request failed. `userError` is true for bad input (unreadable file, bad pattern): its
   * message names the file and the problem and needs no stack; otherwise `stack` is for the log.
   */
  | { kind: 'analysisFailed'; id: number; message: string; userError: boolean; stack?: string }
  /** A line for the BNN Lab log. */
  | { kind: 'analysisLog'; level: 'info' | 'warn' | 'error'; message: string };
/** Runtime check of a message received by the analysis worker. */
export const isToAnalysis = messageGuard<ToAnalysis>({
  inspect: hasId,
  compare: hasId,
  series: hasId,
});

/** Runtime check of a message received from the analysis worker. */
export const isFromAnalysis = messageGuard<FromAnalysis>({
  analysisReady: anyFields,
  inspected: hasId,
  compared: hasId,
  seriesAnalysed: hasId,
  analysisFailed: hasId,
  analysisLog: anyFields,
});
