/**
 * Installs native TensorFlow (`@tensorflow/tfjs-node` or `-gpu`, pinned to BNN Lab's tfjs
 * version) with the user's npm into a folder the engine loads it from
 * (`bnnLab.engine.nativeModulePath`). Free of the vscode API so plain-Node tests run it with a
 * fake npm.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

/** tfjs version the bundle is built with; the native package must match it. */
export const TFJS_VERSION = '4.22.0';

export const NATIVE_CHOICES = [
  {
    pkg: '@tensorflow/tfjs-node',
    backend: 'tensorflow',
    label: 'TensorFlow on the CPU',
    detail: '@tensorflow/tfjs-node: libtensorflow for Linux, macOS or Windows (about 100 MB).',
  },
  {
    pkg: '@tensorflow/tfjs-node-gpu',
    backend: 'tensorflow-gpu',
    label: 'TensorFlow with CUDA (NVIDIA, Linux/Windows)',
    detail:
      '@tensorflow/tfjs-node-gpu: needs CUDA 11.2 and cuDNN 8.1 installed; GPUs newer than CUDA 11.2 supports (Hopper, Ada, Blackwell) do not work. For those, use the webgpu backend.',
  },
] as const;
export type NativePackage = (typeof NATIVE_CHOICES)[number]['pkg'];

export interface NpmInstallOptions {
  /** The npm executable (`npm`, or `npm.cmd` on Windows; a path in tests). */
  npm: string;
  /** Install folder (an npm prefix); created with a package.json of its own. */
  prefix: string;
  pkg: NativePackage;
  /** Every line npm prints, as it prints it. */
  onOutput(line: string): void;
  signal?: AbortSignal;
}

export type NpmInstallResult = { ok: true } | { ok: false; message: string };

/** The npm command line (after the executable). */
export function npmInstallArgs(pkg: NativePackage, prefix: string): string[] {
  return [
    'install',
    '--prefix',
    prefix,
    '--save-exact',
    '--no-audit',
    '--no-fund',
    '--omit=dev',
    `${pkg}@${TFJS_VERSION}`,
  ];
}

/** One clear sentence for a failed `npm install`, from its output and exit code. */
export function explainNpmFailure(pkg: string, output: string, code: number | null): string {
  if (
    /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|network|getaddrinfo/i.test(
      output,
    )
  ) {
    return `npm could not reach the network to install ${pkg}@${TFJS_VERSION} (it downloads the package and, in its install script, libtensorflow from storage.googleapis.com). Connect to the network (or set npm's proxy) and run "BNN Lab: Install Native TensorFlow…" again; see the BNN Lab log for npm's output.`;
  }
  if (/EACCES|EPERM/.test(output)) {
    return `npm was not allowed to write the install folder for ${pkg}; see the BNN Lab log for npm's output.`;
  }
  return `npm install ${pkg}@${TFJS_VERSION} failed (exit code ${code ?? 'none'}); see the BNN Lab log for npm's output. The wasm and webgpu backends work without it.`;
}

/** Runs `npm install` into `prefix`; never rejects. */
export function installNative(options: NpmInstallOptions): Promise<NpmInstallResult> {
  const { npm, prefix, pkg, onOutput } = options;
  mkdirSync(prefix, { recursive: true });
  const manifest = join(prefix, 'package.json');
  if (!existsSync(manifest)) {
    writeFileSync(
      manifest,
      JSON.stringify(
        { name: 'bnn-lab-native', private: true, description: 'Native TensorFlow for BNN Lab' },
        null,
        2,
      ) + '\n',
    );
  }
  return new Promise((resolve) => {
    let output = '';
    const lines = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output += text;
      for (const line of text.split(/\r?\n/)) if (line.trim()) onOutput(line);
    };
    let child;
    try {
      child = spawn(npm, npmInstallArgs(pkg, prefix), {
        cwd: prefix,
        shell: process.platform === 'win32',
        signal: options.signal,
        env: process.env,
      });
    } catch (e) {
      resolve({ ok: false, message: npmMissing(npm, e) });
      return;
    }
    child.stdout?.on('data', lines);
    child.stderr?.on('data', lines);
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.name === 'AbortError') resolve({ ok: false, message: 'cancelled' });
      else if (e.code === 'ENOENT') resolve({ ok: false, message: npmMissing(npm, e) });
      else resolve({ ok: false, message: `could not run ${npm}: ${e.message}` });
    });
    child.on('close', (code) => {
      if (code === 0 && existsSync(join(prefix, 'node_modules', ...pkg.split('/')))) {
        resolve({ ok: true });
      } else if (code === 0) {
        resolve({ ok: false, message: `npm finished but ${pkg} is not in ${prefix}/node_modules` });
      } else {
        resolve({ ok: false, message: explainNpmFailure(pkg, output, code) });
      }
    });
  });
}

function npmMissing(npm: string, e: unknown): string {
  const detail = e instanceof Error ? ` (${e.message})` : '';
  return `npm was not found ("${npm}"${detail}): install Node.js from https://nodejs.org (it brings npm), make sure npm is on the PATH VS Code sees, and run "BNN Lab: Install Native TensorFlow…" again.`;
}
