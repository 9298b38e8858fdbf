/**
 * Plain aligned tables, like `kubectl get`: a header row and no borders, easy to read and to
 * cut with awk. Columns are padded to their widest cell in terminal columns (width.ts), two
 * blanks apart; the last column is not padded, since trailing blanks only get in the way of
 * scripts.
 */

import { paint } from "./colour.ts";
import { printable } from "./printable.ts";
import { displayWidth } from "./width.ts";

/** Options of `renderTable`. */
export interface TableOptions {
  /** Show the header in bold (only on a colour terminal). */
  bold?: boolean;
}

/** The blanks between two columns. */
const GAP = "  ";

/** Renders rows under a header as aligned columns; cells are made printable. */
export function renderTable(
  head: readonly string[],
  rows: readonly (readonly string[])[],
  options: TableOptions = {},
): string {
  const body = rows.map((row) => head.map((_, column) => printable(row[column] ?? "")));
  const cells = [head.map((title) => printable(title)), ...body];
  const widths = cells.map((row) => row.map(displayWidth));
  const columnWidths = head.map((_, column) => Math.max(...widths.map((row) => row[column]!)));
  const last = head.length - 1;
  return cells.map((row, line) =>
    row.map((cell, column) => {
      const shown = line === 0 ? paint(cell, "bold", options.bold ?? false) : cell;
      return column === last
        ? shown
        : shown + " ".repeat(columnWidths[column]! - widths[line]![column]!);
    }).join(GAP).trimEnd() + "\n"
  ).join("");
}
