/** Shared helpers of the checkpoint tests: fixture paths, expected values, tolerant compare. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** test/fixtures/checkpoints, from out/test/unit/checkpoints or test/unit/checkpoints. */
export const FIXTURES = resolve(
  __dirname,
  '..',
  '..',
  '..',
  '..',
  'test',
  'fixtures',
  'checkpoints',
);

export function fixture(...parts: string[]): string {
  return join(FIXTURES, ...parts);
}

export interface ExpectedStats {
  params: number;
  mean: number;
  std: number;
  min: number;
  max: number;
  absMean: number;
  alpha: number[];
  quantizationError: number;
  deadWeightRatio: number;
  starvedWeightRatio: number | null;
  signBalance: number;
  signEntropyBits: number;
  histogramCounts: number[];
}

export interface ExpectedFile {
  format: string;
  layers: Record<
    string,
    { shape: number[]; dtype: string; binary: boolean | null; stats?: ExpectedStats }
  >;
  summary: {
    params: number;
    binaryParams: number;
    bytesFloat32: number;
    bytesPacked: number;
    compression: number;
  };
}

export interface Expected {
  tau: number;
  files: Record<string, ExpectedFile>;
  series: {
    checkpoints: string[];
    pairs: { from: string; to: string; flipRate: Record<string, number> }[];
    frozenRatio: Record<string, number>;
  };
}

/** expected.json written by make_fixtures.py (numpy reference values). */
export const EXPECTED = JSON.parse(readFileSync(fixture('expected.json'), 'utf8')) as Expected;

/** |actual − expected| ≤ atol + rtol·|expected|. */
export function assertClose(
  actual: number,
  expected: number,
  what: string,
  rtol = 1e-5,
  atol = 1e-6,
) {
  assert.ok(
    Math.abs(actual - expected) <= atol + rtol * Math.abs(expected),
    `${what}: expected ${expected}, got ${actual}`,
  );
}
