#!/usr/bin/env node
// Runs a command with TMPDIR (and TMP, TEMP) set to a new folder, and removes the folder when the
// command ends, whatever its exit status: the unit tests write runs, checkpoints and fixtures
// under os.tmpdir(), and a test that fails before its own clean-up would otherwise leave them in
// the system's temp folder (hundreds of folders per run).
//
//   node tools/with-temp-dir.mjs COMMAND [ARGS...]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('usage: node tools/with-temp-dir.mjs COMMAND [ARGS...]');
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), 'bnn-lab-tests-'));
const result = spawnSync(command, args, {
  stdio: 'inherit',
  env: { ...process.env, TMPDIR: dir, TMP: dir, TEMP: dir },
});
rmSync(dir, { recursive: true, force: true });
if (result.error) {
  console.error(`with-temp-dir: could not run ${command}: ${result.error.message}`);
  process.exit(1);
}
process.exit(result.status ?? 1);
