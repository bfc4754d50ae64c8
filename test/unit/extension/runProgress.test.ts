import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MetricsRecord } from '../../../core/protocol';
import {
  advance,
  backendLines,
  EMPTY_PROGRESS,
  finalTestAccuracy,
  formatLoss,
  progressMessage,
  statusBarText,
} from '../../../extension/engine/runProgress';

const start = {
  event: 'start',
  runId: 'r',
  preset: 'mnist-cnn',
  config: { epochs: 8 },
  layers: [],
  backend: {
    name: 'wasm',
    tfBackend: 'wasm',
    threads: 1,
    skipped: [
      { name: 'tensorflow-gpu', reason: '@tensorflow/tfjs-node-gpu is not installed' },
      { name: 'tensorflow', reason: '@tensorflow/tfjs-node is not installed' },
    ],
  },
  stepsPerEpoch: 937,
  totalSteps: 7500,
  time: 0,
} as unknown as MetricsRecord;
const step = (n: number, loss: number, epoch = 2) =>
  ({
    event: 'step',
    epoch,
    step: n,
    loss,
    accuracy: 0.9,
    learningRate: 0.002,
    examplesPerSecond: 1,
    layers: [],
    time: 0,
  }) as MetricsRecord;

void describe('run progress text', () => {
  void it('says starting before the first record, loading before the first step', () => {
    assert.equal(progressMessage(EMPTY_PROGRESS), 'starting…');
    assert.equal(
      progressMessage(advance(EMPTY_PROGRESS, start)),
      'epoch 1/8 · step 0/7500 · loading',
    );
  });

  void it('before the first step says what the run does and the time since it started', () => {
    const phase = (name: string, done: number, total: number, time: number) =>
      ({ event: 'phase', phase: name, done, total, time }) as MetricsRecord;
    const begun = advance(EMPTY_PROGRESS, { ...start, time: 1000 } as MetricsRecord);
    const evaluating = advance(begun, phase('evaluateSource', 4000, 10000, 4000));
    assert.equal(
      progressMessage(evaluating),
      'evaluating the checkpoint before fine-tuning, 4,000/10,000 test images · 3.0 s',
    );
    assert.equal(statusBarText(evaluating), 'evaluating checkpoint 4000/10000 · wasm');
    const warming = advance(evaluating, phase('mapperWarmup', 120, 200, 13_500));
    assert.equal(progressMessage(warming), 'warming up the LNS mappers, step 120/200 · 13 s');
    assert.equal(statusBarText(warming), 'LNS warm-up 120/200 · wasm');
    assert.equal(warming.fraction, 0);
    // The first step report replaces the phase.
    const stepped = advance(warming, step(10, 0.5, 1));
    assert.equal(progressMessage(stepped), 'epoch 1/8 · step 10/7500 · loss 0.50');
  });

  void it('shows epoch, step and loss and tracks the fraction done', () => {
    const p = advance(advance(EMPTY_PROGRESS, start), step(300, 0.3141));
    assert.equal(progressMessage(p), 'epoch 2/8 · step 300/7500 · loss 0.31');
    assert.equal(p.fraction, 300 / 7500);
    assert.equal(statusBarText(p), '2/8 · 300/7500 · loss 0.31 · wasm');
  });

  void it('formats losses with two significant digits below 1', () => {
    assert.equal(formatLoss(2.3026), '2.30');
    assert.equal(formatLoss(0.0456), '0.046');
    assert.equal(formatLoss(Number.NaN), 'NaN');
  });

  void it('lists the chosen backend and why each other was skipped', () => {
    assert.ok(start.event === 'start');
    assert.deepEqual(backendLines(start.backend), [
      'Backend: wasm (tfjs "wasm", 1 thread)',
      'Skipped tensorflow-gpu: @tensorflow/tfjs-node-gpu is not installed',
      'Skipped tensorflow: @tensorflow/tfjs-node is not installed',
    ]);
  });

  void it('names the GPU adapter of the webgpu backend and says when it is a software one', () => {
    const lines = backendLines({
      name: 'webgpu',
      tfBackend: 'webgpu',
      threads: 1,
      adapter: {
        vendor: 'mesa',
        architecture: 'software',
        device: 'llvmpipe',
        description: 'llvmpipe: Mesa 25.0.7',
        software: true,
      },
      skipped: [{ name: 'wasm', reason: 'not requested (bnnLab.engine.backend = webgpu)' }],
    });
    assert.deepEqual(lines, [
      'Backend: webgpu (tfjs "webgpu", 1 thread)',
      'Adapter: mesa software llvmpipe (llvmpipe: Mesa 25.0.7); software adapter, a correctness check, not fast',
      'Skipped wasm: not requested (bnnLab.engine.backend = webgpu)',
    ]);
  });

  void it('takes the final accuracy from done, else the last epoch', () => {
    const epoch = { event: 'epoch', epoch: 1, step: 937, testAccuracy: 0.97 } as MetricsRecord;
    const done = (testAccuracy: number | null) =>
      ({ event: 'done', status: 'completed', testAccuracy, time: 0 }) as MetricsRecord;
    assert.equal(finalTestAccuracy([start, epoch, done(0.98)]), 0.98);
    assert.equal(finalTestAccuracy([start, epoch, done(null)]), 0.97);
    assert.equal(finalTestAccuracy([start]), null);
  });
});
