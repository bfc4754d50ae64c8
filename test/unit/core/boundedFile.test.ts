/** core/io/boundedFile.ts: the one way files are read (regular files only, caps, bounded inflate). */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { FileFormatError, UserError } from '../../../core/errors';
import {
  checkDeclaredBytes,
  confinedPath,
  confinedPathSync,
  gunzipBounded,
  gunzipPrefix,
  inside,
  readBoundedFile,
  readBoundedFileSync,
  readBoundedText,
} from '../../../core/io/boundedFile';

const work = mkdtempSync(join(tmpdir(), 'bnn-lab-bounded-'));
after(() => rmSync(work, { recursive: true, force: true }));

describe('bounded file reading', () => {
  it('reads a regular file, also through a symlink', async () => {
    const file = join(work, 'a.json');
    writeFileSync(file, '{"a":1}');
    symlinkSync(file, join(work, 'link.json'));
    assert.equal(await readBoundedText(file, { what: 'JSON', maxBytes: 100 }), '{"a":1}');
    assert.equal(
      readBoundedFileSync(join(work, 'link.json'), { what: 'JSON', maxBytes: 100 }).toString(),
      '{"a":1}',
    );
  });

  it('refuses devices, FIFOs and folders before opening, naming the link target', async () => {
    const zero = join(work, 'zero');
    symlinkSync('/dev/zero', zero);
    const fifo = join(work, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const folder = join(work, 'folder');
    mkdirSync(folder);
    const options = { what: 'run config', maxBytes: 1 << 20 };
    await assert.rejects(
      readBoundedFile(zero, options),
      (e: Error) =>
        e instanceof UserError &&
        e.message ===
          `${zero} (a link to /dev/zero): is a character device, not a regular file; BNN Lab reads a run config only from a regular file, so it was not opened`,
    );
    assert.throws(() => readBoundedFileSync(fifo, options), /fifo: is a FIFO \(named pipe\)/);
    assert.throws(
      () => readBoundedFileSync(folder, options),
      /folder: is a folder, not a regular file; pass the run config file itself/,
    );
    await assert.rejects(readBoundedFile(join(work, 'missing'), options), (e: Error) => {
      return (
        /missing: cannot open \(no such file\)/.test(e.message) &&
        (e as { code?: string }).code === 'ENOENT'
      );
    });
  });

  it('refuses a file above its cap by its size, before reading it', () => {
    const file = join(work, 'big.json');
    writeFileSync(file, Buffer.alloc(2048));
    assert.throws(
      () => readBoundedFileSync(file, { what: 'model.json', maxBytes: 1024 }),
      (e: Error) =>
        e instanceof FileFormatError && /is 2 KB, more than the 1 KB a model\.json/.test(e.message),
    );
  });

  it('inflates gzip up to a limit and reads a prefix of a bomb cheaply', () => {
    const zeros = gzipSync(Buffer.alloc(8 << 20));
    assert.equal(gunzipPrefix(zeros, 16, 'f.gz').length, 16);
    assert.throws(() => gunzipBounded(zeros, 1024, 'f.gz', 'it'), /it inflates to more than 1 KB/);
    assert.equal(gunzipBounded(gzipSync(Buffer.from('abc')), 3, 'f.gz', 'it').toString(), 'abc');
    assert.throws(
      () => gunzipBounded(Buffer.from([0x1f, 0x8b, 1, 2]), 10, 'f.gz', 'it'),
      /damaged gzip/,
    );
  });

  it('checks declared sizes against the file and the budget', () => {
    assert.throws(
      () => checkDeclaredBytes('m.h5', 'dataset "k"', 1 << 30, { available: 8800 }),
      /dataset "k" declares 1 GB but the file holds only 8\.6 KB/,
    );
    assert.throws(() => checkDeclaredBytes('m', 'x', 2 ** 53), /impossible size/);
    assert.throws(
      () => checkDeclaredBytes('m', 'x', 4096, { budget: 1024 }),
      /needs 4 KB, more than the 1 KB/,
    );
    checkDeclaredBytes('m', 'x', 1024, { available: 1024, budget: 1024 });
  });

  it('keeps named paths inside the model folder, after following symlinks', async () => {
    const model = join(work, 'model');
    mkdirSync(model);
    writeFileSync(join(model, 'w.bin'), 'x');
    symlinkSync('/etc/passwd', join(model, 'passwd.bin'));
    symlinkSync(join(model, 'w.bin'), join(model, 'alias.bin'));
    assert.equal(await confinedPath('m.json', model, 'w.bin', 'shard'), join(model, 'w.bin'));
    assert.equal(confinedPathSync('m.json', model, 'alias.bin', 'shard'), join(model, 'w.bin'));
    await assert.rejects(
      confinedPath('m.json', model, '../x.bin', 'shard'),
      /leaves the model folder/,
    );
    await assert.rejects(
      confinedPath('m.json', model, '/etc/passwd', 'shard'),
      /leaves the model folder/,
    );
    await assert.rejects(
      confinedPath('m.json', model, 'passwd.bin', 'shard'),
      /shard "passwd\.bin" is a link to \/etc\/passwd, outside the model folder/,
    );
    assert.ok(inside('/a/b', '/a/b/c'));
    assert.ok(inside('/a/b', '/a/b/..c'));
    assert.ok(!inside('/a/b', '/a/bc'));
    assert.ok(!inside('/a/b', '/a'));
  });
});
