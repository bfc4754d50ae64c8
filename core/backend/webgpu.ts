/**
 * The `webgpu` backend: tfjs' WebGPU backend (@tensorflow/tfjs-backend-webgpu) on Dawn, the
 * WebGPU implementation of Chromium, through the `webgpu` npm package's prebuilt `dawn.node`
 * (Vulkan on Linux, Metal on macOS, D3D12 on Windows; no CUDA). Runs in the engine's worker
 * thread: the `dawn.node` addon's `create()` becomes `navigator.gpu` and its `globals`
 * (`GPUBufferUsage`, `GPUMapMode`, …) the WebGPU globals tfjs' backend expects of a browser.
 *
 * Adapter policy: `auto` takes a hardware adapter only; a software one (Mesa's llvmpipe /
 * lavapipe, SwiftShader, Microsoft's Basic Render Driver) is used only when `webgpu` is asked for
 * explicitly, and `BackendInfo.adapter.software` says so.
 *
 * Failures on the device (lost device, a shader that does not compile, any other uncaptured
 * WebGPU error) are recorded as they arrive; the trainer asks {@link webgpuFailure} after every
 * step and ends the run with one message naming the backend and what to set instead.
 */
import { findBackend, getBackend, registerBackend, removeBackend, setBackend } from '../tf';
import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { existsSync } from 'node:fs';
import { fieldName } from '../errors';
import type { GpuAdapterInfo } from '../protocol';
import { registerWebGpuKernels } from './webgpuKernels';
import { besideBundle, inPackage } from '../io/shipped';

/** What the `webgpu` package's `dawn.node` exports. */
interface DawnModule {
  create(flags: string[]): DawnGpu;
  globals: Record<string, unknown>;
}
interface DawnGpu {
  requestAdapter(options?: {
    powerPreference?: 'high-performance' | 'low-power';
  }): Promise<DawnAdapter | null>;
}
interface DawnAdapter {
  info: {
    vendor: string;
    architecture: string;
    device: string;
    description: string;
    isFallbackAdapter?: boolean;
  };
  features: { has(name: string): boolean };
  limits: Record<string, number>;
  requestDevice(descriptor?: Record<string, unknown>): Promise<DawnDevice>;
}
interface DawnDevice {
  lost: Promise<{ reason: string; message: string }>;
  addEventListener?(type: 'uncapturederror', fn: (e: { error: { message: string } }) => void): void;
  onuncapturederror?: ((e: { error: { message: string } }) => void) | null;
  createShaderModule(descriptor: { code: string }): unknown;
  createComputePipeline(descriptor: Record<string, unknown>): unknown;
  destroy(): void;
}

/** The platform folder names of the `webgpu` package (`dist/<name>/dawn.node`). */
export function dawnPlatform(
  platform: string = process.platform,
  arch: string = process.arch,
): string {
  return platform === 'darwin' ? 'darwin-universal' : `${platform}-${arch}`;
}

/** The VS Code target (`vsce package --target`) whose VSIX carries this platform's dawn.node. */
export function vsixTarget(platform: string = process.platform, arch: string = process.arch) {
  return `${platform}-${arch}`;
}

/**
 * Where `dawn.node` may be, first match wins: `BNN_LAB_DAWN_PATH` (a file, for tests and
 * unusual installs), `dawn/<platform>/dawn.node` beside the bundle (platform VSIXes), and the
 * `webgpu` package in node_modules (development, the CLI from a clone).
 */
export function dawnCandidates(): string[] {
  const fromEnv = process.env.BNN_LAB_DAWN_PATH;
  if (fromEnv) return [fromEnv];
  const installed = inPackage('webgpu', 'dist', dawnPlatform(), 'dawn.node');
  return [besideBundle('dawn', dawnPlatform(), 'dawn.node'), ...(installed ? [installed] : [])];
}

/** Software rasterizers that expose a WebGPU adapter: correct, but slower than the wasm path. */
export function isSoftwareAdapter(info: {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}): boolean {
  if (info.isFallbackAdapter) return true;
  if (/^(software|cpu)$/i.test(info.architecture ?? '')) return true;
  const text = `${info.vendor ?? ''} ${info.device ?? ''} ${info.description ?? ''}`;
  return /llvmpipe|lavapipe|softpipe|swiftshader|basic render driver|microsoft basic/i.test(text);
}

/** `mesa software llvmpipe (llvmpipe: Mesa 25.0.7 …)`. */
export function describeAdapter(a: GpuAdapterInfo): string {
  const head = [a.vendor, a.architecture, a.device].filter((s) => s).join(' ') || 'unknown adapter';
  return `${head}${a.description ? ` (${a.description})` : ''}${a.software ? ', software adapter' : ''}`;
}

interface GpuState {
  device: DawnDevice;
  adapter: GpuAdapterInfo;
  failure: string | undefined;
}
let state: GpuState | undefined;
/** A software adapter `auto` turned down: later `auto` runs reuse the verdict. */
let refusedSoftware: GpuAdapterInfo | undefined;
const loaded = new Map<string, DawnModule>();

function loadDawn(): DawnModule | string {
  const candidates = dawnCandidates();
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    return (
      `no GPU binary (dawn.node) for ${dawnPlatform()} is installed: this is the universal BNN Lab VSIX, ` +
      `which carries none; install the ${vsixTarget()} VSIX (bnn-lab-${vsixTarget()}.vsix) to train on the GPU`
    );
  }
  let dawn = loaded.get(found);
  if (!dawn) {
    const load = require as (id: string) => DawnModule;
    dawn = load(found);
    loaded.set(found, dawn);
  }
  return dawn;
}

function installGlobals(d: DawnModule, gpu: DawnGpu): void {
  const g = globalThis as Record<string, unknown>;
  for (const [name, value] of Object.entries(d.globals)) {
    if (g[name] === undefined) g[name] = value;
  }
  // Node ≥ 21 has a `navigator` without `gpu`; Node 20 has none.
  const nav = (g.navigator ?? {}) as Record<string, unknown>;
  try {
    Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true, writable: true });
  } catch {
    // A frozen navigator: tfjs' backend is constructed directly below and does not need it.
  }
  if (g.navigator === undefined) {
    Object.defineProperty(g, 'navigator', { value: nav, configurable: true, writable: true });
  }
}

/**
 * Registers tfjs' `webgpu` backend on a Dawn adapter and makes it current.
 * @param allowSoftware whether a software adapter may be used (explicit `webgpu`).
 * @returns the adapter, or the reason the backend cannot be used.
 */
export async function initWebGpu(
  allowSoftware: boolean,
): Promise<{ adapter: GpuAdapterInfo } | { reason: string }> {
  if (state && state.failure === undefined && findBackend('webgpu')) {
    if (!allowSoftware && state.adapter.software) {
      return { reason: softwareReason(state.adapter) };
    }
    if (!(await setBackend('webgpu'))) return { reason: 'the webgpu backend did not initialize' };
    return { adapter: state.adapter };
  }
  if (!allowSoftware && refusedSoftware && !process.env.BNN_LAB_DAWN_PATH) {
    return { reason: softwareReason(refusedSoftware) };
  }
  const dawn = loadDawn();
  if (typeof dawn === 'string') return { reason: dawn };
  const gpu = dawn.create([]);
  installGlobals(dawn, gpu);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    return {
      reason:
        'no WebGPU adapter: Dawn found no GPU with a usable Vulkan, Metal or D3D12 driver (on Linux, install your GPU vendor’s Vulkan driver, or Mesa ≥ 24 for a software adapter)',
    };
  }
  const i = adapter.info;
  const info: GpuAdapterInfo = {
    vendor: i.vendor ?? '',
    architecture: i.architecture ?? '',
    device: i.device ?? '',
    description: i.description ?? '',
    software: false,
  };
  info.software = isSoftwareAdapter({ ...info, isFallbackAdapter: i.isFallbackAdapter });
  if (!allowSoftware && info.software) {
    refusedSoftware = info;
    return { reason: softwareReason(info) };
  }
  // The limits and features tfjs' own registration asks for (tfjs-backend-webgpu/src/base.ts).
  const features: string[] = [];
  if (adapter.features.has('timestamp-query')) features.push('timestamp-query');
  const limits = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: features,
    requiredLimits: {
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
    },
  });
  const current: GpuState = { device, adapter: info, failure: undefined };
  state = current;
  void device.lost.then((lost) => {
    // `destroyed` is also what a normal dispose gives; only a loss while in use is a failure.
    current.failure ??= `the GPU device was lost (${lost.reason}: ${lost.message || 'no message'})`;
  });
  const onError = (e: { error: { message: string } }) => {
    current.failure ??= `a WebGPU error: ${firstLine(e.error.message)}`;
  };
  if (typeof device.addEventListener === 'function') {
    device.addEventListener('uncapturederror', onError);
  } else {
    device.onuncapturederror = onError;
  }
  if (findBackend('webgpu')) {
    if (getBackend() === 'webgpu') {
      await setBackend('cpu');
    }
    removeBackend('webgpu');
  }
  registerBackend('webgpu', () => new WebGPUBackend(device as never, adapter.info as never));
  registerWebGpuKernels();
  if (!(await setBackend('webgpu'))) return { reason: 'the webgpu backend did not initialize' };
  return { adapter: info };
}

function softwareReason(a: GpuAdapterInfo): string {
  return `only a software adapter (${describeAdapter({ ...a, software: false })}), slower than wasm; set ${fieldName('backend')} to "webgpu" to use it anyway`;
}

function firstLine(s: string): string {
  return s.split('\n').find((l) => l.trim() !== '') ?? s;
}

/** The adapter in use, when the webgpu backend is initialized. */
export function webgpuAdapter(): GpuAdapterInfo | undefined {
  return state?.adapter;
}

/**
 * What went wrong on the GPU device since it was created (lost device, shader compile failure,
 * other uncaptured error), as a message for the user; undefined while it is healthy.
 */
export function webgpuFailure(): string | undefined {
  if (!state?.failure) return undefined;
  return `webgpu backend failed: ${state.failure}. Set ${fieldName('backend')} to "wasm" and run again, or resume from the last checkpoint; the checkpoints of finished epochs are kept`;
}

/**
 * {@link webgpuFailure} after an error was thrown: a lost device makes the next read-back reject
 * (with an empty message) before Dawn has delivered `device.lost`, so give it a moment.
 */
export async function webgpuFailureAfterError(): Promise<string | undefined> {
  if (state && state.failure === undefined) await new Promise((r) => setTimeout(r, 100));
  return webgpuFailure();
}

/**
 * Test hook, `BNN_LAB_WEBGPU_FAULT=lost@N` or `shader@N`: after optimizer step N, destroys the
 * device or compiles a broken shader, so tests can check that such a run fails cleanly.
 */
export async function injectWebGpuFault(step: number): Promise<void> {
  const m = /^(lost|shader)@(\d+)$/.exec(process.env.BNN_LAB_WEBGPU_FAULT ?? '');
  if (!m || Number(m[2]) !== step || !state) return;
  if (m[1] === 'lost') {
    // As a driver reset would: the loss reaches the trainer through the next failing GPU call.
    state.device.destroy();
  } else {
    const module = state.device.createShaderModule({ code: 'fn main( { this is not WGSL' });
    state.device.createComputePipeline({
      layout: 'auto',
      compute: { module, entryPoint: 'main' },
    });
    // Dawn reports the error on its event loop: give it a turn.
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Forgets a failed device, so the next run creates a fresh one. */
export function resetWebGpuAfterFailure(): void {
  if (state?.failure !== undefined) state = undefined;
}
