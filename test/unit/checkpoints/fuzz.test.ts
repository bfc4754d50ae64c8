/**
 * Mutation fuzzing of every reader: flip, overwrite, truncate, extend and splice the real
 * fixtures, and check that each case either parses or throws FileFormatError/UserError —
 * never a TypeError, RangeError or anything else. 500 cases per format by default;
 * BNN_FUZZ_FULL=1 runs 10,000 per format. Seeded, so a failure names a reproducible case.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { UserError } from '../../../core/errors';
import { inspectCheckpoint } from '../../../core/checkpoints/inspect';
import { setHdf5TimeoutMs } from '../../../core/checkpoints/keras';
import { memorySource } from '../../../core/checkpoints/byteSource';
import { openZip } from '../../../core/checkpoints/zip';
import { fixture } from './helpers';

const CASES = process.env.BNN_FUZZ_FULL === '1' ? 10_000 : 500;

// Some mutations make HDF5 loop forever (see broken/hdf5_loop.h5); the reader's watchdog stops
// them. A shorter watchdog keeps this test quick; it is a hang guard, not a speed check: a
// case it stops still ends in FileFormatError, which the test accepts.
setHdf5TimeoutMs(5_000);

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One random mutation of `bytes`, and a description for failure messages. */
export function mutate(
  bytes: Uint8Array,
  random: () => number,
): { bytes: Uint8Array; what: string } {
  const int = (n: number) => Math.floor(random() * n);
  const kind = int(6);
  const out = new Uint8Array(bytes);
  switch (kind) {
    case 0: {
      const flips = 1 + int(8);
      for (let i = 0; i < flips; i++) out[int(out.length)] ^= 1 << int(8);
      return { bytes: out, what: `flip ${flips} bits` };
    }
    case 1: {
      const at = int(out.length);
      const length = 1 + int(16);
      const value = [0x00, 0xff, 0x7f, 0x80][int(4)];
      out.fill(value, at, at + length);
      return { bytes: out, what: `fill ${length} bytes at ${at} with ${value}` };
    }
    case 2: {
      const at = int(bytes.length);
      return { bytes: bytes.slice(0, at), what: `truncate to ${at}` };
    }
    case 3: {
      const extra = new Uint8Array(1 + int(4096)).map(() => int(256));
      const grown = new Uint8Array(bytes.length + extra.length);
      grown.set(bytes);
      grown.set(extra, bytes.length);
      return { bytes: grown, what: `extend by ${extra.length}` };
    }
    case 4: {
      // Write a random 32/64-bit little-endian integer: hits lengths, offsets and counts.
      const at = int(Math.max(1, out.length - 8));
      const view = new DataView(out.buffer, out.byteOffset, out.length);
      const value = [0, 1, 0x7fffffff, 0xffffffff, int(2 ** 32), out.length + int(64)][int(6)];
      if (at + 4 <= out.length) view.setUint32(at, value >>> 0, true);
      return { bytes: out, what: `u32 ${value} at ${at}` };
    }
    default: {
      const from = int(bytes.length);
      const to = int(bytes.length);
      const length = 1 + int(64);
      const chunk = bytes.subarray(from, Math.min(bytes.length, from + length));
      out.set(chunk, Math.min(to, out.length - chunk.length));
      return { bytes: out, what: `copy ${length} bytes ${from}→${to}` };
    }
  }
}

const work = mkdtempSync(join(tmpdir(), 'bnn-lab-fuzz-'));
after(() => rmSync(work, { recursive: true, force: true }));

interface Target {
  format: string;
  /** Files of the fixture to copy, relative to test/fixtures/checkpoints. */
  files: string[];
  /** The path inspectCheckpoint opens, relative to the copy. */
  open: string;
  /** Mutate only this byte range of the file, keeping its length (default: the whole file). */
  range?: (bytes: Uint8Array) => Promise<[start: number, end: number]>;
}

/** Where data.pkl's bytes are in a torch zip (torch writes sizes only in the central directory). */
async function pickleRange(bytes: Uint8Array): Promise<[number, number]> {
  const archive = await openZip(memorySource(bytes, 'fixture'));
  const entry = [...archive.entries.values()].find((e) => e.name.endsWith('/data.pkl'))!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const at = entry.localHeaderOffset;
  const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
  return [start, start + entry.size];
}

/** Mutates `bytes[start, end)` only; the slice keeps its length so the container stays valid. */
function mutateRange(
  bytes: Uint8Array,
  [start, end]: [number, number],
  random: () => number,
): { bytes: Uint8Array; what: string } {
  const { bytes: slice, what } = mutate(bytes.subarray(start, end), random);
  const out = new Uint8Array(bytes);
  const fitted = new Uint8Array(end - start).map(() => Math.floor(random() * 256));
  fitted.set(slice.subarray(0, end - start));
  out.set(fitted, start);
  return { bytes: out, what: `${what} within [${start}, ${end})` };
}

const TARGETS: Target[] = [
  { format: 'pytorch', files: ['torch_state.pt'], open: 'torch_state.pt' },
  {
    format: 'pytorch-pickle',
    files: ['torch_state.pt'],
    open: 'torch_state.pt',
    range: pickleRange,
  },
  { format: 'safetensors', files: ['model.safetensors'], open: 'model.safetensors' },
  { format: 'keras-h5', files: ['larq_keras2.h5'], open: 'larq_keras2.h5' },
  { format: 'keras3', files: ['keras3.keras'], open: 'keras3.keras' },
  { format: 'onnx', files: ['exported.onnx'], open: 'exported.onnx' },
  {
    format: 'onnx-external',
    files: ['handmade.onnx', 'weights.onnx.data'],
    open: 'handmade.onnx',
  },
  {
    format: 'tfjs',
    files: ['tfjs/model.json', 'tfjs/group1-shard1of1.bin'],
    open: 'model.json',
  },
];

describe(`fuzz: ${CASES} mutated files per format parse or throw FileFormatError/UserError`, () => {
  for (const [index, target] of TARGETS.entries()) {
    it(target.format, async (t) => {
      const folder = join(work, target.format);
      rmSync(folder, { recursive: true, force: true });
      const originals = target.files.map((f) => readFileSync(fixture(f)));
      const names = target.files.map((f) => f.split('/').pop()!);
      const ranges = await Promise.all(
        originals.map((bytes) => (target.range ? target.range(bytes) : undefined)),
      );
      const random = prng(0x5eed + index);
      let parsed = 0;
      let rejected = 0;
      let slowest = { ms: 0, what: '' };
      /** Cases HDF5 looped on, stopped by the h5 worker's watchdog (a hang handled, not a hang). */
      let watchdog = 0;
      const started = Date.now();
      for (let i = 0; i < CASES; i++) {
        const caseFolder = join(folder, String(i % 4));
        rmSync(caseFolder, { recursive: true, force: true });
        const which = Math.floor(random() * originals.length);
        const { bytes, what } = ranges[which]
          ? mutateRange(originals[which], ranges[which]!, random)
          : mutate(originals[which], random);
        mkdirSync(caseFolder, { recursive: true });
        names.forEach((name, k) => {
          if (k === which) writeFileSync(join(caseFolder, name), bytes);
          else copyFileSync(fixture(target.files[k]), join(caseFolder, name));
        });
        const caseStarted = Date.now();
        try {
          await inspectCheckpoint(join(caseFolder, target.open));
          parsed++;
        } catch (error) {
          if (!(error instanceof UserError)) {
            assert.fail(
              `${target.format} case ${i} (${names[which]}: ${what}) threw ${String((error as Error)?.stack ?? error)}`,
            );
          }
          rejected++;
          if (/did not finish reading/.test((error as Error).message)) watchdog++;
        } finally {
          const ms = Date.now() - caseStarted;
          if (ms > slowest.ms) slowest = { ms, what: `case ${i} (${names[which]}: ${what})` };
        }
      }
      // Numbers for the record (no thresholds): a hang shows as the slowest case, a blow-up as
      // the process's peak RSS (heap, Buffers and wasm memory together).
      t.diagnostic(
        `${target.format}: ${parsed} parsed, ${rejected} rejected (${watchdog} by the HDF5 watchdog) in ${Date.now() - started} ms; ` +
          `slowest ${slowest.ms} ms (${slowest.what}); peak RSS so far ${Math.round(process.resourceUsage().maxRSS / 1024)} MB`,
      );
      assert.equal(parsed + rejected, CASES);
      assert.ok(rejected > 0, 'mutations are detected');
    });
  }
});
