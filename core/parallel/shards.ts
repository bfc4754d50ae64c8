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

/**
 * Which replica sums, updates and publishes each variable (`sizes[i]` floats → its rank): the
 * largest first, each to the replica with the fewest floats so far (ties to the lower rank), so
 * that every replica takes about `1/world` of the parameters while each variable stays whole (an
 * optimizer updates variables, not ranges). Every replica computes the same owners.
 */
export function variableOwners(sizes: readonly number[], world: number): number[] {
  const load = new Array<number>(world).fill(0);
  const owners = new Array<number>(sizes.length).fill(0);
  const order = sizes.map((_, i) => i).sort((a, b) => sizes[b] - sizes[a] || a - b);
  for (const i of order) {
    let least = 0;
    for (let r = 1; r < world; r++) if (load[r] < load[least]) least = r;
    owners[i] = least;
    load[least] += sizes[i];
  }
  return owners;
}
