/**
 * Platform-specific and universal VSIXes (package-vsix.mjs, after `npm run build`): the
 * linux-x64 one carries exactly its platform's dawn.node and trains on webgpu from the unpacked
 * extension folder (no node_modules anywhere); the universal one carries no GPU binary and says
 * which VSIX brings the GPU.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { before, test } from 'node:test';
import { inflateRawSync } from 'node:zlib';

const ROOT = join(__dirname, '..', '..', '..');
const work = mkdtempSync(join(tmpdir(), 'bnn-vsix-'));
const VSIX = {
  'linux-x64': join(work, 'bnn-lab-linux-x64.vsix'),
  universal: join(work, 'bnn-lab-universal.vsix'),
};

interface Entry {
  name: string;
  method: number;
  compressed: number;
  local: number;
}

function zipEntries(bytes: Buffer): Entry[] {
  const eocd = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(eocd >= 0, 'not a zip file');
  const count = bytes.readUInt16LE(eocd + 10);
  let offset = bytes.readUInt32LE(eocd + 16);
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    assert.equal(bytes.readUInt32LE(offset), 0x02014b50);
    const nameLength = bytes.readUInt16LE(offset + 28);
    entries.push({
      name: bytes.toString('utf8', offset + 46, offset + 46 + nameLength),
      method: bytes.readUInt16LE(offset + 10),
      compressed: bytes.readUInt32LE(offset + 20),
      local: bytes.readUInt32LE(offset + 42),
    });
    offset += 46 + nameLength + bytes.readUInt16LE(offset + 30) + bytes.readUInt16LE(offset + 32);
  }
  return entries;
}

function unzip(file: string, to: string): Entry[] {
  const bytes = readFileSync(file);
  const entries = zipEntries(bytes);
  for (const e of entries) {
    if (e.name.endsWith('/')) continue;
    const start =
      e.local + 30 + bytes.readUInt16LE(e.local + 26) + bytes.readUInt16LE(e.local + 28);
    const raw = bytes.subarray(start, start + e.compressed);
    const out = join(to, e.name);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, e.method === 0 ? raw : inflateRawSync(raw));
  }
  return entries;
}

/** The VSIX's extension.vsixmanifest, inflated. */
function manifest(file: string): string {
  const bytes = readFileSync(file);
  const e = zipEntries(bytes).find((x) => x.name === 'extension.vsixmanifest');
  assert.ok(e, 'no extension.vsixmanifest');
  const start = e.local + 30 + bytes.readUInt16LE(e.local + 26) + bytes.readUInt16LE(e.local + 28);
  const raw = bytes.subarray(start, start + e.compressed);
  return (e.method === 0 ? raw : inflateRawSync(raw)).toString('utf8');
}

before(() => {
  assert.ok(existsSync(join(ROOT, 'dist', 'worker.js')), 'run `npm run build` first');
  for (const [target, out] of Object.entries(VSIX)) {
    execFileSync(process.execPath, ['package-vsix.mjs', target, '-o', out], {
      cwd: ROOT,
      stdio: 'ignore',
    });
  }
});

/** Trains 2 steps with the CLI of an unpacked VSIX; returns its JSON records. */
function trainFrom(extensionDir: string, backend: string) {
  const run = spawnSync(
    process.execPath,
    [
      join(extensionDir, 'dist', 'cli.js'),
      'train',
      '--preset',
      'mnist-cnn',
      '--epochs',
      '1',
      '--limit',
      '32',
      '--test-limit',
      '16',
      '--batch-size',
      '16',
      '--backend',
      backend,
      '--json',
      '--out',
      join(extensionDir, '..', 'runs'),
    ],
    { cwd: extensionDir, encoding: 'utf8', env: { ...process.env, BNN_LAB_DAWN_PATH: '' } },
  );
  const records = run.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { records, stderr: run.stderr, status: run.status };
}

test('the linux-x64 VSIX targets linux-x64 and carries only its dawn.node', () => {
  const names = zipEntries(readFileSync(VSIX['linux-x64'])).map((e) => e.name);
  const dawn = names.filter((n) => n.includes('/dawn/'));
  assert.deepEqual(dawn, ['extension/dist/dawn/linux-x64/dawn.node']);
  assert.ok(!names.some((n) => n.includes('node_modules')));
  assert.match(manifest(VSIX['linux-x64']), /TargetPlatform="linux-x64"/);
});

test('the universal VSIX carries no GPU binary and no target platform', () => {
  const bytes = readFileSync(VSIX.universal);
  const names = zipEntries(bytes).map((e) => e.name);
  assert.deepEqual(
    names.filter((n) => n.includes('dawn') || n.endsWith('.node') || n.endsWith('.dll')),
    [],
  );
  const text = manifest(VSIX.universal);
  assert.match(text, /<Identity [^>]*Id="bnn-lab"/);
  assert.doesNotMatch(text, /TargetPlatform=/);
});

test('from the unpacked universal VSIX, auto says which VSIX brings the GPU', () => {
  const dir = join(work, 'universal');
  unzip(VSIX.universal, dir);
  const { records, stderr, status } = trainFrom(join(dir, 'extension'), 'auto');
  assert.equal(status, 0, stderr);
  const start = records.find((r) => r.event === 'start') as
    { backend: { name: string; skipped: { name: string; reason: string }[] } } | undefined;
  assert.ok(start, stderr);
  const reason = start.backend.skipped.find((s) => s.name === 'webgpu')?.reason ?? '';
  assert.match(reason, /universal BNN Lab VSIX/);
  assert.ok(reason.includes(`${process.platform}-${process.arch} VSIX`), reason);
});

test('from the unpacked linux-x64 VSIX, webgpu trains on its own dawn.node', (t) => {
  if (`${process.platform}-${process.arch}` !== 'linux-x64') {
    return t.skip(`this machine is ${process.platform}-${process.arch}, not linux-x64`);
  }
  const dir = join(work, 'linux-x64');
  unzip(VSIX['linux-x64'], dir);
  const { records, stderr, status } = trainFrom(join(dir, 'extension'), 'webgpu');
  const done = records.at(-1) as { event: string; status: string; message?: string } | undefined;
  if (/no WebGPU adapter/.test(done?.message ?? '') && process.env.BNN_LAB_REQUIRE_WEBGPU !== '1') {
    return t.skip(`no WebGPU adapter on this machine: ${done?.message}`);
  }
  assert.equal(status, 0, stderr);
  assert.equal(done?.status, 'completed', done?.message);
  const start = records.find((r) => r.event === 'start') as
    { backend: { name: string; adapter?: { description: string } } } | undefined;
  assert.equal(start?.backend.name, 'webgpu');
  assert.ok(start?.backend.adapter?.description);
});
