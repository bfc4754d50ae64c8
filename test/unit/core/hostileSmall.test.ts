/**
 * The small cases of the hostile-input probe (issue 17, item 11): each is one clear message, or
 * accepted where it should be.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { keyName, PyTuple } from '../../../core/checkpoints/pickle';
import { loadDataset } from '../../../core/data/datasets';
import { isFromInspector, isToHost } from '../../../core/protocol';
import { failureMessage } from '../../../core/training/api';
import { parseConfigFile } from '../../../core/training/config';
import { runTraining } from '../../../core/run/train';

const temp = () => mkdtempSync(join(tmpdir(), 'bnn-small-'));

test('epochs: 1e999 is reported as too large, not as "got null"', () => {
  assert.throws(
    () => parseConfigFile('{ "preset": "mnist-cnn", "epochs": 1e999 }', 'run.bnn.json'),
    (e: Error) => {
      assert.match(
        e.message,
        /^run\.bnn\.json: "epochs" must be an integer .*, got a number too large to represent \(Infinity\)$/,
      );
      return true;
    },
  );
  assert.throws(
    () => parseConfigFile('{ "preset": "mnist-cnn", "learningRate": -1e999 }', 'run.bnn.json'),
    /"learningRate" must be a number in .*, got a number too large to represent \(-Infinity\)$/,
  );
});

test('a config saved with a UTF-8 byte-order mark is read', () => {
  const config = parseConfigFile('\ufeff{ "preset": "mnist-cnn", "epochs": 2 }', 'bom.bnn.json');
  assert.equal(config.epochs, 2);
});

test('a dataset folder that is a file says so', () => {
  const file = join(temp(), 'passwd');
  writeFileSync(file, 'root:x:0:0\n');
  assert.throws(
    () => loadDataset({ name: 'idx', path: file }, { limit: 0, testLimit: 0 }),
    (e: Error) => {
      assert.equal(e.message.split(';')[0], `dataset folder ${file} is a file, not a folder`);
      return true;
    },
  );
});

/** An IDX file of `count` items of `dims` (uint8). */
function idx(dims: number[], count: number): Buffer {
  const header = Buffer.alloc(4 + 4 * (dims.length + 1));
  header.writeUInt32BE(0x0800 | (dims.length + 1), 0);
  header.writeUInt32BE(count, 4);
  dims.forEach((d, i) => header.writeUInt32BE(d, 8 + 4 * i));
  return Buffer.concat([header, Buffer.alloc(count * dims.reduce((a, b) => a * b, 1))]);
}

test('a dataset with 0 examples fails the run with one message, not a oneHot error', async () => {
  const dir = join(temp(), 'empty');
  mkdirSync(dir);
  writeFileSync(join(dir, 'train-images-idx3-ubyte'), idx([28, 28], 0));
  writeFileSync(join(dir, 'train-labels-idx1-ubyte'), idx([], 0));
  writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idx([28, 28], 2));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idx([], 2));
  const result = await runTraining(
    {
      runId: 'empty',
      config: parseConfigFile(
        JSON.stringify({ preset: 'mnist-cnn', epochs: 1, dataset: { name: 'idx', path: dir } }),
        'test',
      ),
      runDir: join(temp(), 'run'),
      backend: 'cpu',
    },
    { onRecord: () => {}, log: () => {}, isCancelled: () => false },
  );
  assert.equal(result.status, 'failed');
  assert.match(
    result.message ?? '',
    /holds no training examples; point "dataset.path" at a folder/,
  );
  assert.ok(!/oneHot|depth/.test(result.message ?? ''), result.message);
});

test('a tuple key of a pickled state dict is shown as Python writes it', () => {
  assert.equal(keyName(new PyTuple(['layer1', 0])), "('layer1', 0)");
  assert.equal(keyName(new PyTuple(['only'])), "('only',)");
  assert.equal(keyName('conv.weight'), 'conv.weight');
  assert.equal(keyName(null), 'None');
  assert.ok(!keyName(new PyTuple([new PyTuple([1, true])])).includes('[object'));
});

test('out-of-memory advice names the batch the run used and its share per thread', () => {
  const message = failureMessage(
    new Error('replica thread 1 failed: RuntimeError: memory access out of bounds'),
    8192,
    2,
  );
  assert.match(message, /batch size 8192 \(4096 examples in each of 2 threads\) needs more/);
  assert.match(message, /lower "batchSize" \(e\.g\. 4096\)/);
});

test('webview message guards check every field, and kinds are own keys only', () => {
  assert.ok(isFromInspector({ kind: 'layerSelected', name: 'conv1/kernel' }));
  assert.ok(!isFromInspector({ kind: 'layerSelected', name: { toString: 'x' } }));
  assert.ok(!isFromInspector({ kind: 'layerSelected' }));
  assert.ok(!isFromInspector({ kind: 'inspectorCommand', command: 'rm -rf' }));
  assert.ok(!isFromInspector({ kind: 'constructor' }));
  assert.ok(!isFromInspector({ kind: 'toString' }));
  assert.ok(isToHost({ kind: 'export', format: 'csv', name: 'a.csv', data: 'x' }));
  assert.ok(!isToHost({ kind: 'export', format: 'toString', name: 'a', data: 'x' }));
  assert.ok(!isToHost({ kind: 'export', format: 'png', name: 1, data: 'x' }));
  assert.ok(!isToHost({ kind: 'command', command: 'deleteEverything' }));
  assert.ok(isToHost({ kind: 'command', command: 'openDashboard' })); // the side view's button
  assert.ok(isToHost({ kind: 'rendered', runId: 'r', status: 'completed', layerCards: ['a'] }));
  assert.ok(!isToHost({ kind: 'rendered', runId: 'r', status: 'completed', layerCards: [1] }));
  assert.ok(!isToHost({ kind: 'hasOwnProperty' }));
  assert.ok(isToHost({ kind: 'ready' }));
});
