/**
 * Backend selection: native TensorFlow with CUDA when installed, WebGPU on a hardware adapter,
 * native TensorFlow on the CPU, then wasm with BNN Lab's training kernels, then tfjs' pure-JS cpu
 * backend. Every skipped backend gets a reason.
 */
import * as tf from '../tf';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { UserError } from '../errors';
import {
  BACKEND_NAMES,
  type BackendInfo,
  type BackendName,
  type BackendPreference,
} from '../protocol';
import { installEarlyFreeGradients } from './earlyFreeGradients';
import { bnnKernelsRegistered, bnnKernelVariant } from './bnnKernels';
import { registerWasmTrainingKernels } from './wasmKernels';
import { describeAdapter, initWebGpu, resetWebGpuAfterFailure, webgpuAdapter } from './webgpu';
import { besideBundle, inPackage } from '../io/shipped';

type Log = (level: 'info' | 'warn' | 'error', message: string) => void;

const NATIVE_PACKAGES: Partial<Record<BackendName, string>> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
};

/**
 * tfjs prints a console banner suggesting tfjs-node the first time the cpu backend is used in
 * Node; the engine reports backend choices itself (log, status bar), so production mode is on.
 */
export function quietTfjs(): void {
  tf.env().set('PROD', true);
}

/** The cpu backend, quietly: for work that only needs tensors, such as counting weights. */
export async function useCpuBackend(): Promise<void> {
  quietTfjs();
  await tf.setBackend('cpu');
}

/** The folder holding tfjs' `.wasm` binaries: beside the bundle, or in node_modules. */
export function findWasmDir(): string {
  const installed = inPackage('@tensorflow/tfjs-backend-wasm', 'dist');
  const candidates = [besideBundle('wasm'), ...(installed ? [installed] : [])];
  const found = candidates.find((d) => existsSync(join(d, 'tfjs-backend-wasm-simd.wasm')));
  if (!found) {
    throw new UserError(
      `the tfjs wasm binaries are missing (looked in ${candidates.join(', ')}); reinstall BNN Lab`,
    );
  }
  return found;
}

let nativeModulePath: string | undefined;

/**
 * The folder native TensorFlow is loaded from (`bnnLab.engine.nativeModulePath`, or
 * `BNN_LAB_NATIVE_MODULE_PATH` for the CLI): an npm prefix whose `node_modules` holds
 * `@tensorflow/tfjs-node(-gpu)`, as the command "Install Native TensorFlow…" makes it.
 * Empty or undefined: the packages are looked up beside BNN Lab (a clone with them installed).
 */
export function setNativeModulePath(folder: string | undefined): void {
  nativeModulePath = folder ? folder : undefined;
}

function nativeFolder(): string | undefined {
  return nativeModulePath ?? (process.env.BNN_LAB_NATIVE_MODULE_PATH || undefined);
}

/**
 * Loads a native tfjs-node package behind a probe; it registers the `tensorflow` backend (in
 * tfjs' global engine, which every copy of tfjs-core in the process shares).
 */
function loadNative(pkg: string): void {
  const folder = nativeFolder();
  // A computed name keeps bundlers from following it: the package is optional and external.
  const load = folder
    ? createRequire(join(folder, 'package.json'))
    : (require as (id: string) => unknown);
  load(pkg);
}

function reasonOf(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  if (/Cannot find module/.test(message)) return 'not installed';
  return `failed to load: ${message.split('\n')[0]}`;
}

async function tryBackend(name: BackendName, explicit: boolean): Promise<string | undefined> {
  try {
    switch (name) {
      case 'tensorflow-gpu':
      case 'tensorflow': {
        const pkg = NATIVE_PACKAGES[name] as string;
        try {
          loadNative(pkg);
        } catch (e) {
          const reason = reasonOf(e);
          const where = nativeFolder();
          if (reason !== 'not installed')
            return `${pkg} ${reason}${where ? ` (from ${where})` : ''}`;
          return where
            ? `${pkg} is not installed in ${where} (bnnLab.engine.nativeModulePath); run "BNN Lab: Install Native TensorFlow…"`
            : `${pkg} is not installed (run "BNN Lab: Install Native TensorFlow…", or npm install ${pkg}@4.22.0 in a clone)`;
        }
        if (!(await tf.setBackend('tensorflow')))
          return `${pkg} loaded but its backend did not initialize`;
        return undefined;
      }
      case 'webgpu': {
        const result = await initWebGpu(explicit);
        return 'reason' in result ? result.reason : undefined;
      }
      case 'wasm': {
        setWasmPaths(findWasmDir() + '/');
        if (!(await tf.setBackend('wasm'))) return 'the wasm backend did not initialize';
        registerWasmTrainingKernels();
        return undefined;
      }
      case 'cpu':
        if (!(await tf.setBackend('cpu'))) return 'the cpu backend did not initialize';
        return undefined;
    }
  } catch (e) {
    return reasonOf(e);
  }
}

/** Which build of BNN Lab's C kernels the wasm backend runs, for the log. */
function describeCKernels(): string {
  if (!bnnKernelsRegistered()) return 'C kernels not loaded: tfjs ops';
  return `C kernels: ${bnnKernelVariant() ?? 'simd128'}`;
}

/**
 * Picks and initializes the backend for `preference` (`auto` tries them in order).
 * @throws UserError when an explicitly requested backend cannot be used.
 */
export async function initBackend(preference: BackendPreference, log: Log): Promise<BackendInfo> {
  quietTfjs();
  // Every backend trains with the backward pass that frees gradients and saved tensors early.
  if (!installEarlyFreeGradients()) {
    log('warn', "tfjs-core is not the pinned 4.22: training uses tfjs' own backward pass");
  }
  resetWebGpuAfterFailure();
  const skipped: BackendInfo['skipped'] = [];
  const order: BackendName[] = preference === 'auto' ? [...BACKEND_NAMES] : [preference];
  for (const name of order) {
    const failure = await tryBackend(name, preference !== 'auto');
    if (failure === undefined) {
      for (const other of BACKEND_NAMES) {
        if (other === name || skipped.some((s) => s.name === other)) continue;
        skipped.push({
          name: other,
          reason:
            preference === 'auto'
              ? `not tried: ${name} came first`
              : `not requested (bnnLab.engine.backend = ${preference})`,
        });
      }
      const info: BackendInfo = { name, tfBackend: tf.getBackend(), threads: 1, skipped };
      const adapter = name === 'webgpu' ? webgpuAdapter() : undefined;
      if (adapter) info.adapter = adapter;
      log(
        'info',
        `backend: ${name}${adapter ? ` on ${describeAdapter(adapter)}` : ''}${name === 'wasm' ? ` (${describeCKernels()})` : ''}${skipped.map((s) => `; ${s.name}: ${s.reason}`).join('')}`,
      );
      return info;
    }
    skipped.push({ name, reason: failure });
    log(preference === 'auto' ? 'info' : 'error', `backend ${name} skipped: ${failure}`);
  }
  throw new UserError(
    `backend "${preference}" cannot be used: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}. Set bnnLab.engine.backend to "auto".`,
  );
}
