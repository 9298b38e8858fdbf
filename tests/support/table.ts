/**
 * The plain table `yank list` prints, built from expected cells, so that a test states rows
 * rather than padding.
 */

/** Columns padded to their widest cell, two blanks apart, no trailing blanks. */
export function alignedTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) =>
    row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd() + "\n"
  ).join("");
}

/** The table cut before the column headed `from` (e.g. "PEER"), for tests about the rest. */
export function columnsBefore(table: string, from: string): string {
  const lines = table.split("\n");
  const at = lines[0]!.indexOf(from);
  if (at < 0) throw new Error(`no column ${from} in ${JSON.stringify(lines[0])}`);
  return lines.map((line) => line.slice(0, at).trimEnd()).join("\n");
}

/** `yank list --json` entries without the keys yank adds (`peer`, `disk`). */
export function withoutPeers(entries: Record<string, unknown>[]): Record<string, unknown>[] {
  return entries.map(({ peer: _peer, disk: _disk, ...rest }) => rest);
}
