/**
 * python/bnn_lab_telemetry.py: a small PyTorch BNN (test/fixtures/pytorch/train_bnn.py) trains
 * for a few steps, on one process and on two (DDP, gloo, CPU); BNN Lab reads every record, the
 * per-layer metrics equal `bnn-lab inspect` on the final weights saved as a state dict, and the
 * follower of external runs reads the folder as it grows. Needs /usr/bin/python3 with torch
 * (Debian: python3-torch) or BNN_LAB_PYTHON pointing at such a Python.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { inspectCheckpoint } from '../../../core/checkpoints/inspect';
import { parseMetricsJsonl } from '../../../core/io/runFolder';
import type { LayerTelemetry, MetricsRecord } from '../../../core/protocol';
import {
  checkRunFolder,
  isExternalRunInProgress,
  MetricsFollower,
  telemetrySnippet,
} from '../../../extension/engine/externalRun';
import { listRunDirs, readRun, readRunSummary } from '../../../extension/engine/runFolders';

const run = promisify(execFile);
const PYTHON = process.env.BNN_LAB_PYTHON ?? '/usr/bin/python3';
const REPO = path.resolve(__dirname, '..', '..', '..', '..');
const SCRIPT = path.join(REPO, 'test', 'fixtures', 'pytorch', 'train_bnn.py');
const STEPS = 10;

let root: string;

async function train(mode: 'single' | 'ddp' | 'crash'): Promise<string> {
  const out = path.join(root, mode);
  try {
    await run(PYTHON, [SCRIPT, out, mode, String(STEPS)], { timeout: 300_000 });
  } catch (e) {
    const err = e as { code?: unknown; stderr?: string };
    if (err.code === 'ENOENT' || /No module named 'torch'/.test(err.stderr ?? '')) {
      assert.fail(
        `${PYTHON} with torch is needed (Debian: apt-get install python3-torch, or set BNN_LAB_PYTHON): ${err.stderr ?? String(e)}`,
      );
    }
    if (mode !== 'crash') throw e;
  }
  return out;
}

type StepRecord = Extract<MetricsRecord, { event: 'step' }>;

async function records(out: string): Promise<MetricsRecord[]> {
  const text = await readFile(path.join(out, 'run', 'metrics.jsonl'), 'utf8');
  const parsed = parseMetricsJsonl(text);
  assert.equal(parsed.badLines, 0, 'every line is a record BNN Lab reads');
  assert.ok(text.endsWith('\n'));
  return parsed.records;
}

const LAYER_KEYS = [
  'absMean',
  'alpha',
  'deadWeightRatio',
  'flipRate',
  'frozenRatio',
  'histogram',
  'max',
  'mean',
  'min',
  'name',
  'params',
  'quantizationError',
  'signBalance',
  'signEntropyBits',
  'starvedWeightRatio',
  'std',
];

/** The record shapes of core/protocol/schema.ts, field by field. */
function checkShapes(all: MetricsRecord[]): void {
  const start = all[0];
  assert.equal(start.event, 'start');
  if (start.event !== 'start') return;
  assert.equal(typeof start.runId, 'string');
  assert.equal(start.config.histogramBins, 64);
  assert.deepEqual(
    start.layers.filter((l) => l.binary).map((l) => l.name),
    ['conv2.weight', 'conv3.weight'],
  );
  assert.deepEqual(
    start.layers.map((l) => l.name),
    ['conv1.weight', 'conv2.weight', 'conv3.weight', 'fc.weight'],
  );
  for (const r of all) {
    assert.equal(typeof r.time, 'number');
    if (r.event === 'step') {
      for (const key of ['epoch', 'step', 'loss', 'accuracy', 'learningRate', 'examplesPerSecond'])
        assert.ok(Number.isFinite((r as unknown as Record<string, number>)[key]), key);
      for (const layer of r.layers) {
        assert.deepEqual(Object.keys(layer).sort(), LAYER_KEYS);
        assert.equal(layer.histogram.counts.length, 64);
        assert.equal(
          (layer.histogram.counts as number[]).reduce((a, b) => a + b, 0),
          layer.params,
        );
        assert.ok(layer.flipRate >= 0 && layer.flipRate <= 1);
        assert.ok(layer.frozenRatio >= 0 && layer.frozenRatio <= 1);
        assert.ok(layer.starvedWeightRatio !== null, 'clip=1 gives starved weights');
      }
    }
    if (r.event === 'epoch') {
      for (const key of ['trainLoss', 'trainAccuracy', 'testLoss', 'testAccuracy', 'durationMs'])
        assert.ok(Number.isFinite((r as unknown as Record<string, number>)[key]), key);
    }
  }
}

/** The last step record's layers against `inspect` of the saved state dict (≤ 1e-6). */
async function checkAgainstInspect(out: string, all: MetricsRecord[]): Promise<number> {
  const last = all.filter((r): r is StepRecord => r.event === 'step').at(-1);
  assert.ok(last);
  assert.equal(last.step, STEPS, 'the last report is the final weights');
  const report = await inspectCheckpoint(path.join(out, 'state.pt'));
  let compared = 0;
  for (const layer of last.layers as LayerTelemetry[]) {
    const inspected = report.layers.find((l) => l.name === layer.name);
    assert.ok(inspected?.stats, `inspect has ${layer.name}`);
    const s = inspected.stats;
    const close = (a: number, b: number, what: string) =>
      assert.ok(Math.abs(a - b) <= 1e-6, `${layer.name} ${what}: telemetry ${a}, inspect ${b}`);
    assert.equal(layer.params, s.params);
    for (const key of [
      'mean',
      'std',
      'min',
      'max',
      'absMean',
      'quantizationError',
      'deadWeightRatio',
      'signBalance',
      'signEntropyBits',
    ] as const) {
      close(layer[key], s[key], key);
    }
    assert.deepEqual(Array.from(layer.histogram.counts), Array.from(s.histogram.counts));
    close(layer.histogram.min, s.histogram.min, 'histogram.min');
    close(layer.histogram.max, s.histogram.max, 'histogram.max');
    assert.equal(layer.alpha?.length, s.alpha.length);
    s.alpha.forEach((a, i) => close((layer.alpha as number[])[i], a, `alpha[${i}]`));
    compared++;
  }
  return compared;
}

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'bnn-lab-torch-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('PyTorch telemetry module', () => {
  it('single process: every record is read, metrics equal inspect of the state dict', async () => {
    const out = await train('single');
    const all = await records(out);
    checkShapes(all);
    assert.deepEqual(
      all.map((r) => r.event),
      ['start', 'step', 'step', 'step', 'epoch', 'step', 'step', 'step', 'epoch', 'done'],
    );
    const done = all.at(-1);
    assert.ok(done?.event === 'done' && done.status === 'completed');
    assert.equal(await checkAgainstInspect(out, all), 2);
    const config = JSON.parse(await readFile(path.join(out, 'run', 'config.json'), 'utf8'));
    assert.equal(config.preset, 'small-bnn');
    const summary = await readRunSummary(path.join(out, 'run'));
    assert.equal(summary.status, 'completed');
    assert.equal(summary.epochs, 2);
  });

  it('two processes (DDP, gloo): rank 0 alone writes, loss averaged over ranks', async () => {
    const out = await train('ddp');
    const all = await records(out);
    checkShapes(all);
    assert.equal(all.filter((r) => r.event === 'start').length, 1);
    assert.equal(all.filter((r) => r.event === 'done').length, 1);
    assert.equal(all.filter((r) => r.event === 'step').length, 6);
    const start = all[0];
    assert.ok(start.event === 'start' && start.backend.threads === 2);
    assert.equal(await checkAgainstInspect(out, all), 2);
  });

  it('a crash leaves a readable folder ending in done: failed with the exception', async () => {
    const out = await train('crash');
    const all = await records(out);
    const done = all.at(-1);
    assert.ok(done?.event === 'done');
    assert.equal(done.status, 'failed');
    assert.match(done.message ?? '', /RuntimeError: simulated crash at step 4/);
    const stored = await readRun(path.join(out, 'run'));
    assert.equal(stored?.snapshot.status, 'failed');
  });
});

describe('weight_stats edge cases', () => {
  it('constant, zero-heavy, dense and float16 weights: the same figures as inspect', async () => {
    const file = path.join(root, 'edge.pt');
    const program = [
      'import json, sys, torch',
      `sys.path.insert(0, ${JSON.stringify(path.join(REPO, 'python'))})`,
      'import bnn_lab_telemetry as bnnlab',
      'torch.manual_seed(3)',
      'w = {',
      '  "constant": torch.full((4, 3, 3, 3), 0.5),',
      '  "zeros": torch.where(torch.rand(6, 5, 3, 3) < 0.5, torch.zeros(6, 5, 3, 3), torch.randn(6, 5, 3, 3)),',
      '  "dense": torch.randn(10, 7) * 3,',
      '  "half": (torch.randn(8, 4, 1, 1) * 0.01).half(),',
      '}',
      `torch.save(w, ${JSON.stringify(file)})`,
      'print(json.dumps({k: bnnlab.weight_stats(v) for k, v in w.items()}))',
    ].join('\n');
    const { stdout } = await run(PYTHON, ['-c', program], { timeout: 120_000 });
    const fromTorch = JSON.parse(stdout) as Record<string, LayerTelemetry>;
    const report = await inspectCheckpoint(file);
    for (const [name, t] of Object.entries(fromTorch)) {
      const s = report.layers.find((l) => l.name === name)?.stats;
      assert.ok(s, name);
      for (const key of [
        'mean',
        'std',
        'min',
        'max',
        'absMean',
        'quantizationError',
        'deadWeightRatio',
        'signEntropyBits',
      ] as const) {
        assert.ok(Math.abs(t[key] - s[key]) <= 1e-6, `${name} ${key}: ${t[key]} vs ${s[key]}`);
      }
      for (const key of ['params', 'signBalance'] as const) {
        assert.equal(t[key], s[key], `${name} ${key}`);
      }
      assert.deepEqual(t.histogram.counts, Array.from(s.histogram.counts), `${name} histogram`);
      (t.alpha as number[]).forEach((a, i) =>
        assert.ok(Math.abs(a - s.alpha[i]) <= 1e-6, `${name} alpha[${i}]`),
      );
    }
    assert.equal(fromTorch.constant.histogram.counts[0], 108, 'a constant tensor: all in bin 0');
  });
});

describe('the copied snippet', () => {
  it('hooks a model in a plain script: the run appears under the runs folder', async () => {
    const runs = path.join(root, 'snippet-runs');
    const [hook, watchLine, stepLine] = telemetrySnippet(
      path.join(REPO, 'python', 'bnn_lab_telemetry.py'),
      runs,
    ).split('\n');
    const program = [
      'import torch',
      hook,
      'torch.manual_seed(0)',
      'model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 8), torch.nn.Linear(8, 2))',
      'optimizer = torch.optim.SGD(model.parameters(), lr=0.1)',
      watchLine,
      'for _ in range(10):',
      '    x = torch.randn(16, 4); y = (x[:, 0] > 0).long()',
      '    logits = model(x); loss = torch.nn.functional.cross_entropy(logits, y)',
      '    optimizer.zero_grad(); loss.backward(); optimizer.step()',
      '    acc = (logits.argmax(1) == y).float().mean()',
      `    ${stepLine}`,
    ].join('\n');
    await run(PYTHON, ['-c', program], { timeout: 120_000 });
    const dirs = await listRunDirs([runs]);
    assert.equal(dirs.length, 1);
    assert.match(path.basename(dirs[0]), /^\d{8}-\d{6}-pytorch$/);
    const stored = await readRun(dirs[0]);
    assert.equal(stored?.badLines, 0);
    assert.equal(stored?.snapshot.status, 'completed', 'closed when Python exits');
    const steps = stored?.snapshot.records.filter((r) => r.event === 'step') ?? [];
    assert.equal(steps.length, 1, 'one report per 10 steps');
    const first = steps[0];
    assert.ok(first.event === 'step');
    // No binary module classes: every linear layer but the first and the last.
    assert.deepEqual(
      first.layers.map((l) => l.name),
      ['1.weight'],
    );
  });
});

describe('following an external run', () => {
  it('reads the folder as it grows, whole lines only, skipping and counting bad ones', async () => {
    const source = (await readFile(path.join(root, 'single', 'run', 'metrics.jsonl'), 'utf8'))
      .split('\n')
      .filter((l) => l !== '');
    const dir = path.join(root, 'growing');
    await mkdir(dir);
    const file = path.join(dir, 'metrics.jsonl');
    await writeFile(file, `${source[0]}\n${source[1].slice(0, 50)}`);
    const follower = new MetricsFollower(dir);
    await checkRunFolder(dir);
    assert.deepEqual(
      (await follower.poll()).map((r) => r.event),
      ['start'],
    );
    assert.equal(follower.status, 'running');
    assert.equal(await isExternalRunInProgress(dir), true, 'the Runs view follows it');
    await appendFile(file, `${source[1].slice(50)}\nnot json at all\n{"event":"nope"}\n`);
    assert.deepEqual(
      (await follower.poll()).map((r) => r.event),
      ['step'],
    );
    assert.equal(follower.badLines, 2);
    await appendFile(file, `${source.slice(2).join('\n')}\n{"event":"step","ep`);
    const rest = await follower.poll();
    assert.equal(rest.length, source.length - 2);
    assert.equal(follower.status, 'completed');
    assert.deepEqual(follower.skipped, { badLines: 2, truncatedLastLine: true });
    assert.equal(await isExternalRunInProgress(dir), false, 'done: shown as stored');
    const own = path.join(root, 'own-run');
    await mkdir(own);
    const start = JSON.parse(source[0]);
    await writeFile(
      path.join(own, 'metrics.jsonl'),
      `${JSON.stringify({ ...start, backend: { ...start.backend, name: 'wasm' } })}\n`,
    );
    assert.equal(await isExternalRunInProgress(own), false, "BNN Lab's own run that stopped");
    const snapshot = follower.snapshot();
    assert.equal(snapshot.records.length, source.length);
    assert.equal(snapshot.status, 'completed');
  });

  it('a folder that is not a run says so, and points at the runs inside it', async () => {
    await assert.rejects(
      checkRunFolder(root),
      /is not a BNN Lab run folder: it has no metrics\.jsonl\. It holds run folders \(growing, own-run\)/,
    );
    const empty = path.join(root, 'empty');
    await mkdir(empty);
    await assert.rejects(
      checkRunFolder(empty),
      /empty is not a BNN Lab run folder: it has no metrics\.jsonl\. Choose the folder passed to bnn_lab_telemetry\.watch/,
    );
    await assert.rejects(checkRunFolder(path.join(root, 'missing')), /missing does not exist/);
  });
});
