/**
 * Plain aligned tables, like `kubectl get`: a header row and no borders, easy to read and to
 * cut with awk. cli-table3 is loaded on first use only, so commands that print no table do not
 * pay for it at start-up.
 */

import { paint } from "./colour.ts";
import { printable } from "./printable.ts";

/** Options of `renderTable`. */
export interface TableOptions {
  /** Show the header in bold (only on a colour terminal). */
  bold?: boolean;
}

/** Renders rows under a header as aligned columns; cells are made printable. */
export async function renderTable(
  head: readonly string[],
  rows: readonly (readonly string[])[],
  options: TableOptions = {},
): Promise<string> {
  const { default: Table } = await import("cli-table3");
  const table = new Table({
    head: head.map((h) => paint(h, "bold", options.bold ?? false)),
    chars: {
      "top": "",
      "top-mid": "",
      "top-left": "",
      "top-right": "",
      "bottom": "",
      "bottom-mid": "",
      "bottom-left": "",
      "bottom-right": "",
      "left": "",
      "left-mid": "",
      "mid": "",
      "mid-mid": "",
      "right": "",
      "right-mid": "",
      "middle": "  ",
    },
    style: { "head": [], "border": [], "padding-left": 0, "padding-right": 0 },
  });
  for (const row of rows) table.push(row.map(printable));
  // cli-table3 pads the last column too; trailing blanks only get in the way of scripts.
  return `${table.toString().split("\n").map((line: string) => line.trimEnd()).join("\n")}\n`;
}
