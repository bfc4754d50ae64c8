/**
 * Hostile and broken inputs (issue 17, problems 1–4): files that never end (symlinks to
 * /dev/zero, FIFOs, a sparse 1.9 GB model.json), bombs (never-written and gzip-bomb HDF5
 * datasets, a deflate-bomb config.json, gzip-bomb IDX files), HDF5 reaching for other host files
 * (external storage, external links), symlinks out of a model folder, and CPU amplification
 * (shared PyTorch storages, overlapping safetensors ranges, 100,000-entry pickles).
 *
 * The corpus is generated into a temporary folder at test time: in TypeScript where it can be,
 * and by test/fixtures/hostile/make_hostile.py (/usr/bin/python3; h5py for the HDF5 files) for
 * the rest. Each case runs in a fresh process (hostileCase.ts) and must end with ONE clear
 * UserError naming the file (no stack trace, nothing on stderr), with the process's peak
 * resident memory under MEMORY_BUDGET_MB, and the process must exit by itself. A case that does
 * not finish within HANG_GUARD_MS is reported as a hang: that bound only catches hangs (the cases
 * take about a second), it is not a speed check.
 *
 * The "hostile runs" block does the same for problems 6–9 (temporary checkpoint folders, batch
 * sizes the wasm kernels cannot address, a hanging replica, resume inputs).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { inspectCheckpoint } from '../../../core/checkpoints';
import { resolveConfig } from '../../../core/training/config';
import { runTraining } from '../../../core/run/train';
import type { CaseResult } from './hostileCase';
import { fixture } from './helpers';

/** Peak resident memory a case may reach (the whole process: heap, Buffers, wasm). */
const MEMORY_BUDGET_MB = 512;
/** A case still running after this is a hang (they take about a second). */
const HANG_GUARD_MS = 120_000;

const ROOT = resolve(__dirname, '..', '..', '..', '..');
const CASE_SCRIPT = join(__dirname, 'hostileCase.js');
const ANALYSIS_WORKER = join(ROOT, 'dist', 'analysisWorker.js');
const CLI = join(ROOT, 'dist', 'cli.js');
const PYTHON = '/usr/bin/python3';
const GENERATOR = join(ROOT, 'test', 'fixtures', 'hostile', 'make_hostile.py');

const work = mkdtempSync(join(tmpdir(), 'bnn-lab-hostile-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Files the Python generator wrote, and why it skipped the others. */
let generated: { written: string[]; skipped: Record<string, string> } = {
  written: [],
  skipped: {},
};
let pythonProblem: string | undefined;

function at(...parts: string[]): string {
  return join(work, ...parts);
}

function mkfifo(path: string): void {
  execFileSync('mkfifo', [path]);
}

before(() => {
  if (!existsSync(PYTHON)) {
    pythonProblem = `${PYTHON} is missing`;
    return;
  }
  mkdirSync(at('py'));
  try {
    const out = execFileSync(PYTHON, [GENERATOR, at('py'), fixture('keras3.keras')], {
      encoding: 'utf8',
    });
    generated = JSON.parse(out.trim().split('\n').pop()!);
  } catch (error) {
    pythonProblem = `make_hostile.py failed: ${(error as Error).message}`;
  }
});

/** Runs one case in a fresh process and returns what it printed. */
function runCase(kind: string, target: string, extra?: string): CaseResult {
  const child = spawnSync(
    process.execPath,
    [CASE_SCRIPT, kind, target, ...(extra ? [extra] : [])],
    { encoding: 'utf8', timeout: HANG_GUARD_MS, maxBuffer: 16 * 1024 * 1024 },
  );
  const lines = (child.stdout ?? '').trim().split('\n');
  const last = lines[lines.length - 1];
  if (child.signal || child.error) {
    assert.fail(
      last?.startsWith('{')
        ? `${kind} ${target}: answered but the process did not exit by itself (${last})`
        : `${kind} ${target}: no answer within ${HANG_GUARD_MS / 1000} s (a hang)`,
    );
  }
  assert.equal(child.status, 0, `${kind} ${target} exited with ${child.status}: ${child.stderr}`);
  assert.equal(child.stderr, '', `${kind} ${target} wrote to stderr:\n${child.stderr}`);
  return JSON.parse(last) as CaseResult;
}

/**
 * Asserts one clear refusal: a UserError whose one-line message names `names` and matches
 * `pattern`, without a stack trace, within the memory budget.
 */
function assertRefused(
  t: { diagnostic(message: string): void },
  result: CaseResult,
  names: string,
  pattern: RegExp,
): void {
  t.diagnostic(`${result.ms} ms, peak RSS ${result.maxRssMb} MB: ${result.message}`);
  assert.equal(result.ok, false, `${names}: expected a refusal, but it was read`);
  assert.ok(result.userError, `not a UserError: ${result.errorName}: ${result.stack}`);
  assert.ok(result.message!.includes(names), `message does not name ${names}: ${result.message}`);
  assert.match(result.message!, pattern);
  assert.doesNotMatch(result.message!, /\n\s+at /, 'a stack trace in the message');
  assert.ok(!result.message!.includes('\n'), `more than one line: ${result.message}`);
  assert.ok(
    result.maxRssMb < MEMORY_BUDGET_MB,
    `peak RSS ${result.maxRssMb} MB is over the ${MEMORY_BUDGET_MB} MB budget`,
  );
}

/** A TF.js folder: the fixture's model.json, its shard replaced by `shard` when given. */
function tfjsFolder(name: string, shard?: (path: string) => void): string {
  const folder = at(name);
  mkdirSync(folder);
  copyFileSync(fixture('tfjs', 'model.json'), join(folder, 'model.json'));
  const shardPath = join(folder, 'group1-shard1of1.bin');
  if (shard) shard(shardPath);
  else copyFileSync(fixture('tfjs', 'group1-shard1of1.bin'), shardPath);
  return join(folder, 'model.json');
}

/** The handmade ONNX model with its external data file replaced. */
function onnxFolder(name: string, data: (path: string) => void): string {
  const folder = at(name);
  mkdirSync(folder);
  copyFileSync(fixture('handmade.onnx'), join(folder, 'handmade.onnx'));
  data(join(folder, 'weights.onnx.data'));
  return join(folder, 'handmade.onnx');
}

/** An IDX header (unsigned bytes) with the given dimensions. */
function idxHeader(dims: number[]): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return header;
}

/** A safetensors file whose `count` tensors all claim the same 4 MB range. */
function overlappingSafetensors(path: string, count: number): void {
  const header: Record<string, unknown> = {};
  for (let i = 0; i < count; i++) {
    header[`layer${i}.weight`] = { dtype: 'F32', shape: [1024, 1024], data_offsets: [0, 4 << 20] };
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([length, json, Buffer.alloc(4 << 20)]));
}

/** A Python-generated file, or a skip reason. */
function py(name: string): { path: string; skip?: string } {
  const path = at('py', name);
  if (pythonProblem) return { path, skip: pythonProblem };
  const reason = generated.skipped[name];
  if (reason) return { path, skip: reason };
  return { path };
}

describe('hostile inputs: one clear error, bounded memory, the process exits', () => {
  describe('1. files that never end: refused before they are opened', () => {
    it('model.json symlinked to /dev/zero', (t) => {
      const path = tfjsFolder('zero-json', () => {});
      rmSync(path);
      symlinkSync('/dev/zero', path);
      assertRefused(
        t,
        runCase('inspect', path),
        path,
        /a character device, not a regular file; BNN Lab reads a model\.json/,
      );
    });

    it('a run folder whose checkpoints/epoch-1/model.json is /dev/zero (Analyse Folder)', (t) => {
      const folder = at('zero-series');
      mkdirSync(join(folder, 'epoch-1'), { recursive: true });
      symlinkSync('/dev/zero', join(folder, 'epoch-1', 'model.json'));
      assertRefused(t, runCase('series', folder), 'model.json', /character device/);
    });

    for (const ext of ['pth', 'safetensors', 'h5', 'onnx']) {
      it(`a FIFO named .${ext}`, (t) => {
        const path = at(`fifo.${ext}`);
        mkfifo(path);
        assertRefused(
          t,
          runCase('inspect', path),
          path,
          /is a FIFO \(named pipe\), not a regular file/,
        );
      });
    }

    it('ONNX external data that is a FIFO', (t) => {
      const path = onnxFolder('onnx-fifo', mkfifo);
      assertRefused(t, runCase('inspect', path), 'weights.onnx.data', /FIFO/);
    });

    it('a TF.js weight shard symlinked to /dev/zero', (t) => {
      const path = tfjsFolder('zero-shard', (shard) => symlinkSync('/dev/zero', shard));
      assertRefused(t, runCase('inspect', path), path, /outside the model folder/);
    });

    it('a sparse 1.9 GB .pth whose zip directory claims the whole file', (t) => {
      const path = at('sparse-directory.pth');
      const size = 1900 * 1024 * 1024;
      writeFileSync(path, Buffer.from('PK\x03\x04'));
      truncateSync(path, size);
      const eocd = Buffer.alloc(22);
      eocd.writeUInt32LE(0x06054b50, 0);
      eocd.writeUInt16LE(1, 10);
      eocd.writeUInt32LE(size - 22, 12);
      eocd.writeUInt32LE(0, 16);
      const handle = openSync(path, 'r+');
      writeSync(handle, eocd, 0, 22, size - 22);
      closeSync(handle);
      assertRefused(t, runCase('inspect', path), path, /central directory claims 1\.9 GB/);
    });

    it('a sparse safetensors file with a 99 MB header (the reference limit is 100 MB)', (t) => {
      const path = at('sparse-header.safetensors');
      const length = Buffer.alloc(8);
      length.writeBigUInt64LE(99_000_000n);
      writeFileSync(path, Buffer.concat([length, Buffer.from('{"a": "')]));
      truncateSync(path, 8 + 99_000_000 + 16);
      assertRefused(t, runCase('inspect', path), path, /header is not valid JSON/);
    });

    it('a sparse 1.9 GB model.json is refused by its size, not read', (t) => {
      const path = tfjsFolder('sparse-json');
      truncateSync(path, 1900 * 1024 * 1024);
      assertRefused(t, runCase('inspect', path), path, /1\.9 GB, more than the 64 MB/);
    });

    it('--config on /dev/zero, a FIFO and a folder', (t) => {
      const fifo = at('config.fifo');
      mkfifo(fifo);
      const zero = at('config-zero.json');
      symlinkSync('/dev/zero', zero);
      mkdirSync(at('config-dir.json'));
      assertRefused(
        t,
        runCase('config', zero),
        zero,
        /character device, not a regular file; BNN Lab reads a run config/,
      );
      assertRefused(t, runCase('config', fifo), fifo, /FIFO/);
      assertRefused(t, runCase('config', at('config-dir.json')), 'config-dir.json', /a folder/);
    });

    it('an IDX dataset file on /dev/zero and a FIFO', (t) => {
      const zero = at('zero-idx1-ubyte');
      symlinkSync('/dev/zero', zero);
      const fifo = at('fifo-idx1-ubyte');
      mkfifo(fifo);
      assertRefused(
        t,
        runCase('idx', zero),
        zero,
        /character device, not a regular file; BNN Lab reads a dataset \(IDX\)/,
      );
      assertRefused(t, runCase('idx', fifo), fifo, /FIFO/);
    });

    it('a CIFAR-10 folder whose batches are /dev/zero', (t) => {
      const folder = at('cifar-zero');
      mkdirSync(folder);
      for (const name of [1, 2, 3, 4, 5]
        .map((i) => `data_batch_${i}.bin`)
        .concat('test_batch.bin')) {
        symlinkSync('/dev/zero', join(folder, name));
      }
      assertRefused(t, runCase('cifar', folder), 'data_batch_1.bin', /character device/);
    });

    it("a run folder's metrics.jsonl on /dev/zero and as a FIFO", (t) => {
      const run = at('run-zero');
      mkdirSync(run);
      symlinkSync('/dev/zero', join(run, 'metrics.jsonl'));
      assertRefused(t, runCase('run', run), 'metrics.jsonl', /character device/);
      const fifo = at('metrics-fifo.jsonl');
      mkfifo(fifo);
      assertRefused(t, runCase('metrics', fifo), fifo, /FIFO/);
    });
  });

  describe('2. bombs: declared sizes checked before anything is allocated', () => {
    const h5Cases: [string, RegExp][] = [
      ['h5_never_written.h5', /declares 1 GB but the file holds only 8\.\d KB/],
      ['h5_never_written_huge.h5', /declares 4 GB but the file holds only/],
      ['h5_gzip_zeros.h5', /declares 1 GB but a 1(\.\d)? MB file \(even at 64:1 compression\)/],
      ['h5_chunk_bomb.h5', /a chunk of dataset .* needs 256 MB/],
    ];
    for (const [name, pattern] of h5Cases) {
      it(`Keras .h5: ${name}`, (t) => {
        const { path, skip } = py(name);
        if (skip) return t.skip(skip);
        assertRefused(t, runCase('inspect', path), path, pattern);
      });
    }

    it('a .keras with DEFLATE members is streamed and reads like the STORED original', async (t) => {
      const { path, skip } = py('deflated.keras');
      if (skip) return t.skip(skip);
      assert.deepEqual(
        await inspectCheckpoint(path),
        await inspectCheckpoint(fixture('keras3.keras')),
      );
    });

    it('.keras with a 200 MB deflate-bomb config.json (200 KB)', (t) => {
      const { path, skip } = py('bomb_config.keras');
      if (skip) return t.skip(skip);
      assertRefused(t, runCase('inspect', path), path, /config\.json" declares 200 MB/);
    });

    it('a gzipped IDX file whose header declares 2.2 GB', (t) => {
      const path = at('bomb-images-idx3-ubyte.gz');
      writeFileSync(
        path,
        gzipSync(Buffer.concat([idxHeader([3_000_000, 28, 28]), Buffer.alloc(1 << 20)])),
      );
      assertRefused(
        t,
        runCase('idx', path),
        path,
        /its IDX header needs 2\.2 GB, more than the 1 GB/,
      );
    });

    it('a gzipped IDX file that inflates far beyond its header (64 MB of zeros)', (t) => {
      const path = at('long-labels-idx1-ubyte.gz');
      writeFileSync(path, gzipSync(Buffer.concat([idxHeader([10]), Buffer.alloc(64 << 20)])));
      assertRefused(t, runCase('idx', path), path, /inflates to more than 19 bytes/);
    });
  });

  describe('3. HDF5 and external data stay inside the file or the model folder', () => {
    const cases: [string, RegExp][] = [
      [
        'h5_external_passwd.h5',
        /refers to another file \(\/etc\/passwd\) through HDF5 external storage/,
      ],
      ['h5_external_fifo.h5', /refers to another file \(.*external\.fifo\)/],
      ['h5_external_link.h5', /refers to another file \(.*other\.h5\)/],
    ];
    for (const [name, pattern] of cases) {
      it(`Keras .h5: ${name}`, (t) => {
        const { path, skip } = py(name);
        if (skip) return t.skip(skip);
        assertRefused(t, runCase('inspect', path), path, pattern);
      });
    }

    it('ONNX external data symlinked to /etc/passwd from inside the folder', (t) => {
      const path = onnxFolder('onnx-passwd', (data) => symlinkSync('/etc/passwd', data));
      assertRefused(
        t,
        runCase('inspect', path),
        path,
        /is a link to \/etc\/passwd, outside the model folder/,
      );
    });

    it('a TF.js shard symlinked to /etc/passwd from inside the folder', (t) => {
      const path = tfjsFolder('tfjs-passwd', (shard) => symlinkSync('/etc/passwd', shard));
      assertRefused(
        t,
        runCase('inspect', path),
        path,
        /is a link to \/etc\/passwd, outside the model folder/,
      );
    });

    it('an HDF5 file that loops: the watchdog stops it and the process exits', (t) => {
      const path = fixture('broken', 'hdf5_loop.h5');
      assertRefused(t, runCase('hdf5-watchdog', path), path, /did not finish reading/);
    });
  });

  describe('4. CPU amplification is bounded', () => {
    it('2,000 tensors that are the same view of one 1M-element storage: read once', (t) => {
      const { path, skip } = py('shared_storage.pth');
      if (skip) return t.skip(skip);
      const result = runCase('inspect', path);
      t.diagnostic(`${result.ms} ms, peak RSS ${result.maxRssMb} MB`);
      assert.equal(result.ok, true, result.message);
      assert.ok(result.maxRssMb < MEMORY_BUDGET_MB, `peak RSS ${result.maxRssMb} MB`);
    });

    it('tied weights (two names, one view) are both listed with the same statistics', async (t) => {
      const { path, skip } = py('tied_weights.pth');
      if (skip) return t.skip(skip);
      const report = await inspectCheckpoint(path, { binaryPatterns: [] });
      const [embed, head] = ['embed.weight', 'head.weight'].map((name) =>
        report.layers.find((l) => l.name === name)!,
      );
      assert.ok(embed.stats && head.stats);
      assert.deepEqual(head.stats, embed.stats);
      assert.equal(embed.stats.params, 64 * 64);
    });

    it('2,000 distinct overlapping views of one storage: refused', (t) => {
      const { path, skip } = py('overlapping_views.pth');
      if (skip) return t.skip(skip);
      assertRefused(t, runCase('inspect', path), path, /more than 4× overlap/);
    });

    it('a pickle listing 100,000 tensors: refused', (t) => {
      const { path, skip } = py('many_entries.pth');
      if (skip) return t.skip(skip);
      assertRefused(t, runCase('inspect', path), path, /lists 100000 tensors, more than the 25000/);
    });

    it('safetensors with 2,000 tensors on one overlapping range: refused', (t) => {
      const path = at('overlap.safetensors');
      overlappingSafetensors(path, 2000);
      assertRefused(t, runCase('inspect', path), path, /overlap the tensor before it/);
    });
  });

  describe("the extension's analysis worker (AnalysisHost + dist/analysisWorker.js)", () => {
    const skip = existsSync(ANALYSIS_WORKER)
      ? false
      : `${ANALYSIS_WORKER} is missing: run \`npm run build\``;

    it('model.json symlinked to /dev/zero', { skip }, (t) => {
      const path = tfjsFolder('analysis-zero', () => {});
      rmSync(path);
      symlinkSync('/dev/zero', path);
      assertRefused(t, runCase('analysis', path, ANALYSIS_WORKER), path, /character device/);
    });

    it('a FIFO named model.pth', { skip }, (t) => {
      const path = at('analysis.pth');
      mkfifo(path);
      assertRefused(t, runCase('analysis', path, ANALYSIS_WORKER), path, /FIFO/);
    });

    it(
      'a never-written 1 GB HDF5 dataset (the h5 worker inside the analysis worker)',
      { skip },
      (t) => {
        const { path, skip: pySkip } = py('h5_never_written.h5');
        if (pySkip) return t.skip(pySkip);
        assertRefused(t, runCase('analysis', path, ANALYSIS_WORKER), path, /declares 1 GB/);
      },
    );

    it('HDF5 external storage on /etc/passwd', { skip }, (t) => {
      const { path, skip: pySkip } = py('h5_external_passwd.h5');
      if (pySkip) return t.skip(pySkip);
      assertRefused(t, runCase('analysis', path, ANALYSIS_WORKER), path, /\/etc\/passwd/);
    });
  });

  describe('the CLI prints one line, no stack trace', () => {
    const skip = existsSync(CLI) ? false : `${CLI} is missing: run \`npm run build\``;
    const cli = (args: string[]) =>
      spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: HANG_GUARD_MS });

    it('train --config /dev/zero, inspect a FIFO', { skip }, () => {
      const fifo = at('cli.safetensors');
      mkfifo(fifo);
      for (const [args, pattern] of [
        [['train', '--config', '/dev/zero'], /\/dev\/zero: is a character device/],
        [['inspect', fifo], /FIFO/],
      ] as const) {
        const child = cli([...args]);
        assert.equal(child.signal, null, `${args.join(' ')} did not end`);
        assert.notEqual(child.status, 0, `${args.join(' ')}: exit ${child.status}`);
        // `inspect` prints its error on stdout (scripts parse it), `train` on stderr.
        const text = `${child.stdout}${child.stderr}`.trim();
        assert.match(text, pattern);
        assert.equal(text.split('\n').length, 1, text);
        assert.doesNotMatch(text, /\n\s+at /);
        assert.ok(text.includes(basename(args[args.length - 1])));
      }
    });
  });
});

/**
 * Issue 17, problems 6–9, through the same fresh-process harness: what a killed run leaves
 * (`.tmp-epoch-N-PID` folders), batch sizes the wasm kernels cannot address, a replica that
 * stops making progress, and the checkpoint files resume and fine-tune read. The inputs are
 * edited copies of a tiny run trained here (as resumeValidation.test.ts does).
 */
describe('hostile runs: one clear error, bounded memory, the process exits', () => {
  let source = '';

  before(async () => {
    const runDir = at('trained-run');
    let epochs = 0;
    const result = await runTraining(
      {
        runId: 'src',
        config: resolveConfig(
          { preset: 'mnist-cnn', epochs: 2, limit: 64, testLimit: 32, batchSize: 32, seed: 4 },
          'test',
        ),
        runDir,
        backend: 'wasm',
      },
      {
        onRecord: (r) => void (r.event === 'epoch' && epochs++),
        log: () => {},
        isCancelled: () => epochs >= 1,
      },
    );
    assert.equal(result.status, 'cancelled');
    source = runDir;
  });

  /** A copy of the trained run folder, edited by `edit` (given its epoch-1 checkpoint). */
  function runCopy(name: string, edit: (checkpoint: string) => void = () => {}): string {
    const run = at(name);
    cpSync(source, run, { recursive: true });
    edit(join(run, 'checkpoints', 'epoch-1'));
    return run;
  }

  function editJson(path: string, change: (json: Record<string, unknown>) => void): void {
    const json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    change(json);
    writeFileSync(path, JSON.stringify(json));
  }

  /** Leaves what a run killed while writing epoch 2 leaves: a temp folder, weights half written. */
  function killedWhileWriting(checkpoint: string): void {
    const temp = join(checkpoint, '..', '.tmp-epoch-2-12345');
    mkdirSync(temp);
    copyFileSync(join(checkpoint, 'model.json'), join(temp, 'model.json'));
    const weights = readFileSync(join(checkpoint, 'weights.bin'));
    writeFileSync(join(temp, 'weights.bin'), weights.subarray(0, weights.length >> 1));
  }

  describe('6. temporary checkpoint folders of killed runs are never listed', () => {
    it('a run folder holding .tmp-epoch-2-12345 with a half-written weights.bin', (t) => {
      const run = runCopy('killed-run', killedWhileWriting);
      const result = runCase('checkpoints', run);
      t.diagnostic(
        `${result.ms} ms, peak RSS ${result.maxRssMb} MB: ${JSON.stringify(result.value)}`,
      );
      assert.equal(result.ok, true, result.message);
      assert.deepEqual(result.value, { listed: ['epoch-1'], series: ['epoch-1'] });
      assert.ok(result.maxRssMb < MEMORY_BUDGET_MB, `peak RSS ${result.maxRssMb} MB`);
    });

    it('a run folder whose only checkpoint is a temporary folder: no checkpoints found', (t) => {
      const run = runCopy('killed-first-epoch', (checkpoint) => {
        killedWhileWriting(checkpoint);
        rmSync(checkpoint, { recursive: true });
      });
      assertRefused(
        t,
        runCase('checkpoints', run),
        join(run, 'checkpoints'),
        /: no checkpoints found/,
      );
    });
  });

  describe('7. batch sizes the wasm kernels cannot address: refused before training', () => {
    for (const batchSize of [16384, 65536]) {
      it(`batchSize ${batchSize} (mnist-cnn, one thread)`, (t) => {
        const path = at(`batch-${batchSize}.json`);
        writeFileSync(path, JSON.stringify({ preset: 'mnist-cnn', batchSize }));
        assertRefused(
          t,
          runCase('batch-limit', path, '1'),
          `batchSize ${batchSize}`,
          /is too large for the wasm backend: .*; lower batchSize to 13844 or less/,
        );
      });
    }
  });

  describe('8. a replica that stops making progress fails the run', () => {
    it(
      'the scripted hanging replica (test/fixtures/workers/replicaHangs.js), watchdog 1.5 s',
      { skip: availableParallelism() < 2 ? 'needs 2 cores' : false },
      (t) => {
        const hangs = join(ROOT, 'test', 'fixtures', 'workers', 'replicaHangs.js');
        assertRefused(
          t,
          runCase('watchdog', at('hanging-run'), hangs),
          'replica threads',
          /^the 2 replica threads made no progress for \d+(\.\d)? s; the run was stopped/,
        );
      },
    );
  });

  describe('9. resume and fine-tune check what they read', () => {
    const stateCases: [string, (json: Record<string, unknown>) => void, string, RegExp][] = [
      ['epoch -1', (j) => (j.epoch = -1), '"epoch"', /must be an integer ≥ 1, got -1/],
      ['state [null]', (j) => (j.state = [null]), '"state"[0]', /must be an object, got null/],
      [
        'a negative state.bin offset',
        (j) => ((j.state as { offset: number }[])[1].offset = -8),
        '"state"[1]',
        /"offset" and "length" must be integers ≥ 0, got -8/,
      ],
    ];
    for (const [name, change, field, pattern] of stateCases) {
      it(`training-state.json: ${name}`, (t) => {
        let dir = '';
        runCopy(`state-${name.replace(/\W+/g, '-')}`, (checkpoint) => {
          dir = checkpoint;
          editJson(join(checkpoint, 'training-state.json'), change);
        });
        const result = runCase('training-state', dir);
        assertRefused(t, result, join(dir, 'training-state.json'), pattern);
        assert.ok(result.message!.includes(field), `does not name ${field}: ${result.message}`);
      });
    }

    it("model.json: a '../' shard path out of the checkpoint folder", (t) => {
      let dir = '';
      runCopy('shard-outside', (checkpoint) => {
        dir = checkpoint;
        renameSync(join(checkpoint, 'weights.bin'), join(checkpoint, '..', 'weights.bin'));
        editJson(join(checkpoint, 'model.json'), (json) => {
          (json.weightsManifest as { paths: string[] }[])[0].paths = ['../weights.bin'];
        });
      });
      assertRefused(
        t,
        runCase('checkpoint-manifest', dir),
        '../weights.bin',
        /lies outside the checkpoint folder/,
      );
    });

    const resumeCases: [string, Record<string, unknown>, string, RegExp][] = [
      [
        'another preset',
        { preset: 'mnist-resnete' },
        'mnist-resnete',
        /checkpoint of preset mnist-cnn, this run has preset mnist-resnete/,
      ],
      [
        'weights of other shapes (scaling: learnable)',
        { scaling: 'learnable' },
        'checkpoint',
        /holds \d+ weight tensors, this run's model has \d+|has shape \[/,
      ],
    ];
    for (const [name, change, names, pattern] of resumeCases) {
      it(`resuming a mnist-cnn checkpoint with ${name}: one short message`, (t) => {
        const dir = join(runCopy(`resume-${name.replace(/\W+/g, '-')}`), 'checkpoints', 'epoch-1');
        const result = runCase('resume', dir, JSON.stringify(change));
        assertRefused(t, result, names, pattern);
        assert.ok(result.message!.length < 400, `${result.message!.length} characters`);
        assert.doesNotMatch(result.message!, /Tensor|\[\s*-?\d+\.\d+,/);
      });
    }
  });
});
