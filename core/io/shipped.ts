/**
 * Where core finds the files that the build ships beside its bundles (esbuild.mjs: `dist/wasm/`,
 * `dist/data/`, `dist/dawn/`, `dist/h5wasm/`, `package.json` above `dist/`) and, in a development
 * checkout, their counterparts: the source tree (compiled tests run from `out/core/<folder>/`, the
 * bench) and installed npm packages. Every probe goes through here, so they all look in the same
 * places in the same order.
 *
 * In a bundle this module's folder is the bundle's (`dist/`); compiled, it is `out/core/io/`,
 * one folder below `out/core/` like every other core folder.
 */
import { dirname, join } from 'node:path';

const HERE = __dirname;

/** `dist/<parts>` beside the running bundle. */
export function besideBundle(...parts: string[]): string {
  return join(HERE, ...parts);
}

/**
 * A file built into `core/kernels/` (the C kernels' .wasm): beside the bundle (`dist/wasm/`),
 * then the compiled tree's and the source tree's `core/kernels/`.
 */
export function kernelFileCandidates(file: string): string[] {
  return [
    besideBundle('wasm', file),
    join(HERE, '..', 'kernels', file),
    join(HERE, '..', '..', '..', 'core', 'kernels', file),
  ];
}

/** `<parts>` inside installed npm package `name`, or undefined when it is not installed. */
export function inPackage(name: string, ...parts: string[]): string | undefined {
  try {
    return join(dirname(require.resolve(`${name}/package.json`)), ...parts);
  } catch {
    // Not installed as a package (the bundled extension): only the copy beside it counts.
    return undefined;
  }
}

/** `levels` folders above the bundle's, nearest first (a checkout's `dist/`, `package.json`). */
export function foldersAbove(levels: number): string[] {
  const out: string[] = [];
  for (let up = 1, dir = dirname(HERE); up <= levels; up++, dir = dirname(dir)) out.push(dir);
  return out;
}
