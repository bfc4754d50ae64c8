/**
 * The watched folder's re-analysis: one run at a time, requests during a run coalesce into one
 * more run, bursts of file events into one run after a quiet period; nothing runs after dispose.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoalescingRunner } from '../../../extension/inspector/coalescingRunner';

/** A task whose runs finish only when the test releases them. */
function gatedTask(): { task: () => Promise<void>; started: number; release: () => void } {
  const gates: (() => void)[] = [];
  const state = {
    started: 0,
    task: () =>
      new Promise<void>((resolve) => {
        state.started++;
        gates.push(resolve);
      }),
    release: () => gates.shift()?.(),
  };
  return state;
}

test('requests during a run coalesce into exactly one more run', async () => {
  const gated = gatedTask();
  const runner = new CoalescingRunner(gated.task, 10);
  const first = runner.run();
  assert.equal(gated.started, 1);
  assert.ok(runner.busy);
  for (let i = 0; i < 5; i++) void runner.run();
  assert.equal(gated.started, 1, 'no second run while the first is going');
  gated.release();
  await first;
  await sleep(0);
  assert.equal(gated.started, 2, 'one follow-up run for all five requests');
  gated.release();
  await sleep(0);
  assert.equal(gated.started, 2);
  assert.equal(runner.busy, false);
});

test('a burst of scheduled requests runs once after the quiet period', async () => {
  let runs = 0;
  const runner = new CoalescingRunner(async () => {
    runs++;
  }, 30);
  for (let i = 0; i < 10; i++) {
    runner.schedule();
    await sleep(5);
  }
  assert.equal(runs, 0, 'still within the debounce window');
  await sleep(80);
  assert.equal(runs, 1);
});

test('a failing task does not stop later runs; dispose drops what is scheduled', async () => {
  let runs = 0;
  const runner = new CoalescingRunner(async () => {
    runs++;
    throw new Error('unreadable checkpoint');
  }, 20);
  await runner.run();
  await runner.run();
  assert.equal(runs, 2);
  runner.schedule();
  runner.dispose();
  await sleep(50);
  await runner.run();
  assert.equal(runs, 2, 'nothing runs after dispose');
});

test('cancelScheduled drops a pending run but keeps the runner usable', async () => {
  let runs = 0;
  const runner = new CoalescingRunner(async () => {
    runs++;
  }, 20);
  runner.schedule();
  runner.cancelScheduled();
  await sleep(50);
  assert.equal(runs, 0);
  runner.schedule();
  await sleep(50);
  assert.equal(runs, 1);
});
