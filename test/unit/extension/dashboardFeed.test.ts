import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import type { MetricsRecord, ToWebview } from '../../../core/protocol';
import {
  comparisonRecords,
  DashboardFeed,
  thinSnapshotRecords,
} from '../../../extension/engine/dashboardFeed';
import { syntheticRun } from '../webview/syntheticRun';

const step = (n: number) => ({ event: 'step', step: n }) as unknown as MetricsRecord;
const snapshot = (records: MetricsRecord[] = []): ToWebview & { kind: 'snapshot' } => ({
  kind: 'snapshot',
  run: { runId: 'r', dir: '/runs/r', status: 'running', records },
  trusted: true,
});

function makeFeed(replayLimit = 1000) {
  const sent: ToWebview[] = [];
  const all: MetricsRecord[] = [];
  const feed = new DashboardFeed({
    send: (msg) => sent.push(structuredClone(msg)),
    snapshot: () => snapshot([...all]),
    intervalMs: 250,
    replayLimit,
  });
  const add = (n: number) => {
    all.push(step(n));
    feed.addRecord('r', step(n));
  };
  return { feed, sent, add };
}

/** Every step number the webview ends up with, rebuilt the way its reducer does. */
function received(sent: ToWebview[]): number[] {
  let steps: number[] = [];
  for (const msg of sent) {
    if (msg.kind === 'snapshot')
      steps = (msg.run?.records ?? []).map((r) => (r as { step: number }).step);
    if (msg.kind === 'records') steps.push(...msg.records.map((r) => (r as { step: number }).step));
  }
  return steps;
}

void describe('DashboardFeed', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 }));
  afterEach(() => mock.timers.reset());

  void it('batches records to at most one message per interval (< 10/s)', () => {
    const { feed, sent, add } = makeFeed();
    feed.sendSnapshot(snapshot());
    feed.setConnected(true);
    assert.equal(sent.length, 1);
    // 200 records/s for 2 s.
    for (let i = 1; i <= 400; i++) {
      add(i);
      mock.timers.tick(5);
    }
    mock.timers.tick(1000);
    const recordMessages = sent.filter((m) => m.kind === 'records');
    assert.ok(recordMessages.length <= 9, `${recordMessages.length} records messages in 2 s`);
    assert.ok(recordMessages.length >= 7, 'records still flow while streaming');
    assert.deepEqual(
      received(sent),
      Array.from({ length: 400 }, (_, i) => i + 1),
    );
  });

  void it('keeps everything while hidden and replays it on show, before the status', () => {
    const { feed, sent, add } = makeFeed();
    feed.sendSnapshot(snapshot());
    feed.setConnected(true);
    feed.setConnected(false);
    for (let i = 1; i <= 50; i++) add(i);
    feed.setStatus('r', 'completed');
    mock.timers.tick(5000);
    assert.equal(sent.length, 1, 'nothing is sent while hidden');
    feed.setConnected(true);
    assert.deepEqual(
      received(sent),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    assert.deepEqual(sent.at(-1), { kind: 'status', runId: 'r', status: 'completed' });
  });

  void it('collapses a long hidden backlog into one snapshot', () => {
    const { feed, sent, add } = makeFeed(100);
    feed.sendSnapshot(snapshot());
    for (let i = 1; i <= 250; i++) add(i);
    assert.ok(feed.pending <= 2, `pending ${feed.pending}`);
    feed.setConnected(true);
    assert.equal(sent[0].kind, 'snapshot');
    assert.deepEqual(
      received(sent),
      Array.from({ length: 250 }, (_, i) => i + 1),
    );
  });

  void it('a new snapshot supersedes queued records', () => {
    const { feed, sent, add } = makeFeed();
    for (let i = 1; i <= 3; i++) add(i);
    feed.sendSnapshot(snapshot([step(1), step(2), step(3)]));
    feed.setConnected(true);
    assert.equal(sent.length, 1);
    assert.deepEqual(received(sent), [1, 2, 3]);
  });

  void it('other messages keep their order behind queued records and wait while hidden', () => {
    const { feed, sent, add } = makeFeed();
    add(1);
    feed.send({ kind: 'runMissing', runId: 'r', dir: '/runs/r' });
    assert.equal(sent.length, 0, 'nothing is sent while hidden');
    feed.setConnected(true);
    assert.deepEqual(
      sent.map((m) => m.kind),
      ['records', 'runMissing'],
    );
    feed.send({ kind: 'comparison', runs: [], pinned: false });
    assert.equal(sent.at(-1)?.kind, 'comparison', 'sent at once when connected');
  });
});

void describe('snapshot thinning', () => {
  void it('keeps short runs whole and thins long ones to every k-th histogram plus the last', () => {
    const short = syntheticRun();
    assert.deepEqual(thinSnapshotRecords(short.records), short.records);
    const long = syntheticRun({ steps: 100, epochs: 2 });
    const thinned = thinSnapshotRecords(long.records, 24);
    assert.equal(thinned.length, long.records.length);
    const steps = thinned.filter((r) => r.event === 'step');
    // 100 reports, 24 frames: k = 4 (100 / 4 ≥ 24 > 100 / 8).
    const withHistogram = steps.flatMap((r, i) =>
      r.event === 'step' && r.layers[0].histogram.counts.length > 0 ? [i] : [],
    );
    assert.deepEqual(withHistogram, [...Array.from({ length: 25 }, (_, i) => i * 4), 99]);
    for (const r of steps.slice(0, -1)) {
      assert.ok(r.event === 'step');
      assert.ok(r.layers.every((l) => l.alpha === undefined && Number.isFinite(l.flipRate)));
    }
    const last = steps.at(-1);
    assert.ok(last?.event === 'step' && last.layers[0].alpha !== undefined, 'last step whole');
    assert.ok(
      long.records.every((r) => r.event !== 'step' || r.layers[0].alpha),
      'input kept',
    );
  });

  void it('comparison records keep every layer metric and drop the histograms', () => {
    const run = syntheticRun();
    const records = comparisonRecords(run.records);
    assert.equal(records.length, run.records.length);
    records.forEach((r, i) => {
      const original = run.records[i];
      if (r.event !== 'step' || original.event !== 'step') return;
      assert.equal(r.layers.length, original.layers.length);
      r.layers.forEach((l, k) => {
        assert.equal(l.histogram.counts.length, 0, 'no histogram');
        assert.equal(l.alpha, undefined, 'no alpha');
        assert.equal(l.deadWeightRatio, original.layers[k].deadWeightRatio);
        assert.equal(l.quantizationError, original.layers[k].quantizationError);
      });
    });
  });
});
