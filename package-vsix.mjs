// Packages a platform-specific VSIX carrying only that platform's GPU binary (Dawn's dawn.node
// from the `webgpu` npm package, with its DLLs on Windows), or the universal VSIX without one.
// Usage: node package-vsix.mjs <target|universal> [-o file.vsix]   (after `npm run build`)
// Targets: linux-x64 linux-arm64 darwin-x64 darwin-arm64 win32-x64 win32-arm64 universal.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
/** VS Code target → the `webgpu` package's folder (`dist/<folder>/dawn.node`). */
export const DAWN_FOLDERS = {
  'linux-x64': 'linux-x64',
  'linux-arm64': 'linux-arm64',
  'darwin-x64': 'darwin-universal',
  'darwin-arm64': 'darwin-universal',
  'win32-x64': 'win32-x64',
  'win32-arm64': 'win32-arm64',
};

const args = process.argv.slice(2);
const target = args[0];
if (!target || !(target === 'universal' || target in DAWN_FOLDERS)) {
  console.error(
    `usage: node package-vsix.mjs <${[...Object.keys(DAWN_FOLDERS), 'universal'].join('|')}> [-o file.vsix]`,
  );
  process.exit(2);
}
const o = args.indexOf('-o');
const out =
  o >= 0 ? args[o + 1] : target === 'universal' ? 'bnn-lab.vsix' : `bnn-lab-${target}.vsix`;
if (!existsSync('dist/worker.js')) {
  console.error('dist/worker.js is missing: run `npm run build` first');
  process.exit(1);
}

const staged = 'dist/dawn';
rmSync(staged, { recursive: true, force: true });
try {
  if (target !== 'universal') {
    const folder = DAWN_FOLDERS[target];
    const from = join(dirname(require.resolve('webgpu/package.json')), 'dist', folder);
    const to = join(staged, folder);
    mkdirSync(to, { recursive: true });
    for (const f of readdirSync(from)) copyFileSync(join(from, f), join(to, f));
  }
  // The VSIX's README embeds its images (tools/vsix-readme.mjs), as `npm run package` does.
  const readme = spawnSync(process.execPath, ['tools/vsix-readme.mjs', 'out/vsix/README.md'], {
    stdio: 'inherit',
  });
  if (readme.status !== 0) process.exit(readme.status ?? 1);
  const vsce = [
    'vsce',
    'package',
    '--no-dependencies',
    '--no-rewrite-relative-links',
    '--readme-path',
    'out/vsix/README.md',
    ...(target === 'universal' ? [] : ['--target', target]),
    '-o',
    out,
  ];
  const run = spawnSync('npx', vsce, { stdio: 'inherit', shell: process.platform === 'win32' });
  if (run.status !== 0) process.exit(run.status ?? 1);
} finally {
  // A later universal `vsce package` must not pick up this platform's binary.
  rmSync(staged, { recursive: true, force: true });
}
