/**
 * Checks the packaged VSIX (built by `npm run package` just before) against what the extension
 * loads at run time: the .vscodeignore allow-list drifts, so the file list is asserted here.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { inflateRawSync } from 'node:zlib';

const VSIX = join(__dirname, '..', '..', '..', 'bnn-lab.vsix');

interface ZipEntry {
  name: string;
  size: number;
  /** The entry's bytes, inflated. */
  read(): Buffer;
}

/** The files in a zip, from its central directory (the VSIX is a plain zip). */
function zipEntries(bytes: Buffer): ZipEntry[] {
  const eocd = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(eocd >= 0, 'no end-of-central-directory record: not a zip file');
  const count = bytes.readUInt16LE(eocd + 10);
  let offset = bytes.readUInt32LE(eocd + 16);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    assert.equal(bytes.readUInt32LE(offset), 0x02014b50, `central directory entry ${i} is damaged`);
    const method = bytes.readUInt16LE(offset + 10);
    const compressed = bytes.readUInt32LE(offset + 20);
    const size = bytes.readUInt32LE(offset + 24);
    const nameLength = bytes.readUInt16LE(offset + 28);
    const extraLength = bytes.readUInt16LE(offset + 30);
    const commentLength = bytes.readUInt16LE(offset + 32);
    const local = bytes.readUInt32LE(offset + 42);
    const name = bytes.toString('utf8', offset + 46, offset + 46 + nameLength);
    const read = () => {
      assert.equal(bytes.readUInt32LE(local), 0x04034b50, `local header of ${name} is damaged`);
      const start = local + 30 + bytes.readUInt16LE(local + 26) + bytes.readUInt16LE(local + 28);
      const data = bytes.subarray(start, start + compressed);
      assert.ok(method === 0 || method === 8, `${name}: compression method ${method}`);
      return method === 8 ? inflateRawSync(data) : Buffer.from(data);
    };
    entries.push({ name, size, read });
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
  // BNN Lab's C kernels: the SIMD128 build and the relaxed-SIMD one (fused multiply-adds).
  'extension/dist/wasm/bnn-kernels.wasm',
  'extension/dist/wasm/bnn-kernels-relaxed.wasm',
  'extension/dist/wasm/stats-kernels.wasm',
  'extension/dist/data/mnist/train-images-idx3-ubyte.gz',
  'extension/dist/data/mnist/train-labels-idx1-ubyte.gz',
  'extension/dist/data/mnist/t10k-images-idx3-ubyte.gz',
  'extension/dist/data/mnist/t10k-labels-idx1-ubyte.gz',
  'extension/dist/data/fashion-mnist/train-images-idx3-ubyte.gz',
  'extension/dist/data/fashion-mnist/train-labels-idx1-ubyte.gz',
  'extension/dist/data/fashion-mnist/t10k-images-idx3-ubyte.gz',
  'extension/dist/data/fashion-mnist/t10k-labels-idx1-ubyte.gz',
  'extension/media/bnn-lab.svg',
  'extension/media/icon.png',
  // The Get Started walkthrough's pages (contributes.walkthroughs).
  'extension/media/walkthrough/train.md',
  'extension/media/walkthrough/dashboard.md',
  'extension/media/walkthrough/inspect.md',
  'extension/media/walkthrough/finetune.md',
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

/** Width and height of a PNG, from its IHDR chunk. */
function pngSize(bytes: Buffer): { width: number; height: number } {
  assert.ok(
    bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
    'not a PNG file',
  );
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

test('the details page: icon, manifest fields, and README images embedded, links absolute', () => {
  if (!existsSync(VSIX)) {
    assert.fail(`${VSIX} is missing: run \`npm run package\` first`);
  }
  const entries = new Map(zipEntries(readFileSync(VSIX)).map((e) => [e.name, e]));
  const manifest = JSON.parse(entries.get('extension/package.json')!.read().toString('utf8')) as {
    icon?: string;
    repository?: { url?: string };
    homepage?: string;
    bugs?: { url?: string };
    keywords?: string[];
    galleryBanner?: { color?: string; theme?: string };
  };
  for (const field of ['repository', 'homepage', 'bugs', 'galleryBanner'] as const)
    assert.ok(manifest[field], `package.json has ${field}`);
  assert.ok((manifest.keywords ?? []).length > 0, 'package.json has keywords');
  // The Marketplace wants a PNG icon of at least 128×128.
  const icon = entries.get(`extension/${manifest.icon ?? ''}`);
  assert.ok(icon, `the icon ${manifest.icon} is in the VSIX`);
  const { width, height } = pngSize(icon.read());
  assert.ok(width >= 128 && height >= 128, `icon is ${width}×${height}`);

  // The README as packaged. The details page in VS Code renders it under a CSP of
  // `img-src https: data:` and opens only http(s) links: every image must be embedded (data:,
  // shown offline too) and every link absolute https or an anchor on the page.
  const readme = entries.get('extension/readme.md')!.read().toString('utf8');
  const source = readFileSync(join(__dirname, '..', '..', '..', 'README.md'), 'utf8');
  const count = (text: string) => [...text.matchAll(/!\[[^\]]*\]\(/g)].length;
  const images = [...readme.matchAll(/!\[[^\]]*\]\(([^)\s]+)/g)].map((m) => m[1]);
  assert.ok(images.length >= 2, `the README shows screenshots (found ${images.length})`);
  assert.equal(images.length, count(source), 'every image of README.md is in the packaged one');
  for (const src of images) {
    const data = /^data:image\/png;base64,([A-Za-z0-9+/=]+)$/.exec(src);
    assert.ok(data, `README image ${src.slice(0, 60)}… is an embedded PNG`);
    const { width, height } = pngSize(Buffer.from(data[1], 'base64'));
    assert.ok(width > 0 && height > 0);
  }
  const links = [...readme.matchAll(/(?<!!)\[[^\]]*\]\(([^)\s]+)/g)].map((m) => m[1]);
  assert.ok(links.length > 0, 'the README links to the docs');
  for (const link of links) {
    assert.match(link, /^(https:\/\/|#)/, `README link ${link} is https or an anchor`);
  }
});

test('the engine bundles carry tfjs-core, -layers and the cpu and wasm backends, not the tfjs umbrella', (t) => {
  if (!existsSync(VSIX)) {
    assert.fail(`${VSIX} is missing: run \`npm run package\` first`);
  }
  const entries = new Map(zipEntries(readFileSync(VSIX)).map((e) => [e.name, e]));
  for (const bundle of ['worker.js', 'replica.js', 'cli.js']) {
    const entry = entries.get(`extension/dist/${bundle}`)!;
    const code = entry.read().toString('utf8');
    t.diagnostic(`dist/${bundle}: ${(entry.size / 1e6).toFixed(2)} MB`);
    // What training needs is there...
    for (const backend of ['cpu', 'wasm']) {
      assert.match(
        code,
        new RegExp(`registerBackend\\)?\\("${backend}"`),
        `${bundle} registers the ${backend} backend`,
      );
    }
    // ...and what only the @tensorflow/tfjs umbrella brings is not (see core/tf.ts).
    assert.doesNotMatch(
      code,
      /registerBackend\)?\("webgl"/,
      `${bundle} bundles tfjs' WebGL backend`,
    );
    assert.doesNotMatch(code, /loadGraphModel/, `${bundle} bundles the tfjs graph-model converter`);
  }
});
