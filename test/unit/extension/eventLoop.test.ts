/**
 * The extension-host thread only routes messages while the engine trains: a real, small run in
 * the real dist/worker.js must leave this thread's event loop responsive. This is a property of
 * the threading, not a speed threshold: the run may take as long as it takes.
 *
 * On a loaded machine (more runnable threads than cores) the OS can leave this thread waiting
 * for a core while it has nothing to do; the delay histogram counts that too. A probe beside it
 * measures, per late tick, how long the loop was busy (`eventLoopUtilization`), so a late tick
 * is blamed on this thread only when it was running code, not when it was waiting for a core.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';
import { it } from 'node:test';
import type { MetricsRecord } from '../../../core/protocol';
import { resolveConfig } from '../../../core/training/config';
import { WorkerHost } from '../../../extension/engine/workerHost';

// Compiled to out/test/unit/extension/; the bundle is in dist/ at the repository root.
const WORKER = path.resolve(__dirname, '../../../../dist/worker.js');
const MAX_DELAY_MS = 50;
/** A late tick during which the loop ran code for this long is blocking, whatever the load. */
const MAX_BUSY_MS = MAX_DELAY_MS / 2;
const ms = (ns: number) => ns / 1e6;

interface LateTick {
  gapMs: number;
  busyMs: number;
}

/** Every tick of a 10 ms interval that came later than `MAX_DELAY_MS`, with the loop's busy time. */
function startProbe(): { stop(): LateTick[] } {
  const late: LateTick[] = [];
  let last = performance.now();
  let elu: EventLoopUtilization = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const now = performance.now();
    const busyMs = performance.eventLoopUtilization(elu).active;
    if (now - last >= MAX_DELAY_MS) late.push({ gapMs: now - last, busyMs });
    last = now;
    elu = performance.eventLoopUtilization();
  }, 10);
  return {
    stop() {
      clearInterval(timer);
      return late;
    },
  };
}

void it(
  'keeps the host event loop responsive during a training run',
  {
    skip: existsSync(WORKER) ? false : `${WORKER} is missing: run \`npm run build\` first`,
    timeout: 10 * 60_000,
  },
  async (t) => {
    const runDir = await mkdtemp(path.join(tmpdir(), 'bnn-lab-eventloop-'));
    const host = new WorkerHost({
      workerScript: WORKER,
      resourceLimits: { maxOldGenerationSizeMb: 4096 },
      log: (level, message) => {
        if (level !== 'info') t.diagnostic(`worker ${level}: ${message}`);
      },
    });
    const config = resolveConfig(
      { preset: 'mnist-cnn', epochs: 1, limit: 512, testLimit: 256 },
      'test',
    );
    const records: MetricsRecord[] = [];
    const delay = monitorEventLoopDelay({ resolution: 10 });
    try {
      delay.enable();
      const probe = startProbe();
      const end = await host.startRun(
        { runId: 'eventloop', config, runDir, backend: 'wasm' },
        (record) => records.push(record),
      );
      const late = probe.stop();
      delay.disable();
      t.diagnostic(
        `event-loop delay over ${records.length} records: ` +
          `p50 ${ms(delay.percentile(50)).toFixed(1)} ms, ` +
          `p99 ${ms(delay.percentile(99)).toFixed(1)} ms, max ${ms(delay.max).toFixed(1)} ms`,
      );

      assert.equal(
        end.status,
        'completed',
        `run ended ${end.status}: ${end.message ?? ''}\n${end.stack ?? ''}`,
      );
      assert.equal(records[0]?.event, 'start');
      const done = records.at(-1);
      assert.ok(
        done?.event === 'done' && done.status === 'completed',
        'last record is done/completed',
      );
      assert.ok(
        records.some((r) => r.event === 'step'),
        'the host received step telemetry',
      );
      const lines = (await readFile(path.join(runDir, 'metrics.jsonl'), 'utf8')).trim().split('\n');
      assert.equal(lines.length, records.length, 'every record was also written to metrics.jsonl');

      if (ms(delay.max) < MAX_DELAY_MS) return;
      const describe = (l: LateTick) => `${l.gapMs.toFixed(0)} ms (busy ${l.busyMs.toFixed(1)} ms)`;
      const blocking = late.filter((l) => l.busyMs >= MAX_BUSY_MS);
      assert.ok(
        late.length > 0 && blocking.length === 0,
        `host event loop delayed up to ${ms(delay.max).toFixed(1)} ms (limit ${MAX_DELAY_MS} ms); ` +
          `late ticks: ${late.map(describe).join(', ') || 'none seen by the probe'}`,
      );
      t.diagnostic(
        `max delay ${ms(delay.max).toFixed(1)} ms came from waiting for a core, not from work ` +
          `on this thread: late ticks ${late.map(describe).join(', ')}`,
      );
    } finally {
      delay.disable();
      await host.dispose();
      await rm(runDir, { recursive: true, force: true });
    }
  },
);
