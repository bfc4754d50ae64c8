/**
 * The engine worker's outbox (extension/worker/recordBatcher.ts): at most one message per
 * interval for step records, start/epoch/done at once, order kept, nothing lost on flush.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MetricsRecord } from '../../../core/protocol';
import { RecordBatcher, type BatcherClock } from '../../../extension/worker/recordBatcher';

/** A clock the test moves by hand; timers fire when it passes their time. */
class FakeClock implements BatcherClock {
  time = 1000;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;
  now(): number {
    return this.time;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.time + ms, fn, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }
  advance(ms: number): void {
    this.time += ms;
    for (const t of this.timers.filter((t) => t.at <= this.time)) {
      this.clearTimeout(t.id);
      t.fn();
    }
  }
}

const step = (n: number) => ({ event: 'step', step: n }) as unknown as MetricsRecord;
const epoch = (n: number) => ({ event: 'epoch', epoch: n }) as unknown as MetricsRecord;

test('a step every 5 ms for 2 s goes out in at most 10 messages per second, in order', () => {
  const clock = new FakeClock();
  const posts: { time: number; records: MetricsRecord[] }[] = [];
  const batcher = new RecordBatcher(
    (records) => posts.push({ time: clock.time, records }),
    100,
    clock,
  );
  const start = clock.time;
  for (let i = 1; i <= 400; i++) {
    batcher.push(step(i));
    clock.advance(5);
  }
  batcher.flush();
  const steps = posts.flatMap((p) => p.records).map((r) => (r as unknown as { step: number }).step);
  assert.deepEqual(
    steps,
    Array.from({ length: 400 }, (_, i) => i + 1),
    'every record, in order',
  );
  for (let i = 1; i < posts.length - 1; i++) {
    assert.ok(posts[i].time - posts[i - 1].time >= 100, `posts ${i - 1} and ${i} are 100 ms apart`);
  }
  assert.ok(posts.length <= Math.ceil((clock.time - start) / 100) + 1, `${posts.length} posts`);
});

test('epoch (and start/done) records go out at once with the steps queued before them', () => {
  const clock = new FakeClock();
  const posts: MetricsRecord[][] = [];
  const batcher = new RecordBatcher((records) => posts.push(records), 100, clock);
  batcher.push(step(1)); // first record: sent at once
  clock.advance(10);
  batcher.push(step(2)); // queued (10 ms after the last post)
  batcher.push(epoch(1)); // sent at once, after step 2
  assert.deepEqual(posts, [[step(1)], [step(2), epoch(1)]]);
  clock.advance(200);
  assert.equal(posts.length, 2, 'the cancelled timer posts nothing');
  batcher.flush();
  assert.equal(posts.length, 2, 'an empty flush posts nothing');
});
