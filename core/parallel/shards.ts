/** How a batch is split over data-parallel replicas (tf-free, so tests and settings can use it). */

/** Rank `rank`'s examples of a batch of `batch` over `world` replicas: sizes differ by ≤ 1. */
export function shardOf(
  batch: number,
  world: number,
  rank: number,
): { start: number; size: number } {
  const base = Math.floor(batch / world);
  const extra = batch % world;
  return { start: rank * base + Math.min(rank, extra), size: base + (rank < extra ? 1 : 0) };
}

/**
 * Checks a requested thread count against the machine.
 * @returns a message naming the value and the allowed range, or undefined when it is valid.
 */
export function threadCountProblem(threads: number, cores: number): string | undefined {
  if (!Number.isInteger(threads) || threads < 1 || threads > cores) {
    return `thread count ${threads} is not allowed: use a whole number from 1 to ${cores} (the cores of this machine)`;
  }
  return undefined;
}
