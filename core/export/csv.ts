/**
 * The run metrics CSV, one definition for the dashboard's "Export CSV" button and
 * `bnn-lab export csv`: one row per report (`step`, `reports`: how many reports the row stands
 * for, 1 unless the dashboard downsampled a long run), loss, accuracy, learning rate, the method's
 * scalars, `epoch`/`testLoss`/`testAccuracy` on epoch rows, then `<layer>/<metric>` for every
 * binary layer and every channel of LAYER_CHANNELS (the fine-tune-only channels for fine-tunes).
 */
import type { MetricsRecord } from '../protocol';
import { alignGroups, type ColumnGroup } from './align';

/** Per-layer metric channels of the dashboard (and the CSV's per-layer columns), in order. */
export const LAYER_CHANNELS = [
  'quantizationError',
  'deadWeightRatio',
  'flipRate',
  'frozenRatio',
  'flipFromStart',
  'disagreement',
  'auxLoss',
] as const;
export type LayerChannel = (typeof LAYER_CHANNELS)[number];
/** Channels only fine-tunes report (NaN elsewhere). */
export const FINETUNE_CHANNELS: ReadonlySet<LayerChannel> = new Set([
  'flipFromStart',
  'disagreement',
  'auxLoss',
]);

/** Quotes a CSV field when it holds a comma, quote or line break (RFC 4180). */
export function csvField(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** Values over steps: `y[c][i]` is channel `c` at step `x[i]`. */
export interface CsvSeries {
  x: readonly number[];
  y: readonly (readonly number[])[];
}

/** What the CSV is built from (the dashboard's run model has this shape). */
export interface RunCsvInput {
  /** `y = [loss, accuracy]`; `n[i]` reports merged into point i. */
  training: CsvSeries & { n: readonly number[] };
  learningRate: CsvSeries;
  /** `tau` and `loss:<name>` per report, in first-seen order. */
  scalars: Readonly<Record<string, CsvSeries>>;
  epochs: readonly { step: number; epoch: number; testLoss: number; testAccuracy: number }[];
  /** Binary layers in model order; `metrics.y` in LAYER_CHANNELS order. */
  layers: readonly { info: { name: string }; metrics: CsvSeries }[];
  finetune: boolean;
}

/** The CSV text (header line, one line per row, trailing newline). */
export function runCsvText(run: RunCsvInput): string {
  const groups: ColumnGroup[] = [];
  const header = ['step', 'reports'];
  const t = run.training;
  groups.push({ x: t.x, y: [t.n, t.y[0], t.y[1]] });
  header.push('loss', 'accuracy');
  groups.push({ x: run.learningRate.x, y: [run.learningRate.y[0]] });
  header.push('learningRate');
  for (const [name, series] of Object.entries(run.scalars)) {
    groups.push({ x: series.x, y: [series.y[0]] });
    header.push(name);
  }
  const epochs = [...run.epochs].sort((a, b) => a.step - b.step);
  groups.push({
    x: epochs.map((e) => e.step),
    y: [
      epochs.map((e) => e.epoch),
      epochs.map((e) => e.testLoss),
      epochs.map((e) => e.testAccuracy),
    ],
  });
  header.push('epoch', 'testLoss', 'testAccuracy');
  // Fine-tune channels only for fine-tunes: other runs keep the four columns per layer.
  const channels = LAYER_CHANNELS.map((channel, c) => ({ channel, c })).filter(
    ({ channel }) => run.finetune || !FINETUNE_CHANNELS.has(channel),
  );
  for (const layer of run.layers) {
    groups.push({ x: layer.metrics.x, y: channels.map(({ c }) => layer.metrics.y[c]) });
    for (const { channel } of channels) header.push(`${layer.info.name}/${channel}`);
  }
  const [x, ...columns] = alignGroups(groups);
  const lines = [header.map(csvField).join(',')];
  for (let i = 0; i < x.length; i++) {
    lines.push([x[i], ...columns.map((c) => c[i])].map(csvField).join(','));
  }
  return `${lines.join('\n')}\n`;
}

interface MutableSeries {
  x: number[];
  y: number[][];
}

const series = (channels: number): MutableSeries => ({
  x: [],
  y: Array.from({ length: channels }, () => []),
});

function push(s: MutableSeries, x: number, values: readonly number[]): void {
  s.x.push(x);
  values.forEach((v, c) => s.y[c].push(v));
}

/**
 * The CSV of a run's records, every report its own row (no downsampling): what the dashboard
 * exports for a run short enough not to be downsampled.
 */
export function runCsvFromRecords(records: readonly MetricsRecord[]): string {
  const training = { ...series(2), n: [] as number[] };
  const learningRate = series(1);
  const scalars: Record<string, MutableSeries> = {};
  const epochs: RunCsvInput['epochs'][number][] = [];
  const layers = new Map<string, { info: { name: string }; metrics: MutableSeries }>();
  let finetune = false;
  const layer = (name: string) => {
    let l = layers.get(name);
    if (!l) layers.set(name, (l = { info: { name }, metrics: series(LAYER_CHANNELS.length) }));
    return l;
  };
  const scalar = (name: string, step: number, value: unknown) => {
    if (typeof value !== 'number') return;
    push((scalars[name] ??= series(1)), step, [value]);
  };
  for (const r of records) {
    if (r.event === 'start') {
      for (const info of r.layers) if (info.binary) layer(info.name);
    } else if (r.event === 'step') {
      push(training, r.step, [r.loss, r.accuracy]);
      training.n.push(1);
      push(learningRate, r.step, [r.learningRate]);
      scalar('tau', r.step, r.tau);
      for (const [name, v] of Object.entries(r.methodLosses ?? {}))
        scalar(`loss:${name}`, r.step, v);
      for (const t of r.layers) {
        if (t.flipFromStart !== undefined) finetune = true;
        push(
          layer(t.name).metrics,
          r.step,
          LAYER_CHANNELS.map((c) => (typeof t[c] === 'number' ? t[c] : Number.NaN)),
        );
      }
    } else if (r.event === 'epoch') {
      epochs.push({
        step: r.step,
        epoch: r.epoch,
        testLoss: r.testLoss,
        testAccuracy: r.testAccuracy,
      });
    } else if (r.event === 'done' && r.finetune) {
      finetune = true;
    }
  }
  return runCsvText({
    training,
    learningRate,
    scalars,
    epochs,
    layers: [...layers.values()],
    finetune,
  });
}
