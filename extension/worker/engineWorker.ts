/**
 * Engine worker entry (worker_threads, bundled to dist/worker.js): runs training off the
 * extension-host thread. Imports core, never vscode. Speaks only the `ToWorker`/`FromWorker`
 * unions of core/protocol/engine.ts.
 */
import { parentPort } from 'node:worker_threads';
import { setNativeModulePath } from '../../core/backend/backends';
import { CancelledError, useVocabulary } from '../../core/errors';
import {
  assertNever,
  isToWorker,
  type FromWorker,
  type ToWorker,
  previewMessage,
  toWireRecord,
} from '../../core/protocol';
import type { RunHooks, RunResult } from '../../core/training/api';
import { runFinetune } from '../../core/run/finetune';
import { runTraining } from '../../core/run/train';
import { EXTENSION_VOCABULARY } from '../errorWording';
import { RecordBatcher } from './recordBatcher';

if (!parentPort) throw new Error('engineWorker: must be started as a worker thread');
const port = parentPort;
// Messages raised inside a run name settings and run-config fields, not CLI flags.
useVocabulary(EXTENSION_VOCABULARY);

/** The run in progress; `cancelled` is set by the message handler and polled between batches. */
let active: { runId: string; cancelled: boolean } | undefined;

/** The only place that posts to the host. */
function post(msg: FromWorker): void {
  port.postMessage(msg);
}

port.on('message', (msg: unknown) => {
  if (!isToWorker(msg)) {
    post({
      kind: 'log',
      level: 'warn',
      message: `engine worker: ignored a message that is not a ToWorker: ${previewMessage(msg)}`,
    });
    return;
  }
  switch (msg.kind) {
    case 'startRun':
    case 'startFinetune':
      // runRequested catches everything it can and reports through runEnded.
      void runRequested(msg);
      break;
    case 'cancelRun':
      if (active?.runId === msg.runId) active.cancelled = true;
      break;
    default:
      assertNever(msg);
  }
});

post({ kind: 'workerReady' });

async function runRequested(
  msg: Extract<ToWorker, { kind: 'startRun' | 'startFinetune' }>,
): Promise<void> {
  const { runId } = msg;
  if (active) {
    post({
      kind: 'runEnded',
      runId,
      status: 'failed',
      message: `the engine is busy with run ${active.runId}`,
    });
    return;
  }
  const run = { runId, cancelled: false };
  active = run;
  // At most one `records` message per 100 ms; start/epoch/done go at once.
  const outbox = new RecordBatcher((records) => post({ kind: 'records', runId, records }));
  const hooks: RunHooks = {
    onRecord: (record) => outbox.push(toWireRecord(record)),
    log: (level, message) => post({ kind: 'log', level, message }),
    isCancelled: () => run.cancelled,
  };
  try {
    setNativeModulePath(msg.nativeModulePath);
    const result: RunResult =
      msg.kind === 'startRun'
        ? await runTraining(
            {
              runId,
              config: msg.config,
              runDir: msg.runDir,
              backend: msg.backend,
              threads: msg.threads ?? 1,
            },
            hooks,
          )
        : await runFinetune(
            {
              ...msg.finetune,
              runId,
              runDir: msg.runDir,
              backend: msg.backend,
              threads: msg.threads ?? 1,
            },
            hooks,
          );
    outbox.flush();
    post({ kind: 'runEnded', runId, status: result.status, message: result.message });
  } catch (e) {
    outbox.flush();
    if (e instanceof CancelledError) {
      post({ kind: 'runEnded', runId, status: 'cancelled' });
    } else {
      const err = e instanceof Error ? e : new Error(String(e));
      post({ kind: 'runEnded', runId, status: 'failed', message: err.message, stack: err.stack });
    }
  } finally {
    active = undefined;
  }
}
