import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ComparedRun } from '../../../core/protocol';
import { ComparisonState } from '../../../extension/panels/comparisonState';

function compared(dir: string): ComparedRun {
  return { run: { runId: dir.slice(1), dir, status: 'completed', records: [] } };
}

void describe('run comparison state (host)', () => {
  void it('compares N runs and says so in one message', () => {
    const state = new ComparisonState();
    assert.equal(state.active, false);
    state.set('/a', [compared('/b'), compared('/c'), compared('/d')]);
    assert.equal(state.active, true);
    assert.deepEqual(state.dirs, ['/b', '/c', '/d']);
    const msg = state.message();
    assert.equal(msg.kind, 'comparison');
    assert.deepEqual(
      msg.runs.map((r) => r.run.runId),
      ['b', 'c', 'd'],
    );
    assert.equal(msg.pinned, false);
  });

  void it('ends when another run starts, unless pinned', () => {
    const state = new ComparisonState();
    state.set('/a', [compared('/b'), compared('/c')]);
    assert.equal(state.runStarted(), true, 'an unpinned comparison ends');
    assert.equal(state.active, false);
    assert.deepEqual(state.message().runs, []);

    state.set('/a', [compared('/b'), compared('/c')]);
    state.pin(true);
    assert.equal(state.runStarted(), false, 'a pinned comparison stays');
    assert.deepEqual(state.dirs, ['/b', '/c']);
    assert.equal(state.message().pinned, true);
    state.pin(false);
    assert.equal(state.runStarted(), true, 'unpinned again, it ends with the next run');
  });

  void it('belongs to the run it was made for: opening another ends it unless pinned', () => {
    const state = new ComparisonState();
    state.set('/a', [compared('/b')]);
    assert.equal(state.runOpened('/a'), false, 'reopening its own run keeps it');
    assert.equal(state.active, true);
    assert.equal(state.runOpened('/x'), true);
    assert.equal(state.active, false);
    state.set('/a', [compared('/b')]);
    state.pin(true);
    assert.equal(state.runOpened('/x'), false);
    assert.equal(state.active, true);
  });

  void it('cannot pin nothing, and renames the compared runs', () => {
    const state = new ComparisonState();
    state.pin(true);
    assert.equal(state.isPinned, false, 'no comparison, nothing pinned');
    state.set('/a', [compared('/b')]);
    state.rename((dir, runId) => `${runId} from ${dir}`);
    assert.equal(state.find('/b')?.run.name, 'b from /b');
  });
});
