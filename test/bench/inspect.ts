/**
 * Benchmark of checkpoint inspection (not a test: it reports, it asserts nothing).
 *
 *   node esbuild.mjs && npx tsc -p test && node out/test/bench/inspect.js [--repeats N]
 *
 * Builds a ResNet-18-sized PyTorch checkpoint (`torchvision.models.resnet18()` state dict,
 * 11.7 M parameters, ~45 MB) with Debian's /usr/bin/python3 (python3-torch, python3-torchvision),
 * then in one run times:
 *   1. `node dist/cli.js inspect FILE --json` as a whole process (median of N, wall and CPU),
 *   2. the statistics alone in this process (weightStatsWithAlpha over every weight tensor,
 *      values already decoded; median of N, parameters per second),
 *   3. test/bench/inspect_stats.py: the same statistics with torch (load) + numpy (math), as a
 *      whole process and the statistics alone (its own median of N),
 * and prints a table with ratios and the targets of issue #5 (statistics ≥ 200 M params/s, whole
 * inspect ≤ 0.5 s, ≥ 3× faster than Python). The machine is shared, so CPU times are printed
 * next to wall times, with the load average.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openCheckpoint } from '../../core/checkpoints';
import { isWeightTensor } from '../../core/checkpoints/inspect';
import { weightStatsWithAlpha } from '../../core/metrics/layerStats';

const ROOT = path.resolve(__dirname, '../../..');
const PYTHON = '/usr/bin/python3';
const TIME = '/usr/bin/time';
const CLI = path.join(ROOT, 'dist', 'cli.js');
const WORK = path.join(ROOT, 'out', 'bench');
const CHECKPOINT = path.join(WORK, 'resnet18.pth');
const PY_STATS = path.join(ROOT, 'test', 'bench', 'inspect_stats.py');

const repeatsFlag = process.argv.indexOf('--repeats');
const REPEATS = repeatsFlag > 0 ? Math.max(1, Number(process.argv[repeatsFlag + 1]) || 5) : 5;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Runs a command; wall time measured here, CPU time (user + sys) by GNU time when present. */
function timeProcess(cmd: string, args: string[]): { wallMs: number; cpuMs: number | undefined } {
  const useTime = existsSync(TIME);
  const report = path.join(WORK, 'time.txt');
  const start = performance.now();
  const result = useTime
    ? spawnSync(TIME, ['-f', '%U %S', '-o', report, cmd, ...args], { stdio: 'ignore' })
    : spawnSync(cmd, args, { stdio: 'ignore' });
  const wallMs = performance.now() - start;
  if (result.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited with ${result.status ?? result.signal}`);
  }
  if (!useTime) return { wallMs, cpuMs: undefined };
  const [user, sys] = readFileSync(report, 'utf8').trim().split(/\s+/).map(Number);
  return { wallMs, cpuMs: (user + sys) * 1000 };
}

function buildCheckpoint(): boolean {
  const probe = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.log(
      `skipped: ${PYTHON} cannot import torch and torchvision (install python3-torch and python3-torchvision)\n${probe.stderr ?? ''}`,
    );
    return false;
  }
  mkdirSync(WORK, { recursive: true });
  if (!existsSync(CHECKPOINT)) {
    execFileSync(PYTHON, [
      '-c',
      [
        'import sys, torch, torchvision',
        'torch.manual_seed(0)',
        'torch.save(torchvision.models.resnet18().state_dict(), sys.argv[1])',
      ].join('\n'),
      CHECKPOINT,
    ]);
  }
  return true;
}

interface PythonResult {
  params: number;
  tensors: number;
  load: { wallMs: number; cpuMs: number };
  statsWallMs: number;
  statsCpuMs: number;
  torch: string;
  numpy: string;
}

/** Largest relative difference between BNN Lab's and numpy's metrics (a sanity check). */
function agreement(
  ours: Map<string, Record<string, unknown>>,
  theirs: Record<string, Record<string, unknown>>,
): number {
  let worst = 0;
  for (const [name, stats] of ours) {
    const ref = theirs[name];
    if (!ref) throw new Error(`numpy has no metrics for ${name}`);
    for (const key of [
      'mean',
      'std',
      'min',
      'max',
      'absMean',
      'quantizationError',
      'deadWeightRatio',
      'signBalance',
      'signEntropyBits',
    ]) {
      const a = stats[key] as number;
      const b = ref[key] as number;
      const scale = Math.max(Math.abs(a), Math.abs(b), 1e-12);
      worst = Math.max(worst, Math.abs(a - b) / scale);
    }
  }
  return worst;
}

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`node esbuild.mjs\` first`);
  if (!buildCheckpoint()) return;
  const bytes = statSync(CHECKPOINT).size;

  // 2. Statistics alone, in this process: decode once, then time the math only.
  const model = await openCheckpoint(CHECKPOINT);
  const tensors: {
    shape: number[];
    channelAxis: 'first' | 'last';
    values: Float32Array;
    name: string;
  }[] = [];
  try {
    for (const t of model.tensors) {
      if (isWeightTensor(t))
        tensors.push({
          name: t.name,
          shape: t.shape,
          channelAxis: t.channelAxis,
          values: await t.data(),
        });
    }
  } finally {
    await model.close();
  }
  const params = tensors.reduce((a, t) => a + t.values.length, 0);
  const ours = new Map<string, Record<string, unknown>>();
  const run = (): void => {
    for (const t of tensors) {
      const { stats } = weightStatsWithAlpha(t.values, {
        shape: t.shape,
        channelAxis: t.channelAxis,
      });
      ours.set(t.name, stats as unknown as Record<string, unknown>);
    }
  };
  run(); // warm-up: let the JIT compile the loops before timing
  const statsWall: number[] = [];
  const statsCpu: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    const w0 = performance.now();
    const c0 = cpuMs();
    run();
    statsCpu.push(cpuMs() - c0);
    statsWall.push(performance.now() - w0);
  }

  // 1. Whole inspect process.
  timeProcess(process.execPath, [CLI, 'inspect', CHECKPOINT, '--json']); // warm the page cache
  const inspect = Array.from({ length: REPEATS }, () =>
    timeProcess(process.execPath, [CLI, 'inspect', CHECKPOINT, '--json']),
  );

  // 3. Python: whole process (load + statistics once) and statistics alone (median inside).
  const pyJson = path.join(WORK, 'numpy-metrics.json');
  const pyOut = execFileSync(
    PYTHON,
    [PY_STATS, CHECKPOINT, '--repeats', String(REPEATS), '--json', pyJson],
    {
      encoding: 'utf8',
    },
  );
  const py = JSON.parse(pyOut.trim().split('\n').at(-1) ?? '{}') as PythonResult;
  const pyWhole = Array.from({ length: REPEATS }, () =>
    timeProcess(PYTHON, [PY_STATS, CHECKPOINT, '--repeats', '1']),
  );
  const worst = agreement(
    ours,
    JSON.parse(readFileSync(pyJson, 'utf8')) as Record<string, Record<string, unknown>>,
  );
  rmSync(pyJson, { force: true });

  const inspectWall = median(inspect.map((x) => x.wallMs));
  const inspectCpu = inspect.every((x) => x.cpuMs !== undefined)
    ? median(inspect.map((x) => x.cpuMs ?? 0))
    : undefined;
  const pyWholeWall = median(pyWhole.map((x) => x.wallMs));
  const pyWholeCpu = pyWhole.every((x) => x.cpuMs !== undefined)
    ? median(pyWhole.map((x) => x.cpuMs ?? 0))
    : undefined;
  const sWall = median(statsWall);
  const sCpu = median(statsCpu);
  const ms = (v: number | undefined): string => (v === undefined ? '—' : `${v.toFixed(0)} ms`);
  const rate = (t: number): string => `${(params / t / 1000).toFixed(0)} M params/s`;
  const ratio = (a: number | undefined, b: number | undefined): string =>
    a === undefined || b === undefined ? '—' : `${(b / a).toFixed(1)}×`;

  console.log(
    `checkpoint   ${path.relative(ROOT, CHECKPOINT)}: ${(bytes / 1e6).toFixed(1)} MB, ${tensors.length} weight tensors, ${(params / 1e6).toFixed(2)} M weight params (numpy saw ${py.tensors}, ${(py.params / 1e6).toFixed(2)} M)`,
  );
  console.log(
    `machine      ${os.cpus().length} cores, load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(
        ' ',
      )}; node ${process.version}, torch ${py.torch}, numpy ${py.numpy}; median of ${REPEATS}`,
  );
  console.log(
    `agreement    largest relative difference BNN Lab vs numpy: ${worst.toExponential(1)}`,
  );
  console.log('');
  const rows: string[][] = [
    ['', 'wall', 'CPU', 'Python wall', 'Python CPU', 'faster (wall)', 'faster (CPU)', 'target'],
    [
      'statistics alone',
      ms(sWall),
      ms(sCpu),
      ms(py.statsWallMs),
      ms(py.statsCpuMs),
      ratio(sWall, py.statsWallMs),
      ratio(sCpu, py.statsCpuMs),
      '≥ 3× Python',
    ],
    [
      '  rate',
      rate(sWall),
      rate(sCpu),
      rate(py.statsWallMs),
      rate(py.statsCpuMs),
      '',
      '',
      '≥ 200 M params/s',
    ],
    [
      'whole inspect --json',
      ms(inspectWall),
      ms(inspectCpu),
      ms(pyWholeWall),
      ms(pyWholeCpu),
      ratio(inspectWall, pyWholeWall),
      ratio(inspectCpu, pyWholeCpu),
      '≤ 500 ms, ≥ 3× Python',
    ],
    ['  Python torch.load', '', '', ms(py.load.wallMs), ms(py.load.cpuMs), '', '', ''],
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows)
    console.log(
      r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '),
    );
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exitCode = 1;
});
