/**
 * Seeded randomness of a run. Every stream is derived from (seed, epoch), so a run resumed at an
 * epoch boundary draws exactly what the uninterrupted run drew: the checkpoint's epoch is the
 * whole RNG state.
 */

/** Deterministic PRNG (mulberry32) for shuffling: same seed, same order. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded permutation of `0..n-1` (Fisher–Yates). */
export function shuffledIndices(n: number, seed: number): Uint32Array {
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const rand = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
  return idx;
}

/** Seed of epoch `epoch`'s example order (unchanged from the first engine version). */
export function shuffleSeed(seed: number, epoch: number): number {
  return seed * 1000 + epoch;
}

/** Seed of epoch `epoch`'s augmentation draws (crop offsets, flips). */
export function augmentSeed(seed: number, epoch: number): number {
  return (Math.imul(seed, 0x9e3779b1) ^ Math.imul(epoch, 0x85ebca6b)) >>> 0;
}
