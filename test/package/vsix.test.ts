/**
 * Checks the packaged VSIX (built by `npm run package` just before) against what the extension
 * loads at run time: the .vscodeignore allow-list drifts, so the file list is asserted here.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const VSIX = join(__dirname, '..', '..', '..', 'bnn-lab.vsix');

/** File names in a zip, from its central directory (the VSIX is a plain zip). */
function zipEntries(bytes: Buffer): { name: string; size: number }[] {
  const eocd = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(eocd >= 0, 'no end-of-central-directory record: not a zip file');
  const count = bytes.readUInt16LE(eocd + 10);
  let offset = bytes.readUInt32LE(eocd + 16);
  const entries: { name: string; size: number }[] = [];
  for (let i = 0; i < count; i++) {
    assert.equal(bytes.readUInt32LE(offset), 0x02014b50, `central directory entry ${i} is damaged`);
    const size = bytes.readUInt32LE(offset + 24);
    const nameLength = bytes.readUInt16LE(offset + 28);
    const extraLength = bytes.readUInt16LE(offset + 30);
    const commentLength = bytes.readUInt16LE(offset + 32);
    entries.push({ name: bytes.toString('utf8', offset + 46, offset + 46 + nameLength), size });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

const REQUIRED = [
  'extension/package.json',
  'extension/readme.md',
  'extension/LICENSE.txt',
  'extension/changelog.md',
  'extension/dist/extension.js',
  'extension/dist/worker.js',
  'extension/dist/cli.js',
  'extension/dist/replica.js',
  'extension/dist/h5Worker.js',
  'extension/dist/analysisWorker.js',
  'extension/dist/h5wasm/hdf5_hl.js',
  'extension/dist/h5wasm/hdf5_util.js',
  'extension/dist/h5wasm/package.json',
  'extension/dist/webview/main.js',
  'extension/dist/webview/main.css',
  'extension/dist/webview/inspector.js',
  'extension/dist/webview/inspector.css',
  'extension/dist/wasm/tfjs-backend-wasm.wasm',
  'extension/dist/wasm/tfjs-backend-wasm-simd.wasm',
  'extension/dist/wasm/tfjs-backend-wasm-threaded-simd.wasm',
  'extension/dist/data/mnist/train-images-idx3-ubyte.gz',
  'extension/dist/data/mnist/train-labels-idx1-ubyte.gz',
  'extension/dist/data/mnist/t10k-images-idx3-ubyte.gz',
  'extension/dist/data/mnist/t10k-labels-idx1-ubyte.gz',
  'extension/dist/data/fashion-mnist/train-images-idx3-ubyte.gz',
  'extension/dist/data/fashion-mnist/train-labels-idx1-ubyte.gz',
  'extension/dist/data/fashion-mnist/t10k-images-idx3-ubyte.gz',
  'extension/dist/data/fashion-mnist/t10k-labels-idx1-ubyte.gz',
  'extension/media/bnn-lab.svg',
  'extension/schemas/bnn-run.schema.json',
  // The PyTorch telemetry module users add to their training scripts (docs/pytorch.md).
  'extension/python/bnn_lab_telemetry.py',
];

/** Anything else must match one of these (VSIX metadata and optional kernel binaries). */
const ALLOWED = [
  /^\[Content_Types\]\.xml$/,
  /^extension\.vsixmanifest$/,
  /^extension\/dist\/wasm\/[\w-]+\.wasm$/,
  /^extension\/media\/[\w.-]+\.(svg|png)$/,
];

test('the VSIX holds exactly the run-time files: bundles, wasm binaries, embedded MNIST, metadata', (t) => {
  if (!existsSync(VSIX)) {
    assert.fail(`${VSIX} is missing: run \`npm run package\` first`);
  }
  const entries = zipEntries(readFileSync(VSIX));
  const names = entries.map((e) => e.name);
  for (const required of REQUIRED)
    assert.ok(names.includes(required), `missing from the VSIX: ${required}`);
  const unexpected = names.filter(
    (n) => !REQUIRED.includes(n) && !ALLOWED.some((re) => re.test(n)),
  );
  assert.deepEqual(unexpected, [], 'files the extension does not need');
  assert.ok(
    !names.some((n) => n.includes('node_modules') || n.endsWith('.map') || n.endsWith('.ts')),
  );
  const total = statSync(VSIX).size;
  t.diagnostic(`VSIX: ${names.length} files, ${(total / 1e6).toFixed(2)} MB`);
  for (const e of entries) t.diagnostic(`  ${e.name} ${(e.size / 1e3).toFixed(1)} kB`);
});
