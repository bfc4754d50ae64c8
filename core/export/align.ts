/**
 * Aligned columns (`[x[], y1[], y2[], …]`, one shared ascending x, `null` where a series has no
 * point): the dashboard's chart data (uPlot's format) and the rows of the metrics CSV, which the
 * dashboard and `bnn-lab export csv` both build (core/export/csv.ts).
 */

/** Columns for uPlot: `columns[0]` is x, the rest are y channels. */
export type AlignedColumns = [number[], ...(number | null)[][]];

/** A set of channels sampled at the same x values. */
export interface ColumnGroup {
  x: readonly number[];
  y: readonly (readonly number[])[];
}

/** Non-finite values (a diverged loss) become gaps instead of breaking the scale. */
function finiteOrNull(v: number | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function sameX(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Merges groups with different x values into one aligned table. Equal x values share a row; a
 * group without a value at some x gets `null` there. Each group's x must be ascending.
 *
 * @example
 * alignGroups([{ x: [1, 2], y: [[0.5, 0.4]] }, { x: [2], y: [[0.9]] }])
 * // → [[1, 2], [0.5, 0.4], [null, 0.9]]
 */
export function alignGroups(groups: readonly ColumnGroup[]): AlignedColumns {
  if (groups.length > 1 && groups.every((g) => sameX(g.x, groups[0].x))) {
    // Fast path for many layers reported at the same steps (the common case): no merge.
    const columns: AlignedColumns = [groups[0].x.slice()];
    for (const group of groups) {
      for (const channel of group.y) columns.push(Array.from(channel, finiteOrNull));
    }
    return columns;
  }
  const xs: number[] = [];
  const cursors = groups.map(() => 0);
  // k-way merge of ascending x arrays: O(total points × groups).
  for (;;) {
    let next = Infinity;
    for (let g = 0; g < groups.length; g++) {
      const i = cursors[g];
      if (i < groups[g].x.length && groups[g].x[i] < next) next = groups[g].x[i];
    }
    if (next === Infinity) break;
    xs.push(next);
    for (let g = 0; g < groups.length; g++) {
      while (cursors[g] < groups[g].x.length && groups[g].x[cursors[g]] === next) cursors[g]++;
    }
  }
  const columns: AlignedColumns = [xs];
  for (const group of groups) {
    const index = new Map<number, number>();
    group.x.forEach((x, i) => index.set(x, i));
    for (const channel of group.y) {
      columns.push(
        xs.map((x) => {
          const i = index.get(x);
          return i === undefined ? null : finiteOrNull(channel[i]);
        }),
      );
    }
  }
  return columns;
}
