/**
 * File-system errors while creating or writing a run are one clear message naming the folder
 * and what to do (bnnLab.runs.folder in VS Code, --out on the CLI), never a stack trace.
 *
 * Real errors where this machine can make them: a file as the runs folder (EEXIST), a folder
 * under a file (ENOTDIR), `metrics.jsonl` as a folder (EISDIR), as a link to /dev/full (ENOSPC),
 * /sys (EPERM, Linux). Tests run as root, which ignores permission bits, and no read-only mount
 * is at hand, so EACCES and EROFS are checked through `describeFsError` with the errors Node
 * raises for them.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { platform, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../../core/cli/main';
import { UserError } from '../../../core/errors';
import { describeFsError, RunFolder, RunFolderError } from '../../../core/io/runFolder';
import { createRunDir } from '../../../core/io/runNames';
import { resolveConfig } from '../../../core/training/config';
import { runTraining } from '../../../core/run/train';

const temp = () => mkdtempSync(join(tmpdir(), 'bnn-fserr-'));

/** One line, naming `path`, saying what to do in both front ends' words; no stack frames. */
function assertClear(message: string, path: string, words: RegExp) {
  assert.ok(!message.includes('\n'), `more than one line: ${message}`);
  assert.ok(!/\bat .+:\d+:\d+/.test(message), `a stack frame: ${message}`);
  assert.ok(message.includes(path), `does not name ${path}: ${message}`);
  assert.match(message, words);
  assert.match(message, /bnnLab\.runs\.folder/);
  assert.match(message, /--out/);
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (e) {
    return e as Error;
  }
  assert.fail('expected a rejection');
}

test('a file given as the runs folder (EEXIST) or a folder under a file (ENOTDIR)', async () => {
  const file = join(temp(), 'passwd');
  writeFileSync(file, 'root:x:0:0\n');
  const asRoot = await rejection(createRunDir(file, 'mnist-cnn', new Date()));
  assert.ok(asRoot instanceof RunFolderError);
  assertClear(asRoot.message, file, /a file is in the way/);
  const under = await rejection(createRunDir(join(file, 'runs'), 'mnist-cnn', new Date()));
  assert.ok(under instanceof RunFolderError);
  assertClear(under.message, join(file, 'runs'), /a file is in the way/);
  // The original error is kept for the log.
  assert.match(under.stack ?? '', /caused by: Error: ENOTDIR/);
});

test('a runs folder the process may not create (EPERM under /sys)', async (t) => {
  if (platform() !== 'linux' || !existsSync('/sys/kernel')) return t.skip('needs Linux /sys');
  const error = await rejection(createRunDir('/sys/bnn-lab-runs', 'mnist-cnn', new Date()));
  assert.ok(error instanceof RunFolderError);
  assertClear(error.message, '/sys/bnn-lab-runs', /permission denied|read-only/);
});

test('metrics.jsonl that is a folder (EISDIR) or on a full disk (ENOSPC, /dev/full)', (t) => {
  const dir = join(temp(), 'run');
  const folder = new RunFolder(dir);
  mkdirSync(folder.metricsPath);
  const record = { event: 'done', status: 'failed', testAccuracy: null, time: 0 } as const;
  const isDir = (() => {
    try {
      folder.append(record);
    } catch (e) {
      return e as Error;
    }
    assert.fail('append to a folder succeeded');
  })();
  assertClear(isDir.message, folder.metricsPath, /a folder is in the way/);

  if (!existsSync('/dev/full')) return t.skip('no /dev/full');
  rmSync(folder.metricsPath, { recursive: true });
  symlinkSync('/dev/full', folder.metricsPath);
  assert.throws(
    () => folder.append(record),
    (e: Error) => {
      assertClear(e.message, folder.metricsPath, /the disk is full/);
      return true;
    },
  );
});

test('a checkpoint that cannot be written (checkpoints/ replaced by a file, ENOTDIR)', () => {
  const dir = join(temp(), 'run');
  const folder = new RunFolder(dir);
  rmSync(join(dir, 'checkpoints'), { recursive: true });
  writeFileSync(join(dir, 'checkpoints'), '');
  assert.throws(
    () => folder.writeCheckpoint('epoch-1', { 'model.json': '{}' }),
    (e: Error) => {
      assertClear(e.message, join(dir, 'checkpoints', 'epoch-1'), /a file is in the way/);
      return true;
    },
  );
});

test('read-only (EROFS), not writable (EACCES) and full (ENOSPC) folders: the words for each', () => {
  const path = '/mnt/ro/runs';
  const errno = (code: string, text: string) =>
    Object.assign(new Error(`${code}: ${text}, mkdir '${path}'`), { code, syscall: 'mkdir' });
  const cases: [string, string, RegExp][] = [
    ['EROFS', 'read-only file system', /the file system is read-only/],
    ['EACCES', 'permission denied', /permission denied; make it writable/],
    ['ENOSPC', 'no space left on device', /the disk is full/],
    ['EIO', 'i/o error', /i\/o error/],
  ];
  for (const [code, text, words] of cases) {
    const e = describeFsError('create the run folder', path, errno(code, text));
    assert.ok(e instanceof UserError);
    assert.equal(e.code, code);
    assertClear(e.message, path, words);
    assert.ok(!e.message.includes('mkdir'), e.message);
  }
});

test('bnn-lab train --out FILE prints one line and exits 2', async () => {
  const file = join(temp(), 'passwd');
  writeFileSync(file, 'root:x:0:0\n');
  let stderr = '';
  const code = await main(
    ['train', '--preset', 'mnist-cnn', '--out', file, '--threads', '1'],
    () => {},
    (t) => (stderr += t),
  );
  assert.equal(code, 2);
  assert.equal(stderr.trim().split('\n').length, 1, stderr);
  assert.match(
    stderr,
    /^bnn-lab train: cannot create the runs folder .*passwd: a file is in the way/,
  );
  assert.ok(!stderr.includes('    at '), stderr);
});

test('a run whose folder cannot be created fails with the message once, the stack only in the log', async () => {
  const file = join(temp(), 'file');
  writeFileSync(file, '');
  const logged: string[] = [];
  const result = await runTraining(
    {
      runId: 'x',
      config: resolveConfig({ preset: 'mnist-cnn', limit: 32, epochs: 1 }, 'test'),
      runDir: join(file, 'run'),
      backend: 'cpu',
    },
    { onRecord: () => {}, log: (_l, m) => logged.push(m), isCancelled: () => false },
  );
  assert.equal(result.status, 'failed');
  assertClear(result.message ?? '', join(file, 'run'), /a file is in the way/);
  assert.equal(logged.filter((m) => m.includes('    at ')).length, 1);
});
