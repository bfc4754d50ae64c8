/**
 * The dashboard channel: extension host (extension/panels/, extension/engine/dashboardFeed.ts)
 * ↔ dashboard webview. The page is not trusted to send well-formed messages, so `isToHost`
 * checks every field of every kind.
 */
import { anyFields, isOneOf, isString, messageGuard } from './channel';
import type { MetricsRecord, RunStatus } from './schema';

/**
 * Latent-weight histograms the dashboard keeps per layer for its histogram-over-time views
 * (older reports are thinned to every 2nd, 4th, … report). A snapshot of a longer run may leave
 * the others out (see `RunSnapshot.records`).
 */
export const DASHBOARD_HISTOGRAM_FRAMES = 240;

/** What the dashboard needs to draw one run from scratch. */
export interface RunSnapshot {
  runId: string;
  /**
   * What to call the run (legends, tooltips): the user's label, else its config file's name;
   * absent means the run id.
   */
  name?: string;
  /** Run folder, absolute. */
  dir: string;
  status: RunStatus;
  /**
   * The run's records. To keep long runs quick to open, `step` records the dashboard would not
   * draw a histogram for may carry `histogram.counts = []` and no `alpha` (every other figure is
   * kept); the last `step` record is always whole.
   */
  records: MetricsRecord[];
}

/** What reading a run's `metrics.jsonl` left out (a run killed mid-write, a damaged file). */
export interface SkippedLines {
  /** Unreadable lines skipped (not JSON, or not a known record). */
  badLines: number;
  /** The last line was cut off without its newline (the writer was killed mid-append). */
  truncatedLastLine: boolean;
}

/** Host → webview. */
export type ToWebview =
  /**
   * Reply to `ready`, and after a run is (re)opened: everything needed to draw from scratch.
   * `skipped` is set when the run was read from a file with lines that could not be used.
   */
  | { kind: 'snapshot'; run: RunSnapshot | undefined; trusted: boolean; skipped?: SkippedLines }
  /** While a run streams: new records for the run in the last snapshot. */
  | { kind: 'records'; runId: string; records: MetricsRecord[] }
  /** The run in view changed state. */
  | { kind: 'status'; runId: string; status: RunStatus; message?: string }
  /**
   * The runs overlaid on the one in view (one colour per run), none to stop comparing.
   * `pinned`: the comparison stays when another run starts (docs/dashboard.md).
   */
  | { kind: 'comparison'; runs: ComparedRun[]; pinned: boolean }
  /** The folder of the run in view (or of the compared run) was deleted while open. */
  | { kind: 'runMissing'; runId: string; dir: string };

/** A run overlaid for comparison, and what reading its `metrics.jsonl` left out. */
export interface ComparedRun {
  run: RunSnapshot;
  skipped?: SkippedLines;
}

/** File formats the dashboard exports. */
export type ExportFormat = 'png' | 'svg' | 'csv';

/** Webview → host. */
export type ToHost =
  /** Sent once the webview has mounted; the host answers with `snapshot`. */
  | { kind: 'ready' }
  /** A button in the panel. */
  | { kind: 'command'; command: 'train' | 'stop' | 'showLog' | 'openDashboard' }
  /** The user stopped comparing. */
  | { kind: 'clearComparison' }
  /** The user pinned (kept across new runs) or unpinned the comparison. */
  | { kind: 'pinComparison'; pinned: boolean }
  /**
   * Save a chart or the run's metrics: the host asks where (`showSaveDialog`) and writes the file.
   * `data` is base64 for `png`, text for `svg` and `csv`; `name` is a suggested file name.
   */
  | { kind: 'export'; format: ExportFormat; name: string; data: string }
  /**
   * What the panel now shows, sent when the run, its status or its binary layers change: the
   * host logs it, and the desktop integration test (test/integration) reads it.
   */
  | { kind: 'rendered'; runId: string; status: RunStatus; layerCards: string[] };
/** Runtime check of a message received by the webview. */
export const isToWebview = messageGuard<ToWebview>({
  snapshot: anyFields,
  records: anyFields,
  status: anyFields,
  comparison: anyFields,
  runMissing: anyFields,
});

const RUN_STATUSES = {
  running: true,
  completed: true,
  cancelled: true,
  failed: true,
} as const satisfies Record<RunStatus, true>;
const EXPORT_FORMATS = { png: true, svg: true, csv: true } as const satisfies Record<
  ExportFormat,
  true
>;
const HOST_COMMANDS = {
  train: true,
  stop: true,
  showLog: true,
  openDashboard: true,
} as const satisfies Record<Extract<ToHost, { kind: 'command' }>['command'], true>;

/** Runtime check of a message received from the webview: its kind and every field. */
export const isToHost = messageGuard<ToHost>({
  ready: anyFields,
  command: (m) => isOneOf(HOST_COMMANDS)(m.command),
  clearComparison: anyFields,
  pinComparison: (m) => typeof m.pinned === 'boolean',
  export: (m) => isOneOf(EXPORT_FORMATS)(m.format) && isString(m.name) && isString(m.data),
  rendered: (m) =>
    isString(m.runId) &&
    isOneOf(RUN_STATUSES)(m.status) &&
    Array.isArray(m.layerCards) &&
    m.layerCards.every(isString),
});
