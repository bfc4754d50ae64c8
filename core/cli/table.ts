/** Plain-text tables of the command line: a header, a rule of dashes, the rows. */

/** Left-aligns text columns and right-aligns numeric ones, two spaces apart. */
export function alignTable(header: string[], rows: string[][], numeric: boolean[]): string[] {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (r: string[]) =>
    r
      .map((v, c) => (numeric[c] ? v.padStart(widths[c]) : v.padEnd(widths[c])))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

/** A table whose first column is a name and every other column a number. */
export function nameTable(header: string[], rows: string[][]): string[] {
  return alignTable(
    header,
    rows,
    header.map((_, c) => c > 0),
  );
}
