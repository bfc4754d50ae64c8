/**
 * The worker-thread toolkit every owner uses (engine host, analysis host, HDF5 reader, replicas):
 * a lost thread is one WorkerLostError naming it, a silent thread is lost after its ready
 * timeout, requests are matched to answers by id and settled once, a timeout stops the thread and
 * the next request runs on a fresh one, and a kill is not a loss. Fixture threads play each case.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { messageGuard, anyFields, hasId } from '../../../core/protocol/channel';
import { RequestWorker } from '../../../core/workers/requests';
import {
  WorkerLostError,
  WorkerThread,
  type LogLevel,
  type WorkerThreadOptions,
} from '../../../core/workers/thread';

// Compiled to out/test/unit/workers/; the fixtures stay in the source tree as plain JS.
const FIXTURES = path.resolve(__dirname, '../../../../test/fixtures/workers');
const ECHO = path.join(FIXTURES, 'toolkitEcho.js');

type Ask = { kind: 'ask'; id: number; text: string };
type Said = { kind: 'hello' } | { kind: 'answer'; id: number; text: string };
const isSaid = messageGuard<Said>({ hello: anyFields, answer: hasId });

/** A thread on `script`; resolves `lost` with its WorkerLostError. */
function spawn(
  script: string,
  extra: Partial<WorkerThreadOptions<Said>> = {},
): {
  thread: WorkerThread<Ask, Said>;
  lost: Promise<WorkerLostError>;
  messages: Said[];
  logs: { level: LogLevel; message: string }[];
} {
  const messages: Said[] = [];
  const logs: { level: LogLevel; message: string }[] = [];
  let onLost!: (e: WorkerLostError) => void;
  const lost = new Promise<WorkerLostError>((resolve) => (onLost = resolve));
  const thread = new WorkerThread<Ask, Said>({
    name: 'the test worker',
    script,
    accepts: isSaid,
    isReady: (m) => m.kind === 'hello',
    log: (level, message) => logs.push({ level, message }),
    logPrefix: 'test: ',
    onMessage: (m) => messages.push(m),
    onLost,
    ...extra,
  });
  return { thread, lost, messages, logs };
}

function echoClient(logs: string[] = []): RequestWorker<Ask, Said, string> {
  return new RequestWorker<Ask, Said, string>({
    thread: {
      name: 'the echo worker',
      script: ECHO,
      accepts: isSaid,
      log: (_level, message) => logs.push(message),
    },
    answers: (m) => (m.kind === 'answer' ? m.id : undefined),
    errors: {
      timedOut: (what, ms) => new Error(`${what}: no answer within ${ms} ms`),
      stopped: (what, timedOut) => new Error(`${what}: stopped because ${timedOut} timed out`),
      lost: (what, error) => new Error(`${what}: ${error.message}`),
    },
  });
}

const text = (m: Said) => (m.kind === 'answer' ? m.text : m.kind);

void describe('WorkerThread', () => {
  void it('is lost with an error naming the thread when it throws on load', async () => {
    const { lost } = spawn(path.join(FIXTURES, 'throwsOnLoad.js'));
    const error = await lost;
    assert.ok(error instanceof WorkerLostError);
    assert.equal(error.reason, 'crashed');
    assert.equal(error.worker, 'the test worker');
    assert.match(error.message, /^the test worker crashed: fixture: cannot load the engine$/);
    assert.match(error.detail ?? '', /cannot load the engine/);
  });

  void it('is lost when it exits, with the exit code', async () => {
    const { thread, lost, messages } = spawn(ECHO);
    thread.post({ kind: 'ask', id: 1, text: 'exit' });
    const error = await lost;
    assert.equal(error.reason, 'exited');
    assert.equal(error.message, 'the test worker exited with code 5');
    assert.deepEqual(messages.map(text), ['hello']);
    assert.ok(thread.gone);
  });

  void it('is lost, and terminated, when it sends no ready message in time', async () => {
    const { thread, lost, logs } = spawn(path.join(FIXTURES, 'silent.js'), {
      readyTimeoutMs: 200,
    });
    const error = await lost;
    assert.equal(error.reason, 'notReady');
    assert.equal(error.message, 'the test worker did not start within 200 ms');
    assert.ok(thread.gone && !thread.ready);
    assert.ok(logs.some((l) => l.level === 'error' && l.message.includes('did not start')));
  });

  void it('becomes ready on its ready message and drops messages its channel lacks', async () => {
    const { thread, messages, logs } = spawn(ECHO, { readyTimeoutMs: 10_000 });
    thread.post({ kind: 'ask', id: 1, text: 'stray' });
    for (let i = 0; i < 200 && messages.length < 2; i++) await delay(20);
    assert.ok(thread.ready);
    assert.deepEqual(messages.map(text), ['hello', 'STRAY']);
    assert.ok(
      logs.some((l) => l.level === 'warn' && /does not have: \{"nope":true\}/.test(l.message)),
    );
    await thread.kill();
  });

  void it('is not lost when killed on purpose', async () => {
    let lostCalls = 0;
    const { thread } = spawn(ECHO, { onLost: () => lostCalls++ });
    await thread.kill();
    await delay(100);
    assert.ok(thread.gone);
    assert.equal(lostCalls, 0);
    thread.post({ kind: 'ask', id: 1, text: 'ignored' }); // posting to a killed thread is a no-op
  });
});

void describe('RequestWorker', () => {
  void it('matches answers to requests by id, whatever their order', async () => {
    const client = echoClient();
    const slow = client.request({ kind: 'ask', text: 'slow' }, 'slow', 10_000);
    const fast = client.request({ kind: 'ask', text: 'fast' }, 'fast', 10_000);
    assert.equal(client.pendingCount, 2);
    assert.deepEqual((await Promise.all([slow, fast])).map(text), ['SLOW', 'FAST']);
    assert.equal(client.pendingCount, 0);
    await client.dispose(() => new Error('shut down'));
  });

  void it('fails every pending request with the loss, naming the thread, then starts afresh', async () => {
    const client = echoClient();
    const generation = client.generation;
    const pending = client.request({ kind: 'ask', text: 'hang' }, 'the hung one', 10_000);
    const crash = client.request({ kind: 'ask', text: 'crash' }, 'the crash', 10_000);
    await Promise.all([
      assert.rejects(crash, /^Error: the crash: the echo worker crashed: scripted crash$/),
      assert.rejects(pending, /^Error: the hung one: the echo worker crashed: scripted crash$/),
    ]);
    assert.equal(client.pendingCount, 0);
    assert.ok(!client.hasWorker);
    assert.notEqual(client.generation, generation, 'the lost thread is a past generation');
    assert.equal(
      text(await client.request({ kind: 'ask', text: 'again' }, 'again', 10_000)),
      'AGAIN',
    );
    await client.dispose(() => new Error('shut down'));
  });

  void it('on timeout fails the request, stops the thread and the requests sharing it', async () => {
    const logs: string[] = [];
    const client = echoClient(logs);
    const other = client.request({ kind: 'ask', text: 'hang' }, 'the other', 60_000);
    const hung = client.request({ kind: 'ask', text: 'hang' }, 'the hung one', 300);
    await Promise.all([
      assert.rejects(hung, /^Error: the hung one: no answer within 300 ms$/),
      assert.rejects(other, /^Error: the other: stopped because the hung one timed out$/),
    ]);
    assert.ok(!client.hasWorker);
    assert.ok(logs.some((l) => /timed out after 300 ms; stopping the echo worker/.test(l)));
    assert.equal(text(await client.request({ kind: 'ask', text: 'next' }, 'next', 10_000)), 'NEXT');
    await client.dispose(() => new Error('shut down'));
  });

  void it('dispose rejects what is pending and kills the thread', async () => {
    const client = echoClient();
    const pending = client.request({ kind: 'ask', text: 'hang' }, 'the hung one', 60_000);
    const rejected = assert.rejects(pending, /^Error: the hung one: shut down$/);
    await client.dispose((what) => new Error(`${what}: shut down`));
    await rejected;
    assert.ok(!client.hasWorker);
  });

  void it('a thread that cannot start fails the request with the loss', async () => {
    const client = new RequestWorker<Ask, Said, string>({
      thread: {
        name: 'the missing worker',
        script: path.join(FIXTURES, 'no-such.js'),
        accepts: isSaid,
      },
      answers: (m) => (m.kind === 'answer' ? m.id : undefined),
      errors: {
        timedOut: () => new Error('timed out'),
        stopped: () => new Error('stopped'),
        lost: (what, error) => new Error(`${what}: ${error.message}`),
      },
    });
    await assert.rejects(
      client.request({ kind: 'ask', text: 'x' }, 'x', 10_000),
      /^Error: x: the missing worker (crashed|exited)|^Error: x: could not start the missing worker/,
    );
    await client.dispose(() => new Error('shut down'));
  });
});

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
