/**
 * Analysis worker entry (worker_threads, bundled to dist/analysisWorker.js): reads checkpoints
 * and computes their metrics off the extension-host thread. Imports core, never vscode. Speaks
 * only the `ToAnalysis`/`FromAnalysis` unions of core/protocol/analysis.ts and answers each
 * request exactly once, with its result or with `analysisFailed`.
 */
import { parentPort } from 'node:worker_threads';
import { checkpointSeries, compareCheckpoints, inspectCheckpoint } from '../../core/checkpoints';
import { UserError } from '../../core/errors';
import { isToAnalysis, type FromAnalysis, type ToAnalysis } from '../../core/protocol/analysis';
import { assertNever, previewMessage } from '../../core/protocol/channel';

if (!parentPort) throw new Error('analysisWorker: must be started as a worker thread');
const port = parentPort;

/** The only place that posts to the host. */
function post(msg: FromAnalysis): void {
  port.postMessage(msg);
}

port.on('message', (msg: unknown) => {
  if (!isToAnalysis(msg)) {
    post({
      kind: 'analysisLog',
      level: 'warn',
      message: `analysis worker: ignored a message that is not a ToAnalysis: ${previewMessage(msg)}`,
    });
    return;
  }
  // answer() catches everything and reports it as analysisFailed.
  void answer(msg);
});

post({ kind: 'analysisReady' });

async function answer(msg: ToAnalysis): Promise<void> {
  const started = Date.now();
  try {
    switch (msg.kind) {
      case 'inspect':
        post({
          kind: 'inspected',
          id: msg.id,
          report: await inspectCheckpoint(msg.path, msg.options),
        });
        break;
      case 'compare':
        post({
          kind: 'compared',
          id: msg.id,
          report: await compareCheckpoints(msg.a, msg.b, msg.options),
        });
        break;
      case 'series':
        post({
          kind: 'seriesAnalysed',
          id: msg.id,
          report: await checkpointSeries(msg.folder, msg.options),
        });
        break;
      default:
        assertNever(msg);
    }
    post({
      kind: 'analysisLog',
      level: 'info',
      message: `analysis: ${msg.kind} #${msg.id} took ${Date.now() - started} ms`,
    });
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    post({
      kind: 'analysisFailed',
      id: msg.id,
      message: err.message,
      userError: e instanceof UserError,
      stack: err.stack,
    });
  }
}
