/**
 * The analysis host's request bookkeeping: every request is settled exactly once (answer,
 * failure, timeout or worker death), its entry leaves the pending map, and after a crash or a
 * timeout the next request runs in a fresh worker. A scripted worker plays every failure; the
 * real worker (dist/analysisWorker.js) reads the checkpoint fixtures.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { inspectCheckpoint } from '../../../core/checkpoints';
import {
  AnalysisError,
  AnalysisHost,
  describeRequest,
  timeoutForBytes,
  type LogLevel,
} from '../../../extension/inspector/analysisHost';

const ROOT = path.resolve(__dirname, '../../../..');
const SCRIPTED = path.join(ROOT, 'test/fixtures/workers/analysisScripted.js');
const WORKER = path.join(ROOT, 'dist/analysisWorker.js');
const CHECKPOINTS = path.join(ROOT, 'test/fixtures/checkpoints');

const hosts: AnalysisHost[] = [];
function makeHost(script = SCRIPTED): {
  host: AnalysisHost;
  logs: { level: LogLevel; message: string }[];
} {
  const logs: { level: LogLevel; message: string }[] = [];
  const host = new AnalysisHost({
    workerScript: script,
    log: (level, message) => logs.push({ level, message }),
  });
  hosts.push(host);
  return { host, logs };
}

after(async () => {
  await Promise.all(hosts.map((h) => h.dispose()));
});

async function rejection(promise: Promise<unknown>): Promise<AnalysisError> {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof AnalysisError, `expected an AnalysisError, got ${String(e)}`);
    return e;
  }
  assert.fail('the request resolved');
}

void describe('AnalysisHost with a scripted worker', () => {
  void it('resolves concurrent requests by id and empties the pending map', async () => {
    const { host } = makeHost();
    const [a, b] = await Promise.all([host.inspect('slow a', {}), host.inspect('b', {})]);
    assert.equal(a.layers[0].name, 'slow a');
    assert.equal(b.layers[0].name, 'b');
    assert.equal(host.pendingCount, 0);
  });

  void it('rejects a failed request with the user error and keeps the worker', async () => {
    const { host } = makeHost();
    await host.inspect('first', {});
    const error = await rejection(host.inspect('fail /x/model.pt', {}));
    assert.equal(error.userError, true);
    assert.match(error.message, /\/x\/model\.pt: scripted problem/);
    assert.equal(host.pendingCount, 0);
    assert.ok(host.hasWorker);
    assert.equal((await host.inspect('again', {})).layers[0].name, 'again');
  });

  void it('ignores answers to unknown ids and rejects an answer of the wrong kind', async () => {
    const { host, logs } = makeHost();
    assert.equal((await host.inspect('stray one', {})).layers[0].name, 'stray one');
    assert.ok(logs.some((l) => l.level === 'warn' && /not pending/.test(l.message)));
    const error = await rejection(host.inspect('wrong kind', {}));
    assert.match(error.message, /answered inspect wrong kind with compared/);
    assert.equal(host.pendingCount, 0);
  });

  for (const word of ['crash', 'exit']) {
    void it(`a worker that dies (${word}) rejects every pending request; the next one starts a fresh worker`, async () => {
      const { host, logs } = makeHost();
      const slow = host.inspect('slow bystander', {});
      const dying = host.inspect(`${word} now`, {});
      const [e1, e2] = await Promise.all([rejection(dying), rejection(slow)]);
      for (const e of [e1, e2]) {
        assert.equal(e.userError, false);
        assert.match(e.message, /analysis worker (crashed|exited with code 3)/);
        assert.match(e.message, /next request starts a new worker/);
      }
      assert.match(e1.message, new RegExp(`could not inspect ${word} now`));
      assert.equal(host.pendingCount, 0);
      assert.equal(host.hasWorker, false);
      assert.ok(logs.some((l) => l.level === 'error'));
      assert.equal((await host.inspect('after', {})).layers[0].name, 'after');
      assert.ok(host.hasWorker);
    });
  }

  void it('a timeout rejects the request, stops the stuck worker and fails its other requests', async () => {
    const { host } = makeHost();
    const other = host.inspect('hang too', {}, 10_000);
    const error = await rejection(host.inspect('hang here', {}, 150));
    assert.equal(error.userError, true);
    assert.match(error.message, /could not inspect hang here: no answer within 0\.2 s/);
    const otherError = await rejection(other);
    assert.match(otherError.message, /stopped because "inspect hang here" timed out/);
    assert.equal(host.pendingCount, 0);
    assert.equal((await host.inspect('fresh', {})).layers[0].name, 'fresh');
  });

  void it('dispose rejects what is pending and refuses new requests', async () => {
    const { host } = makeHost();
    const pending = rejection(host.inspect('hang forever', {}));
    await host.dispose();
    assert.match((await pending).message, /shut down/);
    assert.match((await rejection(host.inspect('late', {}))).message, /shut down/);
    assert.equal(host.pendingCount, 0);
  });

  void it('a missing worker script rejects the request instead of throwing', async () => {
    const { host } = makeHost(path.join(ROOT, 'test/fixtures/workers/does-not-exist.js'));
    const error = await rejection(host.inspect('x', {}));
    assert.equal(error.userError, false);
    assert.equal(host.pendingCount, 0);
  });
});

void it('timeouts grow with the bytes to read; requests describe themselves', () => {
  assert.equal(timeoutForBytes(0), 60_000);
  assert.equal(timeoutForBytes(45e6), 62_000);
  assert.equal(timeoutForBytes(1e9, 1000), 41_000);
  assert.equal(
    describeRequest({ kind: 'compare', a: 'a.pt', b: 'b.pt' }),
    'compare a.pt with b.pt',
  );
  assert.equal(
    describeRequest({ kind: 'series', folder: '/runs/x', options: {} }),
    'analyse the folder /runs/x',
  );
});

void describe(
  'AnalysisHost with the real worker',
  { skip: existsSync(WORKER) ? false : `${WORKER} is missing: run \`npm run build\` first` },
  () => {
    void it('inspects, compares and analyses a series like the core does in-process', async () => {
      const { host } = makeHost(WORKER);
      const file = path.join(CHECKPOINTS, 'torch_state.pt');
      const options = { binaryPatterns: ['conv'], deadTau: 0.95 };
      assert.deepEqual(await host.inspect(file, options), await inspectCheckpoint(file, options));
      // Keras goes through h5wasm and its watchdog worker, shipped beside the bundle.
      const keras = path.join(CHECKPOINTS, 'larq_keras2.h5');
      assert.deepEqual(await host.inspect(keras, {}), await inspectCheckpoint(keras));
      const compare = await host.compare(file, path.join(CHECKPOINTS, 'torch_nested.pth'));
      assert.ok(Array.isArray(compare.layers));
      const series = await host.series(path.join(CHECKPOINTS, 'series'), {});
      assert.deepEqual(
        series.checkpoints.map((c) => c.name),
        ['epoch-1', 'epoch-2', 'epoch-10'],
      );
      assert.equal(series.pairs.length, 2);
      assert.equal(host.pendingCount, 0);
    });

    void it('a broken file is one user error naming the file; the worker keeps running', async () => {
      const { host } = makeHost(WORKER);
      for (const name of ['os_system.pt', 'truncated.safetensors', 'legacy.pt']) {
        const file = path.join(CHECKPOINTS, 'broken', name);
        const error = await rejection(host.inspect(file, {}));
        assert.equal(error.userError, true, error.message);
        assert.ok(error.message.includes(name), error.message);
      }
      const bad = await rejection(
        host.inspect(path.join(CHECKPOINTS, 'torch_state.pt'), {
          binaryPatterns: ['('],
        }),
      );
      assert.match(bad.message, /not a valid regular expression/);
      assert.ok(host.hasWorker);
      const empty = await rejection(
        host.series(path.join(CHECKPOINTS, 'broken', 'tfjs_short'), {}),
      );
      assert.equal(empty.userError, true);
      assert.equal(host.pendingCount, 0);
    });
  },
);
