import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cosineLearningRate, learningRateAt } from '../../../core/training/schedules';
import { resolveConfig, scaleMilestones } from '../../../core/training/config';
import { ConfigError } from '../../../core/errors';

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);

test('cosine without warm-up is the original per-step cosine (mnist-cnn unchanged)', () => {
  const c = { learningRate: 0.002, epochs: 8 };
  for (const step of [0, 1, 100, 799]) {
    close(
      learningRateAt(c, 1 + Math.floor(step / 100), step, 100),
      cosineLearningRate(0.002, step, 800),
    );
  }
});

test('warm-up is lr·e/W per epoch, then cosine over the remaining steps', () => {
  const c = { learningRate: 0.1, epochs: 10, warmupEpochs: 2, schedule: 'cosine' as const };
  close(learningRateAt(c, 1, 0, 50), 0.05);
  close(learningRateAt(c, 1, 49, 50), 0.05);
  close(learningRateAt(c, 2, 50, 50), 0.1);
  close(learningRateAt(c, 3, 100, 50), 0.1);
  close(learningRateAt(c, 7, 300, 50), cosineLearningRate(0.1, 200, 400));
});

test('step schedule multiplies by gamma after each milestone epoch', () => {
  const c = {
    learningRate: 0.004,
    epochs: 120,
    schedule: 'step' as const,
    stepMilestones: [100, 110],
    stepGamma: 0.1,
  };
  close(learningRateAt(c, 100, 0, 1), 0.004);
  close(learningRateAt(c, 101, 0, 1), 0.0004);
  close(learningRateAt(c, 111, 0, 1), 0.004 * 0.01);
  close(learningRateAt({ ...c, schedule: 'constant' }, 111, 0, 1), 0.004);
});

test("a preset's warm-up and milestones follow a shorter run; explicit ones are checked", () => {
  assert.deepEqual(scaleMilestones([100, 110], 120, 10), [8, 9]);
  assert.deepEqual(scaleMilestones([100, 110], 120, 2), [1]);
  assert.deepEqual(scaleMilestones([100, 110], 120, 1), []);
  const bdn = resolveConfig(
    { preset: 'cifar10-bdn28', dataset: { name: 'cifar10', path: '/c' }, epochs: 10 },
    'f',
  );
  assert.deepEqual(bdn.stepMilestones, [8, 9]);
  const recu = resolveConfig(
    { preset: 'fmnist-resnete-recu', dataset: { name: 'fashion-mnist', path: '/f' }, epochs: 1 },
    'f',
  );
  assert.equal(recu.warmupEpochs, 0);
  assert.throws(
    () =>
      resolveConfig(
        {
          preset: 'cifar10-bdn28',
          dataset: { name: 'cifar10', path: '/c' },
          epochs: 10,
          stepMilestones: [100],
        },
        'f',
      ),
    (e: Error) => e instanceof ConfigError && e.field === 'stepMilestones[0]',
  );
});

test('training keys are validated with the field and the allowed range', () => {
  const rejects = (raw: Record<string, unknown>, field: string, pattern: RegExp) =>
    assert.throws(
      () => resolveConfig({ preset: 'mnist-cnn', ...raw }, 'f.bnn.json'),
      (e: Error) => e instanceof ConfigError && e.field === field && pattern.test(e.message),
    );
  rejects({ optimizer: 'rmsprop' }, 'optimizer', /one of adam, sgd/);
  rejects({ momentum: 1 }, 'momentum', /\[0, 1\)/);
  rejects({ warmupEpochs: 8 }, 'warmupEpochs', /integer in \[0, 7\]/);
  rejects({ stepMilestones: [3, 2] }, 'stepMilestones[1]', /integer in \[4, /);
  rejects({ stepGamma: 0 }, 'stepGamma', /\(0, 1\]/);
  rejects({ weightDecay: -1e-4 }, 'weightDecay', /\[0, 1\)/);
  rejects({ recu: { tauStart: 0.5 } }, 'recu.tauStart', /\(0.5, 1\), got 0.5/);
  rejects({ recu: { tauEnd: 1 } }, 'recu.tauEnd', /\(0.5, 1\)/);
  rejects({ bonn: { lambda: -1 } }, 'bonn.lambda', /\[0, 1000\], got -1/);
  rejects({ bonn: { theta: -0.1 } }, 'bonn.theta', /\[0, 1000\]/);
  rejects({ kernelQuantizer: { kind: 'xnor' } }, 'kernelQuantizer.kind', /one of ste_sign/);
  rejects({ inputQuantizer: { kind: 'ste_sign', clip: 0 } }, 'inputQuantizer.clip', /\(0, 100\]/);
  rejects(
    { inputQuantizer: { kind: 'ste_sign', beta: 3 } },
    'inputQuantizer.beta',
    /swish_sign only/,
  );
  rejects({ scaling: 'xnor' }, 'scaling', /none, channel_mean, learnable/);
  rejects({ augment: 'yes' }, 'augment', /true or false/);
  rejects({ dataset: { name: 'cifar10' } }, 'dataset.path', /data_batch_1..5.bin/);
  const c = resolveConfig(
    { preset: 'mnist-cnn', recu: {}, bonn: { lambda: 0 }, kernelQuantizer: { kind: 'swish_sign' } },
    'f',
  );
  assert.deepEqual(c.recu, { tauStart: 0.85, tauEnd: 0.99 });
  assert.deepEqual(c.bonn, { lambda: 0, theta: 1e-3, nu: 1 });
  assert.deepEqual(c.kernelQuantizer, { kind: 'swish_sign', clip: 1, beta: 5 });
  // mnist-cnn keeps its defaults: Adam, cosine, no warm-up, no decay, STE clip 1.
  const d = resolveConfig({ preset: 'mnist-cnn' }, 'f');
  assert.equal(d.optimizer, 'adam');
  assert.equal(d.schedule, 'cosine');
  assert.equal(d.warmupEpochs, 0);
  assert.equal(d.weightDecay, 0);
  assert.equal(d.recu, null);
  assert.deepEqual(d.kernelQuantizer, { kind: 'ste_sign', clip: 1 });
});
