/**
 * Every `bnnLab.*` setting is read and written in one module, extension/settings.ts: no other
 * file of extension/ calls `getConfiguration` (a new read goes there, with its validation).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';

// node:test schedules suites and tests itself; their returned promises are voided on purpose.

const ROOT = join(__dirname, '../../../..');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory()
      ? tsFiles(join(dir, d.name))
      : d.name.endsWith('.ts')
        ? [join(dir, d.name)]
        : [],
  );
}

/** `relative path:line` of each `getConfiguration` call in the files of extension/. */
function configurationCalls(): string[] {
  return tsFiles(join(ROOT, 'extension')).flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .flatMap((line, i) =>
        /\bgetConfiguration\s*\(/.test(line) ? [`${relative(ROOT, file)}:${i + 1}`] : [],
      ),
  );
}

void describe('settings are read in one module', () => {
  void it('only extension/settings.ts calls getConfiguration', () => {
    const calls = configurationCalls();
    const elsewhere = calls.filter((c) => !c.startsWith('extension/settings.ts:'));
    assert.deepEqual(elsewhere, [], `read these settings through extension/settings.ts`);
    // The scan sees the module's own call, so a renamed or moved folder cannot make it pass.
    assert.ok(calls.length > 0, 'no getConfiguration call found under extension/');
  });
});
