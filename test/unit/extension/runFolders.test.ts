import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  appendRecord,
  createRunDir,
  findNewestRunDir,
  hasTruncatedLastLine,
  listRunDirs,
  parseMetricsJsonl,
  readRun,
  readRunSummary,
  runTimestamp,
  skippedOf,
} from '../../../extension/engine/runFolders';

let root: string;
before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'bnn-lab-runs-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const START = { event: 'start', runId: 'r1', preset: 'mnist-cnn', time: 1 };
const STEP = { event: 'step', epoch: 1, step: 10, loss: 0.5, time: 2 };
const DONE = { event: 'done', status: 'completed', testAccuracy: 0.9, time: 3 };
const jsonl = (...records: object[]) => records.map((r) => JSON.stringify(r) + '\n').join('');

void describe('runTimestamp', () => {
  void it('formats local time as YYYYMMDD-HHMMSS', () => {
    assert.equal(runTimestamp(new Date(2026, 10, 22, 1, 35, 1)), '20261122-013501');
    assert.equal(runTimestamp(new Date(2027, 0, 5, 23, 4, 9)), '20270105-230409');
  });
});

void describe('createRunDir', () => {
  void it('never reuses a folder: adds -2, -3 for the same second', async () => {
    const date = new Date(2026, 10, 22, 1, 35, 1);
    const runs = path.join(root, 'a', '.bnn-lab', 'runs');
    const first = await createRunDir(runs, 'mnist-cnn', date);
    const second = await createRunDir(runs, 'mnist-cnn', date);
    const third = await createRunDir(runs, 'mnist-cnn', date);
    assert.equal(first, path.join(runs, '20261122-013501-mnist-cnn'));
    assert.equal(second, path.join(runs, '20261122-013501-mnist-cnn-2'));
    assert.equal(third, path.join(runs, '20261122-013501-mnist-cnn-3'));
  });

  void it('keeps unsafe characters of a preset name out of the path', async () => {
    const dir = await createRunDir(path.join(root, 'b'), '../evil name', new Date(2026, 0, 1));
    assert.equal(path.dirname(dir), path.join(root, 'b'));
    assert.match(path.basename(dir), /^20260101-000000-\.\._evil_name$/);
  });
});

void describe('parseMetricsJsonl', () => {
  void it('drops a truncated last line silently', () => {
    const text = jsonl(START, STEP) + '{"event":"step","epo';
    const { records, badLines } = parseMetricsJsonl(text);
    assert.deepEqual(records, [START, STEP]);
    assert.equal(badLines, 0);
  });

  void it('counts unreadable lines in the middle and records of unknown kinds', () => {
    const text = jsonl(START) + 'garbage\n' + jsonl({ event: 'bogus' }, DONE);
    const { records, badLines } = parseMetricsJsonl(text);
    assert.deepEqual(records, [START, DONE]);
    assert.equal(badLines, 2);
  });

  void it('reads an empty file as no records', () => {
    assert.deepEqual(parseMetricsJsonl(''), { records: [], badLines: 0 });
  });
});

void describe('readRun and findNewestRunDir', () => {
  void it('finds the newest run by timestamp and reads its status', async () => {
    const runs = path.join(root, 'c');
    const older = path.join(runs, '20261121-100000-mnist-cnn');
    const newer = path.join(runs, '20261122-090000-mnist-cnn');
    const noMetrics = path.join(runs, '20261123-000000-mnist-cnn');
    for (const dir of [older, newer, noMetrics]) await mkdir(dir, { recursive: true });
    await writeFile(path.join(older, 'metrics.jsonl'), jsonl(START, DONE));
    await writeFile(
      path.join(newer, 'metrics.jsonl'),
      jsonl({ ...START, runId: 'r2' }, STEP) + '{"ev',
    );
    // The older folder was touched last: the name's timestamp still decides.
    const later = new Date(Date.now() + 60_000);
    await utimes(path.join(older, 'metrics.jsonl'), later, later);

    assert.equal(await findNewestRunDir([path.join(root, 'missing'), runs]), newer);
    const stored = await readRun(newer);
    assert.ok(stored);
    assert.equal(stored.snapshot.runId, 'r2');
    assert.equal(stored.snapshot.status, 'failed');
    assert.equal(stored.interrupted, true);
    assert.equal(stored.snapshot.records.length, 2);
    assert.equal(stored.truncatedLastLine, true, 'the cut-off line is reported');
    assert.deepEqual(skippedOf(stored), { badLines: 0, truncatedLastLine: true });

    const finished = await readRun(older);
    assert.equal(finished?.snapshot.status, 'completed');
    assert.equal(finished?.interrupted, false);
    assert.equal(finished && skippedOf(finished), undefined);
    assert.equal(await readRun(noMetrics), undefined);
  });

  void it('returns undefined when there are no runs', async () => {
    assert.equal(await findNewestRunDir([path.join(root, 'nothing-here')]), undefined);
  });
});

void describe('appendRecord', () => {
  const done = {
    event: 'done',
    status: 'failed',
    testAccuracy: null,
    message: 'crash',
    time: 4,
  } as const;

  void it('ends a line the dead worker left unfinished before appending', async () => {
    const dir = path.join(root, 'd');
    await mkdir(dir);
    await writeFile(path.join(dir, 'metrics.jsonl'), jsonl(START) + '{"event":"st');
    await appendRecord(dir, done);
    const { records, badLines } = parseMetricsJsonl(
      await readFile(path.join(dir, 'metrics.jsonl'), 'utf8'),
    );
    assert.deepEqual(records, [START, done]);
    assert.equal(badLines, 1);
  });

  void it('appends to a complete file and creates a missing one', async () => {
    const dir = path.join(root, 'e');
    await mkdir(dir);
    await appendRecord(dir, done);
    await appendRecord(dir, done);
    const text = await readFile(path.join(dir, 'metrics.jsonl'), 'utf8');
    assert.equal(text, jsonl(done, done));
  });
});

void describe('run summaries for the Runs view', () => {
  void it('lists run folders newest first and summarizes each from its head and tail', async () => {
    const runs = path.join(root, 'f');
    const a = path.join(runs, '20261120-080000-mnist-cnn');
    const b = path.join(runs, '20261121-080000-mnist-mlp');
    const c = path.join(runs, '20261122-080000-mnist-cnn');
    for (const dir of [a, b, c, path.join(runs, 'not-a-run')])
      await mkdir(dir, { recursive: true });
    const epoch = (n: number, acc: number) => ({
      event: 'epoch',
      epoch: n,
      step: n * 10,
      testAccuracy: acc,
    });
    await writeFile(
      path.join(a, 'metrics.jsonl'),
      jsonl({ ...START, runId: 'a', time: 5 }, STEP, epoch(1, 0.8), DONE),
    );
    // A long run: the epoch records sit far from the start, behind big step records.
    const big = { ...STEP, layers: 'x'.repeat(200_000) };
    await writeFile(
      path.join(b, 'metrics.jsonl'),
      jsonl(
        { ...START, runId: 'b', preset: 'mnist-mlp' },
        big,
        big,
        big,
        epoch(1, 0.7),
        big,
        epoch(2, 0.75),
      ) + '{"event":"st',
    );
    await writeFile(
      path.join(c, 'metrics.jsonl'),
      jsonl({ ...START, runId: 'c' }, STEP, {
        event: 'done',
        status: 'cancelled',
        testAccuracy: null,
        time: 9,
      }),
    );
    assert.deepEqual(await listRunDirs([runs, path.join(root, 'nope')]), [c, b, a]);
    const sa = await readRunSummary(a);
    assert.deepEqual(
      { ...sa },
      {
        dir: a,
        runId: 'a',
        preset: 'mnist-cnn',
        status: 'completed',
        testAccuracy: 0.9,
        epochs: 1,
        startTime: 5,
      },
    );
    const sb = await readRunSummary(b);
    assert.equal(sb.status, 'interrupted');
    assert.equal(sb.testAccuracy, 0.75);
    assert.equal(sb.epochs, 2);
    assert.equal(sb.preset, 'mnist-mlp');
    const sc = await readRunSummary(c);
    assert.equal(sc.status, 'cancelled');
    assert.equal(sc.testAccuracy, null);
  });

  void it('tells a cut-off last line from a complete one', () => {
    assert.equal(hasTruncatedLastLine(jsonl(START)), false);
    assert.equal(hasTruncatedLastLine(jsonl(START) + '{"event":"st'), true);
    assert.equal(hasTruncatedLastLine(jsonl(START) + JSON.stringify(DONE)), false);
    assert.equal(hasTruncatedLastLine(''), false);
  });
});
