/**
 * The training progress line: never wider than the terminal (80 and 140 columns), an
 * "evaluating test set" state, plain lines when not a terminal, the per-epoch layer line and the
 * one-line backend choice; then a real (tiny) run through `bnn-lab train` on an 80-column terminal.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  backendLine,
  layerSummary,
  PLAIN_EVERY_MS,
  TrainProgress,
} from '../../../core/cli/progress';
import type { LayerTelemetry, MetricsRecord, TrainConfig } from '../../../core/protocol';
import { ESC, runCli, screenLines, width } from './helpers';

type Step = Extract<MetricsRecord, { event: 'step' }>;
type Start = Extract<MetricsRecord, { event: 'start' }>;

function layer(name: string, dead: number, frozen: number, flip: number): LayerTelemetry {
  return {
    name,
    params: 1000,
    mean: 0,
    std: 1,
    min: -1,
    max: 1,
    absMean: 0.5,
    histogram: { min: -1, max: 1, counts: [] },
    quantizationError: 0.3,
    deadWeightRatio: dead,
    starvedWeightRatio: null,
    signBalance: 0.5,
    signEntropyBits: 1,
    flipRate: flip,
    frozenRatio: frozen,
  };
}

const LAYERS = [
  layer('resnet_block_3_binary_conv2d_kernel', 0.021, 0.4, 2e-3),
  layer('resnet_block_4_binary_conv2d_kernel', 0.055, 0.91, 1e-4),
  layer('binary_dense_classifier', 0.01, 0.3, 7.5e-3),
];

/** A long run: 5-digit step counts, 4-digit throughput, an eta in hours. */
const STEPS_PER_EPOCH = 9375;
const EPOCHS = 12;
const start = {
  event: 'start',
  totalSteps: STEPS_PER_EPOCH * EPOCHS,
  stepsPerEpoch: STEPS_PER_EPOCH,
  config: { epochs: EPOCHS } as TrainConfig,
} as Start;

function step(n: number): Step {
  return {
    event: 'step',
    epoch: Math.ceil(n / STEPS_PER_EPOCH),
    step: n,
    loss: 1.23456,
    accuracy: 0.98765,
    learningRate: 0.001,
    examplesPerSecond: 12345.6,
    layers: LAYERS,
    time: 0,
  };
}

/** A stream like process.stderr on a terminal of `columns` (or a pipe), and a fake clock. */
function fakeTerminal(columns: number | undefined, tty = true) {
  let text = '';
  let now = 0;
  const progress = new TrainProgress(
    { isTTY: tty, columns, write: (t: string) => (text += t) },
    () => now,
  );
  return {
    progress,
    text: () => text,
    advance: (ms: number) => (now += ms),
  };
}

/** Drives a run's first epoch through its evaluation, 1 s per 10 steps. */
function driveEpoch(t: ReturnType<typeof fakeTerminal>): void {
  t.progress.start(start);
  for (let n = 10; n < STEPS_PER_EPOCH; n += 10) {
    t.progress.step(step(n));
    t.advance(1000);
  }
  t.progress.step(step(STEPS_PER_EPOCH));
}

describe('progress line', () => {
  for (const columns of [80, 140]) {
    it(`at ${columns} columns no redraw is wider than the terminal; evaluating appears`, () => {
      const t = fakeTerminal(columns);
      driveEpoch(t);
      const lines = screenLines(t.text());
      assert.ok(lines.length > 900);
      for (const line of lines) assert.ok(width(line) < columns, `${width(line)}: ${line}`);
      // Every redraw starts at column 0 and erases the rest of the line.
      assert.ok(
        t
          .text()
          .split('\r')
          .slice(1)
          .every((s) => s.startsWith('\x1b[K')),
      );
      assert.doesNotMatch(t.text(), /\n/, 'a terminal gets no newlines from the progress');
      assert.match(lines.at(-1) ?? '', /^\[#+\.+\] epoch 1\/12 · evaluating test set…$/);
      const mid = lines[lines.length - 3];
      assert.match(mid, /epoch 1\/12 step \d+\/112500 loss 1\.2346 acc 98\.77%/);
      if (columns === 140) assert.match(mid, /12346 ex\/s eta \d+h\d\dm$/);
    });
  }

  it('without the terminal width it assumes 80 columns', () => {
    const t = fakeTerminal(undefined);
    driveEpoch(t);
    for (const line of screenLines(t.text())) assert.ok(width(line) < 80, line);
  });

  it('before the first step it says what the run does, with the time since it started', () => {
    const phase = (name: 'evaluateSource' | 'mapperWarmup', done: number, total: number) =>
      ({ event: 'phase', phase: name, done, total, time: 0 }) as Extract<
        MetricsRecord,
        { event: 'phase' }
      >;
    const t = fakeTerminal(80);
    t.progress.start(start);
    t.advance(3000);
    t.progress.phase(phase('evaluateSource', 4000, 10000));
    t.advance(3200);
    t.progress.phase(phase('mapperWarmup', 120, 200));
    const lines = screenLines(t.text());
    assert.equal(lines.at(-1), 'warming up the LNS mappers, step 120/200 · 6s');
    assert.match(
      t.text(),
      /evaluating the checkpoint before fine-tuning, 4,000\/10,000 test images · 3s/,
    );
    for (const line of lines) assert.ok(width(line) < 80, line);
    // The first step replaces the phase on the same line.
    t.progress.step(step(10));
    assert.match(screenLines(t.text()).at(-1) ?? '', /epoch 1\/12 step 10\/112500/);
    // Not a terminal: a line when each phase begins, then at the plain cadence.
    const plain = fakeTerminal(80, false);
    plain.progress.start(start);
    plain.progress.phase(phase('mapperWarmup', 0, 200));
    plain.advance(1000);
    plain.progress.phase(phase('mapperWarmup', 20, 200));
    plain.advance(PLAIN_EVERY_MS);
    plain.progress.phase(phase('mapperWarmup', 200, 200));
    assert.deepEqual(plain.text().split('\n'), [
      'warming up the LNS mappers, step 0/200 · 0s',
      'warming up the LNS mappers, step 200/200 · 16s',
      '',
    ]);
  });

  it('a very narrow terminal drops the bar and the least important parts', () => {
    const t = fakeTerminal(40);
    t.progress.start(start);
    const line = t.progress.stepLine(step(12345));
    assert.ok(width(line) < 40, line);
    assert.match(line, /^epoch 2\/12 step 12345\/112500/);
  });

  it('clear() erases the line before other output', () => {
    const t = fakeTerminal(80);
    t.progress.start(start);
    t.progress.step(step(10));
    t.progress.clear();
    assert.ok(t.text().endsWith('\r\x1b[K'));
    const length = t.text().length;
    t.progress.clear();
    assert.equal(t.text().length, length, 'nothing to erase twice');
  });

  it('not a terminal: plain lines at most every 15 s, and the evaluating line', () => {
    const t = fakeTerminal(80, false);
    driveEpoch(t);
    const text = t.text();
    assert.ok(!text.includes('\r') && !text.includes(ESC), 'no redraws');
    const lines = text.trimEnd().split('\n');
    // 937 s of steps at one line per PLAIN_EVERY_MS, and the evaluating line.
    const expected = Math.ceil(((STEPS_PER_EPOCH / 10) * 1000) / PLAIN_EVERY_MS) + 1;
    assert.ok(Math.abs(lines.length - expected) <= 1, `${lines.length} lines`);
    assert.equal(lines.at(-1), 'epoch 1: evaluating test set');
  });

  it('the per-epoch layer line names the layer with the highest dead, frozen and flip', () => {
    const wide = layerSummary(LAYERS, 199);
    assert.equal(
      wide,
      '  max deadWeightRatio 5.50% resnet_block_4_binary_conv2d_kernel · frozenRatio 91.00% resnet_block_4_binary_conv2d_kernel · flipRate 7.50e-3 binary_dense_classifier',
    );
    for (const columns of [80, 140]) {
      const line = layerSummary(LAYERS, columns - 1);
      assert.ok(line && width(line) < columns, line);
      assert.match(line, /dead 5\.50%/);
    }
    assert.equal(layerSummary([], 79), undefined);
  });

  it('the backend choice is one line with each reason once', () => {
    const line = backendLine({
      name: 'wasm',
      tfBackend: 'wasm',
      threads: 2,
      skipped: [
        {
          name: 'tensorflow-gpu',
          reason:
            '@tensorflow/tfjs-node-gpu is not installed (npm install @tensorflow/tfjs-node-gpu@4.22.0)',
        },
        {
          name: 'tensorflow',
          reason:
            '@tensorflow/tfjs-node is not installed (npm install @tensorflow/tfjs-node@4.22.0)',
        },
        { name: 'cpu', reason: 'not tried: wasm came first' },
      ],
    });
    assert.equal(line, 'backend wasm × 2 threads (tensorflow-gpu, tensorflow: not installed)');
  });
});

describe('bnn-lab train on an 80-column terminal', () => {
  const root = mkdtempSync(join(tmpdir(), 'bnn-cli-progress-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const args = [
    'train',
    ...['--limit', '640', '--test-limit', '500', '--epochs', '2', '--batch-size', '32'],
    ...['--threads', '1', '--backend', 'wasm', '--out', root],
  ];

  it('fits every line, shows evaluating, the layer line per epoch and the backend once', async () => {
    const { code, stdout, stderr } = await runCli(args, { columns: 80, tty: true });
    assert.equal(code, 0, stderr);
    // Each redraw of the progress line (what follows "\r, erase line" up to the next one).
    const redraws = stderr
      .split('\r\x1b[K')
      .slice(1)
      .filter((s) => s !== '' && !s.includes('\n'));
    assert.ok(redraws.length >= 4, stderr);
    for (const line of redraws) assert.ok(width(line) < 80, line);
    for (const line of screenLines(stderr).filter((l) => /^(backend|preset) /.test(l)))
      assert.ok(width(line) < 80, line);
    for (const line of stdout.split('\n')) assert.ok(!line.includes('\r'), line);
    assert.equal(screenLines(stderr).filter((l) => l.includes('evaluating test set')).length, 2);
    assert.equal(screenLines(stderr).filter((l) => /^backend wasm/.test(l)).length, 1);
    assert.ok((stderr.match(/not installed/g) ?? []).length <= 1);
    // stdout: results only. Each epoch line is followed by its layer line.
    const lines = stdout.split('\n');
    for (const epoch of [1, 2]) {
      const i = lines.findIndex((l) => l.startsWith(`epoch ${epoch}: train loss`));
      assert.ok(i >= 0, stdout);
      assert.match(lines[i + 1], /^ {2}max (dead|deadWeightRatio) \d+\.\d\d% \S+ · /);
    }
    assert.match(stdout, /^done: test accuracy \d+\.\d\d% in \d+s; run folder /m);
    assert.doesNotMatch(stdout, /run folder: |backend/, 'the header is on stderr');
  });

  it('--json: records on stdout, nothing but JSON anywhere', async () => {
    const { code, stdout, stderr } = await runCli([...args, '--epochs', '1', '--json'], {
      columns: 80,
      tty: true,
    });
    assert.equal(code, 0, stderr);
    const records = stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as MetricsRecord);
    assert.equal(records[0].event, 'start');
    assert.equal(records.at(-1)?.event, 'done');
    for (const line of stderr.split('\n').filter((l) => l !== '')) JSON.parse(line);
  });
});

describe('dist/cli.js train in a pseudo-terminal (util-linux `script`)', () => {
  const repo = join(__dirname, '..', '..', '..', '..');
  const cli = join(repo, 'dist', 'cli.js');
  const hasScript = spawnSync('script', ['--version']).status === 0;
  const root = mkdtempSync(join(tmpdir(), 'bnn-cli-pty-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  for (const columns of [80, 140]) {
    it(`${columns} columns: process.stderr.columns sizes the line`, (t) => {
      if (!hasScript) return t.skip('`script` (util-linux) is not installed');
      assert.ok(existsSync(cli), 'run `npm run build` first');
      const command =
        `stty cols ${columns} rows 40; exec node ${JSON.stringify(cli)} train --limit 320 ` +
        `--test-limit 300 --epochs 1 --batch-size 32 --threads 1 --out ${JSON.stringify(root)}`;
      const run = spawnSync('script', ['-q', '-e', '-c', command, '/dev/null'], {
        encoding: 'utf8',
        timeout: 300_000,
      });
      assert.equal(run.status, 0, run.stdout + run.stderr);
      const redraws = run.stdout
        .split('\r\x1b[K')
        .slice(1)
        .filter((s) => s !== '' && !s.includes('\n'));
      assert.ok(redraws.length >= 1, run.stdout);
      for (const line of redraws) assert.ok(width(line) < columns, line);
      assert.ok(redraws.some((l) => l.includes('evaluating test set')));
      if (columns === 140)
        assert.ok(
          redraws.some((l) => /ex\/s eta/.test(l)),
          redraws.join('\n'),
        );
      assert.match(run.stdout, /epoch 1: train loss .*\r\n {2}max dead/);
    });
  }
});
