/** Sorting shared by the dashboard's layer table and the inspector's tensor table. */

export type SortDirection = 'asc' | 'desc';
export type SortKey = number | string | undefined;

/** Natural string order ("layer2" before "layer10"), case-insensitive. */
export const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

/**
 * Compares two sort keys: numbers numerically, anything else with `collator`; undefined keys go
 * last whatever the direction; ties (and two undefined keys) fall back to `tie`.
 */
export function compareSortKeys(
  a: SortKey,
  b: SortKey,
  direction: SortDirection,
  tie: number,
): number {
  if (a === undefined || b === undefined) {
    if (a === b) return tie;
    return a === undefined ? 1 : -1;
  }
  const c =
    typeof a === 'number' && typeof b === 'number' ? a - b : collator.compare(String(a), String(b));
  return c !== 0 ? (direction === 'asc' ? c : -c) : tie;
}

/** A header click: the same column flips direction; a new one starts descending when numeric. */
export function nextSortOf<C extends string>(
  current: { column: C; direction: SortDirection } | undefined,
  column: C,
  numeric: boolean,
): { column: C; direction: SortDirection } {
  if (current?.column === column) {
    return { column, direction: current.direction === 'asc' ? 'desc' : 'asc' };
  }
  return { column, direction: numeric ? 'desc' : 'asc' };
}
