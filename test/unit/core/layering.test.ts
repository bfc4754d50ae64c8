/**
 * The run code's folders import downward only (core/run → core/parallel → core/training), and the
 * replica thread's bundle (dist/replica.js) holds no run loop: read from the sources' imports.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const root = resolve(__dirname, '../../../..');
const core = join(root, 'core');

/** Relative imports of a source file, resolved to repository paths without extension. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)'/g)) {
    out.push(relative(root, resolve(dirname(file), m[1])).replace(/\.js$/, ''));
  }
  return out;
}

const sources = (folder: string) =>
  readdirSync(join(core, folder), { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(core, folder, f));

test('core/training imports neither core/parallel nor core/run; core/parallel not core/run', () => {
  const above: Record<string, string[]> = {
    training: ['core/parallel/', 'core/run/', 'core/cli/'],
    parallel: ['core/run/', 'core/cli/'],
  };
  for (const [folder, banned] of Object.entries(above)) {
    for (const file of sources(folder)) {
      for (const target of importsOf(file)) {
        assert.ok(
          !banned.some((b) => target.startsWith(b)),
          `${relative(root, file)} imports ${target}, a folder above it`,
        );
      }
    }
  }
});

test('the replica entry reaches no module of core/run', () => {
  const seen = new Set<string>();
  const queue = ['core/parallel/replica'];
  while (queue.length > 0) {
    const next = queue.pop()!;
    if (seen.has(next)) continue;
    seen.add(next);
    const file = [`${next}.ts`, join(next, 'index.ts')].map((f) => join(root, f)).find(existsSync);
    if (!file) continue;
    queue.push(...importsOf(file));
  }
  assert.ok(seen.has('core/training/stepSetup'), 'the walk follows the imports');
  const loop = [...seen].filter((m) => m.startsWith('core/run/') || m.endsWith('/trainer'));
  assert.deepEqual(loop, []);
});
