/** Deterministic test values from a mulberry32 stream, so that a failure reproduces. */
import { mulberry32 } from '../../../core/training/random';

/** `size` signs, +1 or -1 with equal chance. */
export function randomSigns(size: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  return Float32Array.from({ length: size }, () => (next() < 0.5 ? -1 : 1));
}

/** `size` values uniform in [-1, 1). */
export function randomUniform(size: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  return Float32Array.from({ length: size }, () => 2 * next() - 1);
}
