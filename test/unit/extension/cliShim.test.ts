import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { shimScript, writeCliShim } from '../../../extension/terminal/cliShim';

let root: string;
before(async () => {
  root = await mkdtemp(path.join(tmpdir(), "bnn-lab shim's test-"));
});
after(() => rm(root, { recursive: true, force: true }));

void describe(
  'the bnn-lab launcher for the integrated terminal',
  { skip: process.platform === 'win32' },
  () => {
    void it('runs the CLI with this Node, ELECTRON_RUN_AS_NODE=1 and the arguments as typed', async () => {
      // A stand-in for dist/cli.js that reports what it was started with; the path has a space
      // and a quote, as a user's home folder may.
      const cli = path.join(root, "ext dir's", 'cli.js');
      await mkdir(path.dirname(cli), { recursive: true });
      await writeFile(
        cli,
        'process.stdout.write(JSON.stringify({ args: process.argv.slice(2), electron: process.env.ELECTRON_RUN_AS_NODE, node: process.execPath }));',
      );
      const shim = await writeCliShim(path.join(root, 'bin'), process.execPath, cli, '9.8.7');
      assert.equal(path.basename(shim), 'bnn-lab');
      assert.ok(((await stat(shim)).mode & 0o111) !== 0, 'the launcher is executable');
      const args = ['train', '--out', 'a folder', "it's", '$HOME', '*'];
      const run = spawnSync(shim, args, { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual(JSON.parse(run.stdout), {
        args,
        electron: '1',
        node: process.execPath,
      });
    });

    void it('rewrites the launcher only when it changes (a new version or location)', async () => {
      const dir = path.join(root, 'bin2');
      const shim = await writeCliShim(dir, process.execPath, '/old/dist/cli.js', '1.0.0');
      const first = await stat(shim);
      await writeCliShim(dir, process.execPath, '/old/dist/cli.js', '1.0.0');
      assert.equal((await stat(shim)).mtimeMs, first.mtimeMs, 'same text: left alone');
      await writeCliShim(dir, process.execPath, '/new/dist/cli.js', '1.1.0');
      assert.match(await readFile(shim, 'utf8'), /\/new\/dist\/cli\.js/);
    });

    void it('names the missing CLI and what to do when the extension moved', async () => {
      const shim = await writeCliShim(
        path.join(root, 'bin3'),
        process.execPath,
        path.join(root, 'gone', 'cli.js'),
        '1.0.0',
      );
      const run = spawnSync(shim, ['--version'], { encoding: 'utf8' });
      assert.equal(run.status, 127);
      assert.equal(run.stdout, '');
      assert.match(run.stderr, /^bnn-lab: BNN Lab's command line is gone \(.*gone\/cli\.js\)/);
      assert.match(run.stderr, /Run any BNN Lab command in VS Code/);
    });
  },
);

void it('the Windows launcher is a .cmd that passes every argument through', () => {
  const { file, text } = shimScript(
    'win32',
    'C:\\VS Code\\Code.exe',
    'C:\\ext\\dist\\cli.js',
    '1.0.0',
  );
  assert.equal(file, 'bnn-lab.cmd');
  assert.match(text, /^@echo off\r\n/);
  assert.match(
    text,
    /\r\nset ELECTRON_RUN_AS_NODE=1\r\n"C:\\VS Code\\Code\.exe" "C:\\ext\\dist\\cli\.js" %\*\r\n$/,
  );
});
