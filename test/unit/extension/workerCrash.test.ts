/**
 * Every way the engine worker can die ends the active run as failed with a message, clears the
 * host's run state, and leaves the host able to start the next run in a fresh worker.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import type { TrainConfig } from '../../../core/protocol';
import { WorkerHost, type LogLevel, type RunParams } from '../../../extension/engine/workerHost';

// Compiled to out/test/unit/extension/; the fixtures stay in the source tree as plain JS.
const FIXTURES = path.resolve(__dirname, '../../../../test/fixtures/workers');
const SCRIPTED = path.join(FIXTURES, 'scriptedWorker.js');

const CONFIG: TrainConfig = {
  preset: 'mnist-cnn',
  epochs: 1,
  batchSize: 8,
  learningRate: 0.001,
  seed: 1,
  dataset: { name: 'mnist' },
  limit: 16,
  testLimit: 16,
  telemetryEverySteps: 1,
  histogramBins: 8,
  deadTau: 0.99,
};

function params(runId: string): RunParams {
  return { runId, config: CONFIG, runDir: '/nonexistent/run', backend: 'cpu' };
}

const hosts: WorkerHost[] = [];
function makeHost(
  script = SCRIPTED,
  extra: Partial<ConstructorParameters<typeof WorkerHost>[0]> = {},
): { host: WorkerHost; logs: { level: LogLevel; message: string }[] } {
  const logs: { level: LogLevel; message: string }[] = [];
  const host = new WorkerHost({
    workerScript: script,
    log: (level, message) => logs.push({ level, message }),
    ...extra,
  });
  hosts.push(host);
  return { host, logs };
}

after(async () => {
  await Promise.all(hosts.map((h) => h.dispose()));
});

/** Runs `runId` and then a normal run on the same host; the second must complete. */
async function crashThenRecover(
  host: WorkerHost,
  runId: string,
): Promise<Awaited<ReturnType<WorkerHost['startRun']>>> {
  const end = await host.startRun(params(runId), () => {});
  assert.equal(end.runId, runId);
  assert.equal(host.activeRunId, undefined, 'the failed run is no longer active');
  assert.equal(host.hasWorker, false, 'the dead worker is forgotten, not restarted');

  const records: string[] = [];
  const next = await host.startRun(params(`ok-after-${runId}`), (r) => records.push(r.event));
  assert.equal(next.status, 'completed', `next run after ${runId}: ${next.message ?? ''}`);
  assert.deepEqual(records, ['start', 'step', 'step', 'step', 'step', 'step', 'done']);
  assert.equal(host.hasWorker, true, 'the next run started a fresh worker');
  return end;
}

void describe('WorkerHost crash handling', () => {
  void it('completes a normal run and reuses the worker for the next one', async () => {
    const { host } = makeHost();
    const first = await host.startRun(params('ok-1'), () => {});
    assert.equal(first.status, 'completed');
    assert.equal(first.crashed, false);
    const second = await host.startRun(params('ok-2'), () => {});
    assert.equal(second.status, 'completed');
  });

  void it('fails the run when the worker throws an uncaught error', async () => {
    const { host, logs } = makeHost();
    const end = await crashThenRecover(host, 'throw-1');
    assert.equal(end.status, 'failed');
    assert.equal(end.crashed, true);
    assert.match(end.message ?? '', /crashed: scripted crash in throw-1/);
    assert.match(end.stack ?? '', /scripted crash/);
    assert.ok(logs.some((l) => l.level === 'error' && /scripted crash/.test(l.message)));
  });

  void it('fails the run when the worker exits with a non-zero code', async () => {
    const { host } = makeHost();
    const end = await crashThenRecover(host, 'exit-1');
    assert.equal(end.status, 'failed');
    assert.match(end.message ?? '', /exited with code 3/);
  });

  void it('fails the run when the worker runs out of memory', async () => {
    const { host } = makeHost(SCRIPTED, { resourceLimits: { maxOldGenerationSizeMb: 16 } });
    const end = await crashThenRecover(host, 'oom-1');
    assert.equal(end.status, 'failed');
    assert.match(end.message ?? '', /ran out of memory \(heap limit 16 MB\)/);
  });

  void it('passes on a failure the worker reports itself, with its stack', async () => {
    const { host } = makeHost();
    const end = await host.startRun(params('fail-1'), () => {});
    assert.deepEqual(
      { status: end.status, message: end.message, crashed: end.crashed },
      { status: 'failed', message: 'scripted failure', crashed: false },
    );
    assert.match(end.stack ?? '', /at fixture/);
    assert.equal(host.hasWorker, true, 'a reported failure keeps the worker');
  });

  void it('fails the run when the worker throws while loading, and does not respawn it', async () => {
    const { host } = makeHost(path.join(FIXTURES, 'throwsOnLoad.js'));
    const end = await host.startRun(params('load-1'), () => {});
    assert.equal(end.status, 'failed');
    assert.match(end.message ?? '', /cannot load the engine/);
    assert.equal(host.hasWorker, false);
    assert.equal(host.activeRunId, undefined);
  });

  void it('fails the run when the worker never becomes ready', async () => {
    const { host } = makeHost(path.join(FIXTURES, 'silent.js'), { readyTimeoutMs: 300 });
    const end = await host.startRun(params('silent-1'), () => {});
    assert.equal(end.status, 'failed');
    assert.match(end.message ?? '', /did not start within 300 ms/);
    assert.equal(host.hasWorker, false);
  });

  void it('cancels between batches when asked', async () => {
    const { host } = makeHost();
    const ended = host.startRun(params('ok-cancel'), () => {});
    assert.ok(host.cancel('ok-cancel'), 'cancel finds the active run');
    const end = await ended;
    assert.equal(end.status, 'cancelled');
    assert.equal(end.crashed, false);
  });

  void it('terminates a worker that ignores cancel, then runs the next one', async () => {
    const { host } = makeHost(SCRIPTED, { cancelGraceMs: 200 });
    const ended = host.startRun(params('hang-1'), () => {});
    void host.cancel(); // the run's end is awaited through `ended`
    const end = await ended;
    assert.equal(end.status, 'cancelled');
    assert.match(end.message ?? '', /did not stop within 200 ms/);
    const next = await host.startRun(params('ok-after-hang'), () => {});
    assert.equal(next.status, 'completed');
  });

  void it('refuses a second run while one is active', async () => {
    const { host } = makeHost();
    const first = host.startRun(params('ok-busy'), () => {});
    assert.throws(() => host.startRun(params('ok-busy-2'), () => {}), /still active/);
    assert.equal((await first).status, 'completed');
  });

  void it('ends the active run as cancelled on dispose', async () => {
    const { host } = makeHost();
    const ended = host.startRun(params('hang-dispose'), () => {});
    await host.dispose();
    const end = await ended;
    assert.equal(end.status, 'cancelled');
    assert.equal(host.hasWorker, false);
    assert.throws(() => host.startRun(params('ok-late'), () => {}), /disposed/);
  });
});
