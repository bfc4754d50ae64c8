/**
 * Pure helpers that turn model series into uPlot's aligned column format
 * (`[x[], y1[], y2[], …]`, one shared ascending x, `null` where a series has no point).
 * `alignGroups` lives in core (the CLI's CSV export shares it).
 */
import type { AlignedColumns } from '../../core/export/align';

export { alignGroups, type AlignedColumns, type ColumnGroup } from '../../core/export/align';

/**
 * At most about `maxPoints` rows: consecutive rows are merged into buckets (x of the bucket's
 * last row, mean of each column's non-null values, null when all are null), so a line never
 * has more points than the plot has pixels. Returns `columns` itself when already small enough.
 *
 * @example
 * decimate([[1, 2, 3, 4], [1, 3, null, 5]], 2) // → [[2, 4], [2, 5]]
 */
export function decimate(columns: AlignedColumns, maxPoints: number): AlignedColumns {
  const [x, ...ys] = columns;
  const n = x.length;
  if (n <= maxPoints || maxPoints < 1) return columns;
  const size = Math.ceil(n / maxPoints);
  const buckets = Math.ceil(n / size);
  const outX: number[] = new Array<number>(buckets);
  for (let b = 0; b < buckets; b++) outX[b] = x[Math.min(n, (b + 1) * size) - 1];
  const outYs = ys.map((column) => {
    const out: (number | null)[] = new Array<number | null>(buckets);
    for (let b = 0; b < buckets; b++) {
      let sum = 0;
      let count = 0;
      const end = Math.min(n, (b + 1) * size);
      for (let i = b * size; i < end; i++) {
        const v = column[i];
        if (v !== null) {
          sum += v;
          count++;
        }
      }
      out[b] = count > 0 ? sum / count : null;
    }
    return out;
  });
  return [outX, ...outYs];
}
