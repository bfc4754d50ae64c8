import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toWireRecord, type MetricsRecord, type ToWebview } from '../../../core/protocol';
import {
  LAYER_CHANNELS,
  deadThreshold,
  initialModel,
  latestTestAccuracy,
  progressOf,
  reduce,
  skippedNotice,
  type DashboardModel,
} from '../../../webview/dashboard/state';
import { thinSnapshotRecords } from '../../../extension/engine/dashboardFeed';
import { rawPointCount } from '../../../webview/dashboard/series';
import { syntheticRun } from './syntheticRun';

// node:test schedules suites and tests itself; their returned promises are voided on purpose.

const run = syntheticRun();
const DIR = '/runs/x';

function snapshot(
  records: MetricsRecord[],
  status: 'running' | 'completed' = 'running',
): ToWebview {
  return { kind: 'snapshot', trusted: true, run: { runId: run.runId, dir: DIR, status, records } };
}

function streamed(batchSize: number, maxPoints = 1000): DashboardModel {
  const [start, ...rest] = run.records;
  let model = reduce(initialModel(maxPoints), snapshot([start]));
  for (let i = 0; i < rest.length; i += batchSize) {
    model = reduce(model, {
      kind: 'records',
      runId: run.runId,
      records: rest.slice(i, i + batchSize),
    });
  }
  return model;
}

void describe('dashboard reducer', () => {
  void it('starts disconnected, with no run', () => {
    const model = initialModel();
    assert.equal(model.connected, false);
    assert.equal(model.run, undefined);
  });

  void it('an empty snapshot connects and keeps the trust flag', () => {
    const model = reduce(initialModel(), { kind: 'snapshot', trusted: false, run: undefined });
    assert.equal(model.connected, true);
    assert.equal(model.trusted, false);
    assert.equal(model.run, undefined);
  });

  void it('builds per-layer series for binary layers only', () => {
    const model = reduce(initialModel(), snapshot(run.records, 'completed'));
    const r = model.run;
    assert.ok(r);
    assert.deepEqual(
      r.layers.map((l) => l.info.name),
      run.binaryLayers,
    );
    assert.equal(r.training.x.length, 30);
    assert.deepEqual(r.training.x.slice(0, 3), [20, 40, 60]);
    for (const layer of r.layers) {
      assert.equal(layer.metrics.y.length, LAYER_CHANNELS.length);
      assert.equal(layer.metrics.x.length, 30);
      assert.equal(layer.latest?.histogram.counts.length, 64);
    }
    const last = run.records.filter((x) => x.event === 'step').at(-1);
    assert.ok(last && last.event === 'step');
    const dense = r.layers.find((l) => l.info.name === 'dense_1');
    assert.equal(dense?.metrics.y[0].at(-1), last.layers[2].quantizationError);
    assert.equal(dense?.metrics.y[2].at(-1), last.layers[2].flipRate);
    assert.equal(dense?.latest, last.layers[2]);
    assert.deepEqual(
      r.epochs.map((e) => [e.epoch, e.step, e.testAccuracy]),
      [
        [1, 300, 0.9412],
        [2, 600, 0.9637],
      ],
    );
    assert.equal(r.status, 'completed');
    assert.equal(latestTestAccuracy(r), run.finalTestAccuracy);
    assert.deepEqual(progressOf(r), { step: 600, fraction: 1 });
  });

  void it('streamed batches give the same model as one snapshot', () => {
    const whole = reduce(initialModel(), snapshot(run.records, 'completed')).run;
    for (const batch of [1, 3, 7]) {
      const model = reduce(streamed(batch), {
        kind: 'status',
        runId: run.runId,
        status: 'completed',
      });
      assert.deepEqual(model.run, whole, `batch size ${batch}`);
    }
  });

  void it('never mutates the previous model', () => {
    const before = streamed(5);
    const frozen = JSON.stringify(before);
    const step = run.records.find((r) => r.event === 'step');
    assert.ok(step);
    const after = reduce(before, { kind: 'records', runId: run.runId, records: [step, step] });
    assert.equal(JSON.stringify(before), frozen);
    assert.notEqual(after.run?.training, before.run?.training);
    assert.equal(after.run?.training.x.length, (before.run?.training.x.length ?? 0) + 2);
  });

  void it('downsamples long runs', () => {
    const long = syntheticRun({ steps: 600, epochs: 2 });
    let model = reduce(initialModel(100), {
      kind: 'snapshot',
      trusted: true,
      run: { runId: long.runId, dir: DIR, status: 'running', records: [long.records[0]] },
    });
    const rest = long.records.slice(1);
    for (let i = 0; i < rest.length; i += 10) {
      model = reduce(model, { kind: 'records', runId: long.runId, records: rest.slice(i, i + 10) });
    }
    const r = model.run;
    assert.ok(r);
    assert.ok(r.training.x.length <= 100);
    assert.equal(rawPointCount(r.training), 600);
    for (const layer of r.layers) {
      assert.ok(layer.metrics.x.length <= 100);
      assert.equal(layer.metrics.x.at(-1), 600 * 20);
    }
    assert.equal(r.epochs.length, 2, 'epochs are few and kept whole');
  });

  void it('ignores messages for another run and applies status changes', () => {
    const model = streamed(4);
    const other = reduce(model, {
      kind: 'records',
      runId: 'other',
      records: run.records.slice(1, 3),
    });
    assert.equal(other, model);
    assert.equal(reduce(model, { kind: 'status', runId: 'other', status: 'failed' }), model);
    const failed = reduce(model, {
      kind: 'status',
      runId: run.runId,
      status: 'failed',
      message: 'out of memory',
    });
    assert.equal(failed.run?.status, 'failed');
    assert.equal(failed.run?.message, 'out of memory');
  });

  void it('takes failure details from the done record', () => {
    const partial = run.records.slice(0, 5);
    const model = reduce(
      initialModel(),
      snapshot([
        ...partial,
        { event: 'done', status: 'failed', testAccuracy: null, message: 'NaN loss', time: 1 },
      ]),
    );
    assert.equal(model.run?.message, 'NaN loss');
    assert.equal(model.run?.finalTestAccuracy, null);
    assert.equal(model.run && latestTestAccuracy(model.run), undefined);
  });

  void it('shows layers that appear in steps without a start record', () => {
    const steps = run.records.filter((r) => r.event === 'step').slice(0, 2);
    const model = reduce(initialModel(), snapshot(steps));
    assert.deepEqual(
      model.run?.layers.map((l) => l.info.name),
      run.binaryLayers,
    );
    assert.equal(model.run?.layers[0].metrics.x.length, 2);
  });

  void it('a new start record resets the series', () => {
    const model = streamed(5);
    const restarted = reduce(model, {
      kind: 'records',
      runId: run.runId,
      records: [run.records[0]],
    });
    assert.equal(restarted.run?.training.x.length, 0);
    assert.equal(restarted.run?.epochs.length, 0);
    assert.equal(restarted.run?.layers[0].latest, undefined);
  });

  void it('computes the dead-weight threshold of docs/metrics.md', () => {
    // For a Laplace layer with scale b, P(|w| > Q(τ)) = 2(1 − τ).
    const b = 0.05;
    const q = deadThreshold(b, 0.99);
    assert.ok(q !== undefined);
    assert.ok(Math.abs(Math.exp(-q / b) - 0.02) < 1e-12);
    assert.equal(deadThreshold(b, 1), undefined);
    assert.equal(deadThreshold(b, 0.3), undefined);
  });

  void it('keeps every layer with weights for the summary table and histograms over time', () => {
    const r = reduce(initialModel(), snapshot(run.records, 'completed')).run;
    assert.ok(r);
    assert.equal(r.allLayers.length, 5);
    assert.equal(r.allLayers[1].binary, false);
    for (const layer of r.layers) {
      assert.equal(layer.history.frames.length, 30);
      assert.equal(layer.history.frames.at(-1)?.histogram, layer.latest?.histogram);
    }
    assert.deepEqual(r.learningRate.y[0].slice(0, 2), [0.001, 0.001]);
    assert.deepEqual(r.scalars, {}, 'no method scalars in this stream');
  });

  void it('collects tau and method losses by name when present', () => {
    const records = run.records.map((r) =>
      r.event === 'step' && r.step >= 300
        ? { ...r, tau: r.step / 1000, methodLosses: { aux: 0.5, kl: 0.1 } }
        : r,
    );
    const r = reduce(initialModel(), snapshot(records)).run;
    assert.ok(r);
    assert.deepEqual(Object.keys(r.scalars), ['tau', 'loss:aux', 'loss:kl']);
    assert.equal(r.scalars.tau.x[0], 300);
    assert.equal(r.scalars.tau.y[0].at(-1), 0.6);
    assert.equal(r.scalars['loss:kl'].x.length, 16);
  });

  void it('skips malformed records and layer entries, counts them, and says so', () => {
    const [start, step] = run.records;
    assert.ok(step.event === 'step');
    const broken = [
      start,
      { event: 'step', epoch: 1 } as unknown as MetricsRecord,
      { ...step, layers: [{ name: 'x' } as unknown as (typeof step.layers)[0], ...step.layers] },
      { event: 'weird' } as unknown as MetricsRecord,
    ];
    const model = reduce(initialModel(), {
      kind: 'snapshot',
      trusted: true,
      run: { runId: run.runId, dir: DIR, status: 'failed', records: broken },
      skipped: { badLines: 2, truncatedLastLine: true },
    });
    const r = model.run;
    assert.ok(r);
    assert.equal(r.invalidRecords, 3);
    assert.equal(r.training.x.length, 1, 'the good step is shown');
    assert.equal(r.layers.length, 4);
    assert.equal(
      skippedNotice(r),
      'Skipped 2 unreadable lines, a cut-off last line (the run was stopped mid-write) and ' +
        '3 records with missing or malformed fields of metrics.jsonl; everything else is shown.',
    );
    const clean = reduce(initialModel(), snapshot(run.records)).run;
    assert.ok(clean);
    assert.equal(skippedNotice(clean), undefined);
  });

  void it('holds N compared runs with their names, pinning, and deleted folders', () => {
    let model = streamed(5);
    assert.deepEqual(model.compare, []);
    const others = [
      syntheticRun({ testAccuracies: [0.8, 0.85] }),
      syntheticRun({ testAccuracies: [0.7, 0.75] }),
      syntheticRun({ testAccuracies: [0.6, 0.65] }),
    ];
    model = reduce(model, {
      kind: 'comparison',
      pinned: false,
      runs: others.map((o, i) => ({
        run: {
          runId: `r${i}`,
          name: i === 0 ? 'lr-sweep' : undefined,
          dir: `/runs/r${i}`,
          status: 'completed',
          records: o.records,
        },
      })),
    });
    assert.deepEqual(
      model.compare.map((r) => r.runId),
      ['r0', 'r1', 'r2'],
    );
    assert.deepEqual(
      model.compare.map((r) => r.name),
      ['lr-sweep', 'r1', 'r2'],
      'named by label or config file, else by run id',
    );
    assert.deepEqual(
      model.compare.map((r) => latestTestAccuracy(r)),
      [0.85, 0.75, 0.65],
    );
    assert.equal(model.compare[0].training.x.length, 30);
    assert.equal(model.compare[0].layers.length, 4, 'layer metrics are kept for the overlays');
    assert.equal(model.comparePinned, false);
    const gone = reduce(model, { kind: 'runMissing', runId: 'r1', dir: '/runs/r1' });
    assert.deepEqual(
      gone.compare.map((r) => r.missing),
      [false, true, false],
    );
    assert.equal(gone.run?.missing, false);
    const runGone = reduce(gone, { kind: 'runMissing', runId: run.runId, dir: DIR });
    assert.equal(runGone.run?.missing, true);
    assert.equal(reduce(runGone, { kind: 'runMissing', runId: 'zz', dir: '/zz' }), runGone);
    const twins = reduce(model, {
      kind: 'comparison',
      pinned: false,
      runs: ['t1', 't2'].map((runId) => ({
        run: { runId, name: 'small', dir: `/runs/${runId}`, status: 'completed', records: [] },
      })),
    });
    assert.deepEqual(
      twins.compare.map((r) => r.name),
      ['small', 'small (t2)'],
      'two runs of one config file are told apart by run id',
    );
    const pinned = reduce(model, { kind: 'comparison', runs: [], pinned: true });
    assert.equal(pinned.comparePinned, true);
    const ended = reduce(model, { kind: 'comparison', runs: [], pinned: false });
    assert.deepEqual(ended.compare, [], 'an empty comparison ends it');
    const next = reduce(ended, snapshot(run.records));
    assert.deepEqual(next.compare, [], 'a new run shows no comparison');
  });

  void it('a thinned snapshot of a long run gives the histories of the full one', () => {
    const long = syntheticRun({ steps: 600, epochs: 2 });
    const thinned = thinSnapshotRecords(long.records);
    const kept = thinned.filter(
      (r) => r.event === 'step' && r.layers[0].histogram.counts.length > 0,
    ).length;
    assert.equal(kept, 301, 'every 2nd report and the last');
    const open = (records: MetricsRecord[]) =>
      reduce(initialModel(), {
        kind: 'snapshot',
        trusted: true,
        run: { runId: long.runId, dir: DIR, status: 'completed', records },
      }).run;
    const full = open(long.records);
    const thin = open(thinned);
    assert.ok(full && thin);
    for (let i = 0; i < full.layers.length; i++) {
      assert.deepEqual(thin.layers[i].history, full.layers[i].history, full.layers[i].info.name);
      assert.deepEqual(thin.layers[i].latest, full.layers[i].latest);
      assert.deepEqual(thin.layers[i].metrics, full.layers[i].metrics);
    }
    assert.deepEqual(thin.training, full.training);
  });
});

void describe('fine-tune runs', () => {
  /** The synthetic run as a fine-tune: LNS telemetry on every layer and a before/after table. */
  function finetuneRecords(): MetricsRecord[] {
    return run.records.map((r, i) => {
      if (r.event === 'step') {
        return {
          ...r,
          layers: r.layers.map((l, k) => ({
            ...l,
            flipFromStart: (i + k) / 1000,
            disagreement: 0.01 * k,
            auxLoss: 5 + k,
          })),
        };
      }
      if (r.event === 'done') {
        return {
          ...r,
          finetune: {
            method: 'lns' as const,
            source: '/runs/src/checkpoints/epoch-3',
            testAccuracyBefore: 0.9,
            testAccuracyAfter: 0.91,
            layers: [
              {
                name: 'l0',
                flipFromStart: 0.02,
                quantizationErrorBefore: 0.4,
                quantizationErrorAfter: 0.39,
                deadWeightRatioBefore: 0.01,
                deadWeightRatioAfter: 0.01,
              },
            ],
          },
        };
      }
      return r;
    });
  }

  void it('keeps flipFromStart, disagreement and auxLoss per layer and the summary', () => {
    const model = reduce(initialModel(), snapshot(finetuneRecords(), 'completed'));
    const r = model.run!;
    assert.equal(r.finetune, true);
    assert.equal(r.finetuneSummary?.testAccuracyAfter, 0.91);
    const layer = r.layers[1];
    const c = (name: (typeof LAYER_CHANNELS)[number]) => LAYER_CHANNELS.indexOf(name);
    const lastStep = finetuneRecords()
      .filter((x) => x.event === 'step')
      .at(-1);
    assert.ok(lastStep?.event === 'step');
    assert.equal(layer.metrics.y[c('flipFromStart')].at(-1), lastStep.layers[1].flipFromStart);
    assert.equal(layer.metrics.y[c('disagreement')].at(-1), 0.01);
    assert.equal(layer.metrics.y[c('auxLoss')].at(-1), 6);
  });

  void it('holds the phase before the first step, counts elapsed time, drops it at the step', () => {
    const [start, firstStep] = [run.records[0], run.records.find((r) => r.event === 'step')!];
    const t0 = start.time;
    const phase = (name: string, done: number, total: number, dt: number) =>
      ({ event: 'phase', phase: name, done, total, time: t0 + dt }) as MetricsRecord;
    let model = reduce(initialModel(), snapshot([start]));
    const records = (rs: MetricsRecord[]) => {
      model = reduce(model, { kind: 'records', runId: run.runId, records: rs });
      return model.run!;
    };
    let r = records([
      phase('evaluateSource', 0, 10000, 200),
      phase('evaluateSource', 4000, 10000, 5000),
    ]);
    assert.deepEqual(r.phase, { phase: 'evaluateSource', done: 4000, total: 10000 });
    assert.equal(r.lastTime! - r.startTime!, 5000, 'elapsed counts from the start record');
    r = records([phase('mapperWarmup', 120, 200, 9000)]);
    assert.deepEqual(r.phase, { phase: 'mapperWarmup', done: 120, total: 200 });
    assert.equal(r.lastTime! - r.startTime!, 9000);
    assert.equal(r.invalidRecords, 0);
    // A phase record a reader cannot use (an unknown phase) is counted, not shown.
    r = records([phase('defragmenting', 1, 2, 9100)]);
    assert.equal(r.invalidRecords, 1);
    assert.equal(r.phase?.phase, 'mapperWarmup');
    r = records([{ ...firstStep, time: t0 + 13_000 }]);
    assert.equal(r.phase, undefined);
  });

  void it('a training run is not a fine-tune: its fine-tune channels are empty (NaN)', () => {
    const model = reduce(initialModel(), snapshot(run.records, 'completed'));
    const r = model.run!;
    assert.equal(r.finetune, false);
    assert.equal(r.finetuneSummary, undefined);
    const y = r.layers[0].metrics.y[LAYER_CHANNELS.indexOf('flipFromStart')];
    assert.ok(y.length > 0 && y.every((v) => Number.isNaN(v)));
  });
});

void it('accepts histograms as Uint32Array and alpha as Float32Array (the live wire form)', () => {
  const records = run.records.map((r) => toWireRecord(r));
  const model = reduce(initialModel(), snapshot(records, 'completed'));
  const r = model.run!;
  assert.equal(r.invalidRecords, 0);
  const last = run.records.filter((x) => x.event === 'step').at(-1);
  assert.ok(last?.event === 'step');
  assert.deepEqual(
    Array.from(r.layers[0].latest!.histogram.counts),
    last.layers[0].histogram.counts,
  );
});
