/**
 * Every channel's guard accepts each kind of its union and rejects unknown kinds, inherited
 * names and non-messages. The sample tables are typed with one entry per kind, so a kind added
 * to a union without a sample (or a guard entry) fails to compile.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isFromH5, isToH5, type FromH5, type ToH5 } from '../../../core/checkpoints/h5Protocol';
import { isFromReplica, type FromReplica } from '../../../core/parallel/protocol';
import {
  isFromAnalysis,
  isToAnalysis,
  type FromAnalysis,
  type ToAnalysis,
} from '../../../core/protocol/analysis';
import { anyFields, messageGuard, type MessageGuard } from '../../../core/protocol/channel';
import {
  isToHost,
  isToWebview,
  type ToHost,
  type ToWebview,
} from '../../../core/protocol/dashboard';
import {
  isFromWorker,
  isToWorker,
  type FromWorker,
  type ToWorker,
} from '../../../core/protocol/engine';
import {
  isFromInspector,
  isToInspector,
  type FromInspector,
  type ToInspector,
} from '../../../core/protocol/inspector';

/** One well-formed message per kind of `U`. */
type Samples<U extends { kind: string }> = { [K in U['kind']]: Extract<U, { kind: K }> };

/** A payload the guards do not look into (records, reports, configs). */
const payload = <T>(): T => ({}) as T;

function checkGuard<U extends { kind: string }>(guard: MessageGuard<U>, samples: Samples<U>): void {
  assert.deepEqual([...guard.kinds].sort(), Object.keys(samples).sort());
  for (const [kind, sample] of Object.entries(samples)) {
    assert.ok(guard(sample), `accepts ${kind}: ${JSON.stringify(sample)}`);
  }
  for (const bad of [
    { kind: 'noSuchKind' },
    { kind: 'toString' },
    { kind: 'hasOwnProperty' },
    { kind: '__proto__' },
    { kind: 7 },
    {},
    null,
    undefined,
    'ready',
    42,
  ]) {
    assert.ok(!guard(bad), `rejects ${JSON.stringify(bad)}`);
  }
}

test('engine channel guards', () => {
  checkGuard<ToWorker>(isToWorker, {
    startRun: { kind: 'startRun', runId: 'r', config: payload(), runDir: '/r', backend: 'cpu' },
    startFinetune: {
      kind: 'startFinetune',
      runId: 'r',
      runDir: '/r',
      backend: 'auto',
      finetune: { checkpoint: '/c', method: 'lns' },
    },
    cancelRun: { kind: 'cancelRun', runId: 'r' },
  });
  checkGuard<FromWorker>(isFromWorker, {
    workerReady: { kind: 'workerReady' },
    records: { kind: 'records', runId: 'r', records: [] },
    log: { kind: 'log', level: 'info', message: 'm' },
    runEnded: { kind: 'runEnded', runId: 'r', status: 'completed' },
  });
});

test('dashboard channel guards, every field of what the page sends', () => {
  checkGuard<ToWebview>(isToWebview, {
    snapshot: { kind: 'snapshot', run: undefined, trusted: true },
    records: { kind: 'records', runId: 'r', records: [] },
    status: { kind: 'status', runId: 'r', status: 'running' },
    comparison: { kind: 'comparison', runs: [], pinned: false },
    runMissing: { kind: 'runMissing', runId: 'r', dir: '/r' },
  });
  checkGuard<ToHost>(isToHost, {
    ready: { kind: 'ready' },
    command: { kind: 'command', command: 'stop' },
    clearComparison: { kind: 'clearComparison' },
    pinComparison: { kind: 'pinComparison', pinned: true },
    export: { kind: 'export', format: 'csv', name: 'm.csv', data: 'a,b' },
    rendered: { kind: 'rendered', runId: 'r', status: 'completed', layerCards: ['conv1'] },
  });
  assert.ok(!isToHost({ kind: 'command', command: 'rm -rf' }));
  assert.ok(!isToHost({ kind: 'pinComparison', pinned: 'yes' }));
  assert.ok(!isToHost({ kind: 'export', format: 'exe', name: 'x', data: '' }));
  assert.ok(!isToHost({ kind: 'export', format: 'png', name: 'x' }));
  assert.ok(!isToHost({ kind: 'rendered', runId: 'r', status: 'done', layerCards: [] }));
  assert.ok(!isToHost({ kind: 'rendered', runId: 'r', status: 'failed', layerCards: [1] }));
});

test('analysis channel guards: requests and answers carry an id', () => {
  checkGuard<ToAnalysis>(isToAnalysis, {
    inspect: { kind: 'inspect', id: 1, path: '/a.pt', options: {} },
    compare: { kind: 'compare', id: 2, a: '/a.pt', b: '/b.pt' },
    series: { kind: 'series', id: 3, folder: '/c', options: {} },
  });
  checkGuard<FromAnalysis>(isFromAnalysis, {
    analysisReady: { kind: 'analysisReady' },
    inspected: { kind: 'inspected', id: 1, report: payload() },
    compared: { kind: 'compared', id: 2, report: { layers: [] } },
    seriesAnalysed: { kind: 'seriesAnalysed', id: 3, report: payload() },
    analysisFailed: { kind: 'analysisFailed', id: 4, message: 'm', userError: true },
    analysisLog: { kind: 'analysisLog', level: 'warn', message: 'm' },
  });
  assert.ok(!isToAnalysis({ kind: 'inspect', path: '/a.pt', options: {} }));
  assert.ok(!isFromAnalysis({ kind: 'inspected', id: '1', report: {} }));
});

test('inspector channel guards, every field of what the page sends', () => {
  checkGuard<ToInspector>(isToInspector, {
    loading: { kind: 'loading', file: '/a.pt' },
    content: { kind: 'content', content: payload() },
    failed: { kind: 'failed', file: '/a.pt', message: 'm' },
    selectLayer: { kind: 'selectLayer', name: 'conv1' },
  });
  checkGuard<FromInspector>(isFromInspector, {
    inspectorReady: { kind: 'inspectorReady' },
    layerSelected: { kind: 'layerSelected', name: 'conv1/kernel' },
    inspectorCommand: { kind: 'inspectorCommand', command: 'retry' },
  });
  // Every command button of the page passes (the hand-kept list had lost `export`).
  for (const command of ['showLog', 'retry', 'toggleWatch', 'finetune', 'export'] as const) {
    assert.ok(isFromInspector({ kind: 'inspectorCommand', command }), command);
  }
  assert.ok(!isFromInspector({ kind: 'inspectorCommand', command: 'delete' }));
  assert.ok(!isFromInspector({ kind: 'layerSelected', name: 3 }));
});

test('HDF5 and replica channel guards', () => {
  checkGuard<ToH5>(isToH5, {
    open: { kind: 'open', id: 1, path: '/m.h5', displayName: 'm.h5', layout: 'keras2' },
    data: { kind: 'data', id: 2, handle: 1, index: 0 },
    close: { kind: 'close', id: 3, handle: 1 },
  });
  checkGuard<FromH5>(isFromH5, {
    opened: { kind: 'opened', id: 1, handle: 1, tensors: [] },
    tensorData: { kind: 'tensorData', id: 2, values: new Float32Array(2) },
    closed: { kind: 'closed', id: 3 },
    h5Failed: { kind: 'h5Failed', id: 4, message: 'm' },
  });
  checkGuard<FromReplica>(isFromReplica, {
    ready: { kind: 'ready', rank: 0 },
    snapshot: { kind: 'snapshot', rank: 1, weights: [], state: [] },
    profile: {
      kind: 'profile',
      rank: 1,
      profile: { phases: {}, kernels: {}, barrierWaitMs: 0, barriers: 0 },
    },
    error: { kind: 'error', rank: 1, message: 'm', stack: 's' },
  });
});

test('the compiler rejects a guard table that lacks a kind or names one the union lacks', () => {
  // Each line below fails to compile without its @ts-expect-error: that is the test.
  // @ts-expect-error startFinetune has no entry
  const missing = messageGuard<ToWorker>({ startRun: anyFields, cancelRun: anyFields });
  const extra = messageGuard<ToWorker>({
    startRun: anyFields,
    startFinetune: anyFields,
    cancelRun: anyFields,
    // @ts-expect-error pauseRun is not a kind of ToWorker
    pauseRun: anyFields,
  });
  assert.ok(!missing({ kind: 'startFinetune' }));
  assert.ok(extra({ kind: 'pauseRun' })); // what the compiler stopped would have let it through
});
