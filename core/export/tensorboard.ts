/**
 * TensorBoard export of a run: one event file (`events.out.tfevents.<time>.bnn-lab`) that
 * TensorBoard opens and W&B syncs.
 *
 * - Framing: TFRecord (`uint64 length`, masked CRC32C of the length, the data, masked CRC32C of
 *   the data; CRC32C is Castagnoli, masked as `((c >>> 15) | (c << 17)) + 0xa282ead8`).
 * - Records: `Event` protobufs (`wall_time`, `step`, `file_version` first, then `summary`), each
 *   `Summary.Value` a `simple_value` scalar or a `histo` (HistogramProto).
 * - Tags: `train/loss`, `train/accuracy`, `train/learning_rate`, `train/tau`, `method/<name>`,
 *   `epoch/train_loss|train_accuracy|test_loss|test_accuracy`, `layers/<layer>/<metric>` for every
 *   per-layer number of a `step` record (docs/metrics.md), and `weights/<layer>` histograms of the
 *   latent weights.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors';
import type { Histogram, LayerTelemetry, MetricsRecord } from '../protocol';
import { writeFileAtomic } from './files';
import { ProtoWriter } from './protobuf';
import type { RunForExport } from './runSource';

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32C (Castagnoli) of `bytes`. */
export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** TFRecord's masked CRC. */
export function maskedCrc32c(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0;
}

/** One TFRecord frame around `data`. */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + 4 + data.length + 4);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

type SummaryValue = { tag: string; scalar: number } | { tag: string; histogram: HistogramValues };

interface HistogramValues {
  min: number;
  max: number;
  num: number;
  sum: number;
  sumSquares: number;
  /** Right edge of each bucket. */
  limits: number[];
  counts: number[];
}

/** An Event protobuf with a summary of `values` (or the file_version event when none). */
function eventBytes(wallTime: number, step: number, values: SummaryValue[] | string): Uint8Array {
  const w = new ProtoWriter();
  w.double(1, wallTime);
  w.varint(2, step);
  if (typeof values === 'string') {
    w.string(3, values);
    return w.finish();
  }
  w.message(5, (summary) => {
    for (const v of values) {
      summary.message(1, (value) => {
        value.string(1, v.tag);
        if ('scalar' in v) {
          value.float(2, v.scalar);
          return;
        }
        const h = v.histogram;
        value.message(5, (histo) =>
          histo
            .double(1, h.min)
            .double(2, h.max)
            .double(3, h.num)
            .double(4, h.sum)
            .double(5, h.sumSquares)
            .packedDoubles(6, h.limits)
            .packedDoubles(7, h.counts),
        );
      });
    }
  });
  return w.finish();
}

/** The per-layer numbers of a step record exported as scalars. */
const LAYER_SCALARS: readonly (keyof LayerTelemetry)[] = [
  'quantizationError',
  'deadWeightRatio',
  'starvedWeightRatio',
  'flipRate',
  'frozenRatio',
  'signBalance',
  'signEntropyBits',
  'mean',
  'std',
  'absMean',
  'min',
  'max',
  'auxLoss',
  'disagreement',
  'flipFromStart',
];

/** A latent-weight histogram (equal-width bins) as TensorBoard's HistogramProto values. */
export function histogramValues(h: Histogram, layer: LayerTelemetry): HistogramValues {
  const counts = Array.from(h.counts, Number);
  const bins = counts.length;
  const width = bins > 0 ? (h.max - h.min) / bins : 0;
  const limits = counts.map((_, i) => (i === bins - 1 ? h.max : h.min + (i + 1) * width));
  const num = counts.reduce((a, b) => a + b, 0);
  return {
    min: h.min,
    max: h.max,
    num,
    sum: layer.mean * num,
    sumSquares: (layer.std * layer.std + layer.mean * layer.mean) * num,
    limits,
    counts,
  };
}

/** The summary values of one record (empty for start/done). */
export function recordValues(record: MetricsRecord): { step: number; values: SummaryValue[] } {
  const values: SummaryValue[] = [];
  const scalar = (tag: string, v: unknown) => {
    if (typeof v === 'number' && Number.isFinite(v)) values.push({ tag, scalar: v });
  };
  if (record.event === 'step') {
    scalar('train/loss', record.loss);
    scalar('train/accuracy', record.accuracy);
    scalar('train/learning_rate', record.learningRate);
    scalar('train/examples_per_second', record.examplesPerSecond);
    scalar('train/tau', record.tau);
    for (const [name, v] of Object.entries(record.methodLosses ?? {})) scalar(`method/${name}`, v);
    for (const layer of record.layers) {
      for (const key of LAYER_SCALARS) scalar(`layers/${layer.name}/${key}`, layer[key]);
      if (layer.histogram && layer.histogram.counts.length > 0) {
        values.push({
          tag: `weights/${layer.name}`,
          histogram: histogramValues(layer.histogram, layer),
        });
      }
    }
    return { step: record.step, values };
  }
  if (record.event === 'epoch') {
    scalar('epoch/epoch', record.epoch);
    scalar('epoch/train_loss', record.trainLoss);
    scalar('epoch/train_accuracy', record.trainAccuracy);
    scalar('epoch/test_loss', record.testLoss);
    scalar('epoch/test_accuracy', record.testAccuracy);
    return { step: record.step, values };
  }
  return { step: 0, values };
}

/** The bytes of a whole event file for `records`. */
export function eventFileBytes(records: readonly MetricsRecord[]): Uint8Array {
  const start = records.find((r) => r.event === 'start');
  const t0 = (start?.time ?? records[0]?.time ?? Date.now()) / 1000;
  const frames: Uint8Array[] = [tfRecord(eventBytes(t0, 0, 'brain.Event:2'))];
  for (const record of records) {
    const { step, values } = recordValues(record);
    if (values.length === 0) continue;
    frames.push(tfRecord(eventBytes(record.time / 1000, step, values)));
  }
  const total = frames.reduce((n, f) => n + f.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const f of frames) {
    out.set(f, offset);
    offset += f.length;
  }
  return out;
}

/**
 * Writes the run's event file into the folder `logDir` (created when missing) under a name no
 * other file has; returns its path.
 */
export function writeTensorBoardRun(run: RunForExport, logDir: string): string {
  if (existsSync(logDir) && !statSync(logDir).isDirectory()) {
    throw new UserError(
      `${logDir} is a file; TensorBoard export writes into a folder (its log dir)`,
    );
  }
  mkdirSync(logDir, { recursive: true });
  const start = run.records.find((r) => r.event === 'start');
  const seconds = Math.floor((start?.time ?? Date.now()) / 1000);
  let file = join(logDir, `events.out.tfevents.${seconds}.bnn-lab`);
  for (let i = 1; existsSync(file); i++)
    file = join(logDir, `events.out.tfevents.${seconds}.bnn-lab.${i}`);
  writeFileAtomic(file, eventFileBytes(run.records));
  return file;
}
