/**
 * The few colours yank uses, as ANSI SGR sequences. Callers decide whether colour is on
 * (`useColour` in lib/cli/io.ts: a terminal, and no NO_COLOR); with it off, text is unchanged.
 */

/** A style yank uses: bold table headers, a red `yank:` on failures, green "yanked". */
export type ColourStyle = "bold" | "red" | "green" | "yellow";

const SGR: Record<ColourStyle, [on: number, off: number]> = {
  bold: [1, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
};

/** Wraps `text` in the style's escape sequences when `enabled`; returns it as is otherwise. */
export function paint(text: string, style: ColourStyle, enabled: boolean): string {
  if (!enabled) return text;
  const [on, off] = SGR[style];
  return `\x1b[${on}m${text}\x1b[${off}m`;
}
