/**
 * GPU training-step benchmark (not a test: no thresholds). The script a machine with a GPU runs:
 *
 *   npm run bench:gpu -- [--models mnist-cnn,mnist-resnete] [--steps 20] [--warmup 10] [--json]
 *
 * For each preset, batch 64, Adam, softmax cross-entropy on one fixed random batch (the step of
 * `bench:train`), it prints the median step time after warm-up of:
 *
 * - webgpu (Dawn through the `webgpu` package; Vulkan, Metal or D3D12), naming the adapter; on a
 *   software adapter (llvmpipe) the row is a 3-step correctness run, marked so;
 * - native TensorFlow with CUDA and on the CPU (`@tensorflow/tfjs-node-gpu` / `-node`), where
 *   they load: from BNN_LAB_NATIVE_MODULE_PATH (the folder "BNN Lab: Install Native
 *   TensorFlow…" installs into) or node_modules;
 * - BNN Lab's wasm path (one thread, C kernels);
 * - PyTorch on CUDA (test/bench/train_torch.py --device cuda under /usr/bin/python3, or
 *   $BNN_LAB_PYTHON), where `torch.cuda.is_available()`; the reference exists for mnist-cnn and
 *   mnist-resnete.
 *
 * Every engine runs in its own child process. The first-step loss column is the same on every
 * backend (same model, seed and batch) up to float rounding: a check that the rows compare the
 * same work.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { BackendName } from '../../core/protocol';
import { timeBackend, type BackendTiming } from './backendSteps';

const BATCH = 64;
const LEARNING_RATE = 0.002;
const PYTHON = process.env.BNN_LAB_PYTHON || '/usr/bin/python3';
const TORCH_MODELS = ['mnist-cnn', 'mnist-resnete'];
const ENGINES: BackendName[] = ['webgpu', 'tensorflow-gpu', 'tensorflow', 'wasm'];

interface Options {
  models: string[];
  steps: number;
  warmup: number;
  json: boolean;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { models: TORCH_MODELS, steps: 20, warmup: 10, json: false };
  for (let i = 0; i < argv.length; i++) {
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${argv[i - 1]} needs a value`);
      return v;
    };
    switch (argv[i]) {
      case '--models':
        options.models = value().split(',').filter(Boolean);
        break;
      case '--steps':
        options.steps = Math.max(1, Number(value()));
        break;
      case '--warmup':
        options.warmup = Math.max(1, Number(value()));
        break;
      case '--json':
        options.json = true;
        break;
      default:
        throw new Error(`unknown option ${argv[i]}`);
    }
  }
  return options;
}

function child(engine: BackendName, model: string, options: Options): BackendTiming {
  const result = spawnSync(
    process.execPath,
    [
      __filename,
      '--child',
      engine,
      model,
      '--steps',
      String(options.steps),
      '--warmup',
      String(options.warmup),
    ],
    { encoding: 'utf8', maxBuffer: 16 << 20 },
  );
  const line = result.stdout.split('\n').find((l) => l.startsWith('{'));
  if (result.status !== 0 || !line) {
    const error = result.stderr.trim().split('\n').slice(-1)[0] ?? `exit ${result.status}`;
    return {
      model,
      backend: engine,
      detail: '',
      software: false,
      steps: 0,
      warmup: 0,
      medianMs: NaN,
      firstLoss: NaN,
      skipped: `child failed: ${error}`,
    };
  }
  return JSON.parse(line) as BackendTiming;
}

function torchCuda(model: string, options: Options): Record<string, string | number> {
  const base = { engine: 'pytorch cuda', model };
  let probe: string;
  try {
    probe = execFileSync(
      PYTHON,
      ['-c', 'import torch; print(torch.__version__, torch.cuda.is_available())'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    ).trim();
  } catch {
    return { ...base, skipped: `${PYTHON} cannot import torch` };
  }
  if (!probe.endsWith('True')) {
    return { ...base, skipped: `torch ${probe.split(' ')[0]}: torch.cuda.is_available() is False` };
  }
  if (!TORCH_MODELS.includes(model)) {
    return { ...base, skipped: `no PyTorch reference for ${model}` };
  }
  const script = path.join(__dirname, '..', '..', '..', 'test', 'bench', 'train_torch.py');
  const out = execFileSync(
    PYTHON,
    [
      script,
      '--model',
      model,
      '--device',
      'cuda',
      '--batch',
      String(BATCH),
      '--steps',
      String(options.steps),
      '--warmup',
      String(options.warmup),
      '--lr',
      String(LEARNING_RATE),
    ],
    { encoding: 'utf8' },
  );
  const r = JSON.parse(out.trim().split('\n').pop() as string) as {
    median_ms: number;
    version: string;
  };
  return { ...base, detail: `torch ${r.version}`, medianMs: r.median_ms };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    const [, engine, model, ...rest] = argv;
    const options = parseOptions(rest);
    const timing = await timeBackend(
      engine as BackendName,
      model,
      BATCH,
      LEARNING_RATE,
      options.steps,
      options.warmup,
    );
    process.stdout.write(`${JSON.stringify(timing)}\n`);
    return;
  }
  const options = parseOptions(argv);
  const rows: Record<string, unknown>[] = [];
  for (const model of options.models) {
    for (const engine of ENGINES) {
      if (!options.json) process.stderr.write(`${model}: ${engine}\n`);
      rows.push({ engine, ...child(engine, model, options) });
    }
    if (!options.json) process.stderr.write(`${model}: pytorch cuda\n`);
    rows.push(torchCuda(model, options));
  }
  if (options.json) {
    console.log(JSON.stringify({ machine: os.cpus()[0]?.model, batch: BATCH, rows }, null, 2));
    return;
  }
  console.log(
    `batch ${BATCH}, Adam, median of ${options.steps} steps after ${options.warmup} warm-up; ` +
      `${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'})`,
  );
  for (const model of options.models) {
    console.log(`\n${model}`);
    const table = [['engine', 'step ms', 'x wasm', 'first-step loss', 'detail']];
    const mine = rows.filter((r) => r.model === model);
    const wasm = mine.find((r) => r.engine === 'wasm' && !r.skipped)?.medianMs as
      number | undefined;
    for (const r of mine) {
      const ms = r.medianMs as number | undefined;
      if (r.skipped) {
        table.push([String(r.engine), '-', '-', '-', `skipped: ${String(r.skipped)}`]);
        continue;
      }
      const detail = `${String(r.detail ?? '')}${r.software ? ' — SOFTWARE adapter: a correctness run, not a speed figure' : ''}`;
      table.push([
        String(r.engine),
        ms === undefined || !Number.isFinite(ms) ? '-' : ms.toFixed(1),
        ms && wasm ? `${(ms / wasm).toFixed(2)}x` : '-',
        typeof r.firstLoss === 'number' ? r.firstLoss.toFixed(6) : '-',
        detail,
      ]);
    }
    const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
    for (const row of table) console.log(row.map((cell, c) => cell.padEnd(widths[c])).join('  '));
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
