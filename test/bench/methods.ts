/**
 * Methods table (issue #3): trains the same architecture on the same data, budget and seed with
 * each seed method and prints one Markdown table (not a test: no thresholds).
 *
 *   npm run bench:methods -- [--preset fmnist-resnete] [--epochs 1] [--limit 0] [--test-limit 0]
 *     [--seed 1] [--batch-size 64] [--backend wasm] [--only ste,recu] [--dataset IDX_DIR]
 *
 * It trains on the embedded Fashion-MNIST copy; --dataset names a folder of Fashion-MNIST IDX
 * files instead (e.g. the official split from zalandoresearch).
 * Methods, all with the preset's optimizer and schedule:
 * - ste: sgn with the clipped STE of the preset (t_clip 1.25 for ResNetE) on inputs and kernels;
 * - approx: ApproxSign on the inputs (Bi-Real), kernels as ste;
 * - scaling: ste plus per-channel mean|W| output scaling (XNOR-Net);
 * - recu: ReCU (τ 0.85 → 0.99 over the run, identity STE on the clamped kernels, ApproxSign on
 *   normalized inputs, learnable scale);
 * - bonn: ste plus BONN's kernel and feature losses (λ 1e−6, θ 1e−3, ν 1, as the preset
 *   fmnist-resnete-bonn); bonn-paper-lambda: the same with the paper's best λ = 1e−4, which
 *   freezes every sign of this small net within an epoch (docs/methods.md).
 * Columns: test accuracy after the last epoch; over the binary layers of the last `step` record,
 * the parameter-weighted means of deadWeightRatio (τ = 0.99), frozenRatio and
 * quantizationError; the mean flipRate over all reports; wall time and process CPU time.
 */
import { mkdtempSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BackendPreference, LayerTelemetry, MetricsRecord } from '../../core/protocol';
import { resolveConfig } from '../../core/training/config';
import { runTraining } from '../../core/run/train';

const METHODS: Record<string, Record<string, unknown>> = {
  ste: {},
  approx: { inputQuantizer: { kind: 'approx_sign' } },
  scaling: { scaling: 'channel_mean' },
  recu: {
    recu: { tauStart: 0.85, tauEnd: 0.99 },
    kernelQuantizer: { kind: 'ste_sign', clip: null },
    inputQuantizer: { kind: 'approx_sign' },
    scaling: 'learnable',
  },
  bonn: { bonn: { lambda: 1e-6, theta: 1e-3, nu: 1 } },
  'bonn-paper-lambda': { bonn: { lambda: 1e-4, theta: 1e-3, nu: 1 } },
};
/** The methods the table asks for; `--only` adds others (bonn-paper-lambda). */
const DEFAULT_METHODS = ['ste', 'approx', 'scaling', 'recu', 'bonn'];

function parseArgs(argv: string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || i + 1 >= argv.length) {
      throw new Error(`expected --flag value pairs, got "${argv[i]}" (see the header comment)`);
    }
    flags.set(argv[i].slice(2), argv[i + 1]);
  }
  return flags;
}

function weighted(layers: LayerTelemetry[], pick: (l: LayerTelemetry) => number): number {
  const total = layers.reduce((n, l) => n + l.params, 0);
  return layers.reduce((s, l) => s + pick(l) * l.params, 0) / Math.max(1, total);
}

async function main(): Promise<void> {
  const flags = parseArgs(process.argv.slice(2));
  const datasetPath = flags.get('dataset');
  const preset = flags.get('preset') ?? 'fmnist-resnete';
  const number = (name: string, fallback: number) => Number(flags.get(name) ?? fallback);
  const only = flags.get('only')?.split(',') ?? DEFAULT_METHODS;
  const base: Record<string, unknown> = {
    preset,
    epochs: number('epochs', 1),
    limit: number('limit', 0),
    testLimit: number('test-limit', 0),
    seed: number('seed', 1),
    batchSize: number('batch-size', 64),
    telemetryEverySteps: 10,
  };
  if (datasetPath) base.dataset = { name: 'fashion-mnist', path: resolve(datasetPath) };
  const backend = (flags.get('backend') ?? 'wasm') as BackendPreference;
  const rows: string[][] = [];
  for (const method of only) {
    const overrides = METHODS[method];
    if (!overrides)
      throw new Error(`unknown method ${method} (known: ${Object.keys(METHODS).join(', ')})`);
    const config = resolveConfig({ ...base, ...overrides }, `methods bench (${method})`);
    const runDir = join(mkdtempSync(join(tmpdir(), `bnn-methods-${method}-`)), 'run');
    const steps: Extract<MetricsRecord, { event: 'step' }>[] = [];
    const started = Date.now();
    const cpu = process.cpuUsage();
    const result = await runTraining(
      { runId: method, config, runDir, backend },
      {
        onRecord: (r) => {
          if (r.event === 'step') steps.push(r);
        },
        log: (level, message) => {
          if (level !== 'info') console.error(`${method}: ${level}: ${message.split('\n')[0]}`);
        },
        isCancelled: () => false,
      },
    );
    const wallSeconds = (Date.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    const cpuSeconds = (used.user + used.system) / 1e6;
    const last = steps.at(-1)?.layers ?? [];
    const flipRates = steps.map(
      (s) => s.layers.reduce((a, l) => a + l.flipRate, 0) / Math.max(1, s.layers.length),
    );
    const row = [
      method,
      result.status === 'completed'
        ? `${(100 * (result.testAccuracy ?? 0)).toFixed(2)} %`
        : result.status,
      `${(100 * weighted(last, (l) => l.deadWeightRatio)).toFixed(2)} %`,
      `${(100 * weighted(last, (l) => l.frozenRatio)).toFixed(2)} %`,
      (flipRates.reduce((a, b) => a + b, 0) / Math.max(1, flipRates.length)).toExponential(2),
      weighted(last, (l) => l.quantizationError).toFixed(4),
      wallSeconds.toFixed(0),
      cpuSeconds.toFixed(0),
    ];
    rows.push(row);
    console.error(`${method}: ${row.join(' | ')} (run folder ${runDir})`);
  }
  const header = [
    'method',
    'test acc',
    'deadWeightRatio',
    'frozenRatio',
    'mean flipRate',
    'QE',
    'wall s',
    'CPU s',
  ];
  const load = loadavg().map((l) => l.toFixed(1));
  console.log(`command: node out/test/bench/methods.js ${process.argv.slice(2).join(' ')}`);
  console.log(
    `machine: ${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length}, load average at the end ${load.join(' ')}`,
  );
  console.log(`preset ${preset}, ${JSON.stringify(base)}, backend ${backend}\n`);
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

main().catch((e: unknown) => {
  console.error((e as Error).stack ?? String(e));
  process.exitCode = 1;
});
