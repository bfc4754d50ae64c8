/**
 * Choosing (or refusing) the webgpu backend, with fake `dawn.node` modules in place of the real
 * one (BNN_LAB_DAWN_PATH): no adapter, only a software adapter, no binary at all (the universal
 * VSIX), a binary that does not load. Needs no GPU.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import { initBackend } from '../../../core/backend/backends';
import { describeAdapter, isSoftwareAdapter } from '../../../core/backend/webgpu';
import { UserError } from '../../../core/errors';
import { dataParallelWorld } from '../../../core/run/train';
import { shortRun } from './webgpuHelpers';

const dir = mkdtempSync(join(tmpdir(), 'bnn-fake-dawn-'));
function fake(name: string, source: string): string {
  const file = join(dir, name);
  writeFileSync(file, source);
  return file;
}
const NO_ADAPTER = fake(
  'no-adapter.js',
  'exports.globals = {}; exports.create = () => ({ requestAdapter: async () => null });',
);
const SOFTWARE = fake(
  'software.js',
  `exports.globals = {};
   exports.create = () => ({
     requestAdapter: async () => ({
       info: { vendor: 'google', architecture: 'swiftshader', device: 'subzero',
               description: 'SwiftShader device (Subzero)', isFallbackAdapter: true },
       features: { has: () => false },
       limits: {},
       requestDevice: async () => { throw new Error('a software device must not be requested under auto'); },
     }),
   });`,
);
const BROKEN = fake(
  'broken.js',
  "throw new Error('libvulkan.so.1: cannot open shared object file: No such file or directory');",
);

afterEach(() => {
  delete process.env.BNN_LAB_DAWN_PATH;
});

const quiet = () => {};

test('explicit webgpu without an adapter fails with one message naming the backend and what to set', async () => {
  process.env.BNN_LAB_DAWN_PATH = NO_ADAPTER;
  await assert.rejects(initBackend('webgpu', quiet), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.match(e.message, /^backend "webgpu" cannot be used: webgpu: no WebGPU adapter/);
    assert.match(e.message, /Set bnnLab\.engine\.backend to "auto"/);
    return true;
  });
});

test('auto without an adapter skips webgpu with the reason and goes on to wasm', async () => {
  process.env.BNN_LAB_DAWN_PATH = NO_ADAPTER;
  const info = await initBackend('auto', quiet);
  assert.equal(info.name, 'wasm');
  assert.equal(info.adapter, undefined);
  assert.match(info.skipped.find((s) => s.name === 'webgpu')?.reason ?? '', /no WebGPU adapter/);
});

test('auto never takes a software adapter; the reason names it and the setting', async () => {
  process.env.BNN_LAB_DAWN_PATH = SOFTWARE;
  const logs: string[] = [];
  const info = await initBackend('auto', (_l, m) => logs.push(m));
  assert.equal(info.name, 'wasm');
  const reason = info.skipped.find((s) => s.name === 'webgpu')?.reason ?? '';
  assert.match(reason, /only a software adapter \(google swiftshader subzero \(SwiftShader/);
  assert.match(reason, /set bnnLab\.engine\.backend \(--backend\) to "webgpu"/);
  assert.ok(logs.some((l) => /webgpu: only a software adapter/.test(l)));
});

test('without a dawn.node (the universal VSIX) the reason says which VSIX brings the GPU', async () => {
  process.env.BNN_LAB_DAWN_PATH = join(dir, 'missing', 'dawn.node');
  const info = await initBackend('auto', quiet);
  const reason = info.skipped.find((s) => s.name === 'webgpu')?.reason ?? '';
  assert.match(reason, /universal BNN Lab VSIX/);
  assert.ok(reason.includes(`install the ${process.platform}-${process.arch} VSIX`), reason);
});

test('a dawn.node that does not load is skipped with its error', async () => {
  process.env.BNN_LAB_DAWN_PATH = BROKEN;
  const info = await initBackend('auto', quiet);
  assert.match(
    info.skipped.find((s) => s.name === 'webgpu')?.reason ?? '',
    /failed to load: libvulkan\.so\.1/,
  );
});

test('a webgpu run without an adapter ends as failed; the next run (wasm) completes', async () => {
  process.env.BNN_LAB_DAWN_PATH = NO_ADAPTER;
  const failed = await shortRun('webgpu', { preset: 'mnist-cnn' });
  assert.equal(failed.result.status, 'failed');
  assert.match(
    failed.result.message ?? '',
    /backend "webgpu" cannot be used: webgpu: no WebGPU adapter/,
  );
  const done = failed.records.at(-1);
  assert.ok(done?.event === 'done' && done.status === 'failed');
  const next = await shortRun('wasm', { preset: 'mnist-cnn' });
  assert.equal(next.result.status, 'completed', next.result.message);
});

test('software adapters are recognized by fallback flag, architecture or name', () => {
  assert.equal(isSoftwareAdapter({ isFallbackAdapter: true }), true);
  assert.equal(isSoftwareAdapter({ vendor: 'mesa', architecture: 'software' }), true);
  assert.equal(isSoftwareAdapter({ description: 'llvmpipe (LLVM 15.0.6, 256 bits)' }), true);
  assert.equal(isSoftwareAdapter({ description: 'Microsoft Basic Render Driver' }), true);
  assert.equal(
    isSoftwareAdapter({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H100' }),
    false,
  );
  assert.equal(
    describeAdapter({
      vendor: 'nvidia',
      architecture: 'hopper',
      device: '',
      description: 'NVIDIA H100 PCIe',
      software: false,
    }),
    'nvidia hopper (NVIDIA H100 PCIe)',
  );
});

test('webgpu trains on one thread and says so when more were asked for', (t) => {
  const cores = availableParallelism();
  if (cores < 2) return t.skip('one core: no thread count above 1 to ask for');
  const logs: string[] = [];
  assert.equal(
    dataParallelWorld(2, 64, 'webgpu', (_l, m) => logs.push(m)),
    1,
  );
  assert.deepEqual(logs, [
    'data-parallel threads: not used with the webgpu backend (one thread drives the GPU)',
  ]);
  assert.equal(
    dataParallelWorld(2, 64, 'wasm', () => {}),
    2,
  );
});
