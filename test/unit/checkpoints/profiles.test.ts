/**
 * Profiles of known BNN checkpoints: tiny checkpoints in the layouts of ReCU, IR-Net, Bi-Real
 * Net, ReActNet (PyTorch state dicts) and Larq Zoo (Keras weights), written by
 * test/fixtures/profiles/make_profile_fixtures.py with /usr/bin/python3 (torch, h5py; or
 * BNN_LAB_PYTHON), are recognised with no settings, with their binary layers as those projects
 * mark them.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { inspectCheckpoint, type InspectReport } from '../../../core/checkpoints/inspect';
import { runCli } from '../cli/helpers';

const PYTHON = process.env.BNN_LAB_PYTHON ?? '/usr/bin/python3';
const SCRIPT = path.resolve(
  __dirname,
  '..',
  '..',
  '..',
  '..',
  'test',
  'fixtures',
  'profiles',
  'make_profile_fixtures.py',
);

let folder: string;
/** Expected binary tensors per fixture file, as the generator built the model. */
const expected = new Map<string, string[]>();

before(async () => {
  folder = await mkdtemp(path.join(tmpdir(), 'bnn-lab-profiles-'));
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(PYTHON, [SCRIPT, folder], { timeout: 120_000 }));
  } catch (e) {
    assert.fail(
      `${PYTHON} with torch and h5py is needed (Debian: apt-get install python3-torch python3-h5py, or set BNN_LAB_PYTHON): ${(e as { stderr?: string }).stderr ?? String(e)}`,
    );
  }
  for (const line of stdout.trim().split('\n')) {
    const { file, binary } = JSON.parse(line) as { file: string; binary: string[] };
    expected.set(file, binary);
  }
});
after(async () => {
  await rm(folder, { recursive: true, force: true });
});

/** Inspects a fixture with no settings and checks its profile and every weight's decision. */
async function checkFamily(file: string, id: string, name: string, binaryCount: number) {
  const report = await inspectCheckpoint(path.join(folder, file));
  assert.equal(report.profile?.id, id, `${file}: profile`);
  assert.equal(report.profile?.name, name);
  const weights = report.layers.filter((l) => l.stats !== null);
  const binary = weights.filter((l) => l.binary === true).map((l) => l.name);
  assert.deepEqual(binary.sort(), expected.get(file), `${file}: binary tensors`);
  assert.equal(binary.length, binaryCount);
  assert.deepEqual(
    weights.filter((l) => l.binary === null).map((l) => l.name),
    [],
    `${file}: nothing left unknown`,
  );
  return report;
}

function layer(report: InspectReport, name: string) {
  const found = report.layers.find((l) => l.name === name);
  assert.ok(found, `no tensor ${name}`);
  return found;
}

describe('checkpoint profiles (no settings)', () => {
  it('ReCU ResNet-18: block convs binary; first conv, 1×1 downsample and fc full precision', async () => {
    const report = await checkFamily('recu_resnet18.pth', 'recu-resnet-18', 'ReCU ResNet-18', 16);
    assert.equal(layer(report, 'conv1.weight').binary, false);
    assert.match(layer(report, 'conv1.weight').binaryReason, /first convolution/);
    assert.equal(layer(report, 'layer2.0.downsample.0.weight').binary, false);
    assert.match(layer(report, 'layer2.0.downsample.0.weight').binaryReason, /downsample/);
    assert.equal(layer(report, 'fc.weight').binary, false);
    assert.equal(layer(report, 'layer1.0.conv1.alpha').stats, null, 'the learnable scale');
    assert.match(layer(report, 'layer3.1.conv2.weight').binaryReason, /ReCU layout/);
  });

  it('ReCU ResNet-20 (CIFAR, option-A shortcuts)', async () => {
    const report = await checkFamily(
      'recu_resnet20.pth',
      'recu-resnet-20',
      'ReCU ResNet-20 (CIFAR)',
      18,
    );
    assert.equal(layer(report, 'linear.weight').binary, false);
  });

  it('IR-Net ResNet-18 (DataParallel `module.` prefix) and ResNet-20', async () => {
    const r18 = await checkFamily('irnet_resnet18.pth', 'irnet-resnet-18', 'IR-Net ResNet-18', 16);
    assert.equal(layer(r18, 'module.conv1.weight').binary, false);
    assert.equal(layer(r18, 'module.layer4.0.downsample.0.weight').binary, false);
    await checkFamily('irnet_resnet20.pth', 'irnet-resnet-20', 'IR-Net ResNet-20 (CIFAR)', 18);
  });

  it('Bi-Real Net 18: flat `weights` [n, 1] analysed as [out, in, 3, 3]', async () => {
    const report = await checkFamily(
      'bireal_resnet18.pth',
      'bireal-resnet-18',
      'Bi-Real Net ResNet-18',
      16,
    );
    const conv = layer(report, 'layer2.1.binary_conv.weights');
    assert.deepEqual(conv.shape, [8 * 8 * 9, 1]);
    assert.equal(conv.stats?.alpha.length, 8, 'one α per output channel');
    assert.equal(conv.stats?.starvedWeightRatio, 0, 'HardBinaryConv clips at 1');
    assert.equal(layer(report, 'layer2.0.downsample.1.weight').binary, false);
  });

  it('ReActNet ResNet-18: binary_conv with move/prelu parameters', async () => {
    const report = await checkFamily(
      'reactnet_resnet18.pth',
      'reactnet-resnet-18',
      'ReActNet ResNet-18',
      16,
    );
    assert.equal(layer(report, 'layer1.0.move0.bias').binary, false, 'learnable bias [1, C, 1, 1]');
    assert.equal(layer(report, 'layer1.0.prelu.weight').binary, false);
    assert.equal(layer(report, 'fc.weight').binary, false);
  });

  it('Larq Zoo QuickNet, BinaryResNetE18, BinaryDenseNet28/37/45 (weights-only .h5)', async () => {
    const quicknet = await checkFamily(
      'larq_zoo_quicknet.h5',
      'larq-zoo-quicknet',
      'Larq Zoo QuickNet',
      13,
    );
    assert.match(layer(quicknet, 'quant_conv2d_4/kernel:0').binaryReason, /Larq Quant layer/);
    assert.equal(layer(quicknet, 'depthwise_conv2d/depthwise_kernel:0').binary, false);
    assert.equal(layer(quicknet, 'dense/kernel:0').binary, false);
    assert.notEqual(
      layer(quicknet, 'quant_conv2d/kernel:0').stats?.starvedWeightRatio,
      null,
      "QuickNet's SteSign clip is 1.25",
    );
    const resnete = await checkFamily(
      'larq_zoo_binaryresnete18.h5',
      'larq-zoo-binaryresnete18',
      'Larq Zoo BinaryResNetE18',
      16,
    );
    assert.equal(layer(resnete, 'conv2d_1/kernel:0').binary, false, '1×1 shortcut conv');
    for (const [depth, count] of [
      [28, 23],
      [37, 32],
      [45, 40],
    ]) {
      await checkFamily(
        `larq_zoo_binarydensenet${depth}.h5`,
        `larq-zoo-binarydensenet${depth}`,
        `Larq Zoo BinaryDenseNet${depth}`,
        count,
      );
    }
  });

  it('a full-precision torchvision ResNet matches no profile', async () => {
    const report = await inspectCheckpoint(path.join(folder, 'torchvision_resnet18.pth'));
    assert.equal(report.profile, undefined);
    assert.ok(report.layers.filter((l) => l.stats).every((l) => l.binary === null));
  });

  it('user patterns still override the profile', async () => {
    const report = await inspectCheckpoint(path.join(folder, 'recu_resnet18.pth'), {
      binaryPatterns: ['^conv1\\.weight$'],
    });
    assert.equal(report.profile?.id, 'recu-resnet-18');
    assert.equal(layer(report, 'conv1.weight').binary, true);
    assert.match(
      layer(report, 'conv1.weight').binaryReason,
      /your pattern, before the ReCU ResNet-18 profile/,
    );
    assert.equal(layer(report, 'layer1.0.conv1.weight').binary, true, 'profile still applies');
    assert.equal(layer(report, 'fc.weight').binary, false);
  });

  it('inspect --json and the table name the profile', async () => {
    const file = path.join(folder, 'reactnet_resnet18.pth');
    const json = await runCli(['inspect', file, '--json']);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as InspectReport;
    assert.equal(report.profile?.name, 'ReActNet ResNet-18');
    assert.equal(report.profile?.source, 'github.com/liuzechun/ReActNet');
    const plain = await runCli(['inspect', file]);
    assert.equal(plain.code, 0, plain.stderr);
    const table = plain.stdout.split('\n');
    assert.ok(
      table.some((l) => /profile: ReActNet ResNet-18 \(github\.com\/liuzechun\/ReActNet\)/.test(l)),
      table.slice(0, 3).join('\n'),
    );
  });
});
