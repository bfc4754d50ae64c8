/**
 * Native TensorFlow from a folder of its own (`bnnLab.engine.nativeModulePath`): the npm install
 * the command runs (with a fake npm: the real package downloads libtensorflow in its install
 * script and cannot install on this offline machine) and the engine's loading of what it
 * installed (fake packages that register a backend or throw as a broken libtensorflow does).
 */
import * as tf from '../../../core/tf';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import { initBackend, setNativeModulePath } from '../../../core/backend/backends';
import { UserError } from '../../../core/errors';
import {
  explainNpmFailure,
  installNative,
  npmInstallArgs,
} from '../../../extension/engine/npmInstall';

const root = mkdtempSync(join(tmpdir(), 'bnn-native-'));

/** A fake tfjs-node: registers `tensorflow` (a cpu backend instance) in tfjs' global engine. */
const REGISTERS = `
  const engine = globalThis._tfengine;
  engine.registerBackend('tensorflow', () => engine.findBackendFactory('cpu')());
  globalThis.__bnnFakeTfjsNode = __filename;
`;

function fakeNpm(name: string, body: string): string {
  const file = join(root, name);
  writeFileSync(file, `#!${process.execPath}\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

/** Installs like npm would: `<prefix>/node_modules/<pkg>/index.js`. */
const INSTALLS = fakeNpm(
  'npm-ok',
  `const fs = require('node:fs'); const path = require('node:path');
   const args = process.argv.slice(2);
   const prefix = args[args.indexOf('--prefix') + 1];
   const spec = args[args.length - 1];
   const pkg = spec.slice(0, spec.lastIndexOf('@'));
   const dir = path.join(prefix, 'node_modules', ...pkg.split('/'));
   fs.mkdirSync(dir, { recursive: true });
   fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: pkg, main: 'index.js' }));
   fs.writeFileSync(path.join(dir, 'index.js'), ${JSON.stringify(REGISTERS)});
   console.log('added 1 package: ' + spec);`,
);
const OFFLINE = fakeNpm(
  'npm-offline',
  `console.error('npm error code ENOTFOUND');
   console.error('npm error network request to https://registry.npmjs.org/@tensorflow%2ftfjs-node failed, reason: getaddrinfo ENOTFOUND registry.npmjs.org');
   process.exit(1);`,
);

afterEach(async () => {
  setNativeModulePath(undefined);
  if (tf.findBackend('tensorflow')) {
    await tf.setBackend('cpu');
    tf.removeBackend('tensorflow');
  }
});

test('npm install targets the pinned version in the given prefix', () => {
  assert.deepEqual(npmInstallArgs('@tensorflow/tfjs-node-gpu', '/x'), [
    'install',
    '--prefix',
    '/x',
    '--save-exact',
    '--no-audit',
    '--no-fund',
    '--omit=dev',
    '@tensorflow/tfjs-node-gpu@4.22.0',
  ]);
});

test('the installed package is what the engine loads for the tensorflow backend', async () => {
  const prefix = join(root, 'storage', 'native');
  const lines: string[] = [];
  const result = await installNative({
    npm: INSTALLS,
    prefix,
    pkg: '@tensorflow/tfjs-node',
    onOutput: (l) => lines.push(l),
  });
  assert.deepEqual(result, { ok: true });
  assert.deepEqual(lines, ['added 1 package: @tensorflow/tfjs-node@4.22.0']);
  setNativeModulePath(prefix);
  const info = await initBackend('tensorflow', () => {});
  assert.equal(info.name, 'tensorflow');
  assert.equal(tf.getBackend(), 'tensorflow');
  assert.equal(
    (globalThis as Record<string, unknown>).__bnnFakeTfjsNode,
    join(prefix, 'node_modules', '@tensorflow', 'tfjs-node', 'index.js'),
  );
});

test('without a network, the message says so and what to do', async () => {
  const result = await installNative({
    npm: OFFLINE,
    prefix: join(root, 'offline'),
    pkg: '@tensorflow/tfjs-node-gpu',
    onOutput: () => {},
  });
  assert.equal(result.ok, false);
  assert.match(
    !result.ok ? result.message : '',
    /^npm could not reach the network to install @tensorflow\/tfjs-node-gpu@4\.22\.0/,
  );
  assert.match(!result.ok ? result.message : '', /Install Native TensorFlow…" again/);
});

test('without npm, the message says to install Node.js', async () => {
  const result = await installNative({
    npm: join(root, 'no-such-npm'),
    prefix: join(root, 'no-npm'),
    pkg: '@tensorflow/tfjs-node',
    onOutput: () => {},
  });
  assert.equal(result.ok, false);
  assert.match(!result.ok ? result.message : '', /^npm was not found .*install Node\.js/);
});

test('other npm failures point to the log', () => {
  assert.match(
    explainNpmFailure('@tensorflow/tfjs-node', 'gyp ERR!', 1),
    /exit code 1.*BNN Lab log/,
  );
});

test('a package that fails to load names the error and the folder', async () => {
  const folder = join(root, 'broken');
  const dir = join(folder, 'node_modules', '@tensorflow', 'tfjs-node-gpu');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'index.js'),
    "throw new Error('libcudnn.so.8: cannot open shared object file: No such file or directory');",
  );
  setNativeModulePath(folder);
  await assert.rejects(
    initBackend('tensorflow-gpu', () => {}),
    (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(
        e.message,
        /tensorflow-gpu: @tensorflow\/tfjs-node-gpu failed to load: libcudnn\.so\.8/,
      );
      assert.ok(e.message.includes(`(from ${folder})`), e.message);
      return true;
    },
  );
});

test('a folder without the package says to run the install command', async () => {
  const folder = join(root, 'empty');
  mkdirSync(folder, { recursive: true });
  setNativeModulePath(folder);
  const info = await initBackend('auto', () => {});
  const reason = info.skipped.find((s) => s.name === 'tensorflow')?.reason ?? '';
  assert.equal(
    reason,
    `@tensorflow/tfjs-node is not installed in ${folder} (bnnLab.engine.nativeModulePath); run "BNN Lab: Install Native TensorFlow…"`,
  );
});
